import { randomUUID } from 'node:crypto';
import type {
  AttemptOutcome,
  ClaimOptions,
  Delivery,
  DeliveryQuery,
  DeliveryStats,
  DeliveryStatus,
  DeliveryStore,
  ImpactEvent,
  NewDelivery,
  ProviderResponse,
} from '@impact-in/core';
import type { Kysely, Selectable } from 'kysely';
import type { Database, DeliveriesTable } from './schema.js';

type Row = Selectable<DeliveriesTable>;

// pg and PGlite both parse json/jsonb columns on the way out.
function toDelivery(row: Row): Delivery {
  return {
    id: row.id,
    companyId: row.company_id,
    provider: row.provider,
    deliveryId: row.delivery_id,
    eventId: row.event_id,
    event: row.event as ImpactEvent,
    payload: row.payload ?? null,
    status: row.status,
    attemptCount: row.attempt_count,
    replayCount: row.replay_count,
    lastError: row.last_error,
    providerResponse: (row.provider_response ?? null) as ProviderResponse | null,
    nextAttemptAt: row.next_attempt_at ? new Date(row.next_attempt_at) : null,
    deliveredAt: row.delivered_at ? new Date(row.delivered_at) : null,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

/**
 * A {@link DeliveryStore} on PostgreSQL (or embedded PGlite) through Kysely. Work is claimed with
 * `FOR UPDATE SKIP LOCKED` under a lease, so any number of workers and replicas share one table
 * without attempting the same delivery at once.
 *
 * @example
 * const db = await openDatabase({ url: process.env.DATABASE_URL });
 * const store = new PostgresDeliveryStore(db);
 */
export class PostgresDeliveryStore implements DeliveryStore {
  readonly #db: Kysely<Database>;
  readonly #now: () => number;

  constructor(db: Kysely<Database>, options: { now?: () => number } = {}) {
    this.#db = db;
    this.#now = options.now ?? Date.now;
  }

  async submit(input: NewDelivery): Promise<{ delivery: Delivery; created: boolean }> {
    const now = new Date(this.#now());
    const inserted = await this.#db
      .insertInto('impact_deliveries')
      .values({
        id: randomUUID(),
        company_id: input.companyId,
        provider: input.provider,
        delivery_id: input.deliveryId ?? randomUUID(),
        event_id: input.event.eventId,
        event: JSON.stringify(input.event),
        payload: null,
        status: 'pending',
        last_error: null,
        provider_response: null,
        next_attempt_at: input.nextAttemptAt ?? now,
        delivered_at: null,
        created_at: now,
        updated_at: now,
        lease_owner: null,
        lease_expires_at: null,
      })
      .onConflict((conflict) => conflict.columns(['company_id', 'provider', 'event_id']).doNothing())
      .returningAll()
      .executeTakeFirst();
    if (inserted) return { delivery: toDelivery(inserted), created: true };
    const existing = await this.#db
      .selectFrom('impact_deliveries')
      .selectAll()
      .where('company_id', '=', input.companyId)
      .where('provider', '=', input.provider)
      .where('event_id', '=', input.event.eventId)
      .executeTakeFirstOrThrow();
    return { delivery: toDelivery(existing), created: false };
  }

  async get(id: string, companyId?: string): Promise<Delivery | undefined> {
    if (!isUuid(id)) return undefined;
    let query = this.#db.selectFrom('impact_deliveries').selectAll().where('id', '=', id);
    if (companyId !== undefined) query = query.where('company_id', '=', companyId);
    const row = await query.executeTakeFirst();
    return row ? toDelivery(row) : undefined;
  }

  #filtered(query: Omit<DeliveryQuery, 'page' | 'limit'>) {
    let builder = this.#db.selectFrom('impact_deliveries').where('company_id', '=', query.companyId);
    if (query.provider) builder = builder.where('provider', '=', query.provider);
    if (query.status) builder = builder.where('status', '=', query.status);
    if (query.from) builder = builder.where('created_at', '>=', query.from);
    if (query.to) builder = builder.where('created_at', '<', query.to);
    return builder;
  }

  async list(query: DeliveryQuery): Promise<{ data: Delivery[]; total: number }> {
    const [rows, count] = await Promise.all([
      this.#filtered(query)
        .selectAll()
        .orderBy('created_at', 'desc')
        .orderBy('id')
        .limit(query.limit)
        .offset((query.page - 1) * query.limit)
        .execute(),
      this.#filtered(query)
        .select((eb) => eb.fn.countAll<string>().as('total'))
        .executeTakeFirstOrThrow(),
    ]);
    return { data: rows.map(toDelivery), total: Number(count.total) };
  }

  async stats(query: { companyId: string; from?: Date; to?: Date }): Promise<DeliveryStats> {
    const rows = await this.#filtered(query)
      .select((eb) => [
        'provider',
        'status',
        eb.fn.countAll<string>().as('count'),
        eb.fn.sum<string>('attempt_count').as('attempts'),
      ])
      .groupBy(['provider', 'status'])
      .orderBy('provider')
      .orderBy('status')
      .execute();
    const overall = { total: 0, successful: 0, failed: 0, pending: 0, retrying: 0 };
    const byProvider = rows.map((row) => {
      const count = Number(row.count);
      overall.total += count;
      if (row.status === 'success') overall.successful += count;
      else overall[row.status as Exclude<DeliveryStatus, 'success'>] += count;
      return {
        provider: row.provider,
        status: row.status as DeliveryStatus,
        count,
        avgAttempts: Math.round((Number(row.attempts) / count) * 100) / 100,
      };
    });
    return { overall, byProvider };
  }

  async claimDue(options: ClaimOptions): Promise<Delivery[]> {
    if (options.providers && options.providers.length === 0) return [];
    const leaseUntil = new Date(options.now.getTime() + options.leaseMs);
    const due = this.#db
      .selectFrom('impact_deliveries')
      .select('id')
      .where('status', 'in', ['pending', 'retrying'])
      .where('next_attempt_at', '<=', options.now)
      .where((eb) => eb.or([eb('lease_expires_at', 'is', null), eb('lease_expires_at', '<=', options.now)]))
      .$if(options.providers !== undefined, (builder) =>
        builder.where('provider', 'in', options.providers ?? []),
      )
      .orderBy('next_attempt_at')
      .limit(options.limit)
      .forUpdate()
      .skipLocked();
    const rows = await this.#db
      .updateTable('impact_deliveries')
      .set({ lease_owner: options.owner, lease_expires_at: leaseUntil })
      .where('id', 'in', due)
      .returningAll()
      .execute();
    return rows
      .map(toDelivery)
      .sort((a, b) => (a.nextAttemptAt?.getTime() ?? 0) - (b.nextAttemptAt?.getTime() ?? 0));
  }

  async claim(id: string, options: Omit<ClaimOptions, 'limit' | 'providers'>): Promise<Delivery | undefined> {
    if (!isUuid(id)) return undefined;
    const leaseUntil = new Date(options.now.getTime() + options.leaseMs);
    const row = await this.#db
      .updateTable('impact_deliveries')
      .set({ lease_owner: options.owner, lease_expires_at: leaseUntil })
      .where('id', '=', id)
      .where('status', 'in', ['pending', 'retrying'])
      .where('next_attempt_at', '<=', options.now)
      .where((eb) => eb.or([eb('lease_expires_at', 'is', null), eb('lease_expires_at', '<=', options.now)]))
      .returningAll()
      .executeTakeFirst();
    return row ? toDelivery(row) : undefined;
  }

  async recordAttempt(id: string, owner: string, outcome: AttemptOutcome): Promise<Delivery | undefined> {
    const row = await this.#db
      .updateTable('impact_deliveries')
      .set((eb) => ({
        attempt_count: eb('attempt_count', '+', 1),
        status: outcome.status,
        updated_at: outcome.at,
        lease_owner: null,
        lease_expires_at: null,
        next_attempt_at: outcome.status === 'retrying' ? outcome.nextAttemptAt : null,
        last_error: outcome.status === 'success' ? null : outcome.error,
        ...(outcome.status === 'success' ? { delivered_at: outcome.at } : {}),
        ...(outcome.payload !== undefined
          ? { payload: outcome.payload === null ? null : JSON.stringify(outcome.payload) }
          : {}),
        ...(outcome.providerResponse !== undefined
          ? {
              provider_response:
                outcome.providerResponse === null ? null : JSON.stringify(outcome.providerResponse),
            }
          : {}),
      }))
      .where('id', '=', id)
      .where('lease_owner', '=', owner)
      .returningAll()
      .executeTakeFirst();
    return row ? toDelivery(row) : undefined;
  }

  async release(id: string, owner: string, nextAttemptAt?: Date): Promise<void> {
    await this.#db
      .updateTable('impact_deliveries')
      .set({
        lease_owner: null,
        lease_expires_at: null,
        ...(nextAttemptAt ? { next_attempt_at: nextAttemptAt } : {}),
      })
      .where('id', '=', id)
      .where('lease_owner', '=', owner)
      .execute();
  }

  async requeue(id: string, options: { companyId?: string; now: Date }): Promise<Delivery | undefined> {
    if (!isUuid(id)) return undefined;
    let query = this.#db
      .updateTable('impact_deliveries')
      .set((eb) => ({
        status: 'pending' as const,
        attempt_count: 0,
        replay_count: eb('replay_count', '+', 1),
        next_attempt_at: options.now,
        updated_at: options.now,
        lease_owner: null,
        lease_expires_at: null,
      }))
      .where('id', '=', id)
      .where((eb) => eb.or([eb('lease_expires_at', 'is', null), eb('lease_expires_at', '<=', options.now)]));
    if (options.companyId !== undefined) query = query.where('company_id', '=', options.companyId);
    const row = await query.returningAll().executeTakeFirst();
    return row ? toDelivery(row) : undefined;
  }

  async failedIds(query: { companyId: string; provider?: string; limit?: number }): Promise<string[]> {
    const rows = await this.#filtered({
      companyId: query.companyId,
      provider: query.provider,
      status: 'failed',
    })
      .select('id')
      .orderBy('created_at')
      .limit(query.limit ?? 10_000)
      .execute();
    return rows.map((row) => row.id);
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids are UUIDs: anything else is "not found", not a database error. */
function isUuid(id: string): boolean {
  return UUID.test(id);
}
