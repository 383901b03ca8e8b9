import {
  bindConnector,
  createDispatcher,
  createHttpClient,
  type Delivery,
  type Dispatcher,
  MemoryDeliveryStore,
} from '@impact-in/core';
import {
  createConnectorHarness,
  createFakeClock,
  type FakeClock,
  type ProviderServer,
  startProviderServer,
} from '@impact-in/testing';
import { createGooderaSimulator, GOODERA_TEST_CREDENTIALS } from '@impact-in/testing/providers/goodera';
import { afterEach, describe, expect, it } from 'vitest';
import { GOODERA_RATE_LIMIT, GooderaConfigSchema, goodera } from '../src/index.js';
import { eventually, gooderaConfig, seedEvent } from './helpers.js';

const EVENTS = '/v2/events/impact';
let cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of cleanup.reverse()) await close();
  cleanup = [];
});

/** A Goodera allowing `maxRequests` a minute on a fake clock, served over loopback. */
async function startGoodera(maxRequests: number) {
  const clock = createFakeClock();
  const simulator = createGooderaSimulator({ clock, rateLimit: { maxRequests, windowMs: 60_000 } });
  const provider = await startProviderServer(simulator.handlers);
  cleanup.push(() => provider.close());
  return { clock, simulator, provider };
}

/** A dispatcher with the Goodera connector; its bucket refills every `windowMs` of real time. */
function startDispatcher(
  provider: ProviderServer,
  clock: FakeClock,
  rateLimit: { maxRequests: number; windowMs: number },
) {
  const http = createHttpClient({ headersTimeoutMs: 5_000 });
  const dispatcher = createDispatcher({
    store: new MemoryDeliveryStore({ now: clock.now }),
    connectors: [bindConnector(goodera, gooderaConfig(provider.url, { rateLimit }))],
    http,
    clock,
    concurrency: 64,
    random: () => 0.5,
  });
  cleanup.push(async () => {
    await dispatcher.close();
    await http.close();
  });
  let next = 0;
  const submit = async (count: number) => {
    const ids: string[] = [];
    for (let index = 0; index < count; index++) {
      const { delivery } = await dispatcher.submit({
        companyId: 'company_789',
        provider: 'goodera',
        event: seedEvent({ eventId: `evt_rl_${++next}` }),
      });
      ids.push(delivery.id);
    }
    return ids;
  };
  return { dispatcher, submit };
}

/** Spends `count` of the client's quota the way another replica would: straight at the API. */
async function spendQuota(provider: ProviderServer, count: number) {
  const { clientId, clientSecret } = GOODERA_TEST_CREDENTIALS;
  const response = await fetch(`${provider.url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: `grant_type=client_credentials&client_id=${clientId}&client_secret=${clientSecret}`,
  });
  const { access_token: token } = (await response.json()) as { access_token: string };
  for (let index = 0; index < count; index++) {
    const ping = await fetch(`${provider.url}/v2/ping`, { headers: { authorization: `Bearer ${token}` } });
    expect(ping.status).toBe(200);
  }
}

const statuses = (provider: ProviderServer) => provider.callsTo(EVENTS).map((call) => call.status);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const all = (dispatcher: Dispatcher, ids: string[]) =>
  Promise.all(ids.map((id) => dispatcher.get(id))) as Promise<Delivery[]>;

describe('rate limit', () => {
  it("defaults to Goodera's 100 requests a minute, one bucket per client id", () => {
    const config = GooderaConfigSchema.parse(gooderaConfig('https://api.goodera.com'));
    expect(GOODERA_RATE_LIMIT).toEqual({ maxRequests: 100, windowMs: 60_000 });
    expect(typeof goodera.rateLimit === 'function' && goodera.rateLimit(config)).toEqual({
      maxRequests: 100,
      windowMs: 60_000,
    });
    expect(goodera.credentialKey!(config)).toBe(GOODERA_TEST_CREDENTIALS.clientId);
    expect(goodera.credentialKey!({ ...config, clientId: 'other-client' })).toBe('other-client');
  });

  it('holds the 101st request of the minute in the limiter instead of sending it into a 429', async () => {
    const { clock, simulator, provider } = await startGoodera(100);
    // Goodera's 100 per bucket; the bucket refills after 2.5 s of real time instead of a minute.
    const { dispatcher, submit } = startDispatcher(provider, clock, { maxRequests: 100, windowMs: 2_500 });
    const ids = await submit(101);
    const run = dispatcher.runOnce();

    await eventually(() => provider.callsTo(EVENTS).length === 100);
    await sleep(200);
    // The 101st waits in the limiter: not sent, not failed, not counted as an attempt.
    expect(provider.callsTo(EVENTS)).toHaveLength(100);
    expect(await dispatcher.get(ids[100]!)).toMatchObject({ status: 'pending', attemptCount: 0 });
    // Goodera's minute passes (on its clock) before the connector's bucket refills.
    await clock.advance(60_000);
    await run;

    const deliveries = await all(dispatcher, ids);
    expect(deliveries.filter((delivery) => delivery.status === 'success')).toHaveLength(101);
    expect(statuses(provider)).toEqual(Array(101).fill(202));
    expect(simulator.rateLimited).toBe(0);
    const calls = provider.callsTo(EVENTS);
    expect(calls[100]!.at - calls[0]!.at).toBeGreaterThanOrEqual(2_200);
  });

  it('reads X-RateLimit-Remaining: quota spent elsewhere makes the next deliveries wait, not fail', async () => {
    const { clock, simulator, provider } = await startGoodera(5);
    await spendQuota(provider, 3); // another replica with the same client id
    const { dispatcher, submit } = startDispatcher(provider, clock, { maxRequests: 5, windowMs: 1_500 });

    const [firstId] = await submit(1);
    await dispatcher.runOnce();
    expect((await dispatcher.get(firstId!))?.providerResponse?.headers?.['x-ratelimit-remaining']).toBe('1');

    // The bucket believes 4 are left; Goodera said 1. Three more: one goes, two wait.
    const ids = await submit(3);
    const run = dispatcher.runOnce();
    await eventually(() => provider.callsTo(EVENTS).length === 2);
    await sleep(200);
    expect(provider.callsTo(EVENTS)).toHaveLength(2);
    await clock.advance(60_000);
    await run;

    expect((await all(dispatcher, ids)).map((delivery) => delivery.status)).toEqual(Array(3).fill('success'));
    expect(statuses(provider)).toEqual([202, 202, 202, 202]);
    expect(simulator.rateLimited).toBe(0);
  });

  it("retries a 429 after exactly Goodera's Retry-After and holds the client's other deliveries until then", async () => {
    const { clock, simulator, provider } = await startGoodera(2);
    await spendQuota(provider, 2);
    const harness = createConnectorHarness({
      connector: goodera,
      config: gooderaConfig(provider.url, { rateLimit: { maxRequests: 100, windowMs: 1_000 } }),
      clock,
    });
    cleanup.push(() => harness.close());

    await clock.advance(15_000); // Goodera's window opened 15 s ago: 45 s left
    const limited = await harness.submit(seedEvent({ eventId: 'evt_429' }));
    expect(simulator.rateLimited).toBe(1);
    expect(limited).toMatchObject({ status: 'retrying', attemptCount: 1 });
    expect(limited!.lastError).toMatch(
      /^\[impact-in\] \[goodera\] HTTP 429 rate_limited: Rate limit of 2 requests/,
    );
    expect(limited!.providerResponse?.headers).toMatchObject({
      'retry-after': '45',
      'x-ratelimit-remaining': '0',
    });
    expect(limited!.nextAttemptAt!.getTime() - clock.now()).toBe(45_000);

    // The bucket is paused: another delivery for this client is put back until the pause ends, unsent.
    const held = await harness.submit(seedEvent({ eventId: 'evt_held' }));
    expect(held).toMatchObject({ status: 'pending', attemptCount: 0 });
    expect(held!.nextAttemptAt!.getTime()).toBe(limited!.nextAttemptAt!.getTime());
    expect(provider.callsTo(EVENTS)).toHaveLength(1);

    await clock.set(limited!.nextAttemptAt!.getTime());
    await harness.runDue();
    expect(await harness.store.get(limited!.id)).toMatchObject({ status: 'success', attemptCount: 2 });
    expect(await harness.store.get(held!.id)).toMatchObject({ status: 'success', attemptCount: 1 });
    const calls = provider.callsTo(EVENTS);
    expect(calls.map((call) => call.status)).toEqual([429, 202, 202]);
    expect(calls[1]!.headers['x-idempotency-key']).toBe(calls[0]!.headers['x-idempotency-key']);
  });
});
