import type { Kysely } from 'kysely';
import type { Database } from './postgres/schema.js';

/** Who did something: an API key, an OIDC subject, or the CLI. */
export interface Actor {
  id: string;
  type: 'api_key' | 'oidc' | 'cli';
  ip?: string | undefined;
}

export interface AuditEntry {
  tenantId: string;
  actor: Actor;
  /** e.g. `integration.config.update`, `delivery.replay`, `key.create`, `secrets.rotate`. */
  action: string;
  target?: string | undefined;
  /** Secrets must already be masked: the log is append-only and never rewritten. */
  before?: unknown;
  after?: unknown;
}

/** Appends to the audit log (the table refuses updates and deletes). */
export async function appendAudit(db: Kysely<Database>, entry: AuditEntry): Promise<void> {
  await db
    .insertInto('audit_log')
    .values({
      tenant_id: entry.tenantId,
      actor: entry.actor.id,
      actor_type: entry.actor.type,
      action: entry.action,
      target: entry.target ?? null,
      ip: entry.actor.ip ?? null,
      before: entry.before === undefined ? null : JSON.stringify(entry.before),
      after: entry.after === undefined ? null : JSON.stringify(entry.after),
      created_at: new Date(),
    })
    .execute();
}

export interface AuditQuery {
  action?: string | undefined;
  actor?: string | undefined;
  target?: string | undefined;
  from?: Date | undefined;
  to?: Date | undefined;
  page: number;
  limit: number;
}

/** A page of a tenant's audit log, newest first. */
export async function listAudit(db: Kysely<Database>, tenantId: string, query: AuditQuery) {
  let base = db.selectFrom('audit_log').where('tenant_id', '=', tenantId);
  if (query.action) {
    // `integration.*` matches a whole family of actions.
    base = query.action.endsWith('.*')
      ? base.where('action', 'like', `${query.action.slice(0, -2).replace(/[%_\\]/g, '\\$&')}.%`)
      : base.where('action', '=', query.action);
  }
  if (query.actor) base = base.where('actor', '=', query.actor);
  if (query.target) base = base.where('target', '=', query.target);
  if (query.from) base = base.where('created_at', '>=', query.from);
  if (query.to) base = base.where('created_at', '<', query.to);
  const [rows, count] = await Promise.all([
    base
      .selectAll()
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(query.limit)
      .offset((query.page - 1) * query.limit)
      .execute(),
    base.select((eb) => eb.fn.countAll<string>().as('total')).executeTakeFirstOrThrow(),
  ]);
  const total = Number(count.total);
  return {
    data: rows.map((row) => ({
      id: String(row.id),
      actor: row.actor,
      actorType: row.actor_type,
      action: row.action,
      target: row.target,
      ip: row.ip,
      before: row.before ?? null,
      after: row.after ?? null,
      createdAt: new Date(row.created_at).toISOString(),
    })),
    total,
  };
}
