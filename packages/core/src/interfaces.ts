import type { Delivery, DeliveryStats, DeliveryStatus, ImpactEvent, ProviderResponse } from './schemas.js';

/** What intake writes before any network call. */
export interface NewDelivery {
  companyId: string;
  provider: string;
  event: ImpactEvent;
  /** Defaults to a fresh UUID. */
  deliveryId?: string;
  /** Defaults to now. */
  nextAttemptAt?: Date;
}

export interface DeliveryQuery {
  companyId: string;
  provider?: string | undefined;
  status?: DeliveryStatus | undefined;
  /** Inclusive lower bound on `createdAt`. */
  from?: Date | undefined;
  /** Exclusive upper bound on `createdAt`. */
  to?: Date | undefined;
  /** 1-based. */
  page: number;
  limit: number;
}

export interface ClaimOptions {
  /** Who holds the lease; only this owner may record the outcome. */
  owner: string;
  now: Date;
  limit: number;
  leaseMs: number;
  /** Only claim deliveries for these providers (a worker that only knows some connectors). */
  providers?: readonly string[] | undefined;
}

/** The result of one attempt, as the dispatcher records it. */
export type AttemptOutcome =
  | { status: 'success'; at: Date; payload?: unknown; providerResponse?: ProviderResponse | null }
  | {
      status: 'retrying';
      at: Date;
      nextAttemptAt: Date;
      error: string;
      payload?: unknown;
      providerResponse?: ProviderResponse | null;
    }
  | {
      status: 'failed';
      at: Date;
      error: string;
      payload?: unknown;
      providerResponse?: ProviderResponse | null;
    };

/**
 * Durable delivery log and work queue. Implementations: `MemoryDeliveryStore` here,
 * Postgres/PGlite in `@impact-in/host/postgres`. Every implementation runs
 * `describeDeliveryStore` from `@impact-in/testing`.
 */
export interface DeliveryStore {
  /** Idempotent on `(companyId, provider, event.eventId)`: a repeat returns the existing delivery. */
  submit(input: NewDelivery): Promise<{ delivery: Delivery; created: boolean }>;
  /** The delivery with this id. When `companyId` is given, another tenant's delivery is `undefined`. */
  get(id: string, companyId?: string): Promise<Delivery | undefined>;
  list(query: DeliveryQuery): Promise<{ data: Delivery[]; total: number }>;
  stats(query: { companyId: string; from?: Date | undefined; to?: Date | undefined }): Promise<DeliveryStats>;
  /**
   * Leases up to `limit` due deliveries (status pending/retrying, `nextAttemptAt <= now`, no live lease),
   * oldest due first. Two concurrent callers never receive the same delivery while its lease is live.
   */
  claimDue(options: ClaimOptions): Promise<Delivery[]>;
  /** Leases one specific delivery if it is due and unleased (used by synchronous replay). */
  claim(id: string, options: Omit<ClaimOptions, 'limit' | 'providers'>): Promise<Delivery | undefined>;
  /**
   * Records an attempt's outcome and clears the lease; increments `attemptCount`.
   * Returns `undefined` when `owner` no longer holds the lease (it expired and was re-claimed).
   */
  recordAttempt(id: string, owner: string, outcome: AttemptOutcome): Promise<Delivery | undefined>;
  /** Gives the lease back without an attempt (shutdown, paused provider). */
  release(id: string, owner: string, nextAttemptAt?: Date): Promise<void>;
  /**
   * Makes a delivery due again for replay: status `pending`, `attemptCount` 0, `replayCount` + 1,
   * same `deliveryId`. Leased deliveries are left alone (returns `undefined`).
   */
  requeue(id: string, options: { companyId?: string; now: Date }): Promise<Delivery | undefined>;
  /**
   * Requeues, in one go, those of `ids` that are failed deliveries of the tenant (and not leased),
   * as `requeue` does for one. Returns the ids it requeued. Optional: without it the dispatcher
   * requeues one by one.
   */
  requeueFailed?(ids: readonly string[], options: { companyId: string; now: Date }): Promise<string[]>;
  /** Ids of failed deliveries of a tenant (optionally one provider), oldest first. */
  failedIds(query: { companyId: string; provider?: string | undefined; limit?: number }): Promise<string[]>;
}

/** An OAuth access token as kept between requests. */
export interface StoredToken {
  accessToken: string;
  tokenType?: string | undefined;
  refreshToken?: string | undefined;
  scope?: string | undefined;
  /** Epoch milliseconds. */
  expiresAt: number;
}

/** Where OAuth tokens live, keyed by `(tenant, provider, clientId)`. */
export interface TokenStore {
  get(key: string): Promise<StoredToken | undefined>;
  set(key: string, token: StoredToken): Promise<void>;
  delete(key: string): Promise<void>;
}

/** Builds the canonical token-store key. */
export function tokenKey(parts: { tenant: string; provider: string; clientId: string }): string {
  return `${parts.tenant}:${parts.provider}:${parts.clientId}`;
}

export interface BusMessage<T = unknown> {
  subject: string;
  data: T;
  /** Dedupe id (`Nats-Msg-Id`). */
  msgId?: string | undefined;
  headers: Record<string, string>;
  /** 1 on first delivery, then 2, 3, … on redelivery. */
  deliveryCount: number;
}

export interface SubscribeOptions {
  /**
   * Durable consumer name. Subscribers sharing a name form a work queue: each message goes
   * to one of them, and survives their restarts. Without it the subscription is ephemeral.
   */
  durable?: string | undefined;
  /** Redelivery delay after a handler throws. */
  redeliverDelayMs?: number | undefined;
  /** After this many deliveries a failing message is dropped (dead-lettered). Default 10. */
  maxDeliver?: number | undefined;
  /** A handler that has not resolved after this long is presumed dead; the message is redelivered. Default 30 s. */
  ackWaitMs?: number | undefined;
}

export interface Subscription {
  close(): Promise<void>;
}

/**
 * At-least-once pub/sub with dedupe by message id. A message is acknowledged only when the
 * handler resolves; a throw (or a crash) means it is delivered again.
 * Subjects are dot-separated; `*` matches one token and `>` the rest (NATS rules).
 */
export interface EventBus {
  publish(
    subject: string,
    data: unknown,
    options?: { msgId?: string; headers?: Record<string, string> },
  ): Promise<{ duplicate: boolean }>;
  subscribe<T = unknown>(
    subject: string,
    handler: (message: BusMessage<T>) => Promise<void>,
    options?: SubscribeOptions,
  ): Promise<Subscription>;
  close(): Promise<void>;
}

/** Storage for uploaded files (CSV imports). Local folder by default, S3/R2 in the host. */
export interface BlobStore {
  put(
    key: string,
    data: Uint8Array | AsyncIterable<Uint8Array>,
    options?: { contentType?: string },
  ): Promise<{ key: string; size: number }>;
  get(key: string): Promise<AsyncIterable<Uint8Array> | undefined>;
  delete(key: string): Promise<void>;
}

export interface Notification {
  level: 'info' | 'warning' | 'error';
  title: string;
  message: string;
  companyId?: string | undefined;
  data?: Record<string, unknown> | undefined;
}

/** Tells people that something needs them (a delivery failed for good, a credential is wrong). */
export interface Notifier {
  notify(notification: Notification): Promise<void>;
}
