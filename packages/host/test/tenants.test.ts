import { defineConnector, z } from '@impact-in/core';
import { type ProviderServer, startProviderServer } from '@impact-in/testing';
import { sql } from 'kysely';
import { HttpResponse, http } from 'msw';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { event, startTestHost, type TestHost } from './helpers.js';

/** A bearer-token provider with a health probe, configured per tenant only (no env default). */
const beacon = defineConnector({
  id: 'beacon',
  displayName: 'Beacon',
  config: z.object({ url: z.url(), token: z.string().min(16), region: z.enum(['eu', 'us']).default('eu') }),
  secrets: ['token'],
  async deliver({ event: e, deliveryId }, { config, companyId, http: client, signal }) {
    const payload = { id: e.eventId, tenant: companyId, region: config.region };
    const response = await client.request({
      method: 'POST',
      url: `${config.url}/beacon`,
      body: JSON.stringify(payload),
      signal,
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${config.token}`,
        'x-idempotency-key': deliveryId,
      },
    });
    return { payload, response };
  },
  async health({ config, http: client, signal }) {
    const response = await client.request({
      method: 'GET',
      url: `${config.url}/ping`,
      signal,
      headers: { authorization: `Bearer ${config.token}` },
    });
    return { ok: response.status === 200, message: `ping answered ${response.status}` };
  },
});

/** Beacon with a one-request-a-minute limit: each tenant's bucket is its own. */
const metered = defineConnector({
  ...beacon,
  id: 'metered',
  secrets: ['token'],
  rateLimit: { maxRequests: 1, windowMs: 60_000 },
});

const TOKEN_A = 'beacon-token-A-1234567890abcd';
const TOKEN_B = 'beacon-token-B-0987654321wxyz';

/** A beacon server that accepts one token: what a per-tenant credential is checked against. */
const beaconServer = (token: string) =>
  startProviderServer(() => [
    http.post('*/beacon', ({ request }) =>
      request.headers.get('authorization') === `Bearer ${token}`
        ? HttpResponse.json({ ok: true })
        : HttpResponse.json({ error: 'bad token' }, { status: 401 }),
    ),
    http.get('*/ping', ({ request }) =>
      request.headers.get('authorization') === `Bearer ${token}`
        ? HttpResponse.json({ ok: true })
        : HttpResponse.json({ error: 'bad token' }, { status: 401 }),
    ),
  ]);

// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field
type Body = any;

let t: TestHost;
let serverA: ProviderServer;
let serverB: ProviderServer;
const call = async (path: string, init: RequestInit & { key?: string | null } = {}) => {
  const response = await t.request(path, init);
  const text = await response.text();
  return {
    status: response.status,
    text,
    body: (text ? JSON.parse(text) : null) as Body,
    headers: response.headers,
  };
};
const put = (path: string, body: unknown, key?: string) =>
  call(path, { method: 'PUT', body: JSON.stringify(body), ...(key ? { key } : {}) });
const post = (path: string, body?: unknown, key?: string) =>
  call(path, {
    method: 'POST',
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    ...(key ? { key } : {}),
  });

beforeAll(async () => {
  serverA = await beaconServer(TOKEN_A);
  serverB = await beaconServer(TOKEN_B);
  t = await startTestHost({}, [{ connector: beacon }, { connector: metered }]);
});
afterAll(async () => {
  await t?.close();
  await serverA?.close();
  await serverB?.close();
});

const base = () => `/v1/tenants/${t.tenantA}`;

describe('tenant integrations', () => {
  it('lists every installed connector: enabled, configured, where the config comes from', async () => {
    const { status, body } = await call(`${base()}/integrations`, { key: t.keys.viewer });
    expect(status).toBe(200);
    const byProvider = Object.fromEntries(body.data.map((row: Body) => [row.provider, row]));
    expect(byProvider.acme).toMatchObject({ enabled: true, configured: true, source: 'environment' });
    expect(byProvider.beacon).toMatchObject({
      displayName: 'Beacon',
      enabled: false,
      configured: false,
      source: null,
      capabilities: ['deliver', 'health'],
      lastHealth: null,
    });
  });

  it('validates the config with the connector’s schema; errors name the field', async () => {
    const bad = await put(`${base()}/integrations/beacon/config`, {
      config: { url: 'not a url', region: 'mars' },
    });
    expect(bad.status).toBe(400);
    const fields = bad.body.error.details.map((detail: Body) => detail.field);
    expect(fields).toEqual(expect.arrayContaining(['config.url', 'config.token', 'config.region']));
    const unknownKey = await put(`${base()}/integrations/beacon/config`, { config: {}, colour: 'red' });
    expect(unknownKey.status).toBe(400);
    const unknownProvider = await put(`${base()}/integrations/nobody/config`, { config: {} });
    expect(unknownProvider.status).toBe(404);
    expect(unknownProvider.body.error.code).toBe('unknown_provider');
    const enableFirst = await post(`${base()}/integrations/beacon/enable`);
    expect(enableFirst.status).toBe(409);
    expect(enableFirst.body.error.code).toBe('not_configured');
    // Nothing was written by the refused requests.
    const rows = await t.db
      .selectFrom('tenant_integrations')
      .selectAll()
      .where('provider', '=', 'beacon')
      .execute();
    expect(rows).toHaveLength(0);
  });

  it('seals the config, masks secrets in every answer, and keeps a secret sent back masked', async () => {
    const saved = await put(`${base()}/integrations/beacon/config`, {
      enabled: true,
      config: { url: serverA.url, token: TOKEN_A },
    });
    expect(saved.status).toBe(200);
    expect(saved.body.data).toMatchObject({ enabled: true, configured: true, source: 'tenant' });
    expect(saved.body.data.config).toEqual({ url: serverA.url, token: '••••abcd', region: 'eu' });
    expect(saved.text).not.toContain(TOKEN_A);

    const row = await t.db
      .selectFrom('tenant_integrations')
      .selectAll()
      .where('tenant_id', '=', t.tenantA)
      .where('provider', '=', 'beacon')
      .executeTakeFirstOrThrow();
    expect(row.config_sealed).toMatch(/^ib1:k[0-9a-f]{12}:/);
    expect(row.config_sealed).not.toContain(TOKEN_A);
    expect(row.config_sealed).not.toContain(serverA.url);

    const read = await call(`${base()}/integrations/beacon/config`, { key: t.keys.viewer });
    expect(read.status).toBe(200);
    expect(read.body.data.config.token).toBe('••••abcd');
    expect(read.body.data.secretFields).toEqual(['token']);

    // Echo the GET back with a change: the masked token keeps the stored one.
    const echoed = await put(`${base()}/integrations/beacon/config`, {
      config: { ...read.body.data.config, region: 'us' },
    });
    expect(echoed.status).toBe(200);
    expect(echoed.body.data.config).toMatchObject({ region: 'us', token: '••••abcd' });

    const delivered = await post('/v1/impact-in/deliver', {
      companyId: t.tenantA,
      provider: 'beacon',
      event: event(),
    });
    expect(delivered.status).toBe(202);
    const done = await t.host.dispatcher.waitFor(delivered.body.data.id, { timeoutMs: 5_000 });
    expect(done.status).toBe('success');
    const sent = serverA.callsTo('/beacon').at(-1)!;
    expect(sent.headers.authorization).toBe(`Bearer ${TOKEN_A}`);
    expect(sent.json<{ region: string }>().region).toBe('us');
  });

  it('a config change that leaves `enabled` out keeps the integration as enabled as it was', async () => {
    const tenant = t.tenantB;
    const key = t.keys.otherTenant;
    // acme is enabled for B by the environment default; writing its config keeps it enabled.
    const saved = await put(
      `/v1/tenants/${tenant}/integrations/acme/config`,
      { config: { url: t.provider.url, signingSecret: 'acme-signing-secret' } },
      key,
    );
    expect(saved.status).toBe(200);
    expect(saved.body.data).toMatchObject({ enabled: true, source: 'tenant' });
    const delivered = await post(
      '/v1/impact-in/deliver',
      { companyId: tenant, provider: 'acme', event: event() },
      key,
    );
    expect(delivered.status).toBe(202);
  });

  it('gives each tenant its own credentials', async () => {
    const keyB = t.keys.otherTenant;
    const saved = await put(
      `/v1/tenants/${t.tenantB}/integrations/beacon/config`,
      { enabled: true, config: { url: serverB.url, token: TOKEN_B } },
      keyB,
    );
    expect(saved.status).toBe(200);
    const fromA = await post('/v1/impact-in/deliver', {
      companyId: t.tenantA,
      provider: 'beacon',
      event: event(),
    });
    const fromB = await post(
      '/v1/impact-in/deliver',
      { companyId: t.tenantB, provider: 'beacon', event: event() },
      keyB,
    );
    expect((await t.host.dispatcher.waitFor(fromA.body.data.id, { timeoutMs: 5_000 })).status).toBe(
      'success',
    );
    expect((await t.host.dispatcher.waitFor(fromB.body.data.id, { timeoutMs: 5_000 })).status).toBe(
      'success',
    );
    const tenantsAt = (server: ProviderServer) =>
      server.callsTo('/beacon').map((sent) => sent.json<{ tenant: string }>().tenant);
    expect(tenantsAt(serverB)).toEqual([t.tenantB]);
    expect(tenantsAt(serverA)).not.toContain(t.tenantB);
    expect(serverB.callsTo('/beacon')[0]!.headers.authorization).toBe(`Bearer ${TOKEN_B}`);
  });

  it('gives each tenant its own rate-limit bucket', async () => {
    for (const [tenant, key, server, token] of [
      [t.tenantA, t.keys.admin, serverA, TOKEN_A],
      [t.tenantB, t.keys.otherTenant, serverB, TOKEN_B],
    ] as const) {
      const saved = await put(
        `/v1/tenants/${tenant}/integrations/metered/config`,
        { enabled: true, config: { url: server.url, token } },
        key,
      );
      expect(saved.status).toBe(200);
    }
    const submit = async (companyId: string, key: string) =>
      (await post('/v1/impact-in/deliver', { companyId, provider: 'metered', event: event() }, key)).body.data
        .id as string;
    const firstA = await submit(t.tenantA, t.keys.admin);
    const secondA = await submit(t.tenantA, t.keys.admin);
    const firstB = await submit(t.tenantB, t.keys.otherTenant);
    expect((await t.host.dispatcher.waitFor(firstA, { timeoutMs: 5_000 })).status).toBe('success');
    // A's budget is spent; B's is untouched.
    expect((await t.host.dispatcher.waitFor(firstB, { timeoutMs: 5_000 })).status).toBe('success');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const waiting = await t.host.dispatcher.get(secondA);
    expect(waiting?.status).toBe('pending');
    expect(waiting?.attemptCount).toBe(0);
  });

  it('disabled: deliver answers 409, pending deliveries wait, and re-enabling resumes them', async () => {
    const disabled = await post(`${base()}/integrations/beacon/disable`);
    expect(disabled.status).toBe(200);
    expect(disabled.body.data.enabled).toBe(false);
    const refused = await post('/v1/impact-in/deliver', {
      companyId: t.tenantA,
      provider: 'beacon',
      event: event(),
    });
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('integration_disabled');
    expect(refused.body.error.message).toMatch(/disabled/);

    // Deliveries already in the log (here submitted behind the API's back) wait, they don't fail.
    const before = serverA.callsTo('/beacon').length;
    const { delivery } = await t.host.dispatcher.submit({
      companyId: t.tenantA,
      provider: 'beacon',
      event: event(),
    });
    await new Promise((resolve) => setTimeout(resolve, 400));
    const waiting = await t.host.dispatcher.get(delivery.id);
    expect(waiting?.status).toBe('pending');
    expect(waiting?.attemptCount).toBe(0);
    expect(serverA.callsTo('/beacon').length).toBe(before);

    const enabled = await post(`${base()}/integrations/beacon/enable`);
    expect(enabled.status).toBe(200);
    const resumed = await t.host.dispatcher.waitFor(delivery.id, { timeoutMs: 5_000 });
    expect(resumed.status).toBe('success');
    expect(resumed.deliveryId).toBe(delivery.deliveryId);
  });

  it('runs the health probe with the tenant’s credentials, one or all, and keeps the last result', async () => {
    const one = await call(`${base()}/integrations/beacon/health`, { key: t.keys.viewer });
    expect(one.status).toBe(200);
    expect(one.body.data).toMatchObject({ provider: 'beacon', ok: true });
    expect(typeof one.body.data.latencyMs).toBe('number');
    expect(serverA.callsTo('/ping').at(-1)!.headers.authorization).toBe(`Bearer ${TOKEN_A}`);

    // Tenant B's credentials go to B's server; a wrong token there is an unhealthy probe.
    await put(
      `/v1/tenants/${t.tenantB}/integrations/beacon/config`,
      { config: { url: serverB.url, token: 'not-the-right-token-at-all' } },
      t.keys.otherTenant,
    );
    const unhealthy = await call(`/v1/tenants/${t.tenantB}/integrations/beacon/health`, {
      key: t.keys.otherTenant,
    });
    expect(unhealthy.body.data).toMatchObject({ ok: false, message: 'ping answered 401' });

    const all = await call(`${base()}/health`, { key: t.keys.viewer });
    expect(all.status).toBe(200);
    expect(all.body.ok).toBe(true);
    expect(all.body.data.map((row: Body) => row.provider).sort()).toEqual(['acme', 'beacon', 'metered']);
    const list = await call(`${base()}/integrations`, { key: t.keys.viewer });
    const beaconRow = list.body.data.find((row: Body) => row.provider === 'beacon');
    expect(beaconRow.lastHealth).toMatchObject({ ok: true });
  });
});

describe('API keys', () => {
  it('creates (secret shown once), lists without secrets, and revokes', async () => {
    const created = await post(`${base()}/keys`, { role: 'operator', name: 'ci pipeline' });
    expect(created.status).toBe(201);
    const { key, id } = created.body.data;
    expect(key).toMatch(/^iik_/);
    expect(created.body.data).toMatchObject({ role: 'operator', name: 'ci pipeline', revokedAt: null });

    const listed = await call(`${base()}/keys`);
    expect(listed.status).toBe(200);
    expect(listed.text).not.toContain(key);
    expect(listed.text).not.toMatch(/"hash"/);
    expect(listed.body.data.find((row: Body) => row.id === id)).toMatchObject({ prefix: key.slice(0, 8) });

    const works = await call('/v1/impact-in/deliveries', { key });
    expect(works.status).toBe(200);
    const revoked = await call(`${base()}/keys/${id}`, { method: 'DELETE' });
    expect(revoked.status).toBe(200);
    expect(revoked.body.data.revokedAt).toEqual(expect.any(String));
    const refused = await call('/v1/impact-in/deliveries', { key });
    expect(refused.status).toBe(401);

    // Another tenant's key id is not found, whatever the caller's role.
    const foreign = await call(`/v1/tenants/${t.tenantB}/keys/${id}`, {
      method: 'DELETE',
      key: t.keys.otherTenant,
    });
    expect(foreign.status).toBe(404);
    const bad = await post(`${base()}/keys`, { role: 'root' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0].field).toBe('role');
  });

  it('operators and viewers cannot manage keys or config', async () => {
    expect((await post(`${base()}/keys`, { role: 'admin' }, t.keys.operator)).status).toBe(403);
    expect((await call(`${base()}/keys`, { key: t.keys.viewer })).status).toBe(403);
    expect(
      (await put(`${base()}/integrations/acme/config`, { enabled: false }, t.keys.operator)).status,
    ).toBe(403);
  });
});

describe('audit log', () => {
  it('records config changes, enablement, replays and keys, with secrets masked', async () => {
    const failed = await t.host.dispatcher.submitAndWait(
      { companyId: t.tenantA, provider: 'acme', event: event({ userId: 'user_rejected' }) },
      { timeoutMs: 5_000 },
    );
    expect(failed.status).toBe('failed');
    expect(
      (await post(`/v1/impact-in/deliveries/${failed.id}/replay`, undefined, t.keys.operator)).status,
    ).toBe(200);

    const all = await call(`${base()}/audit?limit=100`);
    expect(all.status).toBe(200);
    const actions = all.body.data.map((entry: Body) => entry.action);
    expect(actions).toEqual(
      expect.arrayContaining([
        'integration.config.update',
        'integration.enable',
        'integration.disable',
        'key.create',
        'key.revoke',
        'delivery.replay',
      ]),
    );
    expect(all.text).not.toContain(TOKEN_A);
    expect(all.text).not.toContain(TOKEN_B);
    const update = all.body.data.find(
      (entry: Body) => entry.action === 'integration.config.update' && entry.target === 'beacon',
    );
    expect(update).toMatchObject({ actorType: 'api_key', target: 'beacon' });
    expect(JSON.stringify(update.after)).toContain('••••');
    const replay = all.body.data.find((entry: Body) => entry.action === 'delivery.replay');
    expect(replay.target).toBe(failed.id);
    // Tenant B's own changes are not in A's trail.
    expect(all.body.data.every((entry: Body) => !JSON.stringify(entry).includes(t.tenantB))).toBe(true);

    const keysOnly = await call(`${base()}/audit?action=key.*&limit=1`);
    expect(keysOnly.body.data).toHaveLength(1);
    expect(keysOnly.body.data[0].action).toMatch(/^key\./);
    expect(keysOnly.body.pagination).toMatchObject({ page: 1, limit: 1, hasPrev: false });
    expect(keysOnly.body.pagination.total).toBeGreaterThanOrEqual(2);

    const badQuery = await call(`${base()}/audit?limit=1000`);
    expect(badQuery.status).toBe(400);
    expect(badQuery.body.error.details[0].field).toBe('query.limit');
  });

  it('is append-only: the database refuses updates and deletes', async () => {
    await expect(sql`update audit_log set action = 'tampered'`.execute(t.db)).rejects.toThrow(/append-only/);
    await expect(sql`delete from audit_log`.execute(t.db)).rejects.toThrow(/append-only/);
  });
});

describe('usage statistics', () => {
  it('counts deliveries per provider per day, with attempts and error rate', async () => {
    const { status, body } = await call(`${base()}/stats`, { key: t.keys.viewer });
    expect(status).toBe(200);
    const today = new Date().toISOString().slice(0, 10);
    const acmeToday = body.data.days.find((row: Body) => row.provider === 'acme' && row.date === today);
    expect(acmeToday.deliveries.failed).toBeGreaterThanOrEqual(1);
    expect(acmeToday.attempts).toBeGreaterThanOrEqual(acmeToday.deliveries.total);
    expect(acmeToday.errorRate).toBeGreaterThan(0);
    const beaconToday = body.data.days.find((row: Body) => row.provider === 'beacon' && row.date === today);
    expect(beaconToday.deliveries.successful).toBeGreaterThanOrEqual(2);
    const empty = await call(`${base()}/stats?startDate=2001-01-01&endDate=2001-01-02`, {
      key: t.keys.viewer,
    });
    expect(empty.body.data.days).toEqual([]);
    const bad = await call(`${base()}/stats?startDate=yesterday`, { key: t.keys.viewer });
    expect(bad.status).toBe(400);
  });
});
