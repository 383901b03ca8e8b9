import { randomUUID } from 'node:crypto';
import type {
  AttemptOutcome,
  ClaimOptions,
  DeliveryQuery,
  DeliveryStore,
  NewDelivery,
} from '../interfaces.js';
import type { Delivery, DeliveryStats, DeliveryStatus, ImpactEvent, ProviderResponse } from '../schemas.js';

/**
 * One delivery as kept in memory: times as numbers and the lease inline, so each delivery is a
 * handful of objects (retained objects are what the garbage collector pays for). Events,
 * payloads and responses are frozen and shared with readers.
 */
interface Entry {
  id: string;
  companyId: string;
  provider: string;
  deliveryId: string;
  eventId: string;
  event: ImpactEvent;
  payload: unknown;
  status: DeliveryStatus;
  attemptCount: number;
  replayCount: number;
  lastError: string | null;
  providerResponse: ProviderResponse | null;
  nextAttemptAt: number | null;
  deliveredAt: number | null;
  createdAt: number;
  updatedAt: number;
  leaseOwner: string | null;
  leaseExpiresAt: number;
}

const toDelivery = (entry: Entry): Delivery => ({
  id: entry.id,
  companyId: entry.companyId,
  provider: entry.provider,
  deliveryId: entry.deliveryId,
  eventId: entry.eventId,
  event: entry.event,
  payload: entry.payload,
  status: entry.status,
  attemptCount: entry.attemptCount,
  replayCount: entry.replayCount,
  lastError: entry.lastError,
  providerResponse: entry.providerResponse,
  nextAttemptAt: entry.nextAttemptAt === null ? null : new Date(entry.nextAttemptAt),
  deliveredAt: entry.deliveredAt === null ? null : new Date(entry.deliveredAt),
  createdAt: new Date(entry.createdAt),
  updatedAt: new Date(entry.updatedAt),
});

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

/** Copies a caller's value once, so later changes on their side cannot reach the store. */
const own = <T>(value: T): T =>
  value !== null && typeof value === 'object' ? deepFreeze(structuredClone(value)) : value;

/**
 * An in-memory {@link DeliveryStore}: for embedding, tests and benchmarks. Everything is
 * lost with the process; use the Postgres store from `@impact-in/host/postgres` for durability.
 */
export class MemoryDeliveryStore implements DeliveryStore {
  readonly #entries = new Map<string, Entry>();
  readonly #byEvent = new Map<string, string>();
  // Open deliveries sit in exactly one of three sets, so a claim touches only what it takes:
  // due and unleased (submission order), leased, or waiting for a future nextAttemptAt.
  readonly #ready = new Set<string>();
  readonly #leased = new Set<string>();
  readonly #delayed = new Set<string>();
  /** Lower bounds: nothing leased expires, nothing delayed falls due, before these times. */
  #earliestLeaseExpiry = Number.POSITIVE_INFINITY;
  #earliestDelayed = Number.POSITIVE_INFINITY;
  readonly #now: () => number;

  constructor(options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
  }

  async submit(input: NewDelivery): Promise<{ delivery: Delivery; created: boolean }> {
    const eventKey = `${input.companyId}\u0000${input.provider}\u0000${input.event.eventId}`;
    const existing = this.#byEvent.get(eventKey);
    if (existing) return { delivery: toDelivery(this.#entries.get(existing)!), created: false };
    const now = this.#now();
    const entry: Entry = {
      id: randomUUID(),
      companyId: input.companyId,
      provider: input.provider,
      deliveryId: input.deliveryId ?? randomUUID(),
      eventId: input.event.eventId,
      event: own(input.event),
      payload: null,
      status: 'pending',
      attemptCount: 0,
      replayCount: 0,
      lastError: null,
      providerResponse: null,
      nextAttemptAt: input.nextAttemptAt ? input.nextAttemptAt.getTime() : now,
      deliveredAt: null,
      createdAt: now,
      updatedAt: now,
      leaseOwner: null,
      leaseExpiresAt: 0,
    };
    this.#entries.set(entry.id, entry);
    this.#byEvent.set(eventKey, entry.id);
    this.#park(entry);
    return { delivery: toDelivery(entry), created: true };
  }

  async get(id: string, companyId?: string): Promise<Delivery | undefined> {
    const entry = this.#entries.get(id);
    if (!entry || (companyId !== undefined && entry.companyId !== companyId)) return undefined;
    return toDelivery(entry);
  }

  #matching(query: Omit<DeliveryQuery, 'page' | 'limit'>): Entry[] {
    const from = query.from?.getTime();
    const to = query.to?.getTime();
    const out: Entry[] = [];
    for (const entry of this.#entries.values()) {
      if (entry.companyId !== query.companyId) continue;
      if (query.provider && entry.provider !== query.provider) continue;
      if (query.status && entry.status !== query.status) continue;
      if (from !== undefined && entry.createdAt < from) continue;
      if (to !== undefined && entry.createdAt >= to) continue;
      out.push(entry);
    }
    return out;
  }

  async list(query: DeliveryQuery): Promise<{ data: Delivery[]; total: number }> {
    const all = this.#matching(query).sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? -1 : 1));
    const start = (query.page - 1) * query.limit;
    return { data: all.slice(start, start + query.limit).map(toDelivery), total: all.length };
  }

  async stats(query: { companyId: string; from?: Date; to?: Date }): Promise<DeliveryStats> {
    const overall = { total: 0, successful: 0, failed: 0, pending: 0, retrying: 0 };
    const groups = new Map<
      string,
      { provider: string; status: DeliveryStatus; count: number; attempts: number }
    >();
    for (const entry of this.#matching(query)) {
      overall.total++;
      if (entry.status === 'success') overall.successful++;
      else overall[entry.status]++;
      const key = `${entry.provider}\u0000${entry.status}`;
      const group = groups.get(key) ?? {
        provider: entry.provider,
        status: entry.status,
        count: 0,
        attempts: 0,
      };
      group.count++;
      group.attempts += entry.attemptCount;
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

  /** Puts an unleased open delivery in `#ready` or `#delayed`. */
  #park(entry: Entry): void {
    this.#leased.delete(entry.id);
    const at = entry.nextAttemptAt ?? 0;
    if (at > this.#now()) {
      this.#ready.delete(entry.id);
      this.#delayed.add(entry.id);
      if (at < this.#earliestDelayed) this.#earliestDelayed = at;
    } else {
      this.#delayed.delete(entry.id);
      this.#ready.add(entry.id);
    }
  }

  #close(id: string): void {
    this.#ready.delete(id);
    this.#leased.delete(id);
    this.#delayed.delete(id);
  }

  /** Moves expired leases and due delayed deliveries into `#ready`. */
  #promote(now: number): void {
    if (now >= this.#earliestLeaseExpiry) {
      let earliest = Number.POSITIVE_INFINITY;
      for (const id of this.#leased) {
        const entry = this.#entries.get(id)!;
        if (entry.leaseExpiresAt <= now) {
          entry.leaseOwner = null;
          this.#leased.delete(id);
          this.#delayed.add(id);
          this.#earliestDelayed = Math.min(this.#earliestDelayed, entry.nextAttemptAt ?? 0);
        } else if (entry.leaseExpiresAt < earliest) earliest = entry.leaseExpiresAt;
      }
      this.#earliestLeaseExpiry = earliest;
    }
    if (now >= this.#earliestDelayed) {
      let earliest = Number.POSITIVE_INFINITY;
      for (const id of this.#delayed) {
        const at = this.#entries.get(id)!.nextAttemptAt ?? 0;
        if (at <= now) {
          this.#delayed.delete(id);
          this.#ready.add(id);
        } else if (at < earliest) earliest = at;
      }
      this.#earliestDelayed = earliest;
    }
  }

  #lease(entry: Entry, owner: string, expiresAt: number): Delivery {
    this.#ready.delete(entry.id);
    this.#leased.add(entry.id);
    entry.leaseOwner = owner;
    entry.leaseExpiresAt = expiresAt;
    if (expiresAt < this.#earliestLeaseExpiry) this.#earliestLeaseExpiry = expiresAt;
    return toDelivery(entry);
  }

  async claimDue(options: ClaimOptions): Promise<Delivery[]> {
    const now = options.now.getTime();
    this.#promote(now);
    const providers = options.providers ? new Set(options.providers) : undefined;
    const claimed: Delivery[] = [];
    for (const id of this.#ready) {
      if (claimed.length >= options.limit) break;
      const entry = this.#entries.get(id)!;
      if (providers && !providers.has(entry.provider)) continue;
      if ((entry.nextAttemptAt ?? 0) > now) continue; // due by the store's clock, not yet the caller's
      claimed.push(this.#lease(entry, options.owner, now + options.leaseMs));
    }
    return claimed;
  }

  async claim(id: string, options: Omit<ClaimOptions, 'limit' | 'providers'>): Promise<Delivery | undefined> {
    const now = options.now.getTime();
    this.#promote(now);
    const entry = this.#entries.get(id);
    if (!entry || !this.#ready.has(id) || (entry.nextAttemptAt ?? 0) > now) return undefined;
    return this.#lease(entry, options.owner, now + options.leaseMs);
  }

  async recordAttempt(id: string, owner: string, outcome: AttemptOutcome): Promise<Delivery | undefined> {
    const entry = this.#entries.get(id);
    if (!entry || entry.leaseOwner !== owner) return undefined;
    const at = outcome.at.getTime();
    entry.attemptCount++;
    entry.status = outcome.status;
    entry.updatedAt = at;
    if (outcome.payload !== undefined) entry.payload = own(outcome.payload);
    if (outcome.providerResponse !== undefined) entry.providerResponse = own(outcome.providerResponse);
    entry.leaseOwner = null;
    entry.leaseExpiresAt = 0;
    if (outcome.status === 'success') {
      entry.deliveredAt = at;
      entry.nextAttemptAt = null;
      entry.lastError = null;
      this.#close(id);
    } else if (outcome.status === 'retrying') {
      entry.nextAttemptAt = outcome.nextAttemptAt.getTime();
      entry.lastError = outcome.error;
      this.#park(entry);
    } else {
      entry.nextAttemptAt = null;
      entry.lastError = outcome.error;
      this.#close(id);
    }
    return toDelivery(entry);
  }

  async release(id: string, owner: string, nextAttemptAt?: Date): Promise<void> {
    const entry = this.#entries.get(id);
    if (!entry || entry.leaseOwner !== owner) return;
    entry.leaseOwner = null;
    entry.leaseExpiresAt = 0;
    if (nextAttemptAt) entry.nextAttemptAt = nextAttemptAt.getTime();
    this.#park(entry);
  }

  async requeue(id: string, options: { companyId?: string; now: Date }): Promise<Delivery | undefined> {
    const entry = this.#entries.get(id);
    if (!entry || (options.companyId !== undefined && entry.companyId !== options.companyId))
      return undefined;
    const now = options.now.getTime();
    if (entry.leaseOwner !== null && entry.leaseExpiresAt > now) return undefined;
    entry.status = 'pending';
    entry.attemptCount = 0;
    entry.replayCount++;
    entry.nextAttemptAt = now;
    entry.updatedAt = now;
    entry.leaseOwner = null;
    this.#park(entry);
    return toDelivery(entry);
  }

  async requeueFailed(ids: readonly string[], options: { companyId: string; now: Date }): Promise<string[]> {
    const requeued: string[] = [];
    for (const id of ids) {
      const entry = this.#entries.get(id);
      if (!entry || entry.companyId !== options.companyId || entry.status !== 'failed') continue;
      if (await this.requeue(id, options)) requeued.push(id);
    }
    return requeued;
  }

  async failedIds(query: { companyId: string; provider?: string; limit?: number }): Promise<string[]> {
    return this.#matching({ companyId: query.companyId, provider: query.provider, status: 'failed' })
      .sort((a, b) => a.createdAt - b.createdAt)
      .slice(0, query.limit ?? 10_000)
      .map((entry) => entry.id);
  }
}
