import { randomUUID } from 'node:crypto';
import { benevity } from '@impact-in/connector-benevity';
import { hmacSha256 } from '@impact-in/core';
import { type ProviderServer, startProviderServer, waitUntil } from '@impact-in/testing';
import { BENEVITY_TEST_CREDENTIALS } from '@impact-in/testing/providers/benevity';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadHostEnv } from '../src/config.js';
import { createHost, type Host } from '../src/host.js';
import { migrateToLatest, openDatabase } from '../src/postgres/index.js';
import { createTenant } from '../src/tenants.js';
import { acme, acmeHandlers, createTestDatabase, SIGNING_SECRET } from './helpers.js';

const ADMIN_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const NATS_URL = process.env.TEST_NATS_URL ?? 'nats://127.0.0.1:4222';
let database: Awaited<ReturnType<typeof createTestDatabase>>;

let host: Host;
let provider: ProviderServer;
let nc: NatsConnection;
let tenant: string;

beforeAll(async () => {
  database = await createTestDatabase(ADMIN_URL, 'impact_int');
  const db = await openDatabase({ url: database.url });
  await migrateToLatest(db);
  tenant = await createTenant(db, 'Integration');
  await db.destroy();
  provider = await startProviderServer(acmeHandlers);
  host = await createHost({
    env: loadHostEnv({ DATABASE_URL: database.url, NATS_URL }),
    connectors: [
      { connector: acme, config: { url: provider.url, signingSecret: SIGNING_SECRET } },
      {
        connector: benevity,
        config: benevity.config.parse({
          apiUrl: 'http://127.0.0.1:9',
          apiKey: BENEVITY_TEST_CREDENTIALS.apiKey,
          signatureSecret: BENEVITY_TEST_CREDENTIALS.signatureSecret,
        }),
      },
    ],
    logger: pino({ level: 'silent' }),
    pollIntervalMs: 20,
  });
  await host.start();
  nc = await connect({ servers: new URL(NATS_URL).host });
});

afterAll(async () => {
  await nc?.close();
  await host?.close();
  await provider?.close();
  await database?.drop();
});

describe('host on real PostgreSQL and NATS JetStream', () => {
  it('takes events from the intake subject, dedupes by Nats-Msg-Id, and delivers them once', async () => {
    const js = jetstream(nc);
    const eventId = `evt_nats_${randomUUID()}`;
    const message = JSON.stringify({
      provider: 'acme',
      event: {
        eventId,
        userId: 'user_nats',
        eventType: 'volunteer_hours',
        timestamp: '2025-11-14T10:00:00Z',
        value: 3,
        unit: 'hours',
      },
    });
    const subject = `impact.events.${tenant}.volunteer_hours`;
    const first = await js.publish(subject, message, { msgID: eventId });
    const second = await js.publish(subject, message, { msgID: eventId });
    expect(first.duplicate).toBe(false);
    expect(second.duplicate).toBe(true);
    const sent = () =>
      provider.callsTo('/events').filter((call) => call.json<{ id: string }>().id === eventId);
    await waitUntil(() => sent().length === 1, 10_000, 'delivery of the bus event');
    // The outcome is recorded just after the provider answered.
    let delivery: Awaited<ReturnType<typeof host.dispatcher.list>>['data'][number] | undefined;
    const settled = async () => {
      const { data } = await host.dispatcher.list({ companyId: tenant, page: 1, limit: 10 });
      delivery = data.find((candidate) => candidate.eventId === eventId);
      return delivery?.status === 'success';
    };
    for (let tries = 0; tries < 100 && !(await settled()); tries++)
      await new Promise((resolve) => setTimeout(resolve, 50));
    expect(delivery?.status).toBe('success');
    expect(sent()[0]!.headers['x-idempotency-key']).toBe(delivery?.deliveryId);
    // Acked after the store commit: nothing left pending on the durable intake consumer.
    const jsm = await jetstreamManager(nc);
    const info = await jsm.consumers.info('IMPACT_IN', 'impact-in-intake');
    expect(info.num_ack_pending).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(sent()).toHaveLength(1);
  });

  it('publishes inbound webhook records on their NATS subject, once', async () => {
    const id = `whk_nats_${randomUUID()}`;
    const received: string[] = [];
    const subscription = nc.subscribe('benevity.volunteer');
    void (async () => {
      for await (const message of subscription) received.push(message.string());
    })();
    const body = JSON.stringify({
      id,
      type: 'volunteer.recorded',
      occurred_at: '2025-11-14T10:05:00Z',
      data: {
        id: `vol_${id}`,
        user_external_id: 'user_456',
        hours: 1,
        activity_date: '2025-11-10',
        status: 'completed',
      },
    });
    const headers = { 'x-benevity-signature': hmacSha256(BENEVITY_TEST_CREDENTIALS.signatureSecret, body) };
    for (let attempt = 0; attempt < 2; attempt++) {
      const response = await host.app.request(`http://localhost/webhooks/benevity?tenant=${tenant}`, {
        method: 'POST',
        body,
        headers,
      });
      expect(response.status).toBe(200);
    }
    await waitUntil(
      () => received.some((text) => text.includes(id)),
      5_000,
      'the record on benevity.volunteer',
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    subscription.unsubscribe();
    const mine = received.filter((text) => text.includes(id));
    expect(mine).toHaveLength(1);
    expect(JSON.parse(mine[0]!)).toMatchObject({
      provider: 'benevity',
      kind: 'volunteer',
      sourceId: id,
      companyId: tenant,
    });
  });

  it('reports readiness of the database and the bus', async () => {
    const response = await host.app.request('http://localhost/health/readiness');
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ready', checks: { database: true, bus: true } });
  });
});
