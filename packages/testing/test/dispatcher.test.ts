import {
  bindConnector,
  createDispatcher,
  createHttpClient,
  DeliveryValidationError,
  type Dispatcher,
  hmacSha256,
  MemoryDeliveryStore,
  systemClock,
  UnknownProviderError,
} from '@impact-in/core';
import { afterEach, describe, expect, it } from 'vitest';
import { createCapturingLogger, createFakeClock, sampleEvent, waitUntil } from '../src/index.js';
import { acme, acmeConfig, startRawServer } from './helpers.js';

const companyId = 'company_789';
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function setup(
  answer: Parameters<typeof startRawServer>[0],
  options: Partial<Parameters<typeof createDispatcher>[0]> = {},
) {
  const server = await startRawServer(answer);
  const clock = createFakeClock(Date.now());
  const store = new MemoryDeliveryStore({ now: clock.now });
  const logger = createCapturingLogger();
  const dispatcher: Dispatcher = createDispatcher({
    store,
    connectors: [bindConnector(acme, acmeConfig(server.url))],
    clock,
    logger,
    ...options,
  });
  cleanups.push(async () => {
    await dispatcher.close({ timeoutMs: 1_000 });
    await server.close();
  });
  return { server, clock, store, dispatcher, logger };
}

const ok = (_call: unknown, response: import('node:http').ServerResponse) => {
  response.writeHead(200, { 'content-type': 'application/json' });
  response.end('{"accepted":true}');
};

describe('dispatcher over a real node:http server', () => {
  it('stores before sending, then sends the exact signed bytes with the deliveryId as idempotency key', async () => {
    const { server, dispatcher, store } = await setup(ok);
    const event = sampleEvent({ value: 2.5 });
    const { delivery, created } = await dispatcher.submit({ companyId, provider: 'acme', event });
    expect(created).toBe(true);
    expect(server.calls).toHaveLength(0);
    expect((await store.get(delivery.id))?.status).toBe('pending');

    expect(await dispatcher.runOnce()).toBe(1);
    const [call] = server.calls;
    const expectedBody = JSON.stringify({
      id: event.eventId,
      type: 'volunteer_hours',
      user: 'user_456',
      value: 2.5,
    });
    expect(call!.body.toString('utf8')).toBe(expectedBody);
    expect(call!.headers['x-acme-signature']).toBe(hmacSha256('sig_secret_abcdef', call!.body));
    expect(call!.headers['x-idempotency-key']).toBe(delivery.deliveryId);
    const done = await store.get(delivery.id);
    expect(done).toMatchObject({ status: 'success', attemptCount: 1, lastError: null });
    expect(done?.payload).toEqual(JSON.parse(expectedBody));
    expect(done?.providerResponse).toMatchObject({ status: 200, body: '{"accepted":true}' });
    expect(done?.deliveredAt).toBeInstanceOf(Date);
  });

  it('is idempotent on submit: the same event is stored and sent once', async () => {
    const { server, dispatcher } = await setup(ok);
    const event = sampleEvent();
    const first = await dispatcher.submit({ companyId, provider: 'acme', event });
    const again = await dispatcher.submit({ companyId, provider: 'acme', event });
    expect(again.created).toBe(false);
    expect(again.delivery.id).toBe(first.delivery.id);
    await dispatcher.runOnce();
    await dispatcher.submit({ companyId, provider: 'acme', event });
    await dispatcher.runOnce();
    expect(server.calls).toHaveLength(1);
  });

  it('retries 503 on the seed-002 schedule (1 s, 2 s, ±10 %) and fails after 3 attempts', async () => {
    const { server, dispatcher, store, clock } = await setup((_call, response) => {
      response.writeHead(503);
      response.end('busy');
    });
    const delays: number[] = [];
    for (let run = 0; run < 40; run++) {
      const { delivery } = await dispatcher.submit({ companyId, provider: 'acme', event: sampleEvent() });
      await dispatcher.runOnce();
      let current = (await store.get(delivery.id))!;
      while (current.status === 'retrying') {
        delays.push(current.nextAttemptAt!.getTime() - clock.now());
        await clock.set(current.nextAttemptAt!.getTime());
        await dispatcher.runOnce();
        current = (await store.get(delivery.id))!;
      }
      expect(current).toMatchObject({ status: 'failed', attemptCount: 3, nextAttemptAt: null });
      expect(current.lastError).toContain('HTTP 503');
    }
    expect(server.calls).toHaveLength(40 * 3);
    const first = delays.filter((_, index) => index % 2 === 0);
    const second = delays.filter((_, index) => index % 2 === 1);
    expect(Math.min(...first)).toBeGreaterThanOrEqual(900);
    expect(Math.max(...first)).toBeLessThanOrEqual(1100);
    expect(Math.min(...second)).toBeGreaterThanOrEqual(1800);
    expect(Math.max(...second)).toBeLessThanOrEqual(2200);
    // Jitter really varies.
    expect(new Set(first).size).toBeGreaterThan(5);
  });

  it('honours Retry-After in seconds and as an HTTP date, instead of the backoff', async () => {
    let mode: 'seconds' | 'date' = 'seconds';
    const { dispatcher, store, clock } = await setup((_call, response) => {
      const value = mode === 'seconds' ? '12' : new Date(Date.now() + 60_000).toUTCString();
      response.writeHead(429, { 'retry-after': value });
      response.end();
    });
    const a = await dispatcher.submit({ companyId, provider: 'acme', event: sampleEvent() });
    await dispatcher.runOnce();
    const retrying = (await store.get(a.delivery.id))!;
    expect(retrying.status).toBe('retrying');
    expect(retrying.nextAttemptAt!.getTime() - clock.now()).toBe(12_000);

    mode = 'date';
    await clock.advance(13_000);
    const b = await dispatcher.submit({ companyId, provider: 'acme', event: sampleEvent() });
    await dispatcher.runOnce();
    const dated = (await store.get(b.delivery.id))!;
    // HTTP dates have 1 s resolution and the fake clock started at a real "now".
    const wait = dated.nextAttemptAt!.getTime() - clock.now();
    expect(wait).toBeGreaterThan(30_000);
    expect(wait).toBeLessThanOrEqual(61_000);
  });

  it('pauses the bucket on 429: other due deliveries to the provider wait instead of being sent', async () => {
    const { server, dispatcher, store, clock } = await setup(
      (_call, response) => {
        response.writeHead(429, { 'retry-after': '5' });
        response.end();
      },
      { concurrency: 1 },
    );
    const ids: string[] = [];
    for (let index = 0; index < 3; index++) {
      ids.push((await dispatcher.submit({ companyId, provider: 'acme', event: sampleEvent() })).delivery.id);
    }
    const pausedAt = clock.now();
    await dispatcher.runOnce();
    expect(server.calls).toHaveLength(1);
    const rest = await Promise.all(ids.slice(1).map((id) => store.get(id)));
    for (const delivery of rest) {
      expect(delivery).toMatchObject({ status: 'pending', attemptCount: 0 });
      expect(delivery!.nextAttemptAt!.getTime()).toBe(pausedAt + 5_000);
    }
  });

  it('fails a permanent 400 at once, with the provider answer in lastError', async () => {
    const { server, dispatcher, store } = await setup((_call, response) => {
      response.writeHead(400, { 'content-type': 'application/json' });
      response.end('{"error":"missing user.external_id"}');
    });
    const { delivery } = await dispatcher.submit({ companyId, provider: 'acme', event: sampleEvent() });
    await dispatcher.runOnce();
    const failed = (await store.get(delivery.id))!;
    expect(failed).toMatchObject({ status: 'failed', attemptCount: 1 });
    expect(failed.lastError).toBe('[impact-in] [acme] HTTP 400: {"error":"missing user.external_id"}');
    expect(server.calls).toHaveLength(1);
  });

  it('replay, bulk replay and retry-all-failed keep the deliveryId and report seed-002 shapes', async () => {
    let healthy = false;
    const { server, dispatcher, store } = await setup((_call, response) => {
      response.writeHead(healthy ? 200 : 400);
      response.end(healthy ? '{}' : '{"error":"bad"}');
    });
    const ids: string[] = [];
    for (let index = 0; index < 4; index++) {
      ids.push((await dispatcher.submit({ companyId, provider: 'acme', event: sampleEvent() })).delivery.id);
    }
    await dispatcher.runOnce();
    const originals = await Promise.all(ids.map((id) => store.get(id)));
    expect(originals.every((delivery) => delivery?.status === 'failed')).toBe(true);

    healthy = true;
    const replayed = await dispatcher.replay(ids[0]!, { companyId });
    expect(replayed).toMatchObject({
      status: 'success',
      deliveryId: originals[0]!.deliveryId,
      replayCount: 1,
    });
    expect(server.calls.at(-1)!.headers['x-idempotency-key']).toBe(originals[0]!.deliveryId);
    expect(await dispatcher.replay(ids[1]!, { companyId: 'someone-else' })).toBeUndefined();

    const bulk = await dispatcher.bulkReplay([ids[1]!, 'no-such-id'], { companyId });
    expect(bulk.summary).toEqual({ total: 2, successful: 1, failed: 1 });
    expect(bulk.results).toEqual([
      { id: ids[1], success: true, newStatus: 'success' },
      { id: 'no-such-id', success: false, error: 'not found' },
    ]);

    const all = await dispatcher.retryAllFailed({ companyId });
    expect(all.summary).toEqual({ total: 2, successful: 2, failed: 0 });
    expect(new Set(all.results.map((result) => result.id))).toEqual(new Set([ids[2], ids[3]]));
    const keys = server.calls.slice(4).map((call) => call.headers['x-idempotency-key']);
    expect(new Set(keys)).toEqual(new Set(originals.map((delivery) => delivery!.deliveryId)));

    const stats = await dispatcher.stats({ companyId });
    expect(stats.overall).toEqual({ total: 4, successful: 4, failed: 0, pending: 0, retrying: 0 });
    expect(stats.byProvider).toEqual([{ provider: 'acme', status: 'success', count: 4, avgAttempts: 1 }]);
  });

  it('retry-all-failed attempts up to its inline limit now and requeues the rest for the workers', async () => {
    let healthy = false;
    const { server, dispatcher, store } = await setup((_call, response) => {
      response.writeHead(healthy ? 200 : 400);
      response.end(healthy ? '{}' : '{"error":"bad"}');
    });
    const ids: string[] = [];
    for (let index = 0; index < 5; index++) {
      ids.push((await dispatcher.submit({ companyId, provider: 'acme', event: sampleEvent() })).delivery.id);
    }
    await dispatcher.runOnce();
    healthy = true;
    const sentBefore = server.calls.length;
    const all = await dispatcher.retryAllFailed({ companyId, inlineLimit: 2 });
    expect(all.summary).toEqual({ total: 5, successful: 2, failed: 0, queued: 3 });
    expect(all.results.filter((result) => result.newStatus === 'pending')).toHaveLength(3);
    // Only the inline ones were sent during the request; the queued ones wait for a worker.
    expect(server.calls.length - sentBefore).toBe(2);
    const queued = all.results.filter((result) => result.newStatus === 'pending').map((result) => result.id);
    for (const id of queued) expect((await store.get(id))?.status).toBe('pending');
    await dispatcher.runOnce();
    for (const id of ids) expect((await store.get(id))?.status).toBe('success');
    // Nothing left: a second call finds no failures.
    expect((await dispatcher.retryAllFailed({ companyId, inlineLimit: 0 })).summary).toEqual({
      total: 0,
      successful: 0,
      failed: 0,
    });
  });

  it('refuses unknown providers and invalid events with errors that name the problem', async () => {
    const { dispatcher } = await setup(ok);
    await expect(
      dispatcher.submit({ companyId, provider: 'nobody', event: sampleEvent() }),
    ).rejects.toBeInstanceOf(UnknownProviderError);
    const bad = { ...sampleEvent(), timestamp: 'yesterday' };
    const refused = await dispatcher.submit({ companyId, provider: 'acme', event: bad }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(DeliveryValidationError);
    expect((refused as DeliveryValidationError).kind).toBe('permanent');
    expect((refused as DeliveryValidationError).issues).toEqual([
      { path: 'event.timestamp', message: expect.stringMatching(/datetime/i) },
    ]);
    // One line a person can read: the field and the reason, not a JSON dump with the regex.
    expect((refused as Error).message).toMatch(/^\[impact-in\] invalid delivery request: event\.timestamp: /);
    expect((refused as Error).message).not.toContain('\n');
    expect((refused as Error).message).not.toContain('pattern');
    const missing = await dispatcher
      .submit({ provider: 'acme', event: sampleEvent() } as unknown as Parameters<
        typeof dispatcher.submit
      >[0])
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect((missing as DeliveryValidationError).issues.map((issue) => issue.path)).toEqual(['companyId']);
  });

  it('classifies a provider that never answers as retryable, via the client header timeout', async () => {
    const { dispatcher, store } = await setup(() => {}, {
      http: createHttpClient({ headersTimeoutMs: 200, bodyTimeoutMs: 200, connectTimeoutMs: 200 }),
    });
    const { delivery } = await dispatcher.submit({ companyId, provider: 'acme', event: sampleEvent() });
    const started = Date.now();
    await dispatcher.runOnce();
    expect(Date.now() - started).toBeLessThan(3_000);
    const retrying = (await store.get(delivery.id))!;
    expect(retrying.status).toBe('retrying');
    expect(retrying.lastError).toContain('UND_ERR_HEADERS_TIMEOUT');
  });

  it('runs a bounded worker pool in the background and stops gracefully with in-flight work finished', async () => {
    const { server, dispatcher, store } = await setup(
      async (_call, response) => {
        await new Promise((resolve) => setTimeout(resolve, 20));
        response.writeHead(200);
        response.end('{}');
      },
      { concurrency: 4, pollIntervalMs: 20 },
    );
    const ids: string[] = [];
    for (let index = 0; index < 40; index++) {
      ids.push((await dispatcher.submit({ companyId, provider: 'acme', event: sampleEvent() })).delivery.id);
    }
    dispatcher.start();
    await waitUntil(() => server.calls.length >= 10, 5_000, 'some deliveries');
    await dispatcher.stop();
    const statuses = await Promise.all(ids.map(async (id) => (await store.get(id))!.status));
    const sent = server.calls.length;
    // Everything that was sent got recorded; nothing is left half-done.
    expect(statuses.filter((status) => status === 'success')).toHaveLength(sent);
    expect(statuses.filter((status) => status === 'pending')).toHaveLength(40 - sent);
    expect(server.maxActive()).toBeLessThanOrEqual(4);
    // A restart picks up the rest.
    dispatcher.start();
    await waitUntil(() => server.calls.length === 40, 5_000, 'all deliveries');
    await dispatcher.stop();
    const final = await Promise.all(ids.map(async (id) => (await store.get(id))!.status));
    expect(final.every((status) => status === 'success')).toBe(true);
  });

  it('stops after its timeout by making the attempts it cut short due again, never failed', async () => {
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const { server, dispatcher, store, logger } = await setup(
      async (_call, response) => {
        await held;
        response.writeHead(200);
        response.end('{}');
      },
      { concurrency: 2, pollIntervalMs: 20, retryPolicy: { maxAttempts: 1 } },
    );
    const ids: string[] = [];
    for (let index = 0; index < 2; index++) {
      ids.push((await dispatcher.submit({ companyId, provider: 'acme', event: sampleEvent() })).delivery.id);
    }
    dispatcher.start();
    await waitUntil(() => server.calls.length === 2, 5_000, 'both attempts under way');
    await dispatcher.stop({ timeoutMs: 50 });
    release();
    for (const id of ids) {
      const delivery = (await store.get(id))!;
      // One attempt allowed, and it was made: a shutdown still must not fail the delivery.
      expect(delivery.status).toBe('retrying');
      expect(delivery.attemptCount).toBe(1);
      expect(delivery.lastError).toMatch(/interrupted: the dispatcher stopped during this attempt/);
      expect(delivery.nextAttemptAt!.getTime()).toBeLessThanOrEqual(Date.now());
    }
    expect(logger.entries.filter((entry) => entry.msg === 'delivery failed')).toHaveLength(0);
    // Started again, it finishes them with the same idempotency keys.
    dispatcher.start();
    await waitUntil(() => server.calls.length === 4, 5_000, 'the second attempts');
    await dispatcher.stop();
    const after = await Promise.all(ids.map(async (id) => (await store.get(id))!));
    expect(after.map((delivery) => delivery.status)).toEqual(['success', 'success']);
    expect(after.map((delivery) => delivery.attemptCount)).toEqual([2, 2]);
    // Each delivery was sent twice with one key: the provider can tell the second is a repeat.
    const keys = server.calls.map((call) => call.headers['x-idempotency-key']);
    expect(new Set(keys)).toEqual(new Set(after.map((delivery) => delivery.deliveryId)));
  });

  it('submitAndWait without start() drives its delivery through retries to the end', async () => {
    let calls = 0;
    const { server, dispatcher } = await setup(
      (_call, response) => {
        calls++;
        response.writeHead(calls === 1 ? 503 : 200, { 'content-type': 'application/json' });
        response.end(calls === 1 ? '{"error":"busy"}' : '{"accepted":true}');
      },
      { clock: systemClock, retryPolicy: { initialDelayMs: 100, jitter: 0 } },
    );
    const started = Date.now();
    const delivery = await dispatcher.submitAndWait(
      { companyId, provider: 'acme', event: sampleEvent() },
      { timeoutMs: 10_000 },
    );
    expect(delivery.status).toBe('success');
    expect(delivery.attemptCount).toBe(2);
    // The second attempt waited for the backoff, not for a poll or the timeout.
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(server.calls.map((call) => call.headers['x-idempotency-key'])).toEqual([
      delivery.deliveryId,
      delivery.deliveryId,
    ]);
  });

  it('keeps secret values out of lastError and the logs, even when the provider echoes them', async () => {
    const { dispatcher, logger } = await setup((call, response) => {
      // A provider that quotes the key it was sent back in its error (some do).
      response.writeHead(403, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ error: `key ${call.headers['x-api-key']} is revoked` }));
    });
    const delivery = await dispatcher.submitAndWait(
      { companyId, provider: 'acme', event: sampleEvent() },
      { timeoutMs: 5_000 },
    );
    expect(delivery.status).toBe('failed');
    expect(delivery.lastError).toContain('key [redacted] is revoked');
    expect(delivery.lastError).not.toContain('ak_live_123456789');
    expect(delivery.providerResponse?.body).toBe('{"error":"key [redacted] is revoked"}');
    expect(logger.text()).not.toContain('ak_live_123456789');
  });

  it('after a stop that timed out, runs again normally: later attempts are not taken for interrupted', async () => {
    let calls = 0;
    const { server, dispatcher, store } = await setup(
      (_call, response) => {
        calls++;
        if (calls === 1) return; // the first attempt never gets an answer
        response.writeHead(400, { 'content-type': 'application/json' });
        response.end('{"error":"bad event"}');
      },
      { pollIntervalMs: 20 },
    );
    const { delivery } = await dispatcher.submit({ companyId, provider: 'acme', event: sampleEvent() });
    dispatcher.start();
    await waitUntil(() => server.calls.length === 1, 5_000, 'the first attempt');
    await dispatcher.stop({ timeoutMs: 50 });
    expect((await store.get(delivery.id))!.status).toBe('retrying');
    // The next run sends it again and records the provider's real answer: a 400 fails it. (With
    // the stop signal left aborted, every answer read as "interrupted" and runOnce never ended.)
    const ran = await Promise.race([
      dispatcher.runOnce(),
      new Promise((resolve) => setTimeout(() => resolve('still running'), 3_000)),
    ]);
    expect(ran).toBe(1);
    const after = (await store.get(delivery.id))!;
    expect(after.status).toBe('failed');
    expect(after.attemptCount).toBe(2);
    expect(after.lastError).toContain('400');
  });

  it('redacts a secret the provider echoes right where the recorded error is cut short', async () => {
    const { dispatcher } = await setup((call, response) => {
      response.writeHead(403, { 'content-type': 'text/plain' });
      response.end(`${'x'.repeat(490)}${call.headers['x-api-key']} is revoked`);
    });
    const delivery = await dispatcher.submitAndWait(
      { companyId, provider: 'acme', event: sampleEvent() },
      { timeoutMs: 5_000 },
    );
    expect(delivery.status).toBe('failed');
    // Not even a prefix of the key (ak_live_123456789) survives the cut at 500 characters.
    expect(delivery.lastError).not.toContain('ak_live');
    expect(delivery.lastError).toContain('[redacted]');
  });

  it('close() ends a submitAndWait that is waiting out a retry: it rejects at once and nothing more is sent', async () => {
    const { server, dispatcher } = await setup(
      (_call, response) => {
        response.writeHead(503);
        response.end('{}');
      },
      { clock: systemClock, retryPolicy: { initialDelayMs: 5_000, jitter: 0 } },
    );
    const waiting = dispatcher.submitAndWait(
      { companyId, provider: 'acme', event: sampleEvent() },
      { timeoutMs: 30_000 },
    );
    const outcome = waiting.then(
      () => 'resolved',
      (error: Error) => error.message,
    );
    await waitUntil(() => server.calls.length === 1, 5_000, 'the first attempt');
    const closedAt = Date.now();
    await dispatcher.close();
    expect(await outcome).toBe('[impact-in] the dispatcher was closed before the delivery finished');
    expect(Date.now() - closedAt).toBeLessThan(1_000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(server.calls).toHaveLength(1);
  });

  it('submitAndWait resolves with the final delivery; logs carry the seed-002 fields and no secrets', async () => {
    const { dispatcher, logger } = await setup(ok);
    dispatcher.start();
    const delivery = await dispatcher.submitAndWait({ companyId, provider: 'acme', event: sampleEvent() });
    expect(delivery.status).toBe('success');
    const entry = logger.entries.find((candidate) => candidate.msg === 'delivered');
    expect(entry?.fields).toMatchObject({
      deliveryId: delivery.deliveryId,
      provider: 'acme',
      eventId: delivery.eventId,
      status: 'success',
      attemptCount: 1,
    });
    expect(logger.text()).not.toContain('sig_secret_abcdef');
    expect(logger.text()).not.toContain('ak_live_123456789');
  });

  it('two dispatchers on one store share the work: each delivery is sent exactly once', async () => {
    const server = await startRawServer(ok);
    const store = new MemoryDeliveryStore();
    const make = (workerId: string) =>
      createDispatcher({
        store,
        connectors: [bindConnector(acme, acmeConfig(server.url))],
        workerId,
        concurrency: 8,
        pollIntervalMs: 10,
      });
    const a = make('a');
    const b = make('b');
    cleanups.push(async () => {
      await a.close();
      await b.close();
      await server.close();
    });
    for (let index = 0; index < 200; index++) {
      await a.submit({ companyId, provider: 'acme', event: sampleEvent() });
    }
    a.start();
    b.start();
    await waitUntil(() => server.calls.length >= 200, 10_000, '200 deliveries');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const keys = server.calls.map((call) => call.headers['x-idempotency-key']);
    expect(keys).toHaveLength(200);
    expect(new Set(keys).size).toBe(200);
  });

  it('refuses the outcome of an attempt that outlived its lease once the delivery was claimed again', async () => {
    const { server, dispatcher, store, logger } = await setup(
      async (_call, response, index) => {
        // The first attempt outlives its 300 ms lease; the second finishes within its own.
        await new Promise((resolve) => setTimeout(resolve, index === 0 ? 450 : 200));
        response.writeHead(200);
        response.end(JSON.stringify({ attempt: index }));
      },
      { leaseMs: 300, clock: undefined },
    );
    const { delivery } = await dispatcher.submit({ companyId, provider: 'acme', event: sampleEvent() });
    const first = dispatcher.runOnce();
    await new Promise((resolve) => setTimeout(resolve, 350));
    // The first lease has expired: the same worker claims the delivery again.
    const second = dispatcher.runOnce();
    await Promise.all([first, second]);
    const final = (await store.get(delivery.id))!;
    expect(server.calls).toHaveLength(2);
    expect(new Set(server.calls.map((call) => call.headers['x-idempotency-key']))).toEqual(
      new Set([delivery.deliveryId]),
    );
    expect(final).toMatchObject({ status: 'success', attemptCount: 1 });
    // The outcome on record is the one from the lease that was live, not the stale one.
    expect(final.providerResponse?.body).toBe('{"attempt":1}');
    expect(logger.entries.some((entry) => entry.msg === 'lease lost before the outcome was recorded')).toBe(
      true,
    );
  });
});
