import { randomUUID } from 'node:crypto';
import type {
  AttemptOutcome,
  ClaimOptions,
  DeliveryQuery,
  DeliveryStore,
  NewDelivery,
} from '../interfaces.js';
import type { Delivery, DeliveryStats, DeliveryStatus } from '../schemas.js';

interface Row {
  delivery: Delivery;
  leaseOwner: string | null;
  leaseExpiresAt: number;
}

// Events and payloads are stored as given and handed out shared (frozen), so reads cost a shallow
// copy instead of a deep clone; only the mutable top-level fields and dates are copied.
const clone = (delivery: Delivery): Delivery => ({
  ...delivery,
  nextAttemptAt: delivery.nextAttemptAt ? new Date(delivery.nextAttemptAt) : null,
  deliveredAt: delivery.deliveredAt ? new Date(delivery.deliveredAt) : null,
  createdAt: new Date(delivery.createdAt),
  updatedAt: new Date(delivery.updatedAt),
});

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

/**
 * An in-memory {@link DeliveryStore}: for embedding, tests and benchmarks. Everything is
 * lost with the process; use the Postgres store from `@impact-in/host/postgres` for durability.
 */
export class MemoryDeliveryStore implements DeliveryStore {
  readonly #rows = new Map<string, Row>();
  readonly #byEvent = new Map<string, string>();
  /** Deliveries that may still need an attempt, in submission order. */
  readonly #open = new Set<string>();
  readonly #now: () => number;

  constructor(options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
  }

  async submit(input: NewDelivery): Promise<{ delivery: Delivery; created: boolean }> {
    const eventKey = `${input.companyId}\u0000${input.provider}\u0000${input.event.eventId}`;
    const existing = this.#byEvent.get(eventKey);
    if (existing) return { delivery: clone(this.#rows.get(existing)!.delivery), created: false };
    const now = new Date(this.#now());
    const delivery: Delivery = {
      id: randomUUID(),
      companyId: input.companyId,
      provider: input.provider,
      deliveryId: input.deliveryId ?? randomUUID(),
      eventId: input.event.eventId,
      event: deepFreeze(structuredClone(input.event)),
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
    };
    this.#rows.set(delivery.id, { delivery, leaseOwner: null, leaseExpiresAt: 0 });
    this.#byEvent.set(eventKey, delivery.id);
    this.#open.add(delivery.id);
    return { delivery: clone(delivery), created: true };
  }

  async get(id: string, companyId?: string): Promise<Delivery | undefined> {
    const row = this.#rows.get(id);
    if (!row || (companyId !== undefined && row.delivery.companyId !== companyId)) return undefined;
    return clone(row.delivery);
  }

  #matching(query: Omit<DeliveryQuery, 'page' | 'limit'>): Delivery[] {
    const out: Delivery[] = [];
    for (const { delivery } of this.#rows.values()) {
      if (delivery.companyId !== query.companyId) continue;
      if (query.provider && delivery.provider !== query.provider) continue;
      if (query.status && delivery.status !== query.status) continue;
      if (query.from && delivery.createdAt < query.from) continue;
      if (query.to && delivery.createdAt >= query.to) continue;
      out.push(delivery);
    }
    return out;
  }

  async list(query: DeliveryQuery): Promise<{ data: Delivery[]; total: number }> {
    const all = this.#matching(query).sort(
      (a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? -1 : 1),
    );
    const start = (query.page - 1) * query.limit;
    return { data: all.slice(start, start + query.limit).map(clone), total: all.length };
  }

  async stats(query: { companyId: string; from?: Date; to?: Date }): Promise<DeliveryStats> {
    const overall = { total: 0, successful: 0, failed: 0, pending: 0, retrying: 0 };
    const groups = new Map<
      string,
      { provider: string; status: DeliveryStatus; count: number; attempts: number }
    >();
    for (const delivery of this.#matching(query)) {
      overall.total++;
      if (delivery.status === 'success') overall.successful++;
      else overall[delivery.status]++;
      const key = `${delivery.provider}\u0000${delivery.status}`;
      const group = groups.get(key) ?? {
        provider: delivery.provider,
        status: delivery.status,
        count: 0,
        attempts: 0,
      };
      group.count++;
      group.attempts += delivery.attemptCount;
      groups.set(key, group);
    }
    const byProvider = [...groups.values()]
      .sort((a, b) => a.provider.localeCompare(b.provider) || a.status.localeCompare(b.status))
      .map((group) => ({
        provider: group.provider,
        status: group.status,
        count: group.count,
        avgAttempts: Math.round((group.attempts / group.count) * 100) / 100,
      }));
    return { overall, byProvider };
  }

  #claimable(row: Row, now: number): boolean {
    const { delivery } = row;
    if (delivery.status !== 'pending' && delivery.status !== 'retrying') return false;
    if (delivery.nextAttemptAt && delivery.nextAttemptAt.getTime() > now) return false;
    return row.leaseOwner === null || row.leaseExpiresAt <= now;
  }

  async claimDue(options: ClaimOptions): Promise<Delivery[]> {
    const now = options.now.getTime();
    const providers = options.providers ? new Set(options.providers) : undefined;
    const due: Row[] = [];
    // Submission order stands in for due order: a scan that stops at `limit` keeps claiming O(limit)
    // when the queue is long, which the benchmark needs.
    for (const id of this.#open) {
      if (due.length >= options.limit) break;
      const row = this.#rows.get(id)!;
      if (providers && !providers.has(row.delivery.provider)) continue;
      if (this.#claimable(row, now)) due.push(row);
    }
    return due.map((row) => {
      row.leaseOwner = options.owner;
      row.leaseExpiresAt = now + options.leaseMs;
      return clone(row.delivery);
    });
  }

  async claim(id: string, options: Omit<ClaimOptions, 'limit' | 'providers'>): Promise<Delivery | undefined> {
    const row = this.#rows.get(id);
    const now = options.now.getTime();
    if (!row || !this.#claimable(row, now)) return undefined;
    row.leaseOwner = options.owner;
    row.leaseExpiresAt = now + options.leaseMs;
    return clone(row.delivery);
  }

  async recordAttempt(id: string, owner: string, outcome: AttemptOutcome): Promise<Delivery | undefined> {
    const row = this.#rows.get(id);
    if (!row || row.leaseOwner !== owner) return undefined;
    const { delivery } = row;
    delivery.attemptCount++;
    delivery.status = outcome.status;
    delivery.updatedAt = new Date(outcome.at);
    if (outcome.payload !== undefined) delivery.payload = deepFreeze(structuredClone(outcome.payload));
    if (outcome.providerResponse !== undefined)
      delivery.providerResponse = deepFreeze(outcome.providerResponse);
    if (outcome.status === 'success') {
      delivery.deliveredAt = new Date(outcome.at);
      delivery.nextAttemptAt = null;
      delivery.lastError = null;
      this.#open.delete(id);
    } else if (outcome.status === 'retrying') {
      delivery.nextAttemptAt = new Date(outcome.nextAttemptAt);
      delivery.lastError = outcome.error;
    } else {
      delivery.nextAttemptAt = null;
      delivery.lastError = outcome.error;
      this.#open.delete(id);
    }
    row.leaseOwner = null;
    row.leaseExpiresAt = 0;
    return clone(delivery);
  }

  async release(id: string, owner: string, nextAttemptAt?: Date): Promise<void> {
    const row = this.#rows.get(id);
    if (!row || row.leaseOwner !== owner) return;
    row.leaseOwner = null;
    row.leaseExpiresAt = 0;
    if (nextAttemptAt) row.delivery.nextAttemptAt = new Date(nextAttemptAt);
  }

  async requeue(id: string, options: { companyId?: string; now: Date }): Promise<Delivery | undefined> {
    const row = this.#rows.get(id);
    if (!row || (options.companyId !== undefined && row.delivery.companyId !== options.companyId))
      return undefined;
    const now = options.now.getTime();
    if (row.leaseOwner !== null && row.leaseExpiresAt > now) return undefined;
    const { delivery } = row;
    delivery.status = 'pending';
    delivery.attemptCount = 0;
    delivery.replayCount++;
    delivery.nextAttemptAt = new Date(now);
    delivery.updatedAt = new Date(now);
    row.leaseOwner = null;
    this.#open.add(id);
    return clone(delivery);
  }

  async failedIds(query: { companyId: string; provider?: string; limit?: number }): Promise<string[]> {
    return this.#matching({ companyId: query.companyId, provider: query.provider, status: 'failed' })
      .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime())
      .slice(0, query.limit ?? 10_000)
      .map((delivery) => delivery.id);
  }
}
