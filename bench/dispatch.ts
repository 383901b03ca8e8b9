// `dispatch`: 20 000 deliveries through the dispatcher and the in-memory store to a local
// node:http server (concurrency 64), against a raw undici loop posting the same bodies.

import { randomUUID } from 'node:crypto';
import { bindConnector, createDispatcher, defineConnector, MemoryDeliveryStore, z } from '@impact-in/core';
import { Agent, request } from 'undici';
import { pool, printResult, startLocalServer } from './util.js';

const COUNT = Number(process.env.BENCH_DISPATCH_COUNT ?? 20_000);
const CONCURRENCY = 64;

const bodyOf = (index: number) =>
  JSON.stringify({
    schema_version: 'v1.0',
    event: {
      id: `evt_${index}`,
      type: 'volunteer_hours',
      timestamp: '2025-11-14T10:00:00Z',
      user: { external_id: `user_${index % 500}`, company_id: 'company_789' },
      impact: { value: 5, unit: 'hours', metadata: { program: 'buddy_mentoring' } },
    },
  });

// The connector does what the baseline loop does (same body, same headers), so the ratio is
// the cost of the dispatcher and the store. Signing is a connector's own work; see
// the connector contract tests for what it sends.
const postJson = defineConnector({
  id: 'bench',
  config: z.object({ url: z.string() }),
  async deliver({ event, deliveryId }, { config, http, signal }) {
    const body = bodyOf(Number(event.eventId.slice(4)));
    const response = await http.request({
      method: 'POST',
      url: config.url,
      body,
      signal,
      headers: { 'content-type': 'application/json', 'x-idempotency-key': deliveryId },
    });
    return { payload: body, response };
  },
});

async function runOurs(url: string, count: number, offset: number): Promise<number> {
  const store = new MemoryDeliveryStore();
  let done = 0;
  let finish: () => void = () => {};
  const finished = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const dispatcher = createDispatcher({
    store,
    connectors: [bindConnector(postJson, { url: `${url}/api/v1/impact-events` })],
    concurrency: CONCURRENCY,
    pollIntervalMs: 5,
    onAttempt: ({ delivery }) => {
      if (delivery.status !== 'success')
        throw new Error(`bench delivery ${delivery.status}: ${delivery.lastError}`);
      if (++done === count) finish();
    },
  });
  const started = performance.now();
  dispatcher.start();
  for (let index = 0; index < count; index++) {
    await dispatcher.submit({
      companyId: 'company_789',
      provider: 'bench',
      event: {
        eventId: `evt_${offset + index}`,
        userId: `user_${index % 500}`,
        eventType: 'volunteer_hours',
        timestamp: '2025-11-14T10:00:00Z',
        value: 5,
        unit: 'hours',
      },
    });
  }
  await finished;
  const seconds = (performance.now() - started) / 1000;
  await dispatcher.close();
  return count / seconds;
}

async function runBaseline(url: string, count: number): Promise<number> {
  const agent = new Agent({
    keepAliveTimeout: 4_000,
    headersTimeout: 30_000,
    bodyTimeout: 30_000,
    connections: 128,
  });
  const started = performance.now();
  await pool(count, CONCURRENCY, async (index) => {
    const body = bodyOf(index);
    const response = await request(`${url}/api/v1/impact-events`, {
      method: 'POST',
      body,
      dispatcher: agent,
      headers: { 'content-type': 'application/json', 'x-idempotency-key': randomUUID() },
    });
    await response.body.text();
    if (response.statusCode !== 200) throw new Error(`baseline got ${response.statusCode}`);
  });
  const seconds = (performance.now() - started) / 1000;
  await agent.close();
  return count / seconds;
}

export async function benchDispatch(): Promise<void> {
  const server = await startLocalServer();
  try {
    // Warm up both paths (JIT, sockets).
    await runBaseline(server.url, 2_000);
    await runOurs(server.url, 2_000, 10_000_000);
    // Interleaved rounds, best of each, so drift on a shared machine hits both sides alike.
    let baseline = 0;
    let ours = 0;
    for (let round = 0; round < 3; round++) {
      baseline = Math.max(baseline, await runBaseline(server.url, COUNT));
      ours = Math.max(ours, await runOurs(server.url, COUNT, round * 1_000_000));
    }
    printResult({
      bench: 'dispatch',
      count: COUNT,
      concurrency: CONCURRENCY,
      ours_per_s: Math.round(ours),
      baseline_per_s: Math.round(baseline),
      ratio: Math.round((ours / baseline) * 100) / 100,
    });
  } finally {
    server.stop();
  }
}
