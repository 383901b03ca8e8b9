// The import path on a real PostgreSQL server behind a real socket (`@hono/node-server`), where the
// upload is streamed from the Node request. Needs PostgreSQL (TEST_DATABASE_URL, default
// postgres://postgres@127.0.0.1:5432/test): without it these tests fail, they do not skip.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve as serveNode } from '@hono/node-server';
import { kintell, signKintellWebhook } from '@impact-in/connector-kintell';
import { waitUntil } from '@impact-in/testing';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadHostEnv } from '../src/config.js';
import { createHost, type Host } from '../src/host.js';
import { type Database, migrateToLatest, registerPgPool } from '../src/postgres/index.js';
import { createApiKey, createTenant } from '../src/tenants.js';
import { createTestDatabase } from './helpers.js';

const ADMIN_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const WEBHOOK_SECRET = 'whsec-kintell-pg-test-0123456789';
const IMPORT_LIMIT = 512 * 1024;

let host: Host;
let db: Kysely<Database>;
let server: ReturnType<typeof serveNode>;
let base: string;
let blobDir: string;
let tenant: string;
let operator: string;
let dropDatabase: () => Promise<void>;

beforeAll(async () => {
  const database = await createTestDatabase(ADMIN_URL);
  // Registered like `openDatabase` does it, so imports stream new rows in with COPY.
  const pool = new pg.Pool({ connectionString: database.url, max: 5 });
  db = registerPgPool(new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }), pool);
  dropDatabase = database.drop;
  await migrateToLatest(db);
  tenant = await createTenant(db, 'PG tenant');
  operator = (await createApiKey(db, tenant, 'operator')).key;
  blobDir = await mkdtemp(join(tmpdir(), 'impact-in-blobs-pg-'));
  host = await createHost({
    env: loadHostEnv({ IMPACT_IN_BLOB_DIR: blobDir, IMPACT_IN_IMPORT_LIMIT_BYTES: String(IMPORT_LIMIT) }),
    connectors: [{ connector: kintell, config: kintell.config.parse({ webhookSecret: WEBHOOK_SECRET }) }],
    logger: pino({ level: 'silent' }),
    database: db,
  });
  await host.start();
  server = serveNode({ fetch: host.app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  await host?.close();
  await dropDatabase?.();
  if (blobDir) await rm(blobDir, { recursive: true, force: true });
});

// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field
type Body = any;
type BodyInit = RequestInit['body'];

const HEADER = 'Session ID;Programme;Start Time;End Time;Duration;Status;Mentee Email;Mentor Email';
const row = (id: string, minutes = 60) =>
  `${id};Language Connect;2025-03-01 10:00;2025-03-01 11:00;${minutes};Completed;p-${id}@example.com;v-${id}@acme.example`;
const csv = (rows: string[]) => `\ufeff${[HEADER, ...rows].join('\r\n')}\r\n`;

/** A request body sent in pieces with chunked encoding (no Content-Length). */
function chunked(text: string, size = 8_192): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.length) {
        controller.close();
        return;
      }
      controller.enqueue(bytes.slice(offset, offset + size));
      offset += size;
    },
  });
}

async function post(body: BodyInit, query = '', contentType: string | null = 'text/csv') {
  const headers: Record<string, string> = { authorization: `Bearer ${operator}` };
  if (contentType) headers['content-type'] = contentType;
  const response = await fetch(`${base}/v1/import/sessions${query}`, {
    method: 'POST',
    body,
    headers,
    duplex: 'half',
  });
  return { status: response.status, body: (await response.json()) as Body };
}

const stored = (prefix: string) =>
  db
    .selectFrom('imported_records')
    .select(['source_id', 'data', 'import_id'])
    .where('company_id', '=', tenant)
    .where('source_id', 'like', `${prefix}%`)
    .orderBy('source_id')
    .execute();

describe('CSV import on real PostgreSQL, over a socket', () => {
  it('streams a chunked upload in, stores it idempotently, and reports it', async () => {
    const rows = Array.from({ length: 2_500 }, (_, index) => row(`pg-${String(index).padStart(4, '0')}`));
    const file = csv(rows);
    const first = await post(chunked(file));
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ status: 'completed', rows: 2_500, imported: 2_500, errorCount: 0 });
    expect(first.body.bytes).toBe(Buffer.byteLength(file));
    expect(await stored('pg-')).toHaveLength(2_500);
    expect(await readFile(join(blobDir, tenant, 'imports', `${first.body.importId}.csv`), 'utf8')).toBe(file);

    const again = await post(chunked(file));
    expect(again.body).toMatchObject({ imported: 0, updated: 0, unchanged: 2_500 });
    rows[7] = row('pg-0007', 75);
    const changed = await post(csv(rows));
    expect(changed.body).toMatchObject({ imported: 0, updated: 1, unchanged: 2_499 });
    expect(await stored('pg-')).toHaveLength(2_500);

    const status = await fetch(`${base}/v1/import/sessions/${changed.body.importId}`, {
      headers: { authorization: `Bearer ${operator}` },
    });
    expect(await status.json()).toEqual(changed.body);
  });

  it('takes multipart uploads, dry runs and strict imports', async () => {
    const form = new FormData();
    form.append('file', new Blob([csv([row('mp-1'), row('mp-2')])], { type: 'text/csv' }), 'export.csv');
    const multipart = await post(form, '', null);
    expect(multipart.status).toBe(200);
    expect(multipart.body).toMatchObject({ imported: 2, filename: 'export.csv' });

    const dry = await post(csv([row('mp-1'), row('dry-1')]), '?dryRun=true');
    expect(dry.body).toMatchObject({ imported: 1, unchanged: 1 });
    expect(await stored('dry-')).toHaveLength(0);

    const strict = await post(
      csv([row('st-1'), row('st-2').replace('Completed', 'Exploded')]),
      '?strict=true',
    );
    expect(strict.status).toBe(422);
    expect(await stored('st-')).toHaveLength(0);
  });

  it('answers 413 to a chunked upload that crosses the limit, and keeps serving', async () => {
    const big = csv(Array.from({ length: 8_000 }, (_, index) => row(`big-${index}`)));
    expect(Buffer.byteLength(big)).toBeGreaterThan(IMPORT_LIMIT);
    const tooBig = await post(chunked(big));
    expect(tooBig.status).toBe(413);
    expect(tooBig.body.error.code).toBe('payload_too_large');
    const failed = await db
      .selectFrom('imports')
      .select(['status', 'report'])
      .where('company_id', '=', tenant)
      .orderBy('created_at', 'desc')
      .executeTakeFirst();
    expect(failed).toMatchObject({
      status: 'failed',
      report: expect.objectContaining({ failure: expect.objectContaining({ code: 'payload_too_large' }) }),
    });
    const next = await post(csv([row('after-1')]));
    expect(next.status).toBe(200);
  });

  it('records an upload whose client went away as failed, and keeps serving', async () => {
    const before = Date.now();
    const url = new URL(`${base}/v1/import/sessions`);
    const client = request({
      host: url.hostname,
      port: url.port,
      path: url.pathname,
      method: 'POST',
      headers: { authorization: `Bearer ${operator}`, 'content-type': 'text/csv' },
    });
    client.on('error', () => undefined);
    client.write(csv(Array.from({ length: 2_000 }, (_, index) => row(`gone-${index}`))));
    const latest = () =>
      db
        .selectFrom('imports')
        .select(['status', 'report', 'created_at'])
        .where('company_id', '=', tenant)
        .orderBy('created_at', 'desc')
        .executeTakeFirst();
    await waitUntil(
      () => {
        void latest().then((row) => {
          if (row && new Date(row.created_at).getTime() >= before - 1_000 && row.status === 'running')
            client.destroy();
        });
        return client.destroyed;
      },
      10_000,
      'the import to start',
    );
    let last: Awaited<ReturnType<typeof latest>>;
    await waitUntil(
      () => {
        void latest().then((row) => {
          last = row;
        });
        return last?.status === 'failed';
      },
      10_000,
      'the import to be recorded as failed',
    );
    expect((last!.report as Body).failure.code).toBe('upload_aborted');
    expect((await post(csv([row('after-abort-1')]))).status).toBe(200);
  });

  it('takes a signed session webhook on the tenant’s URL', async () => {
    const body = JSON.stringify({
      id: 'evt_pg_1',
      type: 'session.scheduled',
      created_at: '2025-03-01T09:00:00Z',
      data: {
        session_id: 'pg-wh-1',
        program: 'mentorship',
        scheduled_at: '2025-03-02T10:00:00Z',
        participant_email: 'p@example.com',
        volunteer_email: 'v@acme.example',
      },
    });
    const send = () =>
      fetch(`${base}/v1/webhooks/session-scheduled?tenant=${tenant}`, {
        method: 'POST',
        body,
        headers: {
          'content-type': 'application/json',
          'x-kintell-signature': signKintellWebhook(WEBHOOK_SECRET, body, Math.floor(Date.now() / 1000)),
        },
      });
    expect((await send()).status).toBe(200);
    expect((await send()).status).toBe(409);
  });
});
