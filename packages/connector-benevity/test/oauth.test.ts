import { MemoryTokenStore, tokenKey } from '@impact-in/core';
import {
  type ConnectorHarness,
  createConnectorHarness,
  createFakeClock,
  type FakeClock,
  type ProviderServer,
  startProviderServer,
} from '@impact-in/testing';
import {
  BENEVITY_TEST_CREDENTIALS,
  type BenevitySimulator,
  createBenevitySimulator,
} from '@impact-in/testing/providers/benevity';
import { HttpResponse, http } from 'msw';
import { afterEach, describe, expect, it } from 'vitest';
import { type BenevityConfig, benevity } from '../src/index.js';
import { expectedSignature, oauthConfig, seedEvent, uniqueId } from './helpers.js';

const PATH = '/api/v1/impact-events';
const HOUR = 3_600_000;

let simulator: BenevitySimulator;
let provider: ProviderServer | undefined;
let harness: ConnectorHarness<BenevityConfig> | undefined;
let clock: FakeClock;

/** A simulator whose tokens expire by the same fake clock the connector runs on. */
const start = async (
  options: {
    config?: Record<string, unknown>;
    issueRefreshTokens?: boolean;
    tokenLifetimeSeconds?: number;
  } = {},
) => {
  clock = createFakeClock();
  simulator = createBenevitySimulator({
    now: clock.now,
    ...(options.issueRefreshTokens ? { issueRefreshTokens: true } : {}),
    ...(options.tokenLifetimeSeconds ? { tokenLifetimeSeconds: options.tokenLifetimeSeconds } : {}),
  });
  provider = await startProviderServer(simulator.handlers);
  harness = createConnectorHarness<BenevityConfig>({
    connector: benevity,
    config: oauthConfig(provider.url, options.config),
    clock,
    tokens: new MemoryTokenStore(),
  });
  return { provider, harness, simulator };
};

afterEach(async () => {
  await harness?.close();
  await provider?.close();
  harness = undefined;
  provider = undefined;
});

const tokenCalls = () => provider!.callsTo('/oauth/token');
const deliveryCalls = () => provider!.callsTo(PATH);
const bearer = (index: number) => deliveryCalls()[index]!.headers.authorization;

describe('OAuth 2.0 client credentials', () => {
  it('fetches a one-hour token form-encoded, sends it as a bearer, signs the body, and stores the token per (tenant, provider, clientId)', async () => {
    const { harness } = await start();
    const delivery = await harness.submit(seedEvent({ eventId: 'evt_oauth' }));
    expect(delivery).toMatchObject({ status: 'success', attemptCount: 1 });

    const [token] = tokenCalls();
    expect(token!.method).toBe('POST');
    expect(token!.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(token!.headers.authorization).toBeUndefined();
    expect(Object.fromEntries(new URLSearchParams(token!.text()))).toEqual({
      grant_type: 'client_credentials',
      client_id: BENEVITY_TEST_CREDENTIALS.clientId,
      client_secret: BENEVITY_TEST_CREDENTIALS.clientSecret,
    });

    const [call] = deliveryCalls();
    const stored = await harness.tokens.get(
      tokenKey({ tenant: 'company_789', provider: 'benevity', clientId: BENEVITY_TEST_CREDENTIALS.clientId }),
    );
    expect(stored).toMatchObject({ tokenType: 'Bearer', expiresAt: clock.now() + HOUR });
    expect(call!.headers.authorization).toBe(`Bearer ${stored!.accessToken}`);
    expect(call!.headers['x-api-key']).toBeUndefined();
    expect(call!.headers['x-idempotency-key']).toBe(delivery!.deliveryId);
    expect(call!.headers['content-type']).toBe('application/json');
    expect(call!.headers['x-benevity-signature']).toBe(
      expectedSignature(BENEVITY_TEST_CREDENTIALS.signatureSecret, call!.body),
    );
    expect(call!.json()).toMatchObject({ schema_version: 'v1.0', event: { id: 'evt_oauth' } });
    // No token or secret in the delivery record or the logs.
    const recorded = JSON.stringify(delivery) + harness.logger.text();
    expect(recorded).not.toContain(stored!.accessToken);
    expect(recorded).not.toContain(BENEVITY_TEST_CREDENTIALS.clientSecret);
  });

  it('supports client_secret_basic', async () => {
    const { harness } = await start({ config: { authMethod: 'client_secret_basic' } });
    const delivery = await harness.submit(seedEvent({ eventId: uniqueId() }));
    expect(delivery?.status).toBe('success');
    const [token] = tokenCalls();
    const basic = Buffer.from(
      `${encodeURIComponent(BENEVITY_TEST_CREDENTIALS.clientId)}:${encodeURIComponent(BENEVITY_TEST_CREDENTIALS.clientSecret)}`,
    ).toString('base64');
    expect(token!.headers.authorization).toBe(`Basic ${basic}`);
    expect(token!.text()).toBe('grant_type=client_credentials');
  });

  it('does not sign when no signatureSecret is configured', async () => {
    const { harness } = await start({ config: { signatureSecret: undefined } });
    const delivery = await harness.submit(seedEvent({ eventId: uniqueId() }));
    expect(delivery?.status).toBe('success');
    expect(deliveryCalls()[0]!.headers['x-benevity-signature']).toBeUndefined();
  });

  it('reuses the token within the hour and refreshes it one skew (60 s) before expiry', async () => {
    const { harness, simulator } = await start();
    await harness.submit(seedEvent({ eventId: uniqueId() }));
    await clock.advance(HOUR - 60_000 - 1);
    await harness.submit(seedEvent({ eventId: uniqueId() }));
    expect(simulator.tokenRequests).toBe(1);
    expect(bearer(1)).toBe(bearer(0));
    await clock.advance(2);
    const third = await harness.submit(seedEvent({ eventId: uniqueId() }));
    expect(third?.status).toBe('success');
    expect(simulator.tokenRequests).toBe(2);
    expect(bearer(2)).not.toBe(bearer(0));
  });

  it('an expired token is refused by the simulator (its own clock), so it really expires', async () => {
    const { harness, provider } = await start({ tokenLifetimeSeconds: 120 });
    await harness.submit(seedEvent({ eventId: uniqueId() }));
    const token = bearer(0)!;
    await clock.advance(120_000);
    const response = await fetch(`${provider.url}/api/v1/ping`, { headers: { authorization: token } });
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toContain('invalid_token');
    expect(await response.json()).toEqual({
      error: { code: 'TOKEN_EXPIRED', message: 'The access token has expired.' },
    });
    // The connector, on the same clock, fetches a new one rather than sending the dead one.
    const next = await harness.submit(seedEvent({ eventId: uniqueId() }));
    expect(next?.status).toBe('success');
    expect(bearer(1)).not.toBe(token);
  });

  it('50 concurrent deliveries with an expired token make exactly one token request', async () => {
    const { harness, simulator } = await start();
    await harness.deliver(seedEvent({ eventId: uniqueId() }));
    await clock.advance(HOUR);
    const results = await Promise.all(
      Array.from({ length: 50 }, () => harness.deliver(seedEvent({ eventId: uniqueId() }))),
    );
    expect(results.every((result) => result.response.status === 202)).toBe(true);
    expect(simulator.tokenRequests).toBe(2);
    expect(
      new Set(
        deliveryCalls()
          .slice(1)
          .map((call) => call.headers.authorization),
      ).size,
    ).toBe(1);
    expect(simulator.accepted()).toHaveLength(51);
  });

  it('uses the refresh token Benevity issued, and its rotated successor', async () => {
    const { harness, simulator } = await start({ issueRefreshTokens: true });
    await harness.submit(seedEvent({ eventId: uniqueId() }));
    await clock.advance(HOUR);
    await harness.submit(seedEvent({ eventId: uniqueId() }));
    await clock.advance(HOUR);
    const third = await harness.submit(seedEvent({ eventId: uniqueId() }));
    expect(third?.status).toBe('success');
    expect(simulator.tokenGrants).toEqual(['client_credentials', 'refresh_token', 'refresh_token']);
    const forms = tokenCalls().map((call) => Object.fromEntries(new URLSearchParams(call.text())));
    expect(forms[1]!.refresh_token).toMatch(/^bnv_rt_/);
    expect(forms[2]!.refresh_token).toMatch(/^bnv_rt_/);
    expect(forms[2]!.refresh_token).not.toBe(forms[1]!.refresh_token);
  });

  it('a revoked token gets a 401, one forced refresh and one resend of the same bytes', async () => {
    const { harness, simulator } = await start();
    await harness.submit(seedEvent({ eventId: uniqueId() }));
    simulator.revokeTokens();
    const delivery = await harness.submit(seedEvent({ eventId: uniqueId() }));
    expect(delivery).toMatchObject({ status: 'success', attemptCount: 1 });
    const calls = deliveryCalls();
    expect(calls.map((call) => call.status)).toEqual([202, 401, 202]);
    expect(calls[1]!.json()).toEqual(calls[2]!.json());
    expect(calls[2]!.body.equals(calls[1]!.body)).toBe(true);
    expect(calls[2]!.headers['x-idempotency-key']).toBe(calls[1]!.headers['x-idempotency-key']);
    expect(calls[2]!.headers['x-benevity-signature']).toBe(calls[1]!.headers['x-benevity-signature']);
    expect(calls[2]!.headers.authorization).not.toBe(calls[1]!.headers.authorization);
    expect(simulator.tokenRequests).toBe(2);
  });

  it('a 401 after the forced refresh is permanent', async () => {
    const { harness, provider, simulator } = await start();
    provider.use(
      http.post(`${provider.url}${PATH}`, () =>
        HttpResponse.json(
          { error: { code: 'INVALID_TOKEN', message: 'The access token is not valid.' } },
          { status: 401 },
        ),
      ),
    );
    const delivery = await harness.submit(seedEvent({ eventId: uniqueId() }));
    expect(delivery).toMatchObject({ status: 'failed', attemptCount: 1, nextAttemptAt: null });
    expect(delivery!.lastError).toBe(
      '[impact-in] [benevity] HTTP 401 INVALID_TOKEN: The access token is not valid. — check clientId and clientSecret',
    );
    expect(deliveryCalls()).toHaveLength(2);
    expect(simulator.tokenRequests).toBe(2);
  });

  it('a wrong client secret is invalid_client: permanent, naming the clientId, never the secret', async () => {
    const { harness } = await start({ config: { clientSecret: 'bnv_wrong_secret_999' } });
    const delivery = await harness.submit(seedEvent({ eventId: uniqueId() }));
    expect(delivery).toMatchObject({ status: 'failed', attemptCount: 1 });
    expect(delivery!.lastError).toBe(
      `[impact-in] [benevity] token request failed: 401 invalid_client: the provider rejected clientId "${BENEVITY_TEST_CREDENTIALS.clientId}" or its clientSecret`,
    );
    expect(deliveryCalls()).toHaveLength(0);
    expect(JSON.stringify(delivery) + harness.logger.text()).not.toContain('bnv_wrong_secret_999');
  });

  it('a token endpoint outage is retryable, and the retry gets through', async () => {
    const { harness, provider } = await start();
    provider.use(
      http.post(`${provider.url}/oauth/token`, () => new HttpResponse('upstream down', { status: 503 }), {
        once: true,
      }),
    );
    const first = await harness.submit(seedEvent({ eventId: uniqueId() }));
    expect(first).toMatchObject({ status: 'retrying', attemptCount: 1 });
    expect(first!.lastError).toBe('[impact-in] [benevity] token request failed: 503 http_503');
    await clock.set(first!.nextAttemptAt!.getTime());
    await harness.runDue();
    expect(await harness.store.get(first!.id)).toMatchObject({ status: 'success', attemptCount: 2 });
  });

  it('health gets a token and probes with it', async () => {
    const started = await start();
    const result = await benevity.health!(started.harness.context());
    expect(result).toMatchObject({ ok: true });
    expect(started.simulator.tokenRequests).toBe(1);
    expect(started.provider.callsTo('/api/v1/ping')[0]!.headers.authorization).toMatch(/^Bearer bnv_at_/);
    await started.harness.close();
    harness = createConnectorHarness<BenevityConfig>({
      connector: benevity,
      config: oauthConfig(started.provider.url, { signatureSecret: undefined }),
      clock,
    });
    expect(await benevity.health!(harness.context())).toMatchObject({
      ok: true,
      message: 'no signatureSecret: inbound webhooks cannot be verified',
    });
  });

  it('uses the clientId as rate-limit identity', () => {
    const config = benevity.config.parse(oauthConfig('https://api.benevity.com'));
    expect(benevity.credentialKey!(config)).toBe(`oauth:${BENEVITY_TEST_CREDENTIALS.clientId}`);
  });
});
