import { spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { goodera } from '@impact-in/connector-goodera';
import { type ProviderServer, startProviderServer } from '@impact-in/testing';
import { createGooderaSimulator } from '@impact-in/testing/providers/goodera';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadHostEnv } from '../src/config.js';
import { createHost, type Host } from '../src/host.js';
import { rotateSecrets, TenantIntegrations } from '../src/integrations.js';
import { keyFilePath, keyIdOf, keyRingBox, loadKeyRing } from '../src/keyring.js';
import { migrateToLatest, openDatabase } from '../src/postgres/index.js';
import { createApiKey, createTenant } from '../src/tenants.js';
import { dropTestDatabase, event } from './helpers.js';

const ADMIN_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const name = `impact_sec_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
const databaseUrl = (() => {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
})();

const OLD_KEY = randomBytes(32).toString('base64');
const NEW_KEY = randomBytes(32).toString('hex');
const CLIENT_A = {
  clientId: 'gd_client_tenant_a',
  clientSecret: `gd_secret_A_${randomBytes(12).toString('hex')}`,
};
const CLIENT_B = {
  clientId: 'gd_client_tenant_b',
  clientSecret: `gd_secret_B_${randomBytes(12).toString('hex')}`,
};

/** Everything the host logs, as text, at the most talkative level. */
const logged: string[] = [];
const capture = new Writable({
  write(chunk, _encoding, done) {
    logged.push(String(chunk));
    done();
  },
});

const simulator = createGooderaSimulator({ clients: [CLIENT_A, CLIENT_B] });
let provider: ProviderServer;
let host: Host;
let tenantA: string;
let tenantB: string;
let adminA: string;
let adminB: string;
const responses: string[] = [];

async function call(path: string, key: string, init: { method?: string; body?: unknown } = {}) {
  const response = await host.app.request(`http://localhost${path}`, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  const text = await response.text();
  responses.push(text);
  // biome-ignore lint/suspicious/noExplicitAny: checked field by field
  return { status: response.status, body: JSON.parse(text) as any };
}

function startHost(env: Record<string, string>) {
  return createHost({
    env: loadHostEnv({ DATABASE_URL: databaseUrl, LOG_LEVEL: 'trace', ...env }),
    connectors: [{ connector: goodera }],
    logger: pino({ level: 'trace' }, capture),
    pollIntervalMs: 10,
  });
}

beforeAll(async () => {
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const db = await openDatabase({ url: databaseUrl });
  await migrateToLatest(db);
  tenantA = await createTenant(db, 'Secret A');
  tenantB = await createTenant(db, 'Secret B');
  adminA = (await createApiKey(db, tenantA, 'admin')).key;
  adminB = (await createApiKey(db, tenantB, 'admin')).key;
  await db.destroy();
  provider = await startProviderServer(simulator.handlers);
  host = await startHost({ IMPACT_IN_MASTER_KEY: OLD_KEY });
  await host.start();
});

afterAll(async () => {
  await host?.close();
  await provider?.close();
  await dropTestDatabase(ADMIN_URL, name);
});

const gooderaConfig = (client: { clientId: string; clientSecret: string }) => ({
  apiUrl: provider.url,
  tokenUrl: `${provider.url}/oauth/token`,
  ...client,
});

/** The decrypted access tokens in the token store. */
async function storedAccessTokens(keys: string): Promise<string[]> {
  const box = keyRingBox(
    loadKeyRing(
      loadHostEnv({
        IMPACT_IN_MASTER_KEY: keys.split(',')[0]!,
        IMPACT_IN_PREVIOUS_MASTER_KEYS: keys.split(',').slice(1).join(','),
      }),
    ),
  );
  return (await host.db.selectFrom('impact_provider_tokens').selectAll().execute()).map(
    (row) =>
      (JSON.parse(box.decrypt(row.key.split(':')[0]!, row.token)) as { accessToken: string }).accessToken,
  );
}

describe('secrets at rest (real PostgreSQL)', () => {
  it('never stores, logs or returns a secret in plaintext', async () => {
    for (const [tenant, key, client] of [
      [tenantA, adminA, CLIENT_A],
      [tenantB, adminB, CLIENT_B],
    ] as const) {
      const saved = await call(`/v1/tenants/${tenant}/integrations/goodera/config`, key, {
        method: 'PUT',
        body: { enabled: true, config: gooderaConfig(client) },
      });
      expect(saved.status).toBe(200);
      expect((await call(`/v1/tenants/${tenant}/integrations/goodera/health`, key)).body.data.ok).toBe(true);
      const delivered = await call('/v1/impact-in/deliver', key, {
        method: 'POST',
        body: { companyId: tenant, provider: 'goodera', event: event() },
      });
      expect(delivered.status).toBe(202);
      expect((await host.dispatcher.waitFor(delivered.body.data.id, { timeoutMs: 10_000 })).status).toBe(
        'success',
      );
      await call(`/v1/tenants/${tenant}/integrations/goodera/config`, key);
      await call(`/v1/tenants/${tenant}/audit`, key);
    }
    // Each tenant authenticated with its own client (and so has its own token entry).
    expect(new Set(simulator.tokenLog.map((entry) => entry.clientId))).toEqual(
      new Set([CLIENT_A.clientId, CLIENT_B.clientId]),
    );
    const accessTokens = await storedAccessTokens(OLD_KEY);
    expect(accessTokens).toHaveLength(2);

    const dump = spawnSync('pg_dump', ['--data-only', '--no-owner', databaseUrl], { encoding: 'utf8' });
    expect(dump.status, dump.stderr).toBe(0);
    expect(dump.stdout).toContain('tenant_integrations');
    const secrets = [CLIENT_A.clientSecret, CLIENT_B.clientSecret, ...accessTokens, adminA, adminB, OLD_KEY];
    const logs = logged.join('');
    expect(logs.length).toBeGreaterThan(0);
    for (const secret of secrets) {
      expect(dump.stdout, 'database dump').not.toContain(secret);
      expect(logs, 'logs').not.toContain(secret);
      for (const text of responses) expect(text, 'API response').not.toContain(secret);
    }
    // The config is sealed whole: not even its URLs are readable at rest.
    const configRows = dump.stdout.slice(dump.stdout.indexOf('COPY public.tenant_integrations'));
    expect(configRows.slice(0, configRows.indexOf('\\.'))).not.toContain(provider.url);
  });

  it('rotates to a new master key while everything stays readable, then needs only the new key', async () => {
    await host.close();
    // Step 1 of the procedure: every replica restarts with the new key current, the old previous.
    host = await startHost({ IMPACT_IN_MASTER_KEY: NEW_KEY, IMPACT_IN_PREVIOUS_MASTER_KEYS: OLD_KEY });
    await host.start();
    const ring = keyRingBox(
      loadKeyRing(loadHostEnv({ IMPACT_IN_MASTER_KEY: NEW_KEY, IMPACT_IN_PREVIOUS_MASTER_KEYS: OLD_KEY })),
    );
    const reader = new TenantIntegrations({
      db: host.db,
      box: ring,
      connectors: new Map([['goodera', { connector: goodera }]]),
      cacheTtlMs: 0,
    });
    let batches = 0;
    // Step 2: re-encrypt, one row at a time; between rows, reads and deliveries keep working.
    const result = await rotateSecrets(host.db, ring, {
      batchSize: 1,
      async onBatch() {
        batches++;
        for (const tenant of [tenantA, tenantB]) {
          expect((await reader.resolve(tenant, 'goodera')).config).toMatchObject({ apiUrl: provider.url });
        }
        const delivered = await host.dispatcher.submitAndWait(
          { companyId: tenantA, provider: 'goodera', event: event() },
          { timeoutMs: 10_000 },
        );
        expect(delivered.status).toBe('success');
      },
    });
    expect(result.integrations).toBe(2);
    expect(result.tokens).toBe(2);
    expect(batches).toBeGreaterThanOrEqual(4);
    const newId = keyIdOf(Buffer.from(NEW_KEY, 'hex'));
    const rows = await host.db.selectFrom('tenant_integrations').select('config_sealed').execute();
    for (const row of rows) expect(row.config_sealed).toMatch(new RegExp(`^ib1:${newId}:`));
    for (const row of await host.db.selectFrom('impact_provider_tokens').select('token').execute()) {
      expect(row.token).toMatch(new RegExp(`^ib1:${newId}:`));
    }

    // Step 3: the old key can go.
    await host.close();
    host = await startHost({ IMPACT_IN_MASTER_KEY: NEW_KEY });
    await host.start();
    const read = await call(`/v1/tenants/${tenantB}/integrations/goodera/config`, adminB);
    expect(read.body.data.config.clientSecret).toBe(`••••${CLIENT_B.clientSecret.slice(-4)}`);
    const delivered = await call('/v1/impact-in/deliver', adminB, {
      method: 'POST',
      body: { companyId: tenantB, provider: 'goodera', event: event() },
    });
    expect((await host.dispatcher.waitFor(delivered.body.data.id, { timeoutMs: 10_000 })).status).toBe(
      'success',
    );
  });
});

describe('embedded key file', () => {
  it('is generated with mode 0600, and `keys rotate --prune` re-encrypts under a new one', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'impact-in-keys-'));
    try {
      const env = loadHostEnv({ IMPACT_IN_DATA_DIR: dataDir });
      const warnings: string[] = [];
      const logger = pino(
        { level: 'warn' },
        new Writable({
          write(chunk, _encoding, done) {
            warnings.push(String(chunk));
            done();
          },
        }),
      );
      const ring = loadKeyRing(env, logger);
      const file = keyFilePath(dataDir);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(warnings.join('')).toMatch(/generated a master key file/);
      const db = await openDatabase({ dataDir: join(dataDir, 'pgdata') });
      await migrateToLatest(db);
      const tenant = await createTenant(db, 'Embedded');
      const integrations = new TenantIntegrations({
        db,
        box: keyRingBox(ring),
        connectors: new Map([['goodera', { connector: goodera }]]),
      });
      await integrations.put(tenant, 'goodera', {
        enabled: true,
        config: { apiUrl: 'http://127.0.0.1:9', tokenUrl: 'http://127.0.0.1:9/t', ...CLIENT_A },
      });
      await db.destroy();

      const rotated = spawnSync(process.execPath, ['--import', 'tsx', CLI, 'keys', 'rotate', '--prune'], {
        env: { ...process.env, IMPACT_IN_DATA_DIR: dataDir, DATABASE_URL: '', IMPACT_IN_MASTER_KEY: '' },
        encoding: 'utf8',
      });
      expect(rotated.status, rotated.stderr).toBe(0);
      expect(rotated.stderr).toMatch(/re-encrypted 1 integration config/);
      const after = loadKeyRing(env);
      expect(after.keys.size).toBe(1);
      expect(after.currentKeyId).not.toBe(ring.currentKeyId);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(readFileSync(file, 'utf8')).not.toContain([...ring.keys.values()][0]!.toString('base64'));

      const reopened = await openDatabase({ dataDir: join(dataDir, 'pgdata') });
      const reader = new TenantIntegrations({
        db: reopened,
        box: keyRingBox(after),
        connectors: new Map([['goodera', { connector: goodera }]]),
      });
      expect((await reader.resolve(tenant, 'goodera')).config).toMatchObject({
        clientSecret: CLIENT_A.clientSecret,
      });
      const audit = await reopened
        .selectFrom('audit_log')
        .selectAll()
        .where('action', '=', 'secrets.rotate')
        .execute();
      expect(audit).toHaveLength(1);
      await reopened.destroy();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 90_000);
});
