import {
  bindConnector,
  createDispatcher,
  createHttpClient,
  MemoryDeliveryStore,
  MemoryTokenStore,
  type StoredToken,
  tokenKey,
} from '@impact-in/core';
import {
  type ConnectorHarness,
  createConnectorHarness,
  createFakeClock,
  type ProviderServer,
  startProviderServer,
} from '@impact-in/testing';
import { createGooderaSimulator, GOODERA_TEST_CREDENTIALS } from '@impact-in/testing/providers/goodera';
import { HttpResponse, http } from 'msw';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type GooderaConfig, goodera } from '../src/index.js';
import { gooderaConfig, seedEvent } from './helpers.js';

const { clientId, clientSecret } = GOODERA_TEST_CREDENTIALS;
const EVENTS = '/v2/events/impact';
const TOKEN = '/oauth/token';
const clock = createFakeClock();
// The token endpoint takes 40 ms, so concurrent deliveries really overlap the token request.
const simulator = createGooderaSimulator({ clock, tokenDelayMs: 40 });
let provider: ProviderServer;
const harnesses: ConnectorHarness<GooderaConfig>[] = [];

beforeAll(async () => {
  provider = await startProviderServer(simulator.handlers);
});
afterAll(() => provider.close());
afterEach(async () => {
  for (const harness of harnesses.splice(0)) await harness.close();
  simulator.reset();
  provider.reset();
  provider.resetHandlers();
});

const open = (
  overrides: Record<string, unknown> = {},
  options: { tokens?: MemoryTokenStore; companyId?: string } = {},
) => {
  const harness = createConnectorHarness({
    connector: goodera,
    config: gooderaConfig(provider.url, { rateLimit: { maxRequests: 100, windowMs: 1_000 }, ...overrides }),
    clock,
    ...options,
  });
  harnesses.push(harness);
  return harness;
};
const tokenCalls = () => provider.callsTo(TOKEN);
const eventCalls = () => provider.callsTo(EVENTS);
const keyOf = (tenant: string, client = clientId) =>
  tokenKey({ tenant, provider: 'goodera', clientId: client });
let eventNumber = 0;
const nextEvent = () => seedEvent({ eventId: `evt_auth_${++eventNumber}` });

describe('token request', () => {
  it('client_secret_post: form-encoded grant with the credentials in the body, exactly these bytes', async () => {
    const harness = open();
    const delivery = await harness.submit(nextEvent());
    expect(delivery?.status).toBe('success');
    const [call] = tokenCalls();
    expect(call!.method).toBe('POST');
    expect(call!.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(call!.headers.accept).toBe('application/json');
    expect(call!.headers.authorization).toBeUndefined();
    expect(call!.text()).toBe(
      `grant_type=client_credentials&client_id=${clientId}&client_secret=${clientSecret}`,
    );
    expect(simulator.tokenLog[0]).toMatchObject({ authMethod: 'client_secret_post', status: 200 });
    expect(eventCalls()[0]!.headers.authorization).toBe(`Bearer ${simulator.tokenLog[0]!.accessToken}`);
  });

  it('client_secret_basic: the credentials in a Basic Authorization header, only the grant in the body', async () => {
    const harness = open({ authMethod: 'client_secret_basic' });
    expect((await harness.submit(nextEvent()))?.status).toBe('success');
    const [call] = tokenCalls();
    expect(call!.headers.authorization).toBe(
      `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`,
    );
    expect(call!.text()).toBe('grant_type=client_credentials');
    expect(simulator.tokenLog[0]).toMatchObject({ authMethod: 'client_secret_basic', status: 200 });
  });

  it('sends a configured scope, form-encoded', async () => {
    const harness = open({ scope: 'impact:write' });
    await harness.submit(nextEvent());
    expect(tokenCalls()[0]!.text()).toBe(
      `grant_type=client_credentials&scope=impact%3Awrite&client_id=${clientId}&client_secret=${clientSecret}`,
    );
  });
});

describe('token store', () => {
  it('keeps the token under (tenant, provider, client id) and reuses it; another tenant gets its own', async () => {
    const tokens = new MemoryTokenStore();
    const harness = open({}, { tokens });
    for (let index = 0; index < 3; index++)
      expect((await harness.submit(nextEvent()))?.status).toBe('success');
    expect(simulator.tokenRequests).toBe(1);
    const issued = simulator.tokenLog[0]!;
    expect(await tokens.get(keyOf('company_789'))).toEqual({
      accessToken: issued.accessToken,
      tokenType: 'Bearer',
      refreshToken: issued.refreshToken,
      scope: 'impact:write',
      expiresAt: clock.now() + 3_600_000,
    });
    expect(new Set(eventCalls().map((call) => call.headers.authorization))).toEqual(
      new Set([`Bearer ${issued.accessToken}`]),
    );

    const other = open({}, { tokens, companyId: 'company_other' });
    expect((await other.submit(nextEvent()))?.status).toBe('success');
    expect(simulator.tokenRequests).toBe(2);
    expect((await tokens.get(keyOf('company_other')))?.accessToken).toBe(simulator.tokenLog[1]!.accessToken);
    expect(simulator.tokenLog[1]!.accessToken).not.toBe(issued.accessToken);
  });

  it('refreshes before expiry by the skew, so Goodera never sees an expired token', async () => {
    const harness = open();
    await harness.submit(nextEvent());
    await clock.advance(3_600_000 - 61_000);
    await harness.submit(nextEvent());
    expect(simulator.tokenRequests).toBe(1);
    await clock.advance(2_000); // 59 s before expiry: inside the 60 s skew
    expect((await harness.submit(nextEvent()))?.status).toBe('success');
    expect(simulator.tokenRequests).toBe(2);
    expect(simulator.tokenLog[1]).toMatchObject({ grantType: 'refresh_token', status: 200 });
    expect(eventCalls().map((call) => call.status)).toEqual([202, 202, 202]);
  });

  it('takes the skew from tokenSkewSeconds', async () => {
    const harness = open({ tokenSkewSeconds: 600 });
    await harness.submit(nextEvent());
    await clock.advance(3_600_000 - 601_000);
    await harness.submit(nextEvent());
    expect(simulator.tokenRequests).toBe(1);
    await clock.advance(2_000);
    await harness.submit(nextEvent());
    expect(simulator.tokenRequests).toBe(2);
  });

  it('renews an expired access token with grant_type=refresh_token and the stored refresh token', async () => {
    const tokens = new MemoryTokenStore();
    const harness = open({}, { tokens });
    await harness.submit(nextEvent());
    const first = simulator.tokenLog[0]!;
    await clock.advance(3_600_000);
    const delivery = await harness.submit(nextEvent());
    expect(delivery?.status).toBe('success');
    expect(tokenCalls()[1]!.text()).toBe(
      `grant_type=refresh_token&refresh_token=${first.refreshToken}&client_id=${clientId}&client_secret=${clientSecret}`,
    );
    const second = simulator.tokenLog[1]!;
    expect(second).toMatchObject({ grantType: 'refresh_token', status: 200 });
    // Goodera rotates refresh tokens: the new one is stored for next time.
    expect(await tokens.get(keyOf('company_789'))).toMatchObject({
      accessToken: second.accessToken,
      refreshToken: second.refreshToken,
    });
    expect(eventCalls()[1]!.headers.authorization).toBe(`Bearer ${second.accessToken}`);
  });

  it('falls back to client credentials when the refresh token was revoked', async () => {
    const harness = open();
    await harness.submit(nextEvent());
    simulator.revokeRefreshTokens();
    await clock.advance(3_600_000);
    expect((await harness.submit(nextEvent()))?.status).toBe('success');
    expect(simulator.tokenLog.map((entry) => [entry.grantType, entry.status, entry.error])).toEqual([
      ['client_credentials', 200, undefined],
      ['refresh_token', 400, 'invalid_grant'],
      ['client_credentials', 200, undefined],
    ]);
  });
});

describe('single flight through the dispatcher (concurrency 64)', () => {
  // Its own Goodera whose token endpoint answers after 300 ms: core's limiter starts queued jobs a
  // timer tick apart, and all 50 deliveries must be waiting on the token before it arrives.
  const slow = createGooderaSimulator({ clock, tokenDelayMs: 300 });
  let slowProvider: ProviderServer;
  beforeAll(async () => {
    slowProvider = await startProviderServer(slow.handlers);
  });
  afterAll(() => slowProvider.close());
  afterEach(() => {
    slow.reset();
    slowProvider.reset();
  });

  /** A token store that counts callers who found no usable token: each would fetch one without single flight. */
  class WatchedTokenStore extends MemoryTokenStore {
    staleReads = 0;
    override async get(key: string): Promise<StoredToken | undefined> {
      const token = await super.get(key);
      if (!token || token.expiresAt - 60_000 <= clock.now()) this.staleReads++;
      return token;
    }
  }

  const withDispatcher = async (
    scenario: (tools: {
      tokens: WatchedTokenStore;
      submit: (eventId: string) => Promise<unknown>;
      runOnce: () => Promise<number>;
    }) => Promise<void>,
  ) => {
    const tokens = new WatchedTokenStore();
    const httpClient = createHttpClient({ headersTimeoutMs: 5_000 });
    const dispatcher = createDispatcher({
      store: new MemoryDeliveryStore({ now: clock.now }),
      connectors: [bindConnector(goodera, gooderaConfig(slowProvider.url))],
      http: httpClient,
      tokens,
      clock,
      concurrency: 64,
      random: () => 0.5,
    });
    const submit = (eventId: string) =>
      dispatcher.submit({ companyId: 'company_789', provider: 'goodera', event: seedEvent({ eventId }) });
    try {
      await scenario({ tokens, submit, runOnce: () => dispatcher.runOnce() });
      return (await dispatcher.list({ companyId: 'company_789', page: 1, limit: 100 })).data;
    } finally {
      await dispatcher.close();
      await httpClient.close();
    }
  };

  it('50 concurrent deliveries with an expired token make exactly one token request (the refresh)', async () => {
    let staleReads = 0;
    const deliveries = await withDispatcher(async ({ tokens, submit, runOnce }) => {
      await submit('evt_warm');
      await runOnce();
      expect(slow.tokenRequests).toBe(1);
      await clock.advance(3_600_000); // expired for the connector and for Goodera
      const before = tokens.staleReads;
      for (let index = 0; index < 50; index++) await submit(`evt_flight_${index}`);
      expect(await runOnce()).toBe(50);
      staleReads = tokens.staleReads - before;
    });
    // All 50 found the token expired, yet Goodera saw one token request for all of them.
    expect(staleReads).toBe(50);
    expect(slow.tokenRequests).toBe(2);
    expect(slow.tokenLog[1]).toMatchObject({ grantType: 'refresh_token', status: 200 });
    expect(deliveries.filter((delivery) => delivery.status === 'success')).toHaveLength(51);
    const flight = slowProvider.callsTo(EVENTS).slice(1);
    expect(flight).toHaveLength(50);
    expect(new Set(flight.map((call) => call.headers.authorization))).toEqual(
      new Set([`Bearer ${slow.tokenLog[1]!.accessToken}`]),
    );
    expect(flight.every((call) => call.status === 202)).toBe(true);
  });

  it('50 concurrent deliveries with no token yet make exactly one client_credentials request', async () => {
    let staleReads = 0;
    const deliveries = await withDispatcher(async ({ tokens, submit, runOnce }) => {
      for (let index = 0; index < 50; index++) await submit(`evt_cold_${index}`);
      expect(await runOnce()).toBe(50);
      staleReads = tokens.staleReads;
    });
    expect(staleReads).toBe(50);
    expect(slow.tokenLog.map((entry) => entry.grantType)).toEqual(['client_credentials']);
    expect(deliveries.every((delivery) => delivery.status === 'success')).toBe(true);
    expect(slow.accepted()).toHaveLength(50);
  });
});

describe('401 from the API', () => {
  it('a revoked token: one forced refresh, the resend succeeds within the same attempt with the same bytes', async () => {
    const harness = open();
    await harness.submit(nextEvent());
    const stale = simulator.tokenLog[0]!.accessToken;
    simulator.revokeAccessTokens();
    const delivery = await harness.submit(nextEvent());
    expect(delivery).toMatchObject({ status: 'success', attemptCount: 1 });
    expect(simulator.tokenRequests).toBe(2);
    expect(simulator.tokenLog[1]).toMatchObject({ grantType: 'refresh_token', status: 200 });
    const [refused, resent] = eventCalls().slice(1);
    expect(refused!.status).toBe(401);
    expect(refused!.headers.authorization).toBe(`Bearer ${stale}`);
    expect(resent!.status).toBe(202);
    expect(resent!.headers.authorization).toBe(`Bearer ${simulator.tokenLog[1]!.accessToken}`);
    expect(resent!.headers['x-idempotency-key']).toBe(refused!.headers['x-idempotency-key']);
    expect(resent!.text()).toBe(refused!.text());
  });

  it('a 401 that persists after the refresh fails the delivery for good, after exactly one extra token request', async () => {
    const harness = open();
    simulator.failNext({ kind: 'status', status: 401 }, 2);
    const delivery = await harness.submit(nextEvent());
    expect(delivery).toMatchObject({ status: 'failed', attemptCount: 1, nextAttemptAt: null });
    expect(delivery!.lastError).toBe(
      '[impact-in] [goodera] HTTP 401 invalid_token: Simulated 401 (invalid_token) (request req_injected_401)',
    );
    expect(simulator.tokenRequests).toBe(2);
    expect(eventCalls().map((call) => call.status)).toEqual([401, 401]);
  });
});

describe('bad credentials', () => {
  for (const authMethod of ['client_secret_post', 'client_secret_basic'] as const) {
    it(`invalid_client (${authMethod}) fails for good, names the client id and never the secret`, async () => {
      const wrongSecret = 'gd_secret_WRONG_0000000000';
      const harness = open({ authMethod, clientSecret: wrongSecret });
      const delivery = await harness.submit(nextEvent());
      expect(delivery).toMatchObject({ status: 'failed', attemptCount: 1, nextAttemptAt: null });
      expect(delivery!.lastError).toBe(
        `[impact-in] [goodera] token request failed: 401 invalid_client: the provider rejected clientId "${clientId}" or its clientSecret`,
      );
      expect(simulator.tokenLog).toEqual([
        expect.objectContaining({ authMethod, status: 401, error: 'invalid_client' }),
      ]);
      expect(eventCalls()).toHaveLength(0);
      const everything = `${JSON.stringify(delivery)}\n${harness.logger.text()}`;
      expect(everything).not.toContain(wrongSecret);
      expect(everything).not.toContain(clientSecret);
    });
  }

  it('an unknown client id is invalid_client too, and the message names that id', async () => {
    const harness = open({ clientId: 'gd_client_typo' });
    const delivery = await harness.submit(nextEvent());
    expect(delivery?.lastError).toContain('rejected clientId "gd_client_typo"');
    expect(delivery?.status).toBe('failed');
  });

  it('a token endpoint that is down is retried, honouring its Retry-After', async () => {
    const harness = open();
    provider.use(
      http.post(
        `${provider.url}${TOKEN}`,
        () =>
          HttpResponse.json(
            { error: 'temporarily_unavailable' },
            { status: 503, headers: { 'retry-after': '4' } },
          ),
        { once: true },
      ),
    );
    const first = await harness.submit(nextEvent());
    expect(first).toMatchObject({ status: 'retrying', attemptCount: 1 });
    expect(first!.lastError).toBe('[impact-in] [goodera] token request failed: 503 temporarily_unavailable');
    expect(first!.nextAttemptAt!.getTime() - clock.now()).toBe(4_000);
    await clock.set(first!.nextAttemptAt!.getTime());
    await harness.runDue();
    expect(await harness.store.get(first!.id)).toMatchObject({ status: 'success', attemptCount: 2 });
  });
});

describe('health', () => {
  it('is ok with working credentials: token plus an authenticated ping', async () => {
    const harness = open();
    const result = await goodera.health!(harness.context());
    expect(result).toEqual({ ok: true, latencyMs: 0 });
    const [ping] = provider.callsTo('/v2/ping');
    expect(ping!.method).toBe('GET');
    expect(ping!.headers.authorization).toBe(`Bearer ${simulator.tokenLog[0]!.accessToken}`);
  });

  it('reports a wrong secret by client id, without the secret', async () => {
    const harness = open({ clientSecret: 'gd_secret_WRONG_1111111111' });
    const result = await goodera.health!(harness.context());
    expect(result.ok).toBe(false);
    expect(result.message).toContain(`rejected clientId "${clientId}"`);
    expect(result.message).not.toContain('gd_secret_WRONG_1111111111');
  });

  it('reports an unreachable Goodera', async () => {
    const harness = open({ tokenUrl: 'http://127.0.0.1:9/oauth/token' });
    const result = await goodera.health!(harness.context());
    expect(result).toMatchObject({ ok: false });
    expect(result.message).toContain('ECONNREFUSED');
  });
});
