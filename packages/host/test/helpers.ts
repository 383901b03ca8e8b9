import { randomUUID } from 'node:crypto';
import { defineConnector, hmacSha256, type ImpactEvent, verifyHmacSha256, z } from '@impact-in/core';
import { type ProviderServer, startProviderServer } from '@impact-in/testing';
import type { Kysely } from 'kysely';
import { HttpResponse, http } from 'msw';
import pg from 'pg';
import pino from 'pino';
import type { HostedConnector } from '../src/app.js';
import { loadHostEnv } from '../src/config.js';
import { createHost, type Host } from '../src/host.js';
import { type Database, migrateToLatest, openDatabase } from '../src/postgres/index.js';
import { createApiKey, createTenant } from '../src/tenants.js';

/** A small signed-JSON provider, standing in for a real one in host tests. */
export const acme = defineConnector({
  id: 'acme',
  config: z.object({ url: z.url(), signingSecret: z.string().min(8) }),
  secrets: ['signingSecret'],
  async deliver({ event, deliveryId }, { config, http: client, signal }) {
    const payload = { id: event.eventId, user: event.userId, value: event.value };
    const body = JSON.stringify(payload);
    const response = await client.request({
      method: 'POST',
      url: `${config.url}/events`,
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

export const SIGNING_SECRET = 'acme-signing-secret';

/** A fixed master key for tests (hex, 32 bytes). */
export const TEST_MASTER_KEY = 'a'.repeat(64);

export const acmeHandlers = (url: string) => [
  http.post(`${url}/events`, async ({ request }) => {
    const body = await request.text();
    if (!verifyHmacSha256(SIGNING_SECRET, body, request.headers.get('x-signature'))) {
      return HttpResponse.json({ error: 'invalid_signature' }, { status: 401 });
    }
    if (JSON.parse(body).user === 'user_rejected') {
      return HttpResponse.json({ error: 'unknown user' }, { status: 400 });
    }
    return HttpResponse.json({ accepted: true }, { status: 202 });
  }),
];

export interface TestHost {
  host: Host;
  db: Kysely<Database>;
  provider: ProviderServer;
  tenantA: string;
  tenantB: string;
  keys: { admin: string; operator: string; viewer: string; otherTenant: string };
  request(path: string, init?: RequestInit & { key?: string | null }): Promise<Response>;
  close(): Promise<void>;
}

/** A host on embedded PGlite with the acme connector, two tenants and keys of every role. */
export async function startTestHost(
  envOverrides: Record<string, string> = {},
  extraConnectors: HostedConnector[] = [],
): Promise<TestHost> {
  const provider = await startProviderServer(acmeHandlers);
  const db = await openDatabase({ dataDir: 'memory://' });
  await migrateToLatest(db);
  const tenantA = await createTenant(db, 'Tenant A');
  const tenantB = await createTenant(db, 'Tenant B');
  const keys = {
    admin: (await createApiKey(db, tenantA, 'admin')).key,
    operator: (await createApiKey(db, tenantA, 'operator')).key,
    viewer: (await createApiKey(db, tenantA, 'viewer')).key,
    otherTenant: (await createApiKey(db, tenantB, 'admin')).key,
  };
  const host = await createHost({
    env: loadHostEnv({
      IMPACT_IN_BODY_LIMIT_BYTES: '4096',
      IMPACT_IN_MASTER_KEY: TEST_MASTER_KEY,
      ...envOverrides,
    }),
    connectors: [
      { connector: acme, config: { url: provider.url, signingSecret: SIGNING_SECRET } },
      ...extraConnectors,
    ],
    logger: pino({ level: 'silent' }),
    database: db,
    pollIntervalMs: 10,
  });
  await host.start();
  return {
    host,
    db,
    provider,
    tenantA,
    tenantB,
    keys,
    request(path, init = {}) {
      const { key = keys.admin, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (key) headers.set('authorization', `Bearer ${key}`);
      if (rest.body !== undefined && !headers.has('content-type'))
        headers.set('content-type', 'application/json');
      return Promise.resolve(host.app.request(`http://localhost${path}`, { ...rest, headers }));
    },
    async close() {
      await host.close();
      await provider.close();
    },
  };
}

let counter = 0;
export function event(overrides: Partial<ImpactEvent> = {}): ImpactEvent {
  counter++;
  return {
    eventId: `evt_api_${Date.now().toString(36)}_${counter}`,
    userId: 'user_456',
    eventType: 'volunteer_hours',
    timestamp: '2025-11-14T10:00:00Z',
    value: 5,
    unit: 'hours',
    ...overrides,
  };
}

/**
 * Creates an empty database on the real server, named `<prefix>_<random>` so runs never collide.
 * `drop()` removes it (see {@link dropTestDatabase}).
 */
export async function createTestDatabase(
  adminUrl: string,
  prefix = 'impact_test',
): Promise<{ name: string; url: string; drop: () => Promise<void> }> {
  const name = `${prefix}_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return { name, url: url.toString(), drop: () => dropTestDatabase(adminUrl, name) };
}

/**
 * Drops a test database. It first waits (up to 5 s) for this process's closed pools to finish
 * disconnecting: `with (force)` on a connection that is still saying goodbye makes the server
 * send it a FATAL the pool no longer listens for (an unhandled error in the test run).
 */
export async function dropTestDatabase(adminUrl: string, name: string): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    const deadline = Date.now() + 5_000;
    while (Date.now() < deadline) {
      const { rows } = await admin.query<{ n: string }>(
        'select count(*) as n from pg_stat_activity where datname = $1',
        [name],
      );
      if (Number(rows[0]?.n ?? 0) === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await admin.query(`drop database if exists ${name} with (force)`);
  } finally {
    await admin.end();
  }
}
