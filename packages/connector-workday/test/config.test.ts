import { bindConnector, createDispatcher, MemoryDeliveryStore } from '@impact-in/core';
import { createConnectorHarness, type ProviderServer, startProviderServer } from '@impact-in/testing';
import { createWorkdaySimulator, type WorkdaySimulator } from '@impact-in/testing/providers/workday';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  activityType,
  formatDecimal,
  fromEnv,
  reportDate,
  restEndpoint,
  soapEndpoint,
  tokenEndpoint,
  unitOfMeasure,
  WorkdayConfigSchema,
  workday,
} from '../src/index.js';
import { creds, restConfig, SOAP_PATH, seedEvent, soapConfig } from './helpers.js';

const issuesOf = (input: unknown) => {
  const parsed = WorkdayConfigSchema.safeParse(input);
  expect(parsed.success).toBe(false);
  return parsed.error!.issues.map((issue) => issue.path.join('.'));
};

describe('workday config', () => {
  it('picks the shape by protocol and names the missing fields of each', () => {
    expect(issuesOf({})).toEqual(['protocol']);
    expect(issuesOf({ protocol: 'soap' })).toEqual(['apiUrl', 'tenant', 'username', 'password']);
    expect(issuesOf({ protocol: 'rest' })).toEqual(['apiUrl', 'tenant', 'clientId', 'clientSecret']);
    expect(issuesOf({ protocol: 'graphql' })).toEqual(['protocol']);
  });

  it('requires refreshToken with the refresh_token grant, and checks tenant and version', () => {
    expect(
      issuesOf(restConfig('https://wd2-impl-services1.workday.com', { grantType: 'refresh_token' })),
    ).toEqual(['refreshToken']);
    expect(issuesOf(soapConfig('https://x.example', { tenant: 'acme/../admin' }))).toEqual(['tenant']);
    expect(issuesOf(soapConfig('https://x.example', { version: '45' }))).toEqual(['version']);
    expect(issuesOf(soapConfig('not a url'))).toEqual(['apiUrl']);
  });

  it('bindConnector reports a bad config with the field named', () => {
    // Deliberately incomplete, as an untyped caller (a JSON config file) could pass it.
    const incomplete = {
      protocol: 'soap',
      apiUrl: 'https://x.example',
      tenant: 'acme',
    } as unknown as Parameters<typeof bindConnector<typeof workday>>[1];
    expect(() => bindConnector(workday, incomplete)).toThrow(
      '[impact-in] [workday] invalid config: username: Invalid input: expected string, received undefined; password: Invalid input: expected string, received undefined',
    );
  });

  it('declares its secrets and keeps REST defaults', () => {
    expect(workday.secrets).toEqual(['password', 'clientSecret', 'refreshToken', 'webhookPassword']);
    const rest = WorkdayConfigSchema.parse(restConfig('https://wd2-impl-services1.workday.com/'));
    expect(rest).toMatchObject({ grantType: 'client_credentials', authMethod: 'client_secret_basic' });
  });

  it('builds the endpoints from apiUrl, tenant and version', () => {
    const soap = WorkdayConfigSchema.parse(soapConfig('https://wd2-impl-services1.workday.com/'));
    const rest = WorkdayConfigSchema.parse(restConfig('https://wd2-impl-services1.workday.com'));
    if (soap.protocol !== 'soap' || rest.protocol !== 'rest') throw new Error('wrong protocol');
    expect(soapEndpoint(soap)).toBe(
      'https://wd2-impl-services1.workday.com/ccx/service/acme_impl/CSR_Impact_Report',
    );
    expect(soapEndpoint({ ...soap, version: 'v45.1' })).toBe(
      'https://wd2-impl-services1.workday.com/ccx/service/acme_impl/CSR_Impact_Report/v45.1',
    );
    expect(restEndpoint(rest)).toBe(
      'https://wd2-impl-services1.workday.com/api/v1/acme_impl/csr-impact-reports',
    );
    expect(tokenEndpoint(rest)).toBe('https://wd2-impl-services1.workday.com/ccx/oauth2/acme_impl/token');
    expect(
      tokenEndpoint({ ...rest, tokenUrl: 'https://wd2-impl-services1.workday.com/ccx/oauth2/token' }),
    ).toBe('https://wd2-impl-services1.workday.com/ccx/oauth2/token');
  });

  it('gives each Workday account its own rate-limit bucket', () => {
    const soap = WorkdayConfigSchema.parse(soapConfig('https://x.example'));
    const rest = WorkdayConfigSchema.parse(restConfig('https://x.example'));
    expect(workday.credentialKey!(soap)).toBe('acme_impl:soap:isu_impactin@acme_impl');
    expect(workday.credentialKey!(rest)).toBe(`acme_impl:rest:${creds.clientId}`);
  });
});

describe('fromEnv', () => {
  it('reads seed 002’s SOAP variables from the object it is given', () => {
    expect(
      fromEnv({
        WORKDAY_API_URL: 'https://wd2-impl-services1.workday.com',
        WORKDAY_TENANT_ID: 'acme',
        WORKDAY_PROTOCOL: 'SOAP',
        WORKDAY_USERNAME: 'isu_impactin@acme',
        WORKDAY_PASSWORD: 's3cret',
        WORKDAY_API_VERSION: 'v45.1',
        UNRELATED: 'x',
      }),
    ).toEqual({
      protocol: 'soap',
      apiUrl: 'https://wd2-impl-services1.workday.com',
      tenant: 'acme',
      username: 'isu_impactin@acme',
      password: 's3cret',
      version: 'v45.1',
    });
  });

  it('reads seed 002’s REST variables, plus the refresh-token grant and webhook credentials', () => {
    expect(
      fromEnv({
        WORKDAY_API_URL: 'https://wd2-impl-services1.workday.com',
        WORKDAY_TENANT_ID: 'acme',
        WORKDAY_PROTOCOL: 'rest',
        WORKDAY_CLIENT_ID: 'client',
        WORKDAY_CLIENT_SECRET: 'secret',
        WORKDAY_TOKEN_URL: 'https://wd2-impl-services1.workday.com/ccx/oauth2/token',
        WORKDAY_GRANT_TYPE: 'refresh_token',
        WORKDAY_REFRESH_TOKEN: 'rt',
        WORKDAY_WEBHOOK_USERNAME: 'notify',
        WORKDAY_WEBHOOK_PASSWORD: 'notify-password',
        WORKDAY_USERNAME: '',
      }),
    ).toEqual({
      protocol: 'rest',
      apiUrl: 'https://wd2-impl-services1.workday.com',
      tenant: 'acme',
      clientId: 'client',
      clientSecret: 'secret',
      tokenUrl: 'https://wd2-impl-services1.workday.com/ccx/oauth2/token',
      grantType: 'refresh_token',
      refreshToken: 'rt',
      authMethod: 'client_secret_basic',
      webhookUsername: 'notify',
      webhookPassword: 'notify-password',
    });
  });

  it('gives bindConnector a config it accepts', () => {
    const config = fromEnv({
      WORKDAY_PROTOCOL: 'soap',
      WORKDAY_API_URL: 'https://wd2-impl-services1.workday.com',
      WORKDAY_TENANT_ID: 'acme',
      WORKDAY_USERNAME: 'isu_impactin@acme',
      WORKDAY_PASSWORD: 's3cret',
    });
    expect(bindConnector(workday, config!).config).toEqual(config);
  });

  it('names the variables at fault, never their values', () => {
    const attempt = () =>
      fromEnv({
        WORKDAY_PROTOCOL: 'soap',
        WORKDAY_API_URL: 'not-a-url',
        WORKDAY_TENANT_ID: 'acme',
        WORKDAY_USERNAME: 'isu@acme',
      });
    expect(attempt).toThrow(
      '[impact-in] [workday] invalid environment: WORKDAY_API_URL: Invalid URL; WORKDAY_PASSWORD: Invalid input: expected string, received undefined',
    );
    expect(() => fromEnv({ WORKDAY_TENANT_ID: 'acme' })).toThrow(
      /^\[impact-in\] \[workday\] invalid environment: WORKDAY_PROTOCOL: /,
    );
    expect(() => fromEnv({ WORKDAY_PROTOCOL: 'soap', WORKDAY_PASSWORD: 'hunter2-secret' })).not.toThrow(
      /hunter2/,
    );
  });

  it('is undefined when Workday is not configured at all (empty values count as unset)', () => {
    expect(fromEnv({})).toBeUndefined();
    expect(fromEnv({ WORKDAY_PASSWORD: '', BENEVITY_API_KEY: 'k' })).toBeUndefined();
  });

  it('never falls back to process.env', () => {
    process.env.WORKDAY_PROTOCOL = 'soap';
    process.env.WORKDAY_API_URL = 'https://wd2-impl-services1.workday.com';
    try {
      expect(fromEnv({})).toBeUndefined();
      expect(() => fromEnv({ WORKDAY_TENANT_ID: 'acme' })).toThrow(/WORKDAY_PROTOCOL/);
    } finally {
      delete process.env.WORKDAY_PROTOCOL;
      delete process.env.WORKDAY_API_URL;
    }
  });
});

describe('payload mapping helpers', () => {
  it('maps units and activity types', () => {
    expect(unitOfMeasure('hours')).toBe('Hours');
    expect(unitOfMeasure('Minutes')).toBe('Minutes');
    expect(unitOfMeasure('usd')).toBe('USD');
    expect(unitOfMeasure('trees_planted')).toBe('Trees Planted');
    expect(activityType('volunteer_hours')).toBe('Volunteer Hours');
    expect(activityType('session_completed')).toBe('Session Completed');
    expect(activityType('donation', { donation: 'Charitable Giving' })).toBe('Charitable Giving');
  });

  it('writes xsd:decimal values without exponents, and the report date as written', () => {
    expect(formatDecimal(5)).toBe('5.0');
    expect(formatDecimal(2.75)).toBe('2.75');
    expect(formatDecimal(-0)).toBe('0.0');
    expect(formatDecimal(1e-7)).toBe('0.0000001');
    expect(formatDecimal(1e21)).toBe('1000000000000000000000.0');
    expect(reportDate('2025-11-14T23:30:00-05:00')).toBe('2025-11-14');
  });
});

describe('health and the README example', () => {
  let simulator: WorkdaySimulator;
  let provider: ProviderServer;
  const closers: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    simulator = createWorkdaySimulator();
    provider = await startProviderServer(simulator.handlers);
  });
  afterEach(async () => {
    await Promise.all(closers.splice(0).map((close) => close()));
    simulator.reset();
    provider.reset();
  });
  afterAll(() => provider.close());

  const health = (config: unknown) => {
    const harness = createConnectorHarness({ connector: workday, config });
    closers.push(() => harness.close());
    return workday.health!(harness.context());
  };

  it('SOAP: a read-only probe checks the endpoint and the UsernameToken', async () => {
    expect(await health(soapConfig(provider.url))).toMatchObject({ ok: true });
    expect(simulator.accepted()).toEqual([]);
    expect(await health(soapConfig(provider.url, { password: 'wrong-password' }))).toMatchObject({
      ok: false,
      message: 'SOAP fault SOAP-ENV:Client.authenticationError: invalid username or password',
    });
  });

  it('REST: a token and one GET; a bad client says which client id', async () => {
    expect(await health(restConfig(provider.url))).toMatchObject({ ok: true });
    expect(simulator.tokenRequests).toBe(1);
    const bad = await health(restConfig(provider.url, { clientSecret: 'wd_secret_nope_1234' }));
    expect(bad.ok).toBe(false);
    expect(bad.message).toContain(`clientId "${creds.clientId}"`);
    expect(bad.message).not.toContain('wd_secret_nope_1234');
  });

  it('reports an unreachable host instead of throwing', async () => {
    const result = await health(soapConfig('http://127.0.0.1:9'));
    expect(result.ok).toBe(false);
    expect(result.message).toMatch(/ECONNREFUSED|connect/);
  });

  it('delivers one event with createDispatcher, MemoryDeliveryStore and bindConnector, as the README shows', async () => {
    const dispatcher = createDispatcher({
      store: new MemoryDeliveryStore(),
      connectors: [
        bindConnector(workday, {
          protocol: 'soap',
          apiUrl: provider.url,
          tenant: 'acme_impl',
          username: 'isu_impactin@acme_impl',
          password: creds.password,
        }),
      ],
    });
    closers.push(() => dispatcher.close());
    const delivery = await dispatcher.submitAndWait({
      companyId: 'company_789',
      provider: 'workday',
      event: seedEvent(),
    });
    expect(delivery).toMatchObject({ status: 'success', attemptCount: 1, lastError: null });
    expect(provider.callsTo(SOAP_PATH)[0]!.headers['x-idempotency-key']).toBe(delivery.deliveryId);
    expect(simulator.accepted()).toHaveLength(1);
  });
});
