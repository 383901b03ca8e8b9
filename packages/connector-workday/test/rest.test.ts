import { tokenKey } from '@impact-in/core';
import {
  type ConnectorHarness,
  createConnectorHarness,
  createFakeClock,
  type FakeClock,
  type ProviderServer,
  startProviderServer,
} from '@impact-in/testing';
import { createWorkdaySimulator, type WorkdaySimulator } from '@impact-in/testing/providers/workday';
import { HttpResponse, http } from 'msw';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type WorkdayConfig, workday } from '../src/index.js';
import { creds, REST_PATH, restConfig, seedEvent, TOKEN_PATH } from './helpers.js';

// Seed 002's REST body for its example event, byte for byte.
const SEED_BODY =
  '{"schema_version":"v3.0","impact_report":{"external_reference_id":"evt_123","report_date":"2025-11-14T10:00:00Z",' +
  '"worker":{"worker_id":"user_456"},"csr_activity":{"activity_type":"volunteer_hours","value":5,"unit_of_measure":"Hours"}}}';

const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

describe('workday REST delivery and OAuth', () => {
  let clock: FakeClock;
  let simulator: WorkdaySimulator;
  let provider: ProviderServer;
  const harnesses: ConnectorHarness<WorkdayConfig>[] = [];
  const open = (extra: Record<string, unknown> = {}) => {
    const harness = createConnectorHarness({
      connector: workday,
      config: restConfig(provider.url, extra),
      clock,
    });
    harnesses.push(harness);
    return harness;
  };
  const restCalls = () => provider.callsTo(REST_PATH);
  const tokenCalls = () => provider.callsTo(TOKEN_PATH);

  beforeAll(async () => {
    clock = createFakeClock();
    // The simulator's tokens expire by the same fake clock the connector reads.
    simulator = createWorkdaySimulator({ now: () => clock.now() });
    provider = await startProviderServer(simulator.handlers);
  });
  afterEach(async () => {
    await Promise.all(harnesses.splice(0).map((harness) => harness.close()));
    simulator.reset();
    provider.reset();
    provider.resetHandlers();
  });
  afterAll(() => provider.close());

  it('posts seed 002’s body byte for byte with the bearer token and the idempotency key', async () => {
    const harness = open();
    const delivery = await harness.submit(seedEvent());
    expect(delivery?.lastError ?? null).toBeNull();
    expect(delivery).toMatchObject({ status: 'success', attemptCount: 1 });
    const [call] = restCalls();
    expect(call!.method).toBe('POST');
    expect(call!.url).toBe(`${provider.url}/api/v1/acme_impl/csr-impact-reports`);
    expect(call!.text()).toBe(SEED_BODY);
    expect(call!.headers['content-type']).toBe('application/json');
    expect(call!.headers['x-idempotency-key']).toBe(delivery!.deliveryId);
    const stored = await harness.tokens.get(
      tokenKey({ tenant: harness.companyId, provider: 'workday', clientId: creds.clientId }),
    );
    expect(call!.headers.authorization).toBe(`Bearer ${stored!.accessToken}`);
    expect(delivery?.payload).toEqual(JSON.parse(SEED_BODY));
    expect(delivery?.providerResponse?.status).toBe(201);
    expect(simulator.accepted()).toEqual([
      { idempotencyKey: delivery!.deliveryId, body: JSON.parse(SEED_BODY), times: 1 },
    ]);
  });

  it('asks the tenant’s token endpoint with client credentials and HTTP Basic client auth', async () => {
    const harness = open();
    await harness.submit(seedEvent());
    const [token] = tokenCalls();
    expect(token!.url).toBe(`${provider.url}/ccx/oauth2/acme_impl/token`);
    expect(token!.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(token!.headers.authorization).toBe(basic(creds.clientId, creds.clientSecret));
    expect(token!.text()).toBe('grant_type=client_credentials');
  });

  it('can send the client secret in the form instead (client_secret_post)', async () => {
    const harness = open({ authMethod: 'client_secret_post' });
    const delivery = await harness.submit(seedEvent());
    expect(delivery?.status).toBe('success');
    const [token] = tokenCalls();
    expect(token!.headers.authorization).toBeUndefined();
    expect(token!.text()).toBe(
      `grant_type=client_credentials&client_id=${creds.clientId}&client_secret=${creds.clientSecret}`,
    );
  });

  it('uses seed 002’s WORKDAY_TOKEN_URL when one is configured', async () => {
    const harness = open({ tokenUrl: `${provider.url}/ccx/oauth2/token` });
    const delivery = await harness.submit(seedEvent());
    expect(delivery?.status).toBe('success');
    expect(provider.callsTo('/ccx/oauth2/token')).toHaveLength(1);
    expect(tokenCalls()).toHaveLength(0);
  });

  it('reuses a token until it is about to expire, then renews it with the stored refresh token', async () => {
    const harness = open();
    await harness.submit(seedEvent({ eventId: 'evt_a' }));
    await harness.submit(seedEvent({ eventId: 'evt_b' }));
    expect(simulator.tokenRequests).toBe(1);
    // 3600 s tokens, renewed 60 s early: at +3539 s the token is still used…
    await clock.advance(3_539_000);
    await harness.submit(seedEvent({ eventId: 'evt_c' }));
    expect(simulator.tokenRequests).toBe(1);
    // …and at +3541 s it is renewed before the simulator would refuse it.
    await clock.advance(2_000);
    const delivery = await harness.submit(seedEvent({ eventId: 'evt_d' }));
    expect(delivery?.status).toBe('success');
    expect(simulator.grants).toEqual(['client_credentials', 'refresh_token']);
    const refresh = new URLSearchParams(tokenCalls()[1]!.text());
    expect(refresh.get('grant_type')).toBe('refresh_token');
    expect(refresh.get('refresh_token')).toMatch(/^wd_rt_/);
    expect(restCalls().map((call) => call.status)).toEqual([201, 201, 201, 201]);
  });

  it('single flight: 50 concurrent deliveries with no token, then with an expired one, cause one token request each', async () => {
    const harness = open();
    const burst = (round: string) =>
      Promise.all(
        Array.from({ length: 50 }, (_, index) =>
          harness.deliver(seedEvent({ eventId: `evt_${round}_${index}` }), {
            deliveryId: `dlv-${round}-${index}`,
          }),
        ),
      );
    const first = await burst('cold');
    expect(first.every((result) => result.response.status === 201)).toBe(true);
    expect(simulator.tokenRequests).toBe(1);
    await clock.advance(3_600_000);
    const second = await burst('expired');
    expect(second.every((result) => result.response.status === 201)).toBe(true);
    expect(simulator.tokenRequests).toBe(2);
    expect(simulator.grants).toEqual(['client_credentials', 'refresh_token']);
    expect(simulator.accepted()).toHaveLength(100);
  });

  it('falls back to client credentials when the refresh token was revoked', async () => {
    const harness = open();
    await harness.submit(seedEvent({ eventId: 'evt_a' }));
    simulator.revokeRefreshTokens();
    await clock.advance(3_600_000);
    const delivery = await harness.submit(seedEvent({ eventId: 'evt_b' }));
    expect(delivery?.status).toBe('success');
    expect(simulator.grants).toEqual(['client_credentials', 'refresh_token', 'client_credentials']);
  });

  it('a 401 on a token the connector thought valid forces exactly one refresh, with the same idempotency key', async () => {
    const harness = open();
    await harness.submit(seedEvent({ eventId: 'evt_a' }));
    simulator.revokeAccessTokens();
    const delivery = await harness.submit(seedEvent({ eventId: 'evt_b' }));
    expect(delivery).toMatchObject({ status: 'success', attemptCount: 1 });
    const calls = restCalls().slice(1);
    expect(calls.map((call) => call.status)).toEqual([401, 201]);
    expect(calls[0]!.headers['x-idempotency-key']).toBe(delivery!.deliveryId);
    expect(calls[1]!.headers['x-idempotency-key']).toBe(delivery!.deliveryId);
    expect(calls[0]!.headers.authorization).not.toBe(calls[1]!.headers.authorization);
    expect(calls[0]!.body.equals(calls[1]!.body)).toBe(true);
    expect(simulator.tokenRequests).toBe(2);
  });

  it('a second 401 after the refresh is permanent', async () => {
    const harness = open();
    provider.use(
      http.post(`${provider.url}${REST_PATH}`, () =>
        HttpResponse.json(
          { error: 'invalid_token', error_description: 'The access token is invalid' },
          { status: 401, headers: { 'www-authenticate': 'Bearer error="invalid_token"' } },
        ),
      ),
    );
    const delivery = await harness.submit(seedEvent());
    expect(delivery).toMatchObject({ status: 'failed', attemptCount: 1, nextAttemptAt: null });
    expect(delivery?.lastError).toBe(
      '[impact-in] [workday] HTTP 401: {"error":"invalid_token","error_description":"The access token is invalid"}',
    );
    expect(restCalls()).toHaveLength(2);
    expect(simulator.tokenRequests).toBe(2);
  });

  it('a wrong client secret is a permanent invalid_client that names the client id, never the secret', async () => {
    const harness = open({ clientSecret: 'wd_secret_wrong_000' });
    const delivery = await harness.submit(seedEvent());
    expect(delivery).toMatchObject({ status: 'failed', attemptCount: 1 });
    expect(delivery?.lastError).toBe(
      `[impact-in] [workday] token request failed: 401 invalid_client: the provider rejected clientId "${creds.clientId}" or its clientSecret`,
    );
    expect(JSON.stringify(delivery)).not.toContain('wd_secret_wrong_000');
    expect(harness.logger.text()).not.toContain('wd_secret_wrong_000');
    expect(restCalls()).toHaveLength(0);
  });

  it('a validation error from Workday (HTTP 400) is permanent and names the field', async () => {
    const harness = open();
    const delivery = await harness.submit(seedEvent({ value: -1 }));
    expect(delivery).toMatchObject({ status: 'failed', attemptCount: 1 });
    expect(delivery?.lastError).toBe(
      '[impact-in] [workday] HTTP 400: {"error":"Validation error occurred","errors":[{"field":"impact_report.csr_activity.value","error":"Too small: expected number to be >=0"}]}',
    );
  });

  it('keeps the idempotency key across a 504, the retry and a replay; the simulator dedupes', async () => {
    const harness = open();
    simulator.failNext({ kind: 'status', status: 504 });
    let delivery = await harness.submit(seedEvent());
    expect(delivery).toMatchObject({ status: 'retrying', attemptCount: 1 });
    await clock.set(delivery!.nextAttemptAt!.getTime());
    await harness.runDue();
    delivery = await harness.store.get(delivery!.id);
    expect(delivery).toMatchObject({ status: 'success', attemptCount: 2 });
    await harness.dispatcher.replay(delivery!.id);
    expect(restCalls().map((call) => call.status)).toEqual([504, 201, 200]);
    expect(new Set(restCalls().map((call) => call.headers['x-idempotency-key']))).toEqual(
      new Set([delivery!.deliveryId]),
    );
    expect(simulator.accepted()).toMatchObject([{ idempotencyKey: delivery!.deliveryId, times: 2 }]);
  });
});

describe('workday REST with the refresh_token grant (API Client for Integrations)', () => {
  let clock: FakeClock;
  let simulator: WorkdaySimulator;
  let provider: ProviderServer;
  const harnesses: ConnectorHarness<WorkdayConfig>[] = [];
  const open = (refreshToken: string = creds.refreshToken) => {
    const harness = createConnectorHarness({
      connector: workday,
      config: restConfig(provider.url, { grantType: 'refresh_token', refreshToken }),
      clock,
    });
    harnesses.push(harness);
    return harness;
  };

  beforeAll(async () => {
    clock = createFakeClock();
    simulator = createWorkdaySimulator({ now: () => clock.now(), tokenLifetimeSeconds: 900 });
    provider = await startProviderServer(simulator.handlers);
  });
  afterEach(async () => {
    await Promise.all(harnesses.splice(0).map((harness) => harness.close()));
    simulator.reset();
    provider.reset();
  });
  afterAll(() => provider.close());

  it('trades the configured refresh token at {apiUrl}/ccx/oauth2/{tenant}/token, again after expiry', async () => {
    const harness = open();
    const first = await harness.submit(seedEvent({ eventId: 'evt_a' }));
    expect(first?.status).toBe('success');
    await clock.advance(900_000);
    const second = await harness.submit(seedEvent({ eventId: 'evt_b' }));
    expect(second?.status).toBe('success');
    const calls = provider.callsTo(TOKEN_PATH);
    expect(calls).toHaveLength(2);
    for (const call of calls) {
      expect(call.headers.authorization).toBe(basic(creds.clientId, creds.clientSecret));
      expect(call.text()).toBe(`grant_type=refresh_token&refresh_token=${creds.refreshToken}`);
    }
    expect(simulator.grants).toEqual(['refresh_token', 'refresh_token']);
  });

  it('a revoked refresh token is a permanent invalid_grant', async () => {
    const harness = open();
    simulator.revokeRefreshTokens();
    const delivery = await harness.submit(seedEvent());
    expect(delivery).toMatchObject({ status: 'failed', attemptCount: 1 });
    expect(delivery?.lastError).toBe(
      '[impact-in] [workday] token request failed: 400 invalid_grant: the refresh token was rejected',
    );
    expect(delivery?.lastError).not.toContain(creds.refreshToken);
  });

  it('an unknown refresh token is refused the same way', async () => {
    const harness = open('wd_rt_made_up_token');
    const delivery = await harness.submit(seedEvent());
    expect(delivery?.status).toBe('failed');
    expect(delivery?.lastError).toContain('invalid_grant');
    expect(provider.callsTo(REST_PATH)).toHaveLength(0);
  });
});
