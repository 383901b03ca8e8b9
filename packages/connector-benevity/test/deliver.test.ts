import { InboundRecordSchema, PermanentError } from '@impact-in/core';
import {
  type ConnectorHarness,
  createConnectorHarness,
  type ProviderServer,
  startProviderServer,
} from '@impact-in/testing';
import {
  BENEVITY_TEST_CREDENTIALS,
  type BenevitySimulator,
  createBenevitySimulator,
} from '@impact-in/testing/providers/benevity';
import { HttpResponse, http } from 'msw';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  ApiKeyConfigSchema,
  type BenevityConfig,
  benevity,
  classifyBenevityResponse,
  toBenevityPayload,
} from '../src/index.js';
import { apiKeyConfig, expectedSignature, seedEvent, uniqueId } from './helpers.js';

const PATH = '/api/v1/impact-events';
const SEED_BODY =
  '{"schema_version":"v1.0","event":{"id":"evt_123","type":"volunteer_hours","timestamp":"2025-11-14T10:00:00Z",' +
  '"user":{"external_id":"user_456","company_id":"company_789"},' +
  '"impact":{"value":5,"unit":"hours","metadata":{"program":"buddy_mentoring"}}}}';

let simulator: BenevitySimulator;
let provider: ProviderServer;
let harness: ConnectorHarness<BenevityConfig> | undefined;

beforeAll(async () => {
  simulator = createBenevitySimulator();
  provider = await startProviderServer(simulator.handlers);
});
afterAll(() => provider.close());
// A harness closes once: closing it twice throws from undici.
const closeHarness = async () => {
  await harness?.close();
  harness = undefined;
};
afterEach(async () => {
  await closeHarness();
  simulator.reset();
  provider.reset();
});

const open = (config: Record<string, unknown> = {}, companyId?: string) => {
  const opened = createConnectorHarness<BenevityConfig>({
    connector: benevity,
    config: { ...apiKeyConfig(provider.url), ...config },
    ...(companyId ? { companyId } : {}),
  });
  harness = opened;
  return opened;
};
const deliveryCalls = () => provider.callsTo(PATH);

describe('outbound: exact bytes, headers and signature (seed 002)', () => {
  it('sends seed 002’s v1.0 body byte for byte, signed over those bytes, with the seed headers', async () => {
    const harness = open();
    const result = await harness.deliver(seedEvent(), { deliveryId: '5f0c6f7e-3b7a-4d4e-9a51-0d6a3c2b1f00' });
    expect(result.response.status).toBe(202);
    const [call] = deliveryCalls();
    expect(call!.method).toBe('POST');
    expect(call!.url).toBe(`${provider.url}${PATH}`);
    expect(call!.body.toString('utf8')).toBe(SEED_BODY);
    expect(call!.headers['content-type']).toBe('application/json');
    expect(call!.headers['x-api-key']).toBe(BENEVITY_TEST_CREDENTIALS.apiKey);
    expect(call!.headers['x-idempotency-key']).toBe('5f0c6f7e-3b7a-4d4e-9a51-0d6a3c2b1f00');
    expect(call!.headers['x-benevity-signature']).toBe(
      expectedSignature(BENEVITY_TEST_CREDENTIALS.signatureSecret, SEED_BODY),
    );
    expect(call!.headers['x-benevity-signature']).toMatch(/^[0-9a-f]{64}$/);
    // Nothing else of ours: no bearer token in API key mode.
    expect(call!.headers.authorization).toBeUndefined();
    expect(Object.keys(call!.headers).sort()).toEqual(
      [
        'connection',
        'content-length',
        'content-type',
        'host',
        'x-api-key',
        'x-benevity-signature',
        'x-idempotency-key',
      ].sort(),
    );
    // The payload reported is the value of exactly those bytes.
    expect(JSON.stringify(result.payload)).toBe(SEED_BODY);
  });

  it('records on the delivery exactly what was sent, and Benevity’s receipt', async () => {
    const harness = open();
    const delivery = await harness.submit(seedEvent({ eventId: 'evt_recorded' }));
    expect(delivery).toMatchObject({ status: 'success', attemptCount: 1, lastError: null });
    const [call] = deliveryCalls();
    expect(delivery!.payload).toEqual(call!.json());
    expect(call!.headers['x-idempotency-key']).toBe(delivery!.deliveryId);
    expect(delivery!.providerResponse).toMatchObject({ status: 202 });
    expect(JSON.parse(delivery!.providerResponse!.body!)).toMatchObject({
      status: 'accepted',
      event_id: 'evt_recorded',
      receipt_id: expect.stringMatching(/^bnv_rcpt_/),
    });
    expect(simulator.accepted()).toEqual([
      { idempotencyKey: delivery!.deliveryId, body: call!.json(), times: 1 },
    ]);
  });

  it('puts the tenant in user.company_id and sends flat metadata with program first', async () => {
    const harness = open({}, 'acme-corp');
    await harness.deliver(
      seedEvent({
        eventId: 'evt_meta',
        value: 2.5,
        metadata: {
          team: 'blue',
          program: 'buddy_mentoring',
          verified: true,
          sessions: 3,
          nested: { a: 1 },
          tags: ['x'],
          gone: null,
        },
      }),
      { deliveryId: 'dlv-meta' },
    );
    const [call] = deliveryCalls();
    const text = call!.body.toString('utf8');
    expect(text).toContain('"user":{"external_id":"user_456","company_id":"acme-corp"}');
    expect(text).toContain(
      '"impact":{"value":2.5,"unit":"hours","metadata":{"program":"buddy_mentoring","team":"blue","verified":true,"sessions":3}}',
    );
    expect(call!.headers['x-benevity-signature']).toBe(
      expectedSignature(BENEVITY_TEST_CREDENTIALS.signatureSecret, call!.body),
    );
  });

  it('sends an empty metadata map when the event has none, and leaves outcome scores out', () => {
    const payload = toBenevityPayload(
      seedEvent({ metadata: undefined, outcomeScores: { empathy: 0.8 } }),
      'c1',
    );
    expect(payload.event.impact).toEqual({ value: 5, unit: 'hours', metadata: {} });
    expect(JSON.stringify(payload)).not.toContain('empathy');
  });

  it('refuses a non-string program before sending anything: permanent, not retried', async () => {
    const harness = open();
    const delivery = await harness.submit(seedEvent({ eventId: uniqueId(), metadata: { program: 42 } }));
    expect(delivery).toMatchObject({ status: 'failed', attemptCount: 1 });
    expect(delivery!.lastError).toContain('event.metadata.program must be a non-empty string');
    expect(deliveryCalls()).toHaveLength(0);
    expect(() => toBenevityPayload(seedEvent({ metadata: { program: '' } }), 'c1')).toThrow(PermanentError);
  });

  it('appends the path to an apiUrl with a trailing slash or a prefix', async () => {
    const harness = open({ apiUrl: `${provider.url}/` });
    const result = await harness.deliver(seedEvent({ eventId: uniqueId() }));
    expect(result.response.status).toBe(202);
    expect(deliveryCalls()[0]!.path).toBe(PATH);
  });
});

describe('classification', () => {
  for (const status of [429, 503, 504]) {
    it(`HTTP ${status} in Benevity’s shape is retryable; the retry carries the same key, bytes and signature`, async () => {
      const harness = open();
      simulator.failNext({ kind: 'status', status, ...(status === 429 ? { retryAfter: '3' } : {}) });
      const first = await harness.submit(seedEvent({ eventId: uniqueId() }));
      expect(first).toMatchObject({ status: 'retrying', attemptCount: 1 });
      expect(first!.lastError).toMatch(
        new RegExp(`^\\[impact-in\\] \\[benevity\\] HTTP ${status} [A-Z_]+: Simulated ${status}\\.$`),
      );
      if (status === 429) expect(first!.nextAttemptAt!.getTime() - harness.clock.now()).toBe(3_000);
      await harness.clock.set(first!.nextAttemptAt!.getTime());
      await harness.runDue();
      const second = await harness.store.get(first!.id);
      expect(second).toMatchObject({ status: 'success', attemptCount: 2 });
      const calls = deliveryCalls();
      expect(calls).toHaveLength(2);
      expect(calls.map((call) => call.headers['x-idempotency-key'])).toEqual([
        first!.deliveryId,
        first!.deliveryId,
      ]);
      expect(calls[1]!.body.equals(calls[0]!.body)).toBe(true);
      expect(calls[1]!.headers['x-benevity-signature']).toBe(calls[0]!.headers['x-benevity-signature']);
      expect(simulator.accepted()).toHaveLength(1);
    });
  }

  for (const status of [400, 401, 403, 404]) {
    it(`HTTP ${status} is permanent: failed after one attempt, nothing scheduled`, async () => {
      const harness = open();
      simulator.failNext({ kind: 'status', status });
      const delivery = await harness.submit(seedEvent({ eventId: uniqueId() }));
      expect(delivery).toMatchObject({ status: 'failed', attemptCount: 1, nextAttemptAt: null });
      expect(delivery!.lastError).toContain(`HTTP ${status}`);
      expect(deliveryCalls()).toHaveLength(1);
    });
  }

  it('a connection reset and a timeout are retryable', async () => {
    const harness = open();
    simulator.failNext({ kind: 'reset' });
    const reset = await harness.submit(seedEvent({ eventId: uniqueId() }));
    expect(reset).toMatchObject({ status: 'retrying' });
    simulator.failNext({ kind: 'timeout' });
    const timedOut = await harness.submit(seedEvent({ eventId: uniqueId() }));
    expect(timedOut).toMatchObject({ status: 'retrying' });
    expect(reset!.lastError).toBe('[impact-in] [benevity] network error UND_ERR_SOCKET: other side closed');
    expect(timedOut!.lastError).toBe(
      '[impact-in] [benevity] network error UND_ERR_HEADERS_TIMEOUT: Headers Timeout Error',
    );
  });

  it('a wrong API key is a permanent 401 that names the setting, never the key', async () => {
    const harness = open({ apiKey: 'bnv_wrong_key_000000' });
    const delivery = await harness.submit(seedEvent({ eventId: uniqueId() }));
    expect(delivery).toMatchObject({ status: 'failed', attemptCount: 1 });
    expect(delivery!.lastError).toBe(
      '[impact-in] [benevity] HTTP 401 INVALID_API_KEY: The API key is not valid. — check apiKey',
    );
    expect(JSON.stringify(delivery)).not.toContain('bnv_wrong_key_000000');
  });

  it('a wrong signature secret is a permanent 401 INVALID_SIGNATURE', async () => {
    const harness = open({ signatureSecret: 'not-the-secret' });
    const delivery = await harness.submit(seedEvent({ eventId: uniqueId() }));
    expect(delivery).toMatchObject({ status: 'failed', attemptCount: 1 });
    expect(delivery!.lastError).toBe(
      '[impact-in] [benevity] HTTP 401 INVALID_SIGNATURE: X-Benevity-Signature does not match the request body. — check signatureSecret',
    );
    expect(simulator.accepted()).toHaveLength(0);
  });

  it('a 400 VALIDATION_FAILED names the fields in lastError', async () => {
    const harness = open();
    provider.use(
      http.post(`${provider.url}${PATH}`, () =>
        HttpResponse.json(
          {
            error: {
              code: 'VALIDATION_FAILED',
              message: 'The request body does not match schema v1.0.',
              details: [
                { field: 'event.impact.unit', message: 'unknown unit' },
                { field: 'event.user.external_id', message: 'unknown user' },
              ],
            },
          },
          { status: 400 },
        ),
      ),
    );
    const delivery = await harness.submit(seedEvent({ eventId: uniqueId() }));
    expect(delivery).toMatchObject({ status: 'failed', attemptCount: 1 });
    expect(delivery!.lastError).toBe(
      '[impact-in] [benevity] HTTP 400 VALIDATION_FAILED: The request body does not match schema v1.0. ' +
        '(event.impact.unit: unknown unit; event.user.external_id: unknown user)',
    );
  });

  it('409 DUPLICATE_EVENT (already recorded under another key) counts as delivered', async () => {
    const event = seedEvent({ eventId: uniqueId() });
    const first = await open().submit(event);
    expect(first?.status).toBe('success');
    await closeHarness();
    // A second delivery log (a restored backup, another host) with its own deliveryId.
    const second = await open().submit(event);
    expect(second!.deliveryId).not.toBe(first!.deliveryId);
    expect(second).toMatchObject({ status: 'success', attemptCount: 1, lastError: null });
    expect(second!.providerResponse).toMatchObject({ status: 409 });
    expect(JSON.parse(second!.providerResponse!.body!).error.code).toBe('DUPLICATE_EVENT');
    expect(simulator.accepted()).toHaveLength(1);
  });

  it('409 IDEMPOTENCY_KEY_REUSED (same key, other bytes) is permanent', async () => {
    const harness = open();
    await harness.deliver(seedEvent({ eventId: uniqueId() }), { deliveryId: 'dlv-reused' });
    const result = await harness.deliver(seedEvent({ eventId: uniqueId() }), { deliveryId: 'dlv-reused' });
    expect(result.response.status).toBe(409);
    const error = classifyBenevityResponse(result.response);
    expect(error).toBeInstanceOf(PermanentError);
    expect(error).toMatchObject({ code: 'idempotency_key_reused', status: 409 });
  });

  it('answers that are not in Benevity’s shape keep the default classification', () => {
    const response = { status: 502, headers: {}, text: () => '<html>Bad gateway</html>' };
    expect(classifyBenevityResponse(response)).toBeUndefined();
    expect(classifyBenevityResponse({ status: 202, headers: {}, text: () => '{}' })).toBeUndefined();
    const limited = classifyBenevityResponse({
      status: 429,
      headers: { 'retry-after': '12' },
      text: () => '{"error":{"code":"RATE_LIMITED","message":"Slow down."}}',
    });
    expect(limited).toMatchObject({ kind: 'retryable', retryAfterMs: 12_000, code: 'rate_limited' });
  });
});

describe('idempotency', () => {
  it('keeps one key through retries, failure and a replay; Benevity records the event once', async () => {
    const harness = open();
    simulator.failNext({ kind: 'status', status: 503 }, 3);
    let delivery = await harness.submit(seedEvent({ eventId: uniqueId() }));
    while (delivery?.status === 'retrying') {
      await harness.clock.set(delivery.nextAttemptAt!.getTime());
      await harness.runDue();
      delivery = await harness.store.get(delivery.id);
    }
    expect(delivery).toMatchObject({ status: 'failed', attemptCount: 3 });
    const replayed = await harness.dispatcher.replay(delivery!.id);
    expect(replayed).toMatchObject({ status: 'success', replayCount: 1, deliveryId: delivery!.deliveryId });
    // And a replay of a delivery that already succeeded is answered from Benevity's idempotency cache.
    const again = await harness.dispatcher.replay(delivery!.id);
    expect(again).toMatchObject({ status: 'success', replayCount: 2 });
    const calls = deliveryCalls();
    expect(calls).toHaveLength(5);
    expect(new Set(calls.map((call) => call.headers['x-idempotency-key']))).toEqual(
      new Set([delivery!.deliveryId]),
    );
    expect(new Set(calls.map((call) => call.body.toString('utf8'))).size).toBe(1);
    expect(simulator.accepted()).toEqual([
      { idempotencyKey: delivery!.deliveryId, body: calls[0]!.json(), times: 2 },
    ]);
    expect(again!.providerResponse!.body).toBe(replayed!.providerResponse!.body);
  });
});

describe('rate limit and credential identity', () => {
  it('has no limit unless requestsPerMinute is set; the bucket is named without the API key', () => {
    const config = ApiKeyConfigSchema.parse(apiKeyConfig('https://api.benevity.com'));
    const rateLimit = benevity.rateLimit as (config: BenevityConfig) => unknown;
    expect(rateLimit(config)).toBeUndefined();
    expect(rateLimit({ ...config, requestsPerMinute: 120 })).toEqual({ maxRequests: 120, windowMs: 60_000 });
    const key = benevity.credentialKey!(config);
    expect(key).toMatch(/^key:[0-9a-f]{16}$/);
    expect(key).not.toContain(BENEVITY_TEST_CREDENTIALS.apiKey);
    expect(benevity.credentialKey!({ ...config, apiKey: 'another-key-123' })).not.toBe(key);
  });

  it('a 429 pauses the credential for Retry-After', async () => {
    const harness = open();
    simulator.failNext({ kind: 'status', status: 429, retryAfter: '20' });
    const first = await harness.submit(seedEvent({ eventId: uniqueId() }));
    expect(first?.status).toBe('retrying');
    // Another event for the same credential waits for the pause instead of being sent.
    const second = await harness.submit(seedEvent({ eventId: uniqueId() }));
    expect(second).toMatchObject({ status: 'pending', attemptCount: 0 });
    expect(deliveryCalls()).toHaveLength(1);
  });
});

describe('health', () => {
  it('is ok with good credentials and reports a bad key without revealing it', async () => {
    await expect(benevity.health!(open().context())).resolves.toMatchObject({ ok: true });
    expect(provider.callsTo('/api/v1/ping')[0]!.headers['x-api-key']).toBe(BENEVITY_TEST_CREDENTIALS.apiKey);
    await closeHarness();
    const bad = await benevity.health!(open({ apiKey: 'bnv_wrong_key_111111' }).context());
    expect(bad.ok).toBe(false);
    expect(bad.message).toContain('INVALID_API_KEY');
    expect(bad.message).not.toContain('bnv_wrong_key_111111');
  });

  it('is not ok when Benevity cannot be reached', async () => {
    const harness = open({ apiUrl: 'http://127.0.0.1:9' });
    const result = await benevity.health!(harness.context());
    expect(result.ok).toBe(false);
    expect(result.message).toMatch(/^\[impact-in\] \[benevity\] network error ECONNREFUSED/);
  });
});

it('inbound records validate against the core schema', async () => {
  const harness = open();
  const records = await benevity.ingest!(
    'donations',
    {
      donations: [
        {
          id: 'don_1',
          user_external_id: 'user_456',
          amount: 25,
          currency: 'USD',
          donated_at: '2025-11-14T10:00:00Z',
        },
      ],
    },
    harness.context(),
  );
  expect(() => InboundRecordSchema.array().parse(records)).not.toThrow();
});
