import { type ImpactInError, PermanentError } from '@impact-in/core';
import {
  type ConnectorHarness,
  createConnectorHarness,
  createFakeClock,
  type ProviderServer,
  startProviderServer,
} from '@impact-in/testing';
import { createGooderaSimulator } from '@impact-in/testing/providers/goodera';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type GooderaConfig, goodera, toGooderaPayload } from '../src/index.js';
import { gooderaConfig, SEED_PAYLOAD, seedEvent } from './helpers.js';

const EVENTS = '/v2/events/impact';
const clock = createFakeClock();
const simulator = createGooderaSimulator({ clock });
let provider: ProviderServer;
let harness: ConnectorHarness<GooderaConfig> | undefined;

beforeAll(async () => {
  provider = await startProviderServer(simulator.handlers);
});
afterAll(() => provider.close());
afterEach(async () => {
  await harness?.close();
  harness = undefined;
  simulator.reset();
  provider.reset();
});

// A short rate-limit window: a 429 empties core's bucket until its next real-time refill.
const open = (overrides: Record<string, unknown> = {}) => {
  const opened = createConnectorHarness({
    connector: goodera,
    config: gooderaConfig(provider.url, { rateLimit: { maxRequests: 100, windowMs: 1_000 }, ...overrides }),
    clock,
  });
  harness = opened;
  return opened;
};

const eventCalls = () => provider.callsTo(EVENTS);

describe('deliver: the request Goodera receives', () => {
  it("sends seed 002's v2.1 body byte for byte, with Content-Type, the bearer token and the idempotency key", async () => {
    const harness = open();
    const delivery = await harness.submit(seedEvent());
    expect(delivery).toMatchObject({ status: 'success', attemptCount: 1, lastError: null });

    const [call] = eventCalls();
    expect(call!.method).toBe('POST');
    expect(call!.url).toBe(`${provider.url}/v2/events/impact`);
    // The exact bytes: seed 002's example, serialised in the seed's key order.
    expect(call!.text()).toBe(JSON.stringify(SEED_PAYLOAD));
    expect(call!.text()).toBe(
      '{"schema_version":"v2.1","event":{"external_id":"evt_123","event_type":"volunteer_hours",' +
        '"timestamp":"2025-11-14T10:00:00Z","participant":{"external_user_id":"user_456"},' +
        '"impact":{"dimensions":[{"dimension_name":"community_engagement","score":0.85,"scale":"normalized_0_1"},' +
        '{"dimension_name":"skill_development","score":0.72,"scale":"normalized_0_1"}],' +
        '"metadata":{"program":"buddy_mentoring"}}}}',
    );
    expect(call!.headers['content-type']).toBe('application/json');
    expect(call!.headers.authorization).toBe(`Bearer ${simulator.tokenLog[0]!.accessToken}`);
    expect(call!.headers['x-idempotency-key']).toBe(delivery!.deliveryId);
    expect(call!.headers['content-length']).toBe(String(call!.body.byteLength));
    // Nothing else of ours: only what undici adds for transport.
    expect(Object.keys(call!.headers).sort()).toEqual([
      'authorization',
      'connection',
      'content-length',
      'content-type',
      'host',
      'x-idempotency-key',
    ]);

    // What was recorded is what was sent, and the simulator accepted it once.
    expect(delivery!.payload).toEqual(SEED_PAYLOAD);
    expect(JSON.stringify(delivery!.payload)).toBe(call!.text());
    expect(simulator.accepted()).toEqual([
      { idempotencyKey: delivery!.deliveryId, body: SEED_PAYLOAD, times: 1 },
    ]);
    expect(delivery!.providerResponse).toMatchObject({
      status: 202,
      headers: { 'x-ratelimit-remaining': '99' },
    });
    expect(JSON.parse(delivery!.providerResponse!.body!)).toMatchObject({
      status: 'accepted',
      external_id: 'evt_123',
    });
  });

  it('maps an event without outcome scores or metadata to empty dimensions and metadata', async () => {
    const harness = open();
    const delivery = await harness.submit(
      seedEvent({
        eventId: 'evt_plain',
        outcomeScores: undefined,
        metadata: undefined,
        eventType: 'donation',
      }),
    );
    expect(delivery?.status).toBe('success');
    expect(eventCalls()[0]!.text()).toBe(
      '{"schema_version":"v2.1","event":{"external_id":"evt_plain","event_type":"donation",' +
        '"timestamp":"2025-11-14T10:00:00Z","participant":{"external_user_id":"user_456"},' +
        '"impact":{"dimensions":[],"metadata":{}}}}',
    );
  });

  it('accepts the bounds 0 and 1 and keeps the order the scores were given in', () => {
    const payload = toGooderaPayload(seedEvent({ outcomeScores: { zeta: 1, alpha: 0 } }));
    expect(payload.event.impact.dimensions).toEqual([
      { dimension_name: 'zeta', score: 1, scale: 'normalized_0_1' },
      { dimension_name: 'alpha', score: 0, scale: 'normalized_0_1' },
    ]);
  });

  it('refuses a score outside 0..1 as a validation error and sends nothing, not even a token request', async () => {
    const harness = open();
    const event = seedEvent({ outcomeScores: { community_engagement: 0.85, skill_development: 1.01 } });
    const thrown = await harness.deliver(event).catch((error: unknown) => error);
    expect(thrown).toBeInstanceOf(PermanentError);
    expect((thrown as ImpactInError).code).toBe('validation');
    expect((thrown as Error).message).toBe(
      '[impact-in] [goodera] event evt_123 not sent: outcomeScores.skill_development: 1.01 is outside 0..1 (Goodera scores are normalized_0_1)',
    );

    const delivery = await harness.submit(
      seedEvent({ eventId: 'evt_negative', outcomeScores: { grit: -0.2 } }),
    );
    expect(delivery).toMatchObject({ status: 'failed', attemptCount: 1, nextAttemptAt: null });
    expect(delivery!.lastError).toContain('outcomeScores.grit: -0.2 is outside 0..1');
    expect(provider.calls).toHaveLength(0);
    expect(simulator.tokenRequests).toBe(0);
  });
});

describe('deliver: how answers are classified', () => {
  for (const status of [429, 500, 503, 504]) {
    it(`retries Goodera's ${status}, keeping the idempotency key and the exact bytes`, async () => {
      const harness = open();
      simulator.failNext({ kind: 'status', status, ...(status === 429 ? { retryAfter: '3' } : {}) });
      const first = await harness.submit(seedEvent());
      expect(first).toMatchObject({ status: 'retrying', attemptCount: 1 });
      expect(first!.lastError).toMatch(new RegExp(`^\\[impact-in\\] \\[goodera\\] HTTP ${status} [a-z_]+: `));
      if (status === 429) expect(first!.nextAttemptAt!.getTime() - clock.now()).toBe(3_000);
      await clock.set(first!.nextAttemptAt!.getTime());
      await harness.runDue();
      const second = await harness.store.get(first!.id);
      expect(second).toMatchObject({ status: 'success', attemptCount: 2 });
      const calls = eventCalls();
      expect(calls.map((call) => call.status)).toEqual([status, 202]);
      expect(calls.map((call) => call.headers['x-idempotency-key'])).toEqual([
        first!.deliveryId,
        first!.deliveryId,
      ]);
      expect(calls[1]!.text()).toBe(calls[0]!.text());
      expect(simulator.accepted()).toHaveLength(1);
    });
  }

  it('puts Goodera’s error code, message and request id into lastError', async () => {
    const harness = open();
    simulator.failNext({ kind: 'status', status: 503 });
    const delivery = await harness.submit(seedEvent());
    expect(delivery!.lastError).toBe(
      '[impact-in] [goodera] HTTP 503 service_unavailable: Simulated 503 (service_unavailable) (request req_injected_503)',
    );
    expect(delivery!.providerResponse).toMatchObject({
      status: 503,
      headers: { 'x-ratelimit-remaining': '99' },
    });
  });

  it('retries a dropped connection and a request that never gets an answer', async () => {
    const harness = open();
    simulator.failNext({ kind: 'reset' });
    const reset = await harness.submit(seedEvent({ eventId: 'evt_reset' }));
    expect(reset?.status).toBe('retrying');
    simulator.failNext({ kind: 'timeout' });
    const timedOut = await harness.submit(seedEvent({ eventId: 'evt_timeout' }));
    expect(timedOut?.status).toBe('retrying');
    expect(timedOut?.lastError).toContain('UND_ERR_HEADERS_TIMEOUT');
  });

  for (const status of [400, 403, 404]) {
    it(`fails for good on Goodera's ${status}`, async () => {
      const harness = open();
      simulator.failNext({ kind: 'status', status });
      const delivery = await harness.submit(seedEvent());
      expect(delivery).toMatchObject({ status: 'failed', attemptCount: 1, nextAttemptAt: null });
      expect(delivery!.lastError).toMatch(new RegExp(`HTTP ${status} [a-z_]+`));
      expect(eventCalls()).toHaveLength(1);
    });
  }

  it('fails for good on a 422 from schema validation, naming the field Goodera refused', async () => {
    const harness = open();
    // Goodera caps dimension names at 100 characters; impact-in does not know that limit.
    const longName = 'd'.repeat(101);
    const delivery = await harness.submit(seedEvent({ outcomeScores: { [longName]: 0.5 } }));
    expect(delivery).toMatchObject({ status: 'failed', attemptCount: 1 });
    expect(delivery!.lastError).toMatch(
      /^\[impact-in\] \[goodera\] HTTP 422 validation_failed: The impact event does not match schema v2\.1; event\.impact\.dimensions\[0\]\.dimension_name: .+ \(request req_\d+\)$/,
    );
  });

  it('fails for good on a 409: the same idempotency key with a different body', async () => {
    const harness = open();
    const first = await harness.deliver(seedEvent(), { deliveryId: 'dlv-conflict' });
    expect(first.response.status).toBe(202);
    const second = await harness.deliver(seedEvent({ value: 6, eventType: 'course_completed' }), {
      deliveryId: 'dlv-conflict',
    });
    expect(second.response.status).toBe(409);
    const error = goodera.classifyResponse!(second.response, harness.config);
    expect(error).toBeInstanceOf(PermanentError);
    expect(error).toMatchObject({ code: 'idempotency_key_reused', status: 409 });
  });

  it('leaves bodies that are not Goodera’s error shape to the default classification', () => {
    const response = (status: number, text: string) => ({
      status,
      headers: {},
      body: Buffer.from(text),
      text: () => text,
      json: <T>() => JSON.parse(text) as T,
    });
    const { config } = open();
    expect(goodera.classifyResponse!(response(202, '{"status":"accepted"}'), config)).toBeUndefined();
    expect(goodera.classifyResponse!(response(502, '<html>bad gateway</html>'), config)).toBeUndefined();
    expect(goodera.classifyResponse!(response(503, '{"error":"down"}'), config)).toBeUndefined();
  });
});

describe('deliver: idempotency across retries and replays', () => {
  it('sends one deliveryId on the first try, the retry and a replay; Goodera counts the event once', async () => {
    const harness = open();
    simulator.failNext({ kind: 'status', status: 503 });
    const first = await harness.submit(seedEvent());
    await clock.set(first!.nextAttemptAt!.getTime());
    await harness.runDue();
    const delivered = await harness.store.get(first!.id);
    expect(delivered).toMatchObject({ status: 'success', attemptCount: 2 });

    const replayed = await harness.dispatcher.replay(first!.id);
    expect(replayed).toMatchObject({ status: 'success', deliveryId: first!.deliveryId, replayCount: 1 });
    const calls = eventCalls();
    expect(calls).toHaveLength(3);
    expect(new Set(calls.map((call) => call.headers['x-idempotency-key']))).toEqual(
      new Set([first!.deliveryId]),
    );
    expect(new Set(calls.map((call) => call.text())).size).toBe(1);
    // The replay was answered from Goodera's idempotency record, not processed again.
    expect(calls[2]!.status).toBe(202);
    expect(simulator.accepted()).toEqual([
      { idempotencyKey: first!.deliveryId, body: SEED_PAYLOAD, times: 2 },
    ]);
    expect(calls[2]!.headers['x-idempotency-key']).toBe(first!.deliveryId);
    const gooderaId = (body: string | undefined) => JSON.parse(body!).id as string;
    expect(gooderaId(replayed!.providerResponse!.body)).toMatch(/^gd_evt_/);
    expect(gooderaId(replayed!.providerResponse!.body)).toBe(gooderaId(delivered!.providerResponse!.body));
  });
});
