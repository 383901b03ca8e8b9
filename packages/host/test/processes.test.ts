import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { waitUntil } from '@impact-in/testing';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const PLUGIN = fileURLToPath(new URL('./fixtures/acme-plugin.mjs', import.meta.url));
const ADMIN_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

interface Received {
  eventId: string;
  key: string;
  worker: string;
  start: number;
  end: number;
}

/** A provider that takes its time, so there is work in flight when a process dies. */
async function startSlowProvider(delayMs: number) {
  const received: Received[] = [];
  /** Requests read in full, answered or not yet. */
  const started = { count: 0 };
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      started.count++;
      const start = Date.now();
      setTimeout(() => {
        received.push({
          eventId: JSON.parse(Buffer.concat(chunks).toString('utf8')).id,
          key: String(request.headers['x-idempotency-key']),
          worker: String(request.headers['x-worker']),
          start,
          end: Date.now(),
        });
        if (!response.destroyed)
          response.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      }, delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    started,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const drops: Array<() => Promise<void>> = [];
/** A database of its own per test (Kysely's migrator looks for its tables in every schema). */
async function freshDatabase(): Promise<string> {
  const { url, drop } = await createTestDatabase(ADMIN_URL, 'impact_proc');
  drops.push(drop);
  return url;
}

function cli(args: string[], env: Record<string, string>) {
  const result = spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const children = new Set<ChildProcess>();

async function startServe(env: Record<string, string>): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'serve'], {
    cwd: ROOT,
    env: { ...process.env, PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const url = await new Promise<string>((resolve, reject) => {
    let buffer = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      for (const line of buffer.split('\n')) {
        if (line.includes('"impact-in listening"')) resolve(JSON.parse(line).url);
      }
    });
    child.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
    setTimeout(() => reject(new Error(`serve did not start: ${stderr}`)), 30_000);
  });
  child.stdout?.resume();
  return { url, child };
}

async function submitAll(url: string | string[], key: string, tenant: string, count: number) {
  const urls = Array.isArray(url) ? url : [url];
  const deliveryIds = new Map<string, string>();
  let next = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < count) {
        const index = next++;
        const eventId = `evt_proc_${index}`;
        const response = await fetch(`${urls[index % urls.length]}/v1/impact-in/deliver`, {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          body: JSON.stringify({
            companyId: tenant,
            provider: 'acme',
            event: {
              eventId,
              userId: `user_${index}`,
              eventType: 'volunteer_hours',
              timestamp: '2025-11-14T10:00:00Z',
              value: 1,
              unit: 'hours',
            },
          }),
        });
        const body = (await response.json()) as { data: { deliveryId: string } };
        if (response.status !== 202)
          throw new Error(`submit ${eventId}: ${response.status} ${JSON.stringify(body)}`);
        deliveryIds.set(eventId, body.data.deliveryId);
      }
    }),
  );
  return deliveryIds;
}

async function setUpTenant(env: Record<string, string>) {
  const migrate = cli(['migrate'], env);
  expect(migrate.status, migrate.stderr).toBe(0);
  const tenant = cli(['tenants', 'create', '--name', 'Process test'], env);
  expect(tenant.status, tenant.stderr).toBe(0);
  expect(tenant.stdout).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\n$/);
  const key = cli(['keys', 'create', '--tenant', tenant.stdout.trim(), '--role', 'operator'], env);
  expect(key.status, key.stderr).toBe(0);
  expect(key.stdout).toMatch(/^iik_[A-Za-z0-9_-]+\n$/);
  return { tenant: tenant.stdout.trim(), key: key.stdout.trim() };
}

let provider: Awaited<ReturnType<typeof startSlowProvider>>;
beforeAll(async () => {
  provider = await startSlowProvider(25);
});
afterEach(() => {
  for (const child of children) child.kill('SIGKILL');
  provider.received.length = 0;
});
afterAll(async () => {
  await provider.close();
  for (const drop of drops) await drop();
});

const baseEnv = () => ({
  ACME_URL: provider.url,
  IMPACT_IN_PLUGINS: PLUGIN,
  IMPACT_IN_LEASE_MS: '3000',
  IMPACT_IN_POLL_INTERVAL_MS: '50',
  IMPACT_IN_WORKER_CONCURRENCY: '16',
});

describe('impact-in CLI and serve processes on PostgreSQL', { timeout: 120_000 }, () => {
  it('refuses to serve an unmigrated database and says how to fix it; rejects bad config naming the variable', async () => {
    const env = { ...baseEnv(), DATABASE_URL: await freshDatabase(), PORT: '0' };
    const result = spawnSync(process.execPath, ['--import', 'tsx', CLI, 'serve'], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('impact-in migrate');
    const bad = cli(['serve'], { ...env, PORT: 'eighty' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('PORT');
    const badRole = cli(['keys', 'create', '--tenant', randomUUID(), '--role', 'root'], env);
    expect(badRole.status).toBe(2);
    expect(badRole.stderr).toContain('--role');
  });

  it('loses nothing when serve is SIGKILLed mid-delivery: after a restart every event arrives with its original deliveryId', async () => {
    const env = { ...baseEnv(), DATABASE_URL: await freshDatabase() };
    const { tenant, key } = await setUpTenant(env);
    const first = await startServe(env);
    const deliveryIds = await submitAll(first.url, key, tenant, 2_000);
    expect(deliveryIds.size).toBe(2_000);
    await waitUntil(() => provider.received.length >= 300, 30_000, 'some deliveries before the crash');
    expect(provider.received.length).toBeLessThan(2_000);
    first.child.kill('SIGKILL');
    await new Promise((resolve) => first.child.once('exit', resolve));
    const atCrash = provider.received.length;

    await startServe(env);
    const seen = () => new Set(provider.received.map((entry) => entry.eventId)).size;
    await waitUntil(() => seen() === 2_000, 60_000, 'all 2000 events at the provider');
    expect(provider.received.length).toBeGreaterThan(atCrash);
    for (const entry of provider.received) {
      expect(entry.key, entry.eventId).toBe(deliveryIds.get(entry.eventId));
    }
    // Only what was in flight at the crash may arrive twice (with the same key).
    expect(provider.received.length - 2_000).toBeLessThanOrEqual(16);
  });

  it('on SIGTERM, gives in-flight attempts IMPACT_IN_SHUTDOWN_TIMEOUT_MS, then leaves the rest due again, never failed', async () => {
    const stuck = await startSlowProvider(60_000);
    const env = { ...baseEnv(), DATABASE_URL: await freshDatabase() };
    try {
      const { tenant, key } = await setUpTenant(env);
      const first = await startServe({ ...env, ACME_URL: stuck.url, IMPACT_IN_SHUTDOWN_TIMEOUT_MS: '300' });
      const deliveryIds = await submitAll(first.url, key, tenant, 16);
      await waitUntil(() => stuck.started.count === 16, 30_000, 'all 16 attempts under way');
      const stoppedAt = Date.now();
      first.child.kill('SIGTERM');
      const code = await new Promise((resolve) => first.child.once('exit', resolve));
      expect(code).toBe(0);
      // It waited for the attempts (300 ms), not for the provider (60 s).
      expect(Date.now() - stoppedAt).toBeLessThan(15_000);

      const pool = new pg.Pool({ connectionString: env.DATABASE_URL, max: 1 });
      try {
        const { rows } = await pool.query<{ status: string; attempt_count: number; last_error: string }>(
          'select status, attempt_count, last_error from impact_deliveries',
        );
        expect(rows).toHaveLength(16);
        for (const row of rows) {
          expect(row.status).toBe('retrying');
          expect(row.attempt_count).toBe(1);
          expect(row.last_error).toContain('interrupted: the dispatcher stopped during this attempt');
        }
      } finally {
        await pool.end();
      }

      // The next process (here, the same host started again) delivers them, with their keys.
      await startServe(env);
      await waitUntil(() => provider.received.length === 16, 30_000, 'the 16 deliveries');
      for (const entry of provider.received) expect(entry.key).toBe(deliveryIds.get(entry.eventId));
    } finally {
      await stuck.close();
    }
  });

  it('shares the work between two serve processes on one database: each event is delivered once', async () => {
    const env = { ...baseEnv(), DATABASE_URL: await freshDatabase() };
    const { tenant, key } = await setUpTenant(env);
    const [a, b] = await Promise.all([startServe(env), startServe(env)]);
    const deliveryIds = await submitAll([a.url, b.url], key, tenant, 2_000);
    await waitUntil(
      () => new Set(provider.received.map((entry) => entry.eventId)).size === 2_000,
      60_000,
      'all events',
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(provider.received).toHaveLength(2_000);
    for (const entry of provider.received) expect(entry.key).toBe(deliveryIds.get(entry.eventId));
    const workers = new Map<string, number>();
    for (const entry of provider.received) workers.set(entry.worker, (workers.get(entry.worker) ?? 0) + 1);
    expect(workers.size).toBe(2);
    for (const count of workers.values()) expect(count).toBeGreaterThan(200);
  });
});
