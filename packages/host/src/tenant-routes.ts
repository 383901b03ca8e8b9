import { z } from '@impact-in/core';
import { sql } from 'kysely';
import { dateParam, ErrorResponse, intParam, PaginationSchema, pagination } from './api-schemas.js';
import { type AppDependencies, connectorContext, dateRange, type RouteDefinition } from './app.js';
import { appendAudit, listAudit } from './audit.js';
import { HttpError } from './http-error.js';
import type { HealthRecord } from './integrations.js';
import type { Principal } from './tenants.js';
import { createApiKey, listApiKeys, revokeApiKey } from './tenants.js';

const Role = z.enum(['viewer', 'operator', 'admin']);

const IntegrationSchema = z.object({
  provider: z.string(),
  displayName: z.string(),
  enabled: z.boolean(),
  configured: z.boolean(),
  source: z.enum(['tenant', 'environment']).nullable(),
  capabilities: z.array(z.string()),
  lastHealth: z
    .object({
      ok: z.boolean(),
      latencyMs: z.number().optional(),
      message: z.string().optional(),
      checkedAt: z.string(),
    })
    .nullable(),
  updatedAt: z.string().nullable(),
});

const ConfigView = z.object({
  provider: z.string(),
  enabled: z.boolean(),
  configured: z.boolean(),
  source: z.enum(['tenant', 'environment']).nullable(),
  config: z
    .record(z.string(), z.unknown())
    .nullable()
    .describe('The tenant’s own config; secret fields masked as "••••1234"'),
  secretFields: z.array(z.string()),
});

export const PutConfigBody = z.strictObject({
  enabled: z.boolean().optional(),
  config: z
    .record(z.string(), z.unknown())
    .optional()
    .describe('Validated by the connector’s schema. Omit a secret, or send it masked, to keep it.'),
});

const HealthSchema = z.object({
  provider: z.string(),
  ok: z.boolean(),
  latencyMs: z.number().optional(),
  message: z.string().optional(),
  checkedAt: z.string(),
});

const KeySchema = z.object({
  id: z.string(),
  role: Role,
  prefix: z.string(),
  name: z.string().nullable(),
  createdAt: z.string(),
  revokedAt: z.string().nullable(),
});

const CreateKeyBody = z.strictObject({ role: Role, name: z.string().trim().min(1).max(200).optional() });

const AuditQuery = z.strictObject({
  action: z
    .string()
    .regex(/^[a-z_.*]+$/, 'must be an action such as integration.config.update or integration.*')
    .optional(),
  actor: z.string().min(1).max(200).optional(),
  target: z.string().min(1).max(500).optional(),
  startDate: dateParam.optional(),
  endDate: dateParam.optional(),
  page: intParam(1, 1_000_000, 1),
  limit: intParam(1, 100, 50),
});

const AuditEntrySchema = z.object({
  id: z.string(),
  actor: z.string(),
  actorType: z.enum(['api_key', 'oidc', 'cli']),
  action: z.string(),
  target: z.string().nullable(),
  ip: z.string().nullable(),
  before: z.unknown(),
  after: z.unknown(),
  createdAt: z.string(),
});

const UsageQuery = z.strictObject({ startDate: dateParam.optional(), endDate: dateParam.optional() });

const UsageDay = z.object({
  date: z.string().describe('YYYY-MM-DD (UTC)'),
  provider: z.string(),
  deliveries: z.object({
    total: z.number().int(),
    successful: z.number().int(),
    failed: z.number().int(),
    pending: z.number().int(),
    retrying: z.number().int(),
  }),
  attempts: z.number().int(),
  errorRate: z.number().describe('failed / (successful + failed); 0 when none finished'),
  inbound: z.number().int().describe('records received (webhooks, ingest) that day'),
});

const notFoundTenant = () => new HttpError(404, 'not_found', 'no such tenant');

/** The caller's tenant must be the path's; another tenant is a 404, never data. */
function ownTenant(principal: Principal | undefined, tenantId: string | undefined): string {
  if (!principal) throw new HttpError(401, 'unauthorized', 'missing credentials');
  if (!tenantId || tenantId.toLowerCase() !== principal.tenantId) throw notFoundTenant();
  return principal.tenantId;
}

/** The request's client address (the socket's; proxies' headers are not trusted). */
export function clientIp(c: { env: unknown }): string | undefined {
  const incoming = (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming;
  return incoming?.socket?.remoteAddress;
}

export const actorOf = (principal: Principal, c: { env: unknown }) => ({
  id: principal.keyId,
  type: principal.via,
  ip: clientIp(c),
});

/** Seed 003's tenant routes: integrations, their config and health, keys, audit and usage. */
export function defineTenantRoutes(deps: AppDependencies): RouteDefinition[] {
  const integrations = deps.tenantIntegrations;
  const base = '/v1/tenants/{tenantId}';
  const tag = 'tenants';
  const errors = {
    401: { description: 'Missing or invalid credentials', schema: ErrorResponse },
    403: { description: 'The role does not allow this', schema: ErrorResponse },
    404: { description: 'No such tenant (or not the caller’s)', schema: ErrorResponse },
  };

  /**
   * Deliveries that waited while the integration was disabled are due again at once (ones in
   * retry backoff keep their schedule).
   */
  const resumeWaiting = async (tenantId: string, provider: string) => {
    await deps.db
      .updateTable('impact_deliveries')
      .set({ next_attempt_at: new Date() })
      .where('company_id', '=', tenantId)
      .where('provider', '=', provider)
      .where('status', '=', 'pending')
      .where('next_attempt_at', '>', new Date())
      .execute();
  };

  const runHealth = async (
    tenantId: string,
    provider: string,
  ): Promise<HealthRecord & { provider: string }> => {
    const hosted = deps.connectors.get(provider);
    if (!hosted) throw new HttpError(404, 'unknown_provider', `no connector "${provider}" is installed`);
    const resolved = await integrations.resolve(tenantId, provider);
    const checkedAt = new Date().toISOString();
    if (resolved.config === undefined) {
      return { provider, ok: false, message: 'not configured', checkedAt };
    }
    if (!hosted.connector.health) {
      return { provider, ok: true, message: 'this connector has no health probe', checkedAt };
    }
    const started = performance.now();
    let record: HealthRecord;
    try {
      const result = await hosted.connector.health(
        connectorContext(deps, hosted, tenantId, AbortSignal.timeout(10_000), resolved.config),
      );
      record = {
        ok: result.ok,
        latencyMs: result.latencyMs ?? Math.round(performance.now() - started),
        ...(result.message ? { message: result.message } : {}),
        checkedAt,
      };
    } catch (error) {
      record = {
        ok: false,
        latencyMs: Math.round(performance.now() - started),
        message: error instanceof Error ? error.message : String(error),
        checkedAt,
      };
    }
    await integrations.recordHealth(tenantId, provider, record);
    return { provider, ...record };
  };

  const setEnabled = (enabled: boolean): RouteDefinition => ({
    method: 'POST',
    path: `${base}/integrations/{provider}/${enabled ? 'enable' : 'disable'}`,
    summary: enabled
      ? 'Enable an integration: it takes deliveries, and its waiting deliveries resume'
      : 'Disable an integration: new deliveries are refused (409), pending ones wait',
    tag,
    access: 'admin',
    responses: {
      200: { description: 'The integration’s config view', schema: z.object({ data: ConfigView }) },
      409: { description: 'Not configured yet (enable)', schema: ErrorResponse },
      ...errors,
    },
    async handle({ params, principal, c }) {
      const tenantId = ownTenant(principal, params.tenantId);
      const change = await integrations.put(tenantId, params.provider!, { enabled });
      await appendAudit(deps.db, {
        tenantId,
        actor: actorOf(principal!, c),
        action: enabled ? 'integration.enable' : 'integration.disable',
        target: params.provider,
        before: change.before,
        after: change.after,
      });
      if (enabled) await resumeWaiting(tenantId, params.provider!);
      return c.json({ data: await integrations.view(tenantId, params.provider!) });
    },
  });

  return [
    {
      method: 'GET',
      path: `${base}/integrations`,
      summary: 'Every installed connector: enabled, configured, last health',
      tag,
      access: 'viewer',
      responses: {
        200: { description: 'The integrations', schema: z.object({ data: z.array(IntegrationSchema) }) },
        ...errors,
      },
      async handle({ params, principal, c }) {
        return c.json({ data: await integrations.list(ownTenant(principal, params.tenantId)) });
      },
    },
    {
      method: 'GET',
      path: `${base}/integrations/{provider}/config`,
      summary: 'The tenant’s config of one connector, secrets masked',
      tag,
      access: 'viewer',
      responses: {
        200: { description: 'The config view', schema: z.object({ data: ConfigView }) },
        ...errors,
      },
      async handle({ params, principal, c }) {
        return c.json({
          data: await integrations.view(ownTenant(principal, params.tenantId), params.provider!),
        });
      },
    },
    {
      method: 'PUT',
      path: `${base}/integrations/{provider}/config`,
      summary: 'Set the tenant’s config (validated by the connector’s schema) and/or enable it',
      tag,
      access: 'admin',
      body: PutConfigBody,
      responses: {
        200: { description: 'The config view, secrets masked', schema: z.object({ data: ConfigView }) },
        400: { description: 'The config does not validate; details name each field', schema: ErrorResponse },
        409: { description: 'Enabling an integration that has no config', schema: ErrorResponse },
        ...errors,
      },
      async handle({ params, principal, body, c }) {
        const tenantId = ownTenant(principal, params.tenantId);
        const request = body as z.infer<typeof PutConfigBody>;
        const change = await integrations.put(tenantId, params.provider!, request);
        await appendAudit(deps.db, {
          tenantId,
          actor: actorOf(principal!, c),
          action: 'integration.config.update',
          target: params.provider,
          before: change.before,
          after: change.after,
        });
        if (change.after.enabled) await resumeWaiting(tenantId, params.provider!);
        return c.json({ data: await integrations.view(tenantId, params.provider!) });
      },
    },
    setEnabled(true),
    setEnabled(false),
    {
      method: 'GET',
      path: `${base}/integrations/{provider}/health`,
      summary: 'Run the connector’s health probe with the tenant’s credentials',
      tag,
      access: 'viewer',
      responses: {
        200: { description: 'The probe’s result', schema: z.object({ data: HealthSchema }) },
        ...errors,
      },
      async handle({ params, principal, c }) {
        const tenantId = ownTenant(principal, params.tenantId);
        return c.json({ data: await runHealth(tenantId, params.provider!) });
      },
    },
    {
      method: 'GET',
      path: `${base}/health`,
      summary: 'Run every configured connector’s health probe',
      tag,
      access: 'viewer',
      responses: {
        200: {
          description: 'Each probe’s result; `ok` when all passed',
          schema: z.object({ ok: z.boolean(), data: z.array(HealthSchema) }),
        },
        ...errors,
      },
      async handle({ params, principal, c }) {
        const tenantId = ownTenant(principal, params.tenantId);
        const configured = [];
        for (const provider of deps.connectors.keys()) {
          if ((await integrations.resolve(tenantId, provider)).config !== undefined)
            configured.push(provider);
        }
        const data = await Promise.all(configured.map((provider) => runHealth(tenantId, provider)));
        return c.json({ ok: data.every((result) => result.ok), data });
      },
    },
    {
      method: 'GET',
      path: `${base}/keys`,
      summary: 'The tenant’s API keys (never their secrets)',
      tag,
      access: 'admin',
      responses: {
        200: { description: 'The keys', schema: z.object({ data: z.array(KeySchema) }) },
        ...errors,
      },
      async handle({ params, principal, c }) {
        return c.json({ data: await listApiKeys(deps.db, ownTenant(principal, params.tenantId)) });
      },
    },
    {
      method: 'POST',
      path: `${base}/keys`,
      summary: 'Create an API key; its secret is in this response only',
      tag,
      access: 'admin',
      body: CreateKeyBody,
      responses: {
        201: {
          description: 'The new key, with its secret `key` (shown once)',
          schema: z.object({ data: KeySchema.extend({ key: z.string() }) }),
        },
        ...errors,
      },
      async handle({ params, principal, body, c }) {
        const tenantId = ownTenant(principal, params.tenantId);
        const request = body as z.infer<typeof CreateKeyBody>;
        const created = await createApiKey(deps.db, tenantId, request.role, request.name);
        const view = {
          id: created.id,
          role: request.role,
          prefix: created.prefix,
          name: request.name ?? null,
          createdAt: created.createdAt.toISOString(),
          revokedAt: null,
        };
        await appendAudit(deps.db, {
          tenantId,
          actor: actorOf(principal!, c),
          action: 'key.create',
          target: created.id,
          after: view,
        });
        return c.json({ data: { ...view, key: created.key } }, 201);
      },
    },
    {
      method: 'DELETE',
      path: `${base}/keys/{id}`,
      summary: 'Revoke an API key (at once on this replica, within 5 s on others)',
      tag,
      access: 'admin',
      responses: {
        200: { description: 'The revoked key', schema: z.object({ data: KeySchema }) },
        ...errors,
      },
      async handle({ params, principal, c }) {
        const tenantId = ownTenant(principal, params.tenantId);
        const revoked = await revokeApiKey(deps.db, tenantId, params.id!);
        if (!revoked) throw new HttpError(404, 'not_found', `key ${params.id} not found`);
        deps.auth.forget();
        await appendAudit(deps.db, {
          tenantId,
          actor: actorOf(principal!, c),
          action: 'key.revoke',
          target: revoked.id,
          before: { id: revoked.id, role: revoked.role, prefix: revoked.prefix, name: revoked.name },
        });
        const keys = await listApiKeys(deps.db, tenantId);
        return c.json({ data: keys.find((key) => key.id === revoked.id)! });
      },
    },
    {
      method: 'GET',
      path: `${base}/audit`,
      summary: 'The audit trail, newest first, filtered and paginated',
      tag,
      access: 'admin',
      query: AuditQuery,
      responses: {
        200: {
          description: 'A page of audit entries',
          schema: z.object({ data: z.array(AuditEntrySchema), pagination: PaginationSchema }),
        },
        ...errors,
      },
      async handle({ params, principal, query, c }) {
        const tenantId = ownTenant(principal, params.tenantId);
        const q = query as z.infer<typeof AuditQuery>;
        const { from, to } = dateRange(q);
        const { data, total } = await listAudit(deps.db, tenantId, { ...q, from, to });
        return c.json({ data, pagination: pagination(q, total) });
      },
    },
    {
      method: 'GET',
      path: `${base}/stats`,
      summary:
        'Usage per provider per day (UTC): deliveries by status, attempts, error rate, inbound records',
      tag,
      access: 'viewer',
      query: UsageQuery,
      responses: {
        200: {
          description: 'Usage rows, by day then provider (default: the last 30 days)',
          schema: z.object({ data: z.object({ from: z.string(), to: z.string(), days: z.array(UsageDay) }) }),
        },
        ...errors,
      },
      async handle({ params, principal, query, c }) {
        const tenantId = ownTenant(principal, params.tenantId);
        const range = dateRange(query as z.infer<typeof UsageQuery>);
        const to = range.to ?? new Date(Date.now() + 1);
        const from = range.from ?? new Date(to.getTime() - 30 * 86_400_000);
        const deliveries = await sql<{
          day: string;
          provider: string;
          total: string;
          successful: string;
          failed: string;
          pending: string;
          retrying: string;
          attempts: string;
        }>`select to_char(created_at at time zone 'UTC', 'YYYY-MM-DD') as day, provider,
              count(*) as total,
              count(*) filter (where status = 'success') as successful,
              count(*) filter (where status = 'failed') as failed,
              count(*) filter (where status = 'pending') as pending,
              count(*) filter (where status = 'retrying') as retrying,
              coalesce(sum(attempt_count), 0) as attempts
            from impact_deliveries
            where company_id = ${tenantId} and created_at >= ${from} and created_at < ${to}
            group by 1, 2`.execute(deps.db);
        const inbound = await sql<{ day: string; provider: string; count: string }>`
            select to_char(received_at at time zone 'UTC', 'YYYY-MM-DD') as day, provider, count(*) as count
            from inbound_records
            where company_id = ${tenantId} and received_at >= ${from} and received_at < ${to}
            group by 1, 2`.execute(deps.db);
        const rows = new Map<string, z.infer<typeof UsageDay>>();
        const rowOf = (day: string, provider: string) => {
          const key = `${day}\u0000${provider}`;
          let row = rows.get(key);
          if (!row) {
            row = {
              date: day,
              provider,
              deliveries: { total: 0, successful: 0, failed: 0, pending: 0, retrying: 0 },
              attempts: 0,
              errorRate: 0,
              inbound: 0,
            };
            rows.set(key, row);
          }
          return row;
        };
        for (const r of deliveries.rows) {
          const row = rowOf(r.day, r.provider);
          row.deliveries = {
            total: Number(r.total),
            successful: Number(r.successful),
            failed: Number(r.failed),
            pending: Number(r.pending),
            retrying: Number(r.retrying),
          };
          row.attempts = Number(r.attempts);
          const finished = row.deliveries.successful + row.deliveries.failed;
          row.errorRate =
            finished === 0 ? 0 : Math.round((row.deliveries.failed / finished) * 10_000) / 10_000;
        }
        for (const r of inbound.rows) rowOf(r.day, r.provider).inbound = Number(r.count);
        const days = [...rows.values()].sort(
          (a, b) => a.date.localeCompare(b.date) || a.provider.localeCompare(b.provider),
        );
        return c.json({ data: { from: from.toISOString(), to: to.toISOString(), days } });
      },
    },
  ];
}
