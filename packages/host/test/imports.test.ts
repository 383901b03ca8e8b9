import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { kintell, signKintellWebhook } from '@impact-in/connector-kintell';
import type { BusMessage } from '@impact-in/core';
import { waitUntil } from '@impact-in/testing';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalBlobStore } from '../src/imports/blob-store.js';
import { createApiKey, createTenant } from '../src/tenants.js';
import { startTestHost, type TestHost } from './helpers.js';

const WEBHOOK_SECRET = 'whsec-kintell-test-0123456789';
const IMPORT_LIMIT = 256 * 1024;

let t: TestHost;
let blobDir: string;
const published: BusMessage[] = [];

beforeAll(async () => {
  blobDir = await mkdtemp(join(tmpdir(), 'impact-in-blobs-'));
  t = await startTestHost(
    {
      IMPACT_IN_BLOB_DIR: blobDir,
      IMPACT_IN_IMPORT_LIMIT_BYTES: String(IMPORT_LIMIT),
      IMPACT_IN_BODY_LIMIT_BYTES: '65536',
    },
    [
      {
        connector: kintell,
        config: kintell.config.parse({
          webhookSecret: WEBHOOK_SECRET,
          campaigns: [{ campaignId: 'camp-env', program: 'mentorship' }],
        }),
      },
    ],
  );
  await t.host.bus.subscribe('kintell.>', async (message) => {
    published.push(message);
  });
});
afterAll(async () => {
  await t.close();
  await rm(blobDir, { recursive: true, force: true });
});

// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field
type Body = any;
type BodyInit = RequestInit['body'];

const HEADER =
  'session_id,program,scheduled_at,completed_at,duration_minutes,status,participant_email,volunteer_email,volunteer_id,company_ref';

interface RowOptions {
  id: string;
  program?: string;
  status?: string;
  minutes?: number | string;
  volunteerEmail?: string;
  volunteerId?: string;
  participantEmail?: string;
}

function row(options: RowOptions): string {
  const status = options.status ?? 'completed';
  return [
    options.id,
    options.program ?? 'language_connect',
    '2025-03-01T10:00:00Z',
    status === 'completed' ? '2025-03-01T11:00:00Z' : '',
    status === 'completed' ? String(options.minutes ?? 60) : '',
    status,
    options.participantEmail ?? `p-${options.id}@example.com`,
    options.volunteerEmail ?? `v-${options.id}@acme.example`,
    options.volunteerId ?? '',
    'Acme',
  ].join(',');
}

const csv = (rows: string[], { header = HEADER, newline = '\n' } = {}) =>
  [header, ...rows].join(newline) + newline;

/** POSTs a body to the import endpoint with a content type; `key` defaults to an operator key. */
async function upload(
  body: BodyInit,
  options: { query?: string; contentType?: string | null; key?: string } = {},
) {
  const headers = new Headers({ authorization: `Bearer ${options.key ?? t.keys.operator}` });
  if (options.contentType !== null) headers.set('content-type', options.contentType ?? 'text/csv');
  const response = await t.host.app.request(`http://localhost/v1/import/sessions${options.query ?? ''}`, {
    method: 'POST',
    body,
    headers,
  });
  const text = await response.text();
  let parsed: Body;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = text;
  }
  return { status: response.status, body: parsed };
}

const multipart = (content: BodyInit | Blob, field = 'file', filename = 'sessions.csv') => {
  const form = new FormData();
  form.append('note', 'uploaded from the admin page');
  form.append(
    field,
    content instanceof Blob ? content : new Blob([content as string], { type: 'text/csv' }),
    filename,
  );
  return form;
};

async function storedRows(prefix: string, companyId = t.tenantA) {
  return t.db
    .selectFrom('imported_records')
    .selectAll()
    .where('company_id', '=', companyId)
    .where('source_id', 'like', `${prefix}%`)
    .orderBy('source_id')
    .execute();
}

describe('POST /v1/import/sessions', () => {
  it('imports a raw text/csv body, keeps the upload, and answers the report', async () => {
    const file = csv([row({ id: 'raw-1' }), row({ id: 'raw-2', status: 'scheduled' }), row({ id: 'raw-3' })]);
    const { status, body } = await upload(file);
    expect(status).toBe(200);
    expect(body).toMatchObject({
      status: 'completed',
      provider: 'kintell',
      mapping: 'sessions',
      dryRun: false,
      rows: 3,
      imported: 3,
      updated: 0,
      unchanged: 0,
      skipped: 0,
      errorCount: 0,
      errors: [],
      ignoredColumns: [],
      failure: null,
      bytes: Buffer.byteLength(file),
    });
    const rows = await storedRows('raw-');
    expect(rows.map((stored) => stored.source_id)).toEqual(['raw-1', 'raw-2', 'raw-3']);
    expect(rows[0]).toMatchObject({ provider: 'kintell', kind: 'session', import_id: body.importId });
    expect(rows[1]!.event_id).toBeNull();

    const kept = await readFile(join(blobDir, t.tenantA, 'imports', `${body.importId}.csv`), 'utf8');
    expect(kept).toBe(file);
    const imported = await t.db
      .selectFrom('imports')
      .selectAll()
      .where('id', '=', body.importId)
      .executeTakeFirst();
    expect(imported).toMatchObject({
      status: 'completed',
      blob_key: `${t.tenantA}/imports/${body.importId}.csv`,
    });
  });

  it('imports the "file" field of a multipart/form-data upload', async () => {
    const file = csv([row({ id: 'form-1' }), row({ id: 'form-2' })]);
    const { status, body } = await upload(multipart(file), { contentType: null });
    expect(status).toBe(200);
    expect(body).toMatchObject({ rows: 2, imported: 2, filename: 'sessions.csv' });
    expect(await storedRows('form-')).toHaveLength(2);
    expect(await readFile(join(blobDir, t.tenantA, 'imports', `${body.importId}.csv`), 'utf8')).toBe(file);
  });

  it('refuses malformed multipart bodies and forms without the file field with a 400', async () => {
    const missing = await upload(multipart(csv([row({ id: 'nofile-1' })]), 'attachment'), {
      contentType: null,
    });
    expect(missing.status).toBe(400);
    expect(missing.body.error.code).toBe('missing_file');

    const noBoundary = await upload('whatever', { contentType: 'multipart/form-data' });
    expect(noBoundary.status).toBe(400);
    expect(noBoundary.body.error.code).toBe('invalid_multipart');

    const cut = [
      '--XyZ',
      'Content-Disposition: form-data; name="file"; filename="s.csv"',
      'Content-Type: text/csv',
      '',
      HEADER,
      row({ id: 'cut-1' }),
    ].join('\r\n');
    const truncated = await upload(cut, { contentType: 'multipart/form-data; boundary=XyZ' });
    expect(truncated.status).toBe(400);
    expect(truncated.body.error.code).toBe('invalid_multipart');
    expect(await storedRows('cut-')).toHaveLength(0);
  });

  it('gives a report, never a 500, for every kind of CSV damage', async () => {
    const cases: Array<{ name: string; body: BodyInit; status: number; check?: (body: Body) => void }> = [
      {
        name: 'UTF-8 BOM',
        body: `\ufeff${csv([row({ id: 'edge-bom' })])}`,
        status: 200,
        check: (body) => expect(body.imported).toBe(1),
      },
      {
        name: 'CRLF line endings',
        body: csv([row({ id: 'edge-crlf-1' }), row({ id: 'edge-crlf-2' })], { newline: '\r\n' }),
        status: 200,
        check: (body) => expect(body).toMatchObject({ imported: 2, errorCount: 0 }),
      },
      {
        name: 'a quoted newline',
        body: csv([`${row({ id: 'edge-quoted' }).replace(/,Acme$/, ',"Acme\nNordic, Ltd"')}`]),
        status: 200,
        check: (body) => expect(body).toMatchObject({ imported: 1, errorCount: 0 }),
      },
      {
        name: '; as the delimiter',
        body: csv([row({ id: 'edge-semi' }).replaceAll(',', ';')], { header: HEADER.replaceAll(',', ';') }),
        status: 200,
        check: (body) => expect(body.imported).toBe(1),
      },
      {
        name: 'a truncated last line',
        body: `${HEADER}\n${row({ id: 'edge-trunc-1' })}\n${row({ id: 'edge-trunc-2' }).slice(0, 30)}`,
        status: 200,
        check: (body) => {
          expect(body).toMatchObject({ imported: 1, skipped: 1, errorCount: 1 });
          expect(body.errors[0].line).toBe(3);
        },
      },
      {
        name: 'an unclosed quote on the last line',
        body: `${HEADER}\n${row({ id: 'edge-quote-1' })}\n"edge-quote-2,language_connect`,
        status: 200,
        check: (body) => expect(body).toMatchObject({ imported: 1, skipped: 1 }),
      },
      {
        name: 'extra columns',
        body: csv([`${row({ id: 'edge-extra' })},gold,42`], { header: `${HEADER},Tier,Internal Score` }),
        status: 200,
        check: (body) => {
          expect(body.imported).toBe(1);
          expect(body.ignoredColumns).toEqual(['Tier', 'Internal Score']);
        },
      },
      {
        name: 'a wrong header',
        body: 'name,age\nAna,31\n',
        status: 422,
        check: (body) => expect(body.failure.code).toBe('invalid_file'),
      },
      {
        name: 'a header missing a required column',
        body: csv([row({ id: 'edge-missing' })], { header: HEADER.replace('status', 'state_of_mind') }),
        status: 422,
        check: (body) => expect(body.errors[0].message).toContain('status'),
      },
      { name: 'an empty file', body: '', status: 422 },
      { name: 'only blank lines', body: '\n\n\r\n', status: 422 },
      {
        name: 'a binary file',
        body: new Uint8Array([0x50, 0x4b, 0x03, 0x04, 0, 0, 0, 1, 2, 3, 0xff, 0xfe]),
        status: 422,
      },
      {
        name: 'NUL bytes',
        body: new Uint8Array([0x61, 0, 0x62, 0x0a, 0, 0, 0, 0x0a]),
        status: 422,
      },
      {
        name: 'Latin-1 text',
        body: Buffer.from(`${HEADER}\n${row({ id: 'edge-latin' }).replace('Acme', 'Acmé')}\n`, 'latin1'),
        status: 422,
      },
      {
        name: 'a bad value in a row',
        body: csv([row({ id: 'edge-bad-1', minutes: 'lots' }), row({ id: 'edge-bad-2' })]),
        status: 200,
        check: (body) => {
          expect(body).toMatchObject({ imported: 1, skipped: 1, errorCount: 1 });
          expect(body.errors[0]).toMatchObject({ line: 2, column: 'duration_minutes' });
        },
      },
    ];
    for (const testCase of cases) {
      const { status, body } = await upload(testCase.body);
      expect(status, `${testCase.name}: ${JSON.stringify(body)}`).toBe(testCase.status);
      expect(body.importId, testCase.name).toEqual(expect.any(String));
      expect(body.status, testCase.name).toBe(testCase.status === 200 ? 'completed' : 'failed');
      if (testCase.status === 422) {
        expect(body.failure.message.length, testCase.name).toBeGreaterThan(5);
        expect(body.errorCount, testCase.name).toBeGreaterThan(0);
      }
      testCase.check?.(body);
    }
    // Refused files are not kept.
    const failed = await t.db
      .selectFrom('imports')
      .select(['blob_key'])
      .where('company_id', '=', t.tenantA)
      .where('status', '=', 'failed')
      .execute();
    expect(failed.length).toBeGreaterThan(0);
    expect(failed.every((imported) => imported.blob_key === null)).toBe(true);
  });

  it('reports every bad row with its line and column, capping the list at 100', async () => {
    const rows = Array.from({ length: 150 }, (_, index) => row({ id: `many-${index}`, minutes: 'x' }));
    const { status, body } = await upload(csv(rows));
    expect(status).toBe(200);
    expect(body).toMatchObject({
      rows: 150,
      imported: 0,
      skipped: 150,
      errorCount: 150,
      errorsTruncated: true,
    });
    expect(body.errors).toHaveLength(100);
    expect(body.errors[99]).toMatchObject({ line: 101, column: 'duration_minutes' });
  });

  it('writes nothing on a dry run, yet counts what would happen', async () => {
    await upload(csv([row({ id: 'dry-1' })]));
    const file = csv([row({ id: 'dry-1' }), row({ id: 'dry-2' }), row({ id: 'dry-3', minutes: 90 })]);
    const before = await storedRows('dry-');
    const { status, body } = await upload(file, { query: '?dryRun=true' });
    expect(status).toBe(200);
    expect(body).toMatchObject({ dryRun: true, rows: 3, imported: 2, updated: 0, unchanged: 1 });
    expect(await storedRows('dry-')).toEqual(before);
    const files = await readdir(join(blobDir, t.tenantA, 'imports'));
    expect(files).not.toContain(`${body.importId}.csv`);
  });

  it('stores nothing of a strict import with a bad row (422)', async () => {
    const file = csv([
      row({ id: 'strict-1' }),
      row({ id: 'strict-2', program: 'juggling' }),
      row({ id: 'strict-3' }),
    ]);
    const { status, body } = await upload(file, { query: '?strict=true' });
    expect(status).toBe(422);
    expect(body).toMatchObject({ status: 'failed', strict: true, imported: 0, skipped: 1 });
    expect(body.failure).toMatchObject({ code: 'invalid_row' });
    expect(body.errors[0]).toMatchObject({ line: 3, column: 'program' });
    expect(await storedRows('strict-')).toHaveLength(0);

    const good = await upload(csv([row({ id: 'strict-1' }), row({ id: 'strict-3' })]), {
      query: '?strict=1',
    });
    expect(good.status).toBe(200);
    expect(good.body.imported).toBe(2);
  });

  it('is idempotent: a re-import stores no duplicate, reports unchanged rows, and updates changed ones', async () => {
    const rows = [
      row({ id: 'again-1' }),
      row({ id: 'again-2' }),
      row({ id: 'again-3', status: 'scheduled' }),
    ];
    const first = await upload(csv(rows));
    expect(first.body).toMatchObject({ imported: 3, updated: 0, unchanged: 0 });
    const second = await upload(csv(rows));
    expect(second.body).toMatchObject({ imported: 0, updated: 0, unchanged: 3 });
    const stored = await storedRows('again-');
    expect(stored).toHaveLength(3);
    // Untouched rows keep the import that wrote them.
    expect(stored.every((record) => record.import_id === first.body.importId)).toBe(true);

    const changed = [
      row({ id: 'again-1' }),
      row({ id: 'again-2', minutes: 45 }),
      row({ id: 'again-3' }),
      row({ id: 'again-4' }),
    ];
    const third = await upload(csv(changed));
    expect(third.body).toMatchObject({ rows: 4, imported: 1, updated: 2, unchanged: 1 });
    const after = await storedRows('again-');
    expect(after).toHaveLength(4);
    expect(after.find((record) => record.source_id === 'again-2')).toMatchObject({
      import_id: third.body.importId,
      data: expect.objectContaining({ duration_minutes: 45 }),
    });

    // The same session twice in one file: stored once, the later row wins.
    const twice = await upload(
      csv([row({ id: 'again-5', minutes: 30 }), row({ id: 'again-5', minutes: 40 })]),
    );
    expect(twice.body).toMatchObject({ rows: 2, imported: 1, updated: 1 });
    expect((await storedRows('again-5'))[0]!.data).toMatchObject({ duration_minutes: 40 });
  });

  it('refuses uploads over the limit with a 413, at once or mid-stream', async () => {
    const big = csv(Array.from({ length: 3_000 }, (_, index) => row({ id: `big-${index}` })));
    expect(Buffer.byteLength(big)).toBeGreaterThan(IMPORT_LIMIT);
    const declared = await upload(big);
    expect(declared.status).toBe(413);
    expect(declared.body.error.code).toBe('payload_too_large');

    // No Content-Length: a stream that crosses the limit part-way through.
    const encoder = new TextEncoder();
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let offset = 0; offset < big.length; offset += 16_384) {
          controller.enqueue(encoder.encode(big.slice(offset, offset + 16_384)));
        }
        controller.close();
      },
    });
    const streamed = await t.host.app.request('http://localhost/v1/import/sessions', {
      method: 'POST',
      body: stream,
      duplex: 'half',
      headers: { authorization: `Bearer ${t.keys.operator}`, 'content-type': 'text/csv' },
    });
    expect(streamed.status).toBe(413);
    const multipartTooBig = await upload(multipart(big), { contentType: null });
    expect(multipartTooBig.status).toBe(413);
  });

  it('refuses other content types with a 415', async () => {
    for (const contentType of [
      'application/json',
      'application/x-www-form-urlencoded',
      'text/csv; charset=utf-16',
    ]) {
      const { status, body } = await upload(csv([row({ id: 'type-1' })]), { contentType });
      expect(status, contentType).toBe(415);
      expect(body.error.code).toMatch(/^unsupported_/);
    }
    expect(
      (await upload(csv([row({ id: 'type-1' })]), { contentType: 'text/csv; charset=UTF-8' })).status,
    ).toBe(200);
  });

  it('needs an operator key and validates the query', async () => {
    const file = csv([row({ id: 'auth-1' })]);
    expect((await upload(file, { key: t.keys.viewer })).status).toBe(403);
    expect((await upload(file, { key: 'iik_nope' })).status).toBe(401);
    const bad = await upload(file, { query: '?mapping=payroll' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('invalid_query');
    expect((await upload(file, { query: '?dryRun=maybe' })).status).toBe(400);
  });
});

describe('the sample export', () => {
  it('imports the connector’s examples/sessions.csv (the README’s command) without errors', async () => {
    const sample = await readFile(
      join(
        dirname(createRequire(import.meta.url).resolve('@impact-in/connector-kintell/package.json')),
        'examples',
        'sessions.csv',
      ),
    );
    const { status, body } = await upload(sample);
    expect(status, JSON.stringify(body.errors)).toBe(200);
    expect(body.rows).toBeGreaterThan(0);
    expect(body.imported + body.updated + body.unchanged + body.skipped).toBe(body.rows);
  });
});

describe('an import in progress', () => {
  it('is listed as running until its upload ends', async () => {
    const encoder = new TextEncoder();
    let finish!: () => void;
    const gate = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const stream = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(encoder.encode(`${HEADER}\n${row({ id: 'slow-1' })}\n`));
        await gate;
        controller.enqueue(encoder.encode(`${row({ id: 'slow-2' })}\n`));
        controller.close();
      },
    });
    const pending = t.host.app.request('http://localhost/v1/import/sessions', {
      method: 'POST',
      body: stream,
      duplex: 'half',
      headers: { authorization: `Bearer ${t.keys.operator}`, 'content-type': 'text/csv' },
    });
    let running: Body;
    await waitUntil(
      () => {
        void t
          .request('/v1/import/sessions?limit=1', { key: t.keys.viewer })
          .then((response) => response.json())
          .then((list) => {
            running = (list as Body).data[0];
          });
        return running?.status === 'running';
      },
      5_000,
      'the import to be listed as running',
    );
    const during = await t.request(`/v1/import/sessions/${running.importId}`, { key: t.keys.viewer });
    expect(await during.json()).toMatchObject({
      importId: running.importId,
      status: 'running',
      finishedAt: null,
    });
    finish();
    const done = (await (await pending).json()) as Body;
    expect(done).toMatchObject({ importId: running.importId, status: 'completed', imported: 2 });
  });
});

describe('GET /v1/import/sessions/{importId}', () => {
  it('shows an import’s status and report to its tenant only', async () => {
    const { body: report } = await upload(csv([row({ id: 'get-1' }), row({ id: 'get-2', minutes: 'x' })]));
    const response = await t.request(`/v1/import/sessions/${report.importId}`, { key: t.keys.viewer });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual(report);

    const list = await t.request('/v1/import/sessions?limit=5', { key: t.keys.viewer });
    const listed = (await list.json()) as Body;
    expect(listed.data[0]).toMatchObject({
      importId: report.importId,
      status: 'completed',
      rows: 2,
      errorCount: 1,
    });

    const foreign = await t.request(`/v1/import/sessions/${report.importId}`, { key: t.keys.otherTenant });
    expect(foreign.status).toBe(404);
    const text = await foreign.text();
    expect(text).not.toContain('get-2');
    const theirs = (await (
      await t.request('/v1/import/sessions', { key: t.keys.otherTenant })
    ).json()) as Body;
    expect(theirs.data.map((entry: Body) => entry.importId)).not.toContain(report.importId);
    expect((await t.request('/v1/import/sessions/not-a-uuid')).status).toBe(404);
    expect((await t.request('/v1/import/sessions/00000000-0000-4000-8000-000000000000')).status).toBe(404);
  });

  it('keeps tenants’ rows apart: the same session id in two tenants is two rows', async () => {
    const file = csv([row({ id: 'apart-1' })]);
    expect((await upload(file)).body.imported).toBe(1);
    const other = await upload(file, { key: t.keys.otherTenant });
    expect(other.body.imported).toBe(1);
    expect(await storedRows('apart-', t.tenantA)).toHaveLength(1);
    expect(await storedRows('apart-', t.tenantB)).toHaveLength(1);
  });
});

describe('identity: /v1/identity/users', () => {
  const putUsers = (users: unknown, key = t.keys.operator) =>
    t.request('/v1/identity/users', { method: 'PUT', key, body: JSON.stringify({ users }) });

  it('resolves people by external id, then email; the rest are unmatched', async () => {
    const put = await putUsers([
      { userId: 'emp-ext', email: 'someone.else@acme.example', externalIds: { kintell: 'K-77' } },
      { userId: 'emp-mail', email: 'Ana.Lopez@ACME.example' },
      { userId: 'learner-1', email: 'p-id-1@example.com' },
      { userId: 'learner-2', email: 'p-id-2@example.com' },
    ]);
    expect(put.status).toBe(200);
    expect(await put.json()).toEqual({ data: { received: 4, created: 4, updated: 0 } });

    const { body } = await upload(
      csv([
        row({ id: 'id-1', volunteerId: 'K-77', volunteerEmail: 'nobody@acme.example' }),
        row({ id: 'id-2', volunteerEmail: '  ana.lopez@acme.EXAMPLE ' }),
        row({ id: 'id-3', volunteerEmail: 'stranger@acme.example' }),
      ]),
    );
    expect(body).toMatchObject({ imported: 3, unmatched: 1 });
    const [one, two, three] = await storedRows('id-');
    expect(one!.data).toMatchObject({
      volunteer: { userId: 'emp-ext', matchedBy: 'external_id' },
      unmatched: false,
    });
    // The record keeps its event's id; the event (credited to data.volunteer.userId) is rebuilt
    // from the upload when it is delivered.
    expect(one!.event_id).toBe('kintell-session-id-1');
    expect(two!.data).toMatchObject({ volunteer: { userId: 'emp-mail', matchedBy: 'email' } });
    expect(three!.data).toMatchObject({
      volunteer: { userId: null, matchedBy: 'unmatched' },
      unmatched: true,
    });
    expect(three!.event_id).toBeNull();

    const listed = (await (
      await t.request('/v1/identity/users?limit=2', { key: t.keys.viewer })
    ).json()) as Body;
    expect(listed.pagination).toMatchObject({ total: 4, limit: 2, hasNext: true });
    expect(listed.data[0]).toMatchObject({
      userId: 'emp-ext',
      email: 'someone.else@acme.example',
      externalIds: { kintell: 'K-77' },
    });
    // Another tenant has none of them, and cannot be matched against them.
    const theirs = (await (
      await t.request('/v1/identity/users', { key: t.keys.otherTenant })
    ).json()) as Body;
    expect(theirs.data).toEqual([]);
    const foreign = await upload(csv([row({ id: 'id-foreign', volunteerId: 'K-77' })]), {
      key: t.keys.otherTenant,
    });
    expect(foreign.body.unmatched).toBe(1);
  });

  it('updates users, moves external ids, and refuses conflicts without writing', async () => {
    await putUsers([{ userId: 'upd-1', email: 'upd-1@acme.example', externalIds: { kintell: 'K-U1' } }]);
    const moved = await putUsers([{ userId: 'upd-1', externalIds: { kintell: 'K-U1b' } }]);
    expect(await moved.json()).toEqual({ data: { received: 1, created: 0, updated: 1 } });
    const links = await t.db
      .selectFrom('identity_links')
      .selectAll()
      .where('user_id', '=', 'upd-1')
      .execute();
    expect(links.map((link) => link.external_id)).toEqual(['K-U1b']);
    const kept = await t.db
      .selectFrom('platform_users')
      .selectAll()
      .where('user_id', '=', 'upd-1')
      .executeTakeFirst();
    expect(kept?.email).toBe('upd-1@acme.example');

    const taken = await putUsers([{ userId: 'upd-2', email: 'UPD-1@acme.example' }]);
    expect(taken.status).toBe(409);
    expect(((await taken.json()) as Body).error.details[0].field).toBe('users[0].email');
    const repeated = await putUsers([
      { userId: 'upd-3', externalIds: { kintell: 'K-X' } },
      { userId: 'upd-4', externalIds: { kintell: 'K-X' } },
    ]);
    expect(repeated.status).toBe(409);
    expect(
      await t.db
        .selectFrom('platform_users')
        .selectAll()
        .where('user_id', 'in', ['upd-2', 'upd-3', 'upd-4'])
        .execute(),
    ).toEqual([]);

    const invalid = await putUsers([{ userId: 'bad\u0000id', email: 'not-an-email' }]);
    expect(invalid.status).toBe(400);
    expect((await putUsers([{ userId: 'upd-5' }], t.keys.viewer)).status).toBe(403);
    expect((await putUsers([])).status).toBe(400);
  });
});

describe('deliver=true', () => {
  it('submits completed sessions to the tenant’s delivery targets once, even after a re-import', async () => {
    await t.request('/v1/identity/users', {
      method: 'PUT',
      body: JSON.stringify({
        users: [
          { userId: 'emp-d1', externalIds: { kintell: 'K-D1' } },
          { userId: 'emp-d2', externalIds: { kintell: 'K-D2' } },
        ],
      }),
    });
    const file = csv([
      row({ id: 'deliver-1', volunteerId: 'K-D1' }),
      row({ id: 'deliver-2', volunteerId: 'K-D2', minutes: 90 }),
      row({ id: 'deliver-3', volunteerId: 'K-D1', status: 'scheduled' }),
      row({ id: 'deliver-4', volunteerEmail: 'unknown@acme.example' }),
    ]);
    const dry = await upload(file, { query: '?deliver=true&dryRun=true' });
    expect(dry.body.deliveries).toBeNull();
    const first = await upload(file, { query: '?deliver=true' });
    expect(first.status).toBe(200);
    expect(first.body.deliveries).toEqual({ targets: ['acme'], submitted: 2, created: 2, failed: 0 });
    const again = await upload(file, { query: '?deliver=true' });
    expect(again.body.deliveries).toEqual({ targets: ['acme'], submitted: 2, created: 0, failed: 0 });

    const deliveries = await t.db
      .selectFrom('impact_deliveries')
      .select(['event_id', 'provider', 'event'])
      .where('company_id', '=', t.tenantA)
      .where('event_id', 'like', 'kintell-session-deliver-%')
      .orderBy('event_id')
      .execute();
    expect(deliveries.map((delivery) => delivery.event_id)).toEqual([
      'kintell-session-deliver-1',
      'kintell-session-deliver-2',
    ]);
    expect(deliveries[1]!.event).toMatchObject({ userId: 'emp-d2', value: 1.5, unit: 'hours' });
    await waitUntil(
      () =>
        t.provider
          .callsTo('/events')
          .filter((call) => call.json<{ id: string }>().id.startsWith('kintell-session-deliver-')).length ===
        2,
      5_000,
      'both sessions to be delivered',
    );
  });
});

describe('per-tenant configuration', () => {
  it('applies the tenant’s campaign rules and refuses tenants that disabled the integration (409)', async () => {
    const configure = async (name: string, config: unknown) => {
      const tenant = await createTenant(t.db, name);
      const admin = (await createApiKey(t.db, tenant, 'admin')).key;
      const response = await t.request(`/v1/tenants/${tenant}/integrations/kintell/config`, {
        method: 'PUT',
        key: admin,
        body: JSON.stringify({ enabled: true, config }),
      });
      expect(response.status, await response.clone().text()).toBe(200);
      return { tenant, admin };
    };
    const d = await configure('Tenant D', {
      campaigns: [{ campaignId: 'camp-d', program: 'language_connect' }],
    });
    const e = await configure('Tenant E', { campaigns: [{ campaignId: 'camp-e', companyRef: 'acme' }] });
    const file = csv([row({ id: 'camp-1' }), row({ id: 'camp-2', program: 'mentorship' })]);
    expect((await upload(file, { key: d.admin })).status).toBe(200);
    expect((await upload(file, { key: e.admin })).status).toBe(200);
    expect((await storedRows('camp-', d.tenant)).map((record) => record.campaign_id)).toEqual([
      'camp-d',
      null,
    ]);
    expect((await storedRows('camp-', e.tenant)).map((record) => record.campaign_id)).toEqual([
      'camp-e',
      'camp-e',
    ]);

    const disabled = await t.request(`/v1/tenants/${e.tenant}/integrations/kintell/disable`, {
      method: 'POST',
      key: e.admin,
    });
    expect(disabled.status).toBe(200);
    const refused = await upload(file, { key: e.admin });
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('integration_disabled');
    // Tenant A has no config of its own: the host's environment config (and its rule) applies.
    expect((await upload(csv([row({ id: 'camp-env-1', program: 'mentorship' })]))).status).toBe(200);
    expect((await storedRows('camp-env-1'))[0]!.campaign_id).toBe('camp-env');
  });
});

describe('Kintell session webhooks', () => {
  const session = (id: string, type: 'session.scheduled' | 'session.completed') =>
    JSON.stringify({
      id,
      type,
      created_at: '2025-03-01T11:05:00Z',
      data: {
        session_id: `wh-${id}`,
        program: 'language_connect',
        scheduled_at: '2025-03-01T10:00:00Z',
        ...(type === 'session.completed'
          ? { completed_at: '2025-03-01T11:00:00Z', duration_minutes: 60 }
          : {}),
        participant_email: 'p@example.com',
        volunteer_email: 'V@acme.example',
      },
    });
  /** The bus message of a webhook event, once published. */
  const publishedWith = async (sourceId: string) => {
    const find = () => published.find((message) => (message.data as Body).sourceId === sourceId);
    await waitUntil(() => find() !== undefined, 2_000, `webhook ${sourceId} to be published`);
    return find()!;
  };
  const post = (
    path: string,
    body: string,
    { tenant = t.tenantA as string | null, secret = WEBHOOK_SECRET, at = Math.floor(Date.now() / 1000) } = {},
  ) =>
    t.request(`${path}${tenant === null ? '' : `?tenant=${tenant}`}`, {
      method: 'POST',
      key: null,
      body,
      headers: { 'x-kintell-signature': signKintellWebhook(secret, body, at) },
    });

  it('resolves the people of a webhook through the tenant’s directory, as an import does', async () => {
    const loaded = await t.request('/v1/identity/users', {
      method: 'PUT',
      key: t.keys.operator,
      body: JSON.stringify({
        users: [
          { userId: 'emp-webhook', email: 'mentor.hook@acme.example', externalIds: { kintell: 'K-HOOK' } },
          { userId: 'learner-webhook', email: 'learner.hook@example.com' },
        ],
      }),
    });
    expect(loaded.status).toBe(200);
    const body = JSON.stringify({
      id: 'evt_wh_dir',
      type: 'session.completed',
      created_at: '2025-03-01T11:05:00Z',
      data: {
        session_id: 'wh-dir',
        program: 'language_connect',
        scheduled_at: '2025-03-01T10:00:00Z',
        completed_at: '2025-03-01T11:00:00Z',
        duration_minutes: 90,
        participant_email: ' Learner.Hook@EXAMPLE.com',
        volunteer_email: 'old.address@acme.example',
        volunteer_id: 'K-HOOK',
      },
    });
    expect((await post('/v1/webhooks/session-completed', body)).status).toBe(200);
    const message = await publishedWith('evt_wh_dir');
    expect(message.data).toMatchObject({
      data: {
        volunteer: { userId: 'emp-webhook', matchedBy: 'external_id' },
        participant: { userId: 'learner-webhook', matchedBy: 'email' },
        unmatched: false,
      },
      event: {
        eventId: 'kintell-session-wh-dir',
        userId: 'emp-webhook',
        value: 1.5,
        metadata: { participantUserId: 'learner-webhook' },
      },
    });
    // A tenant that never loaded users does not see this tenant's directory: without one of its
    // own, the volunteer's email is the user id, as before directories existed.
    const fresh = await createTenant(t.db, 'No directory yet');
    const other = JSON.stringify({ ...JSON.parse(body), id: 'evt_wh_dir_b' });
    expect((await post('/v1/webhooks/session-completed', other, { tenant: fresh })).status).toBe(200);
    const b = await publishedWith('evt_wh_dir_b');
    expect(b.data).toMatchObject({
      companyId: fresh,
      data: {
        volunteer: { userId: 'old.address@acme.example', matchedBy: 'fallback_email' },
        participant: { userId: 'learner.hook@example.com', matchedBy: 'fallback_email' },
      },
      event: { userId: 'old.address@acme.example' },
    });
  });

  it('accepts a signed webhook, stores it, publishes it on its subject, and refuses a replay (409)', async () => {
    const body = session('evt_wh_1', 'session.completed');
    const response = await post('/v1/webhooks/session-completed', body);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ received: 1, duplicates: 0 });
    const message = await publishedWith('evt_wh_1');
    expect(message.subject).toBe('kintell.session.completed');
    // Nobody in the tenant's directory has these emails: stored unmatched, with no event.
    expect(message.data).toMatchObject({
      companyId: t.tenantA,
      kind: 'session.completed',
      data: { volunteer: { userId: null, matchedBy: 'unmatched' }, unmatched: true },
    });
    expect((message.data as Body).event).toBeUndefined();

    const replay = await post('/v1/webhooks/session-completed', body);
    expect(replay.status).toBe(409);
    expect(((await replay.json()) as Body).error.code).toBe('replayed_event');
    expect(published.filter((candidate) => (candidate.data as Body).sourceId === 'evt_wh_1')).toHaveLength(1);
    const stored = await t.db
      .selectFrom('inbound_records')
      .selectAll()
      .where('source_id', '=', 'evt_wh_1')
      .execute();
    expect(stored).toHaveLength(1);

    const scheduled = await post('/v1/webhooks/session-scheduled', session('evt_wh_2', 'session.scheduled'));
    expect(scheduled.status).toBe(200);
    await waitUntil(
      () => published.some((candidate) => candidate.subject === 'kintell.session.scheduled'),
      2_000,
      'the scheduled webhook to be published',
    );
  });

  it('refuses bad and stale signatures (401), unknown tenants (404) and a type posted to the wrong path', async () => {
    const body = session('evt_wh_bad', 'session.completed');
    const wrong = await post('/v1/webhooks/session-completed', body, { secret: 'whsec-someone-else-000000' });
    expect(wrong.status).toBe(401);
    expect(((await wrong.json()) as Body).error.code).toBe('invalid_signature');
    const stale = await post('/v1/webhooks/session-completed', body, {
      at: Math.floor(Date.now() / 1000) - 3_600,
    });
    expect(stale.status).toBe(401);
    const unsigned = await t.request(`/v1/webhooks/session-completed?tenant=${t.tenantA}`, {
      method: 'POST',
      key: null,
      body,
    });
    expect(unsigned.status).toBe(401);
    expect(
      (await post('/v1/webhooks/session-completed', body, { tenant: '00000000-0000-4000-8000-000000000000' }))
        .status,
    ).toBe(404);
    expect((await post('/v1/webhooks/session-completed', body, { tenant: 'nope' })).status).toBe(404);
    expect((await post('/v1/webhooks/session-completed', body, { tenant: null })).status).toBe(400);
    const huge = await post(
      '/v1/webhooks/session-completed',
      body.replace('"p@example.com"', `"${'p'.repeat(70_000)}@example.com"`),
    );
    expect(huge.status).toBe(413);
    const mismatch = await post('/v1/webhooks/session-scheduled', body);
    expect(mismatch.status).toBe(400);
    expect(
      await t.db.selectFrom('inbound_records').selectAll().where('source_id', '=', 'evt_wh_bad').execute(),
    ).toEqual([]);
  });
});

describe('LocalBlobStore', () => {
  it('streams blobs in and out and refuses keys that could leave its folder', async () => {
    const store = new LocalBlobStore(join(blobDir, 'unit'));
    async function* parts() {
      yield new TextEncoder().encode('a,b\n');
      yield new TextEncoder().encode('1,2\n');
    }
    expect(await store.put('t1/imports/x.csv', parts())).toEqual({ key: 't1/imports/x.csv', size: 8 });
    const chunks: Uint8Array[] = [];
    for await (const chunk of (await store.get('t1/imports/x.csv'))!) chunks.push(chunk);
    expect(Buffer.concat(chunks).toString()).toBe('a,b\n1,2\n');
    expect(await store.get('t1/imports/none.csv')).toBeUndefined();
    for (const key of ['../x', 't1/../../x', '/etc/passwd', 't1//x', '.tmp/x', 't1\\..\\x', '']) {
      await expect(store.put(key, new Uint8Array([1])), key).rejects.toThrow(/invalid blob key/);
    }
    async function* failing() {
      yield new Uint8Array([1, 2, 3]);
      throw new Error('upload broke');
    }
    await expect(store.put('t1/imports/broken.csv', failing())).rejects.toThrow('upload broke');
    expect(await store.get('t1/imports/broken.csv')).toBeUndefined();
    expect(await readdir(join(blobDir, 'unit', '.tmp'))).toEqual([]);
    await store.delete('t1/imports/x.csv');
    expect(await store.get('t1/imports/x.csv')).toBeUndefined();
  });
});

describe('the import tables', () => {
  it('keep one row per (tenant, provider, kind, session)', async () => {
    const duplicates = await sql<{ n: number }>`
      select count(*)::int as n from (
        select 1 from imported_records group by company_id, provider, kind, source_id having count(*) > 1) d`.execute(
      t.db,
    );
    expect(duplicates.rows[0]!.n).toBe(0);
  });
});
