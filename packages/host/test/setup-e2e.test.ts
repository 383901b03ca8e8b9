import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { type ProviderServer, startProviderServer, waitUntil } from '@impact-in/testing';
import { createGooderaSimulator, GOODERA_TEST_CREDENTIALS } from '@impact-in/testing/providers/goodera';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const ADMIN_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const name = `impact_setup_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
const databaseUrl = (() => {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
})();
const env = { DATABASE_URL: databaseUrl, IMPACT_IN_MASTER_KEY: randomBytes(32).toString('base64') };

const simulator = createGooderaSimulator();
let provider: ProviderServer;
let serve: ChildProcess | undefined;
let base = '';

function cli(args: string[]) {
  const result = spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`impact-in ${args.join(' ')}: ${result.stderr}`);
  return result.stdout.trim();
}

// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field
type Body = any;

async function api(
  path: string,
  key: string,
  init: { method?: string; body?: unknown } = {},
): Promise<{ status: number; body: Body }> {
  const response = await fetch(`${base}${path}`, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  return { status: response.status, body: await response.json() };
}

beforeAll(async () => {
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  provider = await startProviderServer(simulator.handlers);
});

afterAll(async () => {
  if (serve && serve.exitCode === null) {
    const exited = new Promise((resolve) => serve!.once('exit', resolve));
    serve.kill('SIGTERM');
    await exited;
  }
  await provider?.close();
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`drop database if exists ${name} with (force)`);
  await admin.end();
});

describe('a tenant set up end to end through the API alone (serve on real PostgreSQL)', () => {
  it('bootstrap key → operator key → configure and enable Goodera → health → deliver → audit', async () => {
    cli(['migrate']);
    const tenant = cli(['tenants', 'create', '--name', 'Acme Corp']);
    const adminKey = cli(['keys', 'create', '--tenant', tenant, '--role', 'admin', '--name', 'bootstrap']);

    serve = spawn(process.execPath, ['--import', 'tsx', CLI, 'serve'], {
      cwd: ROOT,
      env: { ...process.env, ...env, PORT: '0', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    serve.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    base = await new Promise<string>((resolve, reject) => {
      let buffer = '';
      serve!.stdout?.on('data', (chunk: Buffer) => {
        buffer += chunk.toString('utf8');
        for (const line of buffer.split('\n')) {
          if (line.includes('"impact-in listening"')) resolve(JSON.parse(line).url);
        }
      });
      serve!.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
    });

    const operator = await api(`/v1/tenants/${tenant}/keys`, adminKey, {
      method: 'POST',
      body: { role: 'operator', name: 'app backend' },
    });
    expect(operator.status).toBe(201);
    const operatorKey: string = operator.body.data.key;

    const before = await api(`/v1/tenants/${tenant}/integrations`, operatorKey);
    expect(before.body.data.find((row: { provider: string }) => row.provider === 'goodera')).toMatchObject({
      enabled: false,
      configured: false,
    });
    const event = {
      eventId: `evt_setup_${randomUUID()}`,
      userId: 'user_setup',
      eventType: 'volunteer_hours',
      timestamp: '2026-11-20T10:00:00Z',
      value: 3,
      unit: 'hours',
      outcomeScores: { integration: 0.7 },
    };
    const early = await api('/v1/impact-in/deliver', operatorKey, {
      method: 'POST',
      body: { companyId: tenant, provider: 'goodera', event },
    });
    expect(early.status).toBe(409);
    expect(early.body.error.code).toBe('not_configured');

    // Operators cannot configure; the admin can.
    const config = {
      apiUrl: provider.url,
      tokenUrl: `${provider.url}/oauth/token`,
      ...GOODERA_TEST_CREDENTIALS,
    };
    expect(
      (
        await api(`/v1/tenants/${tenant}/integrations/goodera/config`, operatorKey, {
          method: 'PUT',
          body: { config },
        })
      ).status,
    ).toBe(403);
    const configured = await api(`/v1/tenants/${tenant}/integrations/goodera/config`, adminKey, {
      method: 'PUT',
      body: { enabled: true, config },
    });
    expect(configured.status).toBe(200);
    expect(configured.body.data.config.clientSecret).toMatch(/^••••/);

    const health = await api(`/v1/tenants/${tenant}/integrations/goodera/health`, operatorKey);
    expect(health.body.data).toMatchObject({ provider: 'goodera', ok: true });

    const delivered = await api('/v1/impact-in/deliver', operatorKey, {
      method: 'POST',
      body: { companyId: tenant, provider: 'goodera', event },
    });
    expect(delivered.status).toBe(202);
    const id: string = delivered.body.data.id;
    let status = '';
    await waitUntil(
      () => {
        void api(`/v1/impact-in/deliveries/${id}`, operatorKey).then((response) => {
          status = response.body.data.status;
        });
        return status === 'success';
      },
      15_000,
      'the delivery to succeed',
    );
    const accepted = simulator.accepted();
    expect(accepted.map((delivery) => delivery.idempotencyKey)).toEqual([delivered.body.data.deliveryId]);

    const audit = await api(`/v1/tenants/${tenant}/audit`, adminKey);
    expect(audit.status).toBe(200);
    const entries = audit.body.data as Array<{ action: string; actorType: string; ip: string | null }>;
    expect(entries.map((entry) => entry.action)).toEqual([
      'integration.config.update',
      'key.create',
      'key.create',
    ]);
    expect(entries[0]).toMatchObject({ actorType: 'api_key' });
    expect(entries[0]!.ip).toMatch(/127\.0\.0\.1/);
    expect(entries[2]).toMatchObject({ actorType: 'cli', ip: null });
    // The operator key cannot read the audit trail.
    expect((await api(`/v1/tenants/${tenant}/audit`, operatorKey)).status).toBe(403);
  }, 90_000);
});
