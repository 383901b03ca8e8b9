// Imports interrupted by a host that stopped or died: a running import keeps a heartbeat, and one
// whose heartbeat went stale is marked failed with a report that says so.
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kintell } from '@impact-in/connector-kintell';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalBlobStore } from '../src/imports/blob-store.js';
import { failInterruptedImports, runImport } from '../src/imports/import-service.js';
import { startTestHost, type TestHost } from './helpers.js';

let t: TestHost;
let blobDir: string;

beforeAll(async () => {
  blobDir = await mkdtemp(join(tmpdir(), 'impact-in-blobs-interrupted-'));
  t = await startTestHost({ IMPACT_IN_BLOB_DIR: blobDir }, [
    { connector: kintell, config: kintell.config.parse({}) },
  ]);
});
afterAll(async () => {
  await t?.close();
  await rm(blobDir, { recursive: true, force: true });
});

const minutesAgo = (minutes: number, from = new Date()) => new Date(from.getTime() - minutes * 60_000);

async function insertImport(fields: {
  status: 'running' | 'completed';
  heartbeat: Date | null;
  created: Date;
}) {
  const id = randomUUID();
  await t.db
    .insertInto('imports')
    .values({
      id,
      company_id: t.tenantA,
      provider: 'kintell',
      mapping: 'sessions',
      status: fields.status,
      dry_run: false,
      strict: false,
      blob_key: null,
      report: fields.status === 'completed' ? JSON.stringify({ importId: id, status: 'completed' }) : null,
      created_by: null,
      created_at: fields.created,
      finished_at: fields.status === 'completed' ? fields.created : null,
      heartbeat_at: fields.heartbeat,
    })
    .execute();
  return id;
}

const statusOf = async (id: string) =>
  (await (await t.request(`/v1/import/sessions/${id}`, { key: t.keys.viewer })).json()) as {
    status: string;
    failure: { code: string; message: string } | null;
    finishedAt: string | null;
  };

describe('interrupted imports', () => {
  it('marks failed the running imports whose heartbeat went stale, and only those', async () => {
    const now = new Date();
    const dead = await insertImport({
      status: 'running',
      heartbeat: minutesAgo(2, now),
      created: minutesAgo(5, now),
    });
    const alive = await insertImport({
      status: 'running',
      heartbeat: minutesAgo(0.2, now),
      created: minutesAgo(30, now),
    });
    // From before heartbeats existed: judged by its start.
    const legacy = await insertImport({ status: 'running', heartbeat: null, created: minutesAgo(10, now) });
    const done = await insertImport({ status: 'completed', heartbeat: null, created: minutesAgo(10, now) });

    expect(await statusOf(dead)).toMatchObject({ status: 'running', failure: null });
    const failed = await failInterruptedImports(t.db);
    expect(failed.sort()).toEqual([dead, legacy].sort());

    const report = await statusOf(dead);
    expect(report).toMatchObject({
      status: 'failed',
      failure: { code: 'interrupted' },
    });
    // Stamped with the database's clock (the same machine here).
    expect(Math.abs(Date.parse(report.finishedAt!) - Date.now())).toBeLessThan(10_000);
    expect(report.failure!.message).toMatch(/importing the file again completes it/);
    expect((await statusOf(legacy)).failure?.code).toBe('interrupted');
    expect((await statusOf(alive)).status).toBe('running');
    expect((await statusOf(done)).status).toBe('completed');
    // A second sweep (another replica) finds nothing left to mark.
    expect(await failInterruptedImports(t.db)).toEqual([]);
    const listed = (await (await t.request('/v1/import/sessions', { key: t.keys.viewer })).json()) as {
      data: Array<{ importId: string; status: string }>;
    };
    expect(listed.data.find((item) => item.importId === dead)?.status).toBe('failed');
  });

  it('keeps the heartbeat of a running import fresh, and clears it when the import ends', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const source = (async function* () {
      yield new TextEncoder().encode(
        'session_id,program,scheduled_at,status,participant_email,volunteer_email\n',
      );
      await gate;
      yield new TextEncoder().encode(
        'hb-1,mentorship,2025-03-01T10:00:00Z,scheduled,p@example.com,v@acme.example\n',
      );
    })();
    const controller = new AbortController();
    const startedAfter = new Date(Date.now() - 1_000);
    const running = runImport(
      {
        db: t.db,
        blobs: new LocalBlobStore(blobDir),
        dispatcher: t.host.dispatcher,
        http: undefined as never,
        tokens: undefined as never,
        logger: pino({ level: 'silent' }),
        deliveryTargets: async () => [],
        heartbeatMs: 20,
      },
      {
        companyId: t.tenantA,
        createdBy: undefined,
        connector: kintell,
        config: kintell.config.parse({}),
        mapping: 'sessions',
        dryRun: false,
        strict: false,
        deliver: false,
        source,
        sourceError: () => undefined,
        discardSource: () => undefined,
        filename: 'heartbeat.csv',
        signal: controller.signal,
      },
    );
    const row = () =>
      t.db
        .selectFrom('imports')
        .select(['id', 'status', 'heartbeat_at'])
        .where('company_id', '=', t.tenantA)
        .where('status', '=', 'running')
        .where('created_at', '>=', startedAfter)
        .executeTakeFirst();
    let first: Date | undefined;
    for (let attempt = 0; attempt < 100 && !first; attempt++) {
      first = (await row())?.heartbeat_at ?? undefined;
      if (!first) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(first).toBeInstanceOf(Date);
    const id = (await row())!.id;
    let later: Date | undefined;
    for (let attempt = 0; attempt < 100; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      later = (await row())?.heartbeat_at ?? undefined;
      if (later && later.getTime() > first!.getTime()) break;
    }
    expect(later!.getTime()).toBeGreaterThan(first!.getTime());
    // A sweep does not touch an import that is alive.
    expect(await failInterruptedImports(t.db, { staleAfterMs: 1_000 })).not.toContain(id);

    release();
    const { status, report } = await running;
    expect(status).toBe(200);
    expect(report).toMatchObject({ importId: id, status: 'completed', imported: 1 });
    const finished = await t.db
      .selectFrom('imports')
      .select(['status', 'heartbeat_at'])
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    expect(finished).toEqual({ status: 'completed', heartbeat_at: null });
  });

  it('removes the partial uploads an interrupted import left behind, not live ones', async () => {
    const root = await mkdtemp(join(tmpdir(), 'impact-in-blobs-parts-'));
    try {
      const store = new LocalBlobStore(root);
      expect(await store.removeStaleParts(60_000)).toBe(0); // no .tmp folder yet
      await mkdir(join(root, '.tmp'));
      const dead = join(root, '.tmp', 'dead.part');
      await writeFile(dead, 'session_id,program\nks-1,');
      const old = new Date(Date.now() - 20 * 60_000);
      await utimes(dead, old, old);
      await writeFile(join(root, '.tmp', 'live.part'), 'session_id,program\n');
      await writeFile(join(root, '.tmp', 'not-an-upload.txt'), 'x');
      await utimes(join(root, '.tmp', 'not-an-upload.txt'), old, old);
      expect(await store.removeStaleParts(10 * 60_000)).toBe(1);
      expect((await readdir(join(root, '.tmp'))).sort()).toEqual(['live.part', 'not-an-upload.txt']);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
