import { connect } from 'node:net';
import { serve as serveNode } from '@hono/node-server';
import { benevity } from '@impact-in/connector-benevity';
import { goodera } from '@impact-in/connector-goodera';
import { workday } from '@impact-in/connector-workday';
import { type BusMessage, hmacSha256, MemoryEventBus } from '@impact-in/core';
import { waitUntil } from '@impact-in/testing';
import { BENEVITY_TEST_CREDENTIALS } from '@impact-in/testing/providers/benevity';
import { buildDirectoryNotification, WORKDAY_TEST_CREDENTIALS } from '@impact-in/testing/providers/workday';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AppDependencies, connectorContext, type HostedConnector } from '../src/app.js';
import { acceptInbound, settleInboundWrites } from '../src/inbound.js';
import { migrateToLatest, openDatabase } from '../src/postgres/index.js';
import { startTestHost, type TestHost } from './helpers.js';

let t: TestHost;
const published: BusMessage[] = [];
beforeAll(async () => {
  t = await startTestHost({}, [
    // Listed but not configured, as a host without GOODERA_* variables has it.
    { connector: goodera },
    {
      connector: benevity,
      config: benevity.config.parse({
        apiUrl: 'http://127.0.0.1:9',
        apiKey: BENEVITY_TEST_CREDENTIALS.apiKey,
        signatureSecret: BENEVITY_TEST_CREDENTIALS.signatureSecret,
      }),
    },
    {
      connector: workday,
      config: workday.config.parse({
        protocol: 'soap',
        apiUrl: 'http://127.0.0.1:9',
        tenant: WORKDAY_TEST_CREDENTIALS.tenant,
        username: WORKDAY_TEST_CREDENTIALS.username,
        password: WORKDAY_TEST_CREDENTIALS.password,
        webhookUsername: WORKDAY_TEST_CREDENTIALS.webhookUsername,
        webhookPassword: WORKDAY_TEST_CREDENTIALS.webhookPassword,
      }),
    },
  ]);
  await t.host.bus.subscribe('benevity.>', async (message) => {
    published.push(message);
  });
  await t.host.bus.subscribe('workday.>', async (message) => {
    published.push(message);
  });
});
afterAll(async () => {
  await t.close();
});

// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field
type Body = any;
const json = async (response: Response) => ({
  status: response.status,
  body: (await response.json()) as Body,
});

const volunteerWebhook = (id: string, hours = 2.5) =>
  JSON.stringify({
    id,
    type: 'volunteer.recorded',
    occurred_at: '2025-11-14T10:05:00Z',
    company_id: 'bnv_co_42',
    data: {
      id: `vol_${id}`,
      user_external_id: 'user_456',
      email: 'ana@example.com',
      hours,
      activity_date: '2025-11-10',
      cause: 'Food Bank',
      program: 'buddy_mentoring',
      status: 'completed',
    },
  });

const postWebhook = (provider: string, body: string, headers: Record<string, string>, query = '') =>
  t.host.app.request(`http://localhost/webhooks/${provider}${query}`, { method: 'POST', body, headers });

describe('POST /webhooks/benevity', () => {
  it('verifies the signature over the raw body, stores and publishes once, and answers a duplicate with 200', async () => {
    const body = volunteerWebhook('whk_host_1');
    const headers = {
      'content-type': 'application/json',
      'x-benevity-signature': hmacSha256(BENEVITY_TEST_CREDENTIALS.signatureSecret, body),
    };
    const first = await json(await postWebhook('benevity', body, headers));
    expect(first).toEqual({
      status: 200,
      body: {
        received: 1,
        duplicates: 0,
        records: [{ provider: 'benevity', kind: 'volunteer', sourceId: 'whk_host_1', duplicate: false }],
      },
    });
    const again = await json(await postWebhook('benevity', body, headers));
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ received: 0, duplicates: 1 });
    await waitUntil(
      () =>
        published.some(
          (message) => message.data && (message.data as { sourceId: string }).sourceId === 'whk_host_1',
        ),
      2_000,
      'publish',
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    const mine = published.filter(
      (message) => (message.data as { sourceId: string }).sourceId === 'whk_host_1',
    );
    expect(mine).toHaveLength(1);
    expect(mine[0]!.subject).toBe('benevity.volunteer');
    expect(mine[0]!.data).toMatchObject({ provider: 'benevity', kind: 'volunteer', data: { hours: 2.5 } });
    const rows = await t.db
      .selectFrom('inbound_records')
      .selectAll()
      .where('source_id', '=', 'whk_host_1')
      .execute();
    expect(rows).toHaveLength(1);
    // Stored as parsed, with the tenant-less company id and the webhook's time.
    expect(rows[0]).toMatchObject({
      provider: 'benevity',
      kind: 'volunteer',
      company_id: expect.any(String),
      data: { hours: 2.5, program: 'buddy_mentoring' },
    });
    expect(new Date(rows[0]!.occurred_at as Date).toISOString()).toBe('2025-11-14T10:05:00.000Z');
  });

  it('over a real socket: headers come from the Node request, in any case, and the signature still decides', async () => {
    // Behind @hono/node-server the host reads headers from Node's IncomingMessage rather than
    // building a web Request: names are matched case-insensitively and nothing else changes.
    const server = serveNode({ fetch: t.host.app.fetch, port: 0, hostname: '127.0.0.1' });
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    const { port } = server.address() as { port: number };
    try {
      const body = volunteerWebhook('whk_socket_1');
      const signature = hmacSha256(BENEVITY_TEST_CREDENTIALS.signatureSecret, body);
      const send = (headers: Record<string, string>) =>
        fetch(`http://127.0.0.1:${port}/webhooks/benevity`, { method: 'POST', body, headers });
      const wrong = await send({ 'Content-Type': 'application/json', 'X-Benevity-Signature': 'deadbeef' });
      expect(wrong.status).toBe(401);
      expect(((await wrong.json()) as Body).error.code).toBe('invalid_signature');
      const accepted = await send({ 'Content-Type': 'application/json', 'X-BENEVITY-SIGNATURE': signature });
      expect(accepted.status).toBe(200);
      expect(await accepted.json()).toMatchObject({ received: 1, duplicates: 0 });
      // The API key travels the same way; a declared length over the limit is refused unread.
      const listed = await fetch(`http://127.0.0.1:${port}/v1/impact-in/deliveries`, {
        headers: { AUTHORIZATION: `Bearer ${t.keys.viewer}` },
      });
      expect(listed.status).toBe(200);
      const unauthorised = await fetch(`http://127.0.0.1:${port}/v1/impact-in/deliveries`);
      expect(unauthorised.status).toBe(401);
      // Two Authorization headers are not "the first one": they are refused, as web Headers
      // (which join them) would have them refused.
      const twoKeys = await new Promise<string>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1', () => {
          socket.write(
            'GET /v1/impact-in/deliveries HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
              `Authorization: Bearer ${t.keys.viewer}\r\nAuthorization: Bearer ${t.keys.otherTenant}\r\n` +
              'Connection: close\r\n\r\n',
          );
        });
        let answer = '';
        socket.on('data', (chunk) => {
          answer += chunk;
        });
        socket.on('end', () => resolve(answer));
        socket.on('error', reject);
      });
      expect(twoKeys.split('\r\n')[0]).toBe('HTTP/1.1 401 Unauthorized');
      const tooLarge = await fetch(`http://127.0.0.1:${port}/webhooks/benevity`, {
        method: 'POST',
        body: 'x'.repeat(5_000),
        headers: { 'content-type': 'application/json', 'x-benevity-signature': signature },
      });
      expect(tooLarge.status).toBe(413);
      const rows = await t.db
        .selectFrom('inbound_records')
        .selectAll()
        .where('source_id', '=', 'whk_socket_1')
        .execute();
      expect(rows).toHaveLength(1);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('refuses a missing, wrong or re-serialised signature with 401 and stores nothing', async () => {
    const body = volunteerWebhook('whk_host_bad');
    const reserialised = JSON.stringify(JSON.parse(body), null, 2);
    for (const signature of [
      undefined,
      'deadbeef',
      hmacSha256(BENEVITY_TEST_CREDENTIALS.signatureSecret, reserialised),
    ]) {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (signature) headers['x-benevity-signature'] = signature;
      const response = await json(await postWebhook('benevity', body, headers));
      expect(response.status).toBe(401);
      expect(response.body.error.code).toBe('invalid_signature');
    }
    const rows = await t.db
      .selectFrom('inbound_records')
      .selectAll()
      .where('source_id', '=', 'whk_host_bad')
      .execute();
    expect(rows).toHaveLength(0);
  });

  it('answers a signed but invalid payload with 400 naming the field, and unknown tenants or providers with 404', async () => {
    const body = volunteerWebhook('whk_host_invalid', -3);
    const headers = { 'x-benevity-signature': hmacSha256(BENEVITY_TEST_CREDENTIALS.signatureSecret, body) };
    const invalid = await json(await postWebhook('benevity', body, headers));
    expect(invalid.status).toBe(400);
    expect(invalid.body.error.code).toBe('validation_error');
    expect(JSON.stringify(invalid.body.error.details)).toContain('data.hours');
    const notJson = '{"id": ';
    const broken = await json(
      await postWebhook('benevity', notJson, {
        'x-benevity-signature': hmacSha256(BENEVITY_TEST_CREDENTIALS.signatureSecret, notJson),
      }),
    );
    expect(broken.status).toBe(400);
    expect((await postWebhook('nobody', body, headers)).status).toBe(404);
    expect(
      (await postWebhook('benevity', body, headers, '?tenant=00000000-0000-4000-8000-000000000000')).status,
    ).toBe(404);
    const huge = 'x'.repeat(5_000);
    expect((await postWebhook('benevity', huge, headers)).status).toBe(413);
  });
});

describe('per-tenant inbound config', () => {
  it('verifies a tenant’s webhook URL with that tenant’s own secret, and refuses a disabled integration', async () => {
    const tenantSecret = 'tenant-b-benevity-signature-secret';
    const saved = await t.request(`/v1/tenants/${t.tenantB}/integrations/benevity/config`, {
      method: 'PUT',
      key: t.keys.otherTenant,
      body: JSON.stringify({
        config: {
          apiUrl: 'http://127.0.0.1:9',
          apiKey: 'tenant-b-benevity-api-key-0001',
          signatureSecret: tenantSecret,
        },
      }),
    });
    expect(saved.status).toBe(200);
    const send = (tenant: string, secret: string) => {
      const body = volunteerWebhook(`wh_tenant_${tenant.slice(0, 8)}_${secret.length}_${Date.now()}`);
      return t.request(`/webhooks/benevity?tenant=${tenant}`, {
        method: 'POST',
        key: null,
        body,
        headers: { 'content-type': 'application/json', 'x-benevity-signature': hmacSha256(secret, body) },
      });
    };
    // B's URL takes B's secret, not the environment's; A's URL still takes the environment's.
    expect((await send(t.tenantB, tenantSecret)).status).toBe(200);
    expect((await send(t.tenantB, BENEVITY_TEST_CREDENTIALS.signatureSecret)).status).toBe(401);
    expect((await send(t.tenantA, BENEVITY_TEST_CREDENTIALS.signatureSecret)).status).toBe(200);
    expect((await send(t.tenantA, tenantSecret)).status).toBe(401);

    // Disabled for B: its webhooks and ingest are refused with 409.
    const disabled = await t.request(`/v1/tenants/${t.tenantB}/integrations/benevity/disable`, {
      method: 'POST',
      key: t.keys.otherTenant,
    });
    expect(disabled.status).toBe(200);
    const refused = await json(await send(t.tenantB, tenantSecret));
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('integration_disabled');
    const ingest = await json(
      await t.request('/v1/ingest/benevity/volunteers', {
        method: 'POST',
        key: t.keys.otherTenant,
        body: '[]',
      }),
    );
    expect(ingest.status).toBe(409);
  });
});

describe('POST /webhooks/workday', () => {
  it('checks the UsernameToken and publishes directory changes', async () => {
    const body = buildDirectoryNotification(
      {
        notificationId: 'NTF-HOST-1',
        sentOn: '2025-11-14T10:05:00Z',
        changes: [
          {
            changeType: 'Hire',
            effectiveDate: '2025-11-14',
            workerId: '21001',
            name: 'Logan McNeil',
            email: 'logan.mcneil@example.com',
            department: 'Global Support',
            managerId: '21000',
          },
        ],
      },
      {
        username: WORKDAY_TEST_CREDENTIALS.webhookUsername,
        password: WORKDAY_TEST_CREDENTIALS.webhookPassword,
      },
    );
    const ok = await json(await postWebhook('workday', body, { 'content-type': 'text/xml; charset=UTF-8' }));
    expect(ok.status).toBe(200);
    expect(ok.body.received).toBeGreaterThanOrEqual(1);
    const wrong = body.replace(WORKDAY_TEST_CREDENTIALS.webhookPassword, 'not-the-password');
    expect((await postWebhook('workday', wrong, { 'content-type': 'text/xml' })).status).toBe(401);
  });
});

describe('POST /v1/ingest/{provider}/{kind}', () => {
  const batch = (hours: unknown) =>
    JSON.stringify({
      company_id: 'bnv_co_42',
      volunteers: [
        {
          id: 'vol_ing_1',
          user_external_id: 'user_1',
          hours: 3,
          activity_date: '2025-11-10',
          status: 'completed',
        },
        {
          id: 'vol_ing_2',
          user_external_id: 'user_2',
          hours,
          activity_date: '2025-11-11',
          status: 'completed',
        },
      ],
    });

  it('parses a batch into records for the key’s tenant, dedupes a repeat, and needs the operator role', async () => {
    const first = await json(
      await t.request('/v1/ingest/benevity/volunteers', {
        method: 'POST',
        body: batch(1.5),
        key: t.keys.operator,
      }),
    );
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ received: 2, duplicates: 0 });
    const repeat = await json(
      await t.request('/v1/ingest/benevity/volunteers', {
        method: 'POST',
        body: batch(1.5),
        key: t.keys.operator,
      }),
    );
    expect(repeat.body).toMatchObject({ received: 0, duplicates: 2 });
    const rows = await t.db
      .selectFrom('inbound_records')
      .select(['company_id', 'kind'])
      .where('source_id', 'in', ['vol_ing_1', 'vol_ing_2'])
      .execute();
    expect(rows).toHaveLength(2);
    expect(rows.every((row) => row.company_id === t.tenantA)).toBe(true);
    expect(
      (
        await t.request('/v1/ingest/benevity/volunteers', {
          method: 'POST',
          body: batch(1.5),
          key: t.keys.viewer,
        })
      ).status,
    ).toBe(403);
    expect(
      (await t.request('/v1/ingest/benevity/volunteers', { method: 'POST', body: batch(1.5), key: null }))
        .status,
    ).toBe(401);
  });

  it('names each bad field, and refuses malformed JSON and unknown providers or kinds', async () => {
    const bad = await json(
      await t.request('/v1/ingest/benevity/volunteers', {
        method: 'POST',
        body: batch('lots'),
        key: t.keys.operator,
      }),
    );
    expect(bad.status).toBe(400);
    expect(bad.body.error.details).toContainEqual(expect.objectContaining({ field: 'volunteers[1].hours' }));
    const malformed = await json(
      await t.request('/v1/ingest/benevity/volunteers', {
        method: 'POST',
        body: '{"volunteers": [',
        key: t.keys.operator,
      }),
    );
    expect(malformed).toMatchObject({ status: 400, body: { error: { code: 'invalid_json' } } });
    expect(
      (await t.request('/v1/ingest/nobody/volunteers', { method: 'POST', body: '{}', key: t.keys.operator }))
        .status,
    ).toBe(404);
    const kind = await t.request('/v1/ingest/benevity/spaceships', {
      method: 'POST',
      body: '{}',
      key: t.keys.operator,
    });
    expect(kind.status).toBeGreaterThanOrEqual(400);
    expect(kind.status).toBeLessThan(500);
  });
});

describe('inbound edge cases', () => {
  it('answers webhooks for a provider this host has not configured with 404, not 500', async () => {
    const response = await json(await postWebhook('goodera', '{}', { 'content-type': 'application/json' }));
    expect(response.status).toBe(404);
    expect(response.body.error.code).toBe('not_configured');
    // Without ?tenant= the answer says how to name one.
    expect(response.body.error.message).toContain('?tenant=<tenant id>');
  });

  it('refuses a NUL in a signed webhook with 400 and stores nothing', async () => {
    const body = volunteerWebhook('whk_nul\u0000');
    const headers = { 'x-benevity-signature': hmacSha256(BENEVITY_TEST_CREDENTIALS.signatureSecret, body) };
    const response = await json(await postWebhook('benevity', body, headers));
    expect(response.status).toBe(400);
    const rows = await t.db
      .selectFrom('inbound_records')
      .selectAll()
      .where('source_id', 'like', 'whk_nul%')
      .execute();
    expect(rows).toHaveLength(0);
  });

  it('publishes again a record that was stored but never published (the bus was down)', async () => {
    const body = volunteerWebhook('whk_republish');
    const headers = { 'x-benevity-signature': hmacSha256(BENEVITY_TEST_CREDENTIALS.signatureSecret, body) };
    const bus = t.host.bus;
    const original = bus.publish.bind(bus);
    bus.publish = async () => {
      throw new Error('bus down');
    };
    const down = await postWebhook('benevity', body, headers);
    expect(down.status).toBe(500);
    bus.publish = original;
    const retry = await json(await postWebhook('benevity', body, headers));
    expect(retry.status).toBe(200);
    await waitUntil(
      () => published.some((message) => (message.data as { sourceId: string }).sourceId === 'whk_republish'),
      2_000,
      'the late publish',
    );
    // The published mark is written after the answer, batched with others.
    const publishedAt = async () => {
      const [row] = await t.db
        .selectFrom('inbound_records')
        .select('published_at')
        .where('source_id', '=', 'whk_republish')
        .execute();
      return row?.published_at ?? null;
    };
    const deadline = Date.now() + 2_000;
    while ((await publishedAt()) === null && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(await publishedAt()).not.toBeNull();
    const third = await json(await postWebhook('benevity', body, headers));
    expect(third.body).toMatchObject({ received: 0, duplicates: 1 });
  });
});

describe('after the answer', () => {
  it('settleInboundWrites waits for the published marks written after an answer', async () => {
    const db = await openDatabase({ dataDir: 'memory://' });
    await migrateToLatest(db);
    const bus = new MemoryEventBus();
    try {
      const record = { provider: 'benevity', kind: 'volunteer', sourceId: 'settle_1', data: { hours: 1 } };
      const answer = await acceptInbound(
        { db, bus, logger: pino({ level: 'silent' }) },
        'benevity',
        [record],
        'c1',
      );
      expect(answer).toMatchObject({ received: 1, duplicates: 0 });
      const publishedAt = async () =>
        (
          await db
            .selectFrom('inbound_records')
            .select('published_at')
            .where('source_id', '=', 'settle_1')
            .executeTakeFirst()
        )?.published_at ?? null;
      // The mark is batched after the answer: not written yet…
      expect(await publishedAt()).toBeNull();
      // …and written once the pending marks are settled (the host does this before closing).
      await settleInboundWrites(db);
      expect(await publishedAt()).not.toBeNull();
    } finally {
      await bus.close();
      await db.destroy();
    }
  });
});

describe('connectorContext', () => {
  it('reads a lazy signal only when a capability asks for it, once, and shares one logger per connector', () => {
    const deps = { http: {}, tokens: {}, logger: pino({ level: 'silent' }) } as unknown as AppDependencies;
    const hosted = { connector: benevity, config: {} } as unknown as HostedConnector;
    const controller = new AbortController();
    let reads = 0;
    const lazy = () => {
      reads++;
      return controller.signal;
    };
    const context = connectorContext(deps, hosted, 'c1', lazy);
    expect(reads).toBe(0);
    expect(context.signal).toBe(controller.signal);
    expect(context.signal).toBe(controller.signal);
    expect(reads).toBe(1);
    const eager = new AbortController().signal;
    expect(connectorContext(deps, hosted, 'c1', eager).signal).toBe(eager);
    expect(connectorContext(deps, hosted, 'c2', lazy).logger).toBe(context.logger);
  });
});
