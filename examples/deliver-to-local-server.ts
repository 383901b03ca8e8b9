// The first quickstart: deliver impact events to a local HTTP server with retries, signing and
// idempotency, using only @impact-in/core. Run it with `pnpm demo`.
//
// The "provider" below is a real node:http server on loopback. It checks the HMAC signature of
// every request, answers some requests with 503 or 429 the first time so you can watch the
// dispatcher retry, and remembers idempotency keys so a retried event is only counted once.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  bindConnector,
  createDispatcher,
  defineConnector,
  hmacSha256,
  MemoryDeliveryStore,
  verifyHmacSha256,
  z,
} from '@impact-in/core';

const SIGNING_SECRET = 'demo-signing-secret';

// 1. A connector: how one provider wants its events. Real ones live in @impact-in/connector-*.
const demoProvider = defineConnector({
  id: 'demo-provider',
  config: z.object({ url: z.url(), signingSecret: z.string().min(8) }),
  secrets: ['signingSecret'],
  async deliver({ event, deliveryId }, { config, http, signal }) {
    const payload = { id: event.eventId, type: event.eventType, user: event.userId, hours: event.value };
    const body = JSON.stringify(payload);
    const response = await http.request({
      method: 'POST',
      url: `${config.url}/impact-events`,
      body,
      signal,
      headers: {
        'content-type': 'application/json',
        'x-idempotency-key': deliveryId,
        'x-signature': hmacSha256(config.signingSecret, body),
      },
    });
    return { payload, response };
  },
});

// 2. A stand-in provider on loopback.
const seenKeys = new Set<string>();
const failuresLeft = new Map<string, number>();
let received = 0;
const server = createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    const body = Buffer.concat(chunks);
    received++;
    if (!verifyHmacSha256(SIGNING_SECRET, body, request.headers['x-signature'] as string)) {
      response.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"invalid_signature"}');
      return;
    }
    const { id } = JSON.parse(body.toString('utf8')) as { id: string };
    const left = failuresLeft.get(id) ?? (id.endsWith('3') ? 2 : id.endsWith('5') ? 1 : 0);
    if (left > 0) {
      failuresLeft.set(id, left - 1);
      if (id.endsWith('5')) response.writeHead(429, { 'retry-after': '1' }).end();
      else response.writeHead(503).end('busy');
      return;
    }
    if (id === 'evt_demo_9') {
      response.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"unknown user"}');
      return;
    }
    seenKeys.add(request.headers['x-idempotency-key'] as string);
    response.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify({ accepted: id }));
  });
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
console.log(`demo provider listening on ${url}\n`);

// 3. The dispatcher: durable log (in memory here; Postgres in @impact-in/host), retries, replay.
const dispatcher = createDispatcher({
  store: new MemoryDeliveryStore(),
  connectors: [bindConnector(demoProvider, { url, signingSecret: SIGNING_SECRET })],
  concurrency: 4,
  pollIntervalMs: 50,
});
dispatcher.start();

const companyId = 'company_789';
const deliveries = await Promise.all(
  Array.from({ length: 10 }, (_, index) =>
    dispatcher.submitAndWait({
      companyId,
      provider: 'demo-provider',
      event: {
        eventId: `evt_demo_${index}`,
        userId: `user_${100 + index}`,
        eventType: 'volunteer_hours',
        timestamp: new Date().toISOString(),
        value: 1 + index / 2,
        unit: 'hours',
        metadata: { program: 'buddy_mentoring' },
      },
    }),
  ),
);

console.log('event          status   attempts  deliveryId                            last error');
for (const delivery of deliveries) {
  console.log(
    `${delivery.eventId.padEnd(14)} ${delivery.status.padEnd(8)} ${String(delivery.attemptCount).padEnd(9)} ${delivery.deliveryId}  ${delivery.lastError ?? ''}`,
  );
}

// 4. Replay keeps the idempotency key: the provider can tell it is the same delivery.
const failed = deliveries.find((delivery) => delivery.status === 'failed');
if (failed) {
  const replayed = await dispatcher.replay(failed.id, { companyId });
  console.log(
    `\nreplayed ${failed.eventId}: ${replayed?.status} (same deliveryId: ${replayed?.deliveryId === failed.deliveryId})`,
  );
}

const stats = await dispatcher.stats({ companyId });
console.log(`\nstats: ${JSON.stringify(stats.overall)}`);
console.log(`provider saw ${received} requests for ${seenKeys.size} distinct accepted deliveries`);

await dispatcher.close();
server.close();
