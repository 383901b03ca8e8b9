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
import { type ExpressionBuilder, type Kysely, type Selectable, sql } from 'kysely';
import { createBatcher } from './batcher.js';
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
    return this.#submitBatched(input);
  }

  // Concurrent submits share one multi-row INSERT (one round trip, one commit).
  readonly #submitBatched = createBatcher<NewDelivery, { delivery: Delivery; created: boolean }>((inputs) =>
    this.#submitMany(inputs),
  );

  async #submitMany(inputs: NewDelivery[]): Promise<Array<{ delivery: Delivery; created: boolean }>> {
    const now = new Date(this.#now());
    const keyOf = (companyId: string, provider: string, eventId: string) =>
      `${companyId}\u0000${provider}\u0000${eventId}`;
    for (const input of inputs) {
      // JSON would turn an invalid date into null, a delivery never due.
      if (input.nextAttemptAt && Number.isNaN(input.nextAttemptAt.getTime())) {
        throw new Error(
          `[impact-in] [postgres] nextAttemptAt of event ${input.event.eventId} is not a valid date`,
        );
      }
    }
    const fresh = inputs.map(
      (input): Delivery => ({
        id: randomUUID(),
        companyId: input.companyId,
        provider: input.provider,
        // As PostgreSQL answers a uuid: lower case.
        deliveryId: (input.deliveryId ?? randomUUID()).toLowerCase(),
        eventId: input.event.eventId,
        event: input.event,
        payload: null,
        status: 'pending',
        attemptCount: 0,
        replayCount: 0,
        lastError: null,
        providerResponse: null,
        nextAttemptAt: input.nextAttemptAt ?? now,
        deliveredAt: null,
        createdAt: now,
        updatedAt: now,
      }),
    );
    // The batch travels as one JSON parameter, expanded by json_to_recordset: one value to
    // serialise instead of sixteen per row, and a statement whose text does not grow with the
    // batch. Only the ids come back: an inserted row is exactly the delivery built here.
    const batch = JSON.stringify(
      fresh.map((delivery) => ({
        id: delivery.id,
        company_id: delivery.companyId,
        provider: delivery.provider,
        delivery_id: delivery.deliveryId,
        event_id: delivery.eventId,
        event: delivery.event,
        next_attempt_at: delivery.nextAttemptAt,
      })),
    );
    const inserted = await sql<{ id: string }>`
      insert into impact_deliveries
        (id, company_id, provider, delivery_id, event_id, event, status, next_attempt_at, created_at, updated_at)
      select r.id, r.company_id, r.provider, r.delivery_id, r.event_id, r.event, 'pending', r.next_attempt_at,
        ${now}::timestamptz, ${now}::timestamptz
      from json_to_recordset(${batch}::json)
        as r(id uuid, company_id text, provider text, delivery_id uuid, event_id text, event jsonb,
          next_attempt_at timestamptz)
      on conflict (company_id, provider, event_id) do nothing
      returning id`.execute(this.#db);
    const createdIds = new Set(inserted.rows.map((row) => row.id));
    const byKey = new Map<string, Delivery>();
    for (const delivery of fresh) {
      if (createdIds.has(delivery.id))
        byKey.set(keyOf(delivery.companyId, delivery.provider, delivery.eventId), delivery);
    }
    const created = new Set(byKey.keys());
    const missing = inputs.filter(
      (input) => !byKey.has(keyOf(input.companyId, input.provider, input.event.eventId)),
    );
    if (missing.length > 0) {
      const existing = await this.#db
        .selectFrom('impact_deliveries')
        .selectAll()
        .where((eb) =>
          eb.or(
            missing.map((input) =>
              eb.and([
                eb('company_id', '=', input.companyId),
                eb('provider', '=', input.provider),
                eb('event_id', '=', input.event.eventId),
              ]),
            ),
          ),
        )
        .execute();
      for (const row of existing)
        byKey.set(keyOf(row.company_id, row.provider, row.event_id), toDelivery(row));
    }
    return inputs.map((input) => {
      const key = keyOf(input.companyId, input.provider, input.event.eventId);
      const delivery = byKey.get(key);
      if (!delivery)
        throw new Error(`[impact-in] [postgres] delivery for event ${input.event.eventId} vanished`);
      // The same event twice in one batch: only the first call created it.
      const first = created.delete(key);
      return { delivery, created: first };
    });
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
    // See migrations 0008 and 0009 for why the claim is a function: its cost must not grow with
    // the backlog, whether of served providers or of others.
    const { rows } =
      await sql<Row>`select * from impact_claim_due(${options.owner}, ${options.now}, ${leaseUntil}, ${
        options.limit
      }, ${options.providers ? [...options.providers] : null})`.execute(this.#db);
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
    return this.#recordBatched({ id, owner, outcome });
  }

  // Outcomes recorded at about the same time share one UPDATE … FROM (VALUES …).
  readonly #recordBatched = createBatcher<
    { id: string; owner: string; outcome: AttemptOutcome },
    Delivery | undefined
  >((items) => this.#recordMany(items));

  async #recordMany(items: Array<{ id: string; owner: string; outcome: AttemptOutcome }>) {
    // One row per delivery: a second outcome for the same id in a batch cannot hold the lease.
    const seen = new Set<string>();
    const unique = items.filter((item) => !seen.has(item.id) && seen.add(item.id));
    const batch = JSON.stringify(
      unique.map(({ id, owner, outcome }) => ({
        id,
        owner,
        status: outcome.status,
        at: outcome.at,
        next_attempt_at: outcome.status === 'retrying' ? outcome.nextAttemptAt : null,
        last_error: outcome.status === 'success' ? null : outcome.error,
        set_payload: outcome.payload !== undefined,
        // As text: a `json` column keeps the provider's payload byte for byte.
        payload:
          outcome.payload === undefined || outcome.payload === null ? null : JSON.stringify(outcome.payload),
        set_response: outcome.providerResponse !== undefined,
        provider_response: outcome.providerResponse ?? null,
      })),
    );
    const result = await sql<Row>`
      update impact_deliveries as d set
        attempt_count = d.attempt_count + 1,
        status = v.status,
        updated_at = v.at,
        lease_owner = null,
        lease_expires_at = null,
        next_attempt_at = v.next_attempt_at,
        last_error = v.last_error,
        delivered_at = case when v.status = 'success' then v.at else d.delivered_at end,
        payload = case when v.set_payload then v.payload::json else d.payload end,
        provider_response = case when v.set_response then v.provider_response else d.provider_response end
      from json_to_recordset(${batch}::json)
        as v(id uuid, owner text, status text, at timestamptz, next_attempt_at timestamptz, last_error text,
          set_payload boolean, payload text, set_response boolean, provider_response jsonb)
      where d.id = v.id and d.lease_owner = v.owner
      returning d.*`.execute(this.#db);
    const byId = new Map(result.rows.map((row) => [row.id, toDelivery(row)]));
    return items.map((item) => byId.get(item.id));
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
      .set(requeued(options.now))
      .where('id', '=', id)
      .where((eb) => eb.or([eb('lease_expires_at', 'is', null), eb('lease_expires_at', '<=', options.now)]));
    if (options.companyId !== undefined) query = query.where('company_id', '=', options.companyId);
    const row = await query.returningAll().executeTakeFirst();
    return row ? toDelivery(row) : undefined;
  }

  async requeueFailed(ids: readonly string[], options: { companyId: string; now: Date }): Promise<string[]> {
    const valid = ids.filter(isUuid);
    const done: string[] = [];
    for (let start = 0; start < valid.length; start += 5_000) {
      const rows = await this.#db
        .updateTable('impact_deliveries')
        .set(requeued(options.now))
        .where('id', '=', sql<string>`any(${valid.slice(start, start + 5_000)}::uuid[])`)
        .where('company_id', '=', options.companyId)
        .where('status', '=', 'failed')
        .where((eb) => eb.or([eb('lease_expires_at', 'is', null), eb('lease_expires_at', '<=', options.now)]))
        .returning('id')
        .execute();
      for (const row of rows) done.push(row.id);
    }
    return done;
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

/** A replay's columns: pending now, attempts reset, the replay counted, unleased. */
const requeued = (now: Date) => (eb: ExpressionBuilder<Database, 'impact_deliveries'>) => ({
  status: 'pending' as const,
  attempt_count: 0,
  replay_count: eb('replay_count', '+', 1),
  next_attempt_at: now,
  updated_at: now,
  lease_owner: null,
  lease_expires_at: null,
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids are UUIDs: anything else is "not found", not a database error. */
function isUuid(id: string): boolean {
  return UUID.test(id);
}
