import { randomUUID } from 'node:crypto';
import { type Clock, systemClock } from './clock.js';
import type { AnyConnector, AnyConnectorBinding, ConnectorContext } from './connector.js';
import {
  classifyError,
  DeliveryValidationError,
  errorFromResponse,
  formatFieldPath,
  type ImpactInError,
  PermanentError,
} from './errors.js';
import { createHttpClient, type HttpClient, type HttpResponse } from './http-client.js';
import type { AttemptOutcome, DeliveryQuery, DeliveryStore, Notifier, TokenStore } from './interfaces.js';
import { type Logger, noopLogger } from './logger.js';
import { MemoryTokenStore } from './memory/token-store.js';
import type { RateLimiter, RateLimitSpec } from './rate-limiter.js';
import { createRateLimiter } from './rate-limiter.js';
import { computeRetryDelay, type RetryPolicy, resolveRetryPolicy } from './retry-policy.js';
import {
  type DeliverRequest,
  DeliverRequestSchema,
  type Delivery,
  type DeliveryStats,
  type DeliveryStatus,
  type ProviderResponse,
  storableText,
} from './schemas.js';

export interface DispatcherOptions {
  store: DeliveryStore;
  /** Connectors with their default (single-tenant) config. */
  connectors: readonly AnyConnectorBinding[];
  /**
   * Per-tenant config. Return a validated config to override the default, or `undefined` to
   * use the binding's config. Use this to give each tenant its own credentials.
   */
  resolveConfig?: (companyId: string, provider: string) => Promise<unknown | undefined>;
  /** When it resolves `false`, the tenant's deliveries to that provider wait (they are not failed). */
  isEnabled?: (companyId: string, provider: string) => Promise<boolean>;
  http?: HttpClient;
  tokens?: TokenStore;
  rateLimiter?: RateLimiter;
  logger?: Logger;
  clock?: Clock;
  notifier?: Notifier;
  /** Overrides of seed 002's retry policy, for every connector (a connector's own overrides win). */
  retryPolicy?: Partial<RetryPolicy>;
  /** Attempts in flight at once in this process. Default 16. */
  concurrency?: number;
  /** How long a claimed delivery stays leased to this worker. Default 5 min. */
  leaseMs?: number;
  /** How often an idle worker looks for due deliveries. Default 500 ms. */
  pollIntervalMs?: number;
  /**
   * With a database store, wait up to this long for a quarter of the worker slots to free up
   * before claiming, so one claim query serves several slots. Default 0 (claim at once).
   */
  claimCoalesceMs?: number;
  /** How long a delivery for a disabled integration waits before it is looked at again. Default 30 s. */
  disabledRecheckMs?: number;
  /** This worker's lease owner id. Default a random UUID. */
  workerId?: string;
  /** Source of randomness for jitter (tests pass a fixed one). */
  random?: () => number;
  /** Called after every recorded attempt (metrics). */
  onAttempt?: (event: { delivery: Delivery; durationMs: number; error?: ImpactInError }) => void;
}

export interface ReplayResult {
  id: string;
  success: boolean;
  newStatus?: DeliveryStatus;
  error?: string;
}

export interface BulkReplayResult {
  /**
   * `queued`: deliveries requeued for the workers instead of attempted in the request
   * (retry-all-failed past its inline limit); each has `newStatus: 'pending'` in `results`.
   */
  summary: { total: number; successful: number; failed: number; queued?: number };
  results: ReplayResult[];
}

/** A known provider name was asked for but no connector is registered for it. */
export class UnknownProviderError extends PermanentError {
  constructor(provider: string, known: readonly string[]) {
    super(`[impact-in] unknown provider "${provider}" (known: ${known.join(', ') || 'none'})`, {
      code: 'unknown_provider',
    });
  }
}

/** The durable delivery engine. */
export interface Dispatcher {
  /** Validates and stores the delivery (before any network call). Idempotent on the event. */
  submit(request: DeliverRequest): Promise<{ delivery: Delivery; created: boolean }>;
  /**
   * Submits and resolves once the delivery succeeded or failed for good (rejects once `timeoutMs`,
   * default 120 s, passed). Without `start()`, it attempts the delivery itself, retries included.
   */
  submitAndWait(request: DeliverRequest, options?: { timeoutMs?: number }): Promise<Delivery>;
  /** Claims and attempts every delivery due now, once; resolves with how many were attempted. */
  runOnce(): Promise<number>;
  /** Starts the background worker loop. */
  start(): void;
  /**
   * Stops claiming and lets in-flight attempts finish. After `timeoutMs` (default 30 s) the rest
   * are aborted; one the provider had not answered yet is recorded as `retrying`, due at once: a
   * shutdown never fails a delivery, and the next attempt keeps its idempotency key. Ends a
   * `runOnce` and the retries of a `submitAndWait` without `start()`.
   */
  stop(options?: { timeoutMs?: number }): Promise<void>;
  /** `stop()`, then closes the HTTP client and rate limiter the dispatcher created itself. */
  close(options?: { timeoutMs?: number }): Promise<void>;
  get(id: string, companyId?: string): Promise<Delivery | undefined>;
  list(query: DeliveryQuery): Promise<{ data: Delivery[]; total: number }>;
  stats(query: { companyId: string; from?: Date; to?: Date }): Promise<DeliveryStats>;
  /** Replays one delivery now, with the same deliveryId. `undefined` when not found (or another tenant's). */
  replay(id: string, options?: { companyId?: string }): Promise<Delivery | undefined>;
  bulkReplay(ids: readonly string[], options?: { companyId?: string }): Promise<BulkReplayResult>;
  /**
   * Replays every failed delivery of the tenant. The first `inlineLimit` (default 100) are
   * attempted now, as bulk replay does; the rest are requeued in one store operation and
   * delivered by the workers, so a tenant with 100 000 failures does not hold the request.
   */
  retryAllFailed(options: {
    companyId: string;
    provider?: string;
    inlineLimit?: number;
  }): Promise<BulkReplayResult>;
  /** Resolves with the delivery once it is `success` or `failed`. */
  waitFor(id: string, options?: { timeoutMs?: number }): Promise<Delivery>;
  readonly providers: readonly string[];
}

const TERMINAL: ReadonlySet<DeliveryStatus> = new Set(['success', 'failed']);
const MAX_RECORDED_BODY = 64 * 1024;

/** The provider's answer as the delivery log keeps it; `body` is its text, secrets redacted. */
function recordResponse(response: HttpResponse, body: string): ProviderResponse {
  const text = storableText(body);
  const headers: Record<string, string> = {};
  for (const name of ['content-type', 'retry-after', 'x-ratelimit-remaining', 'x-request-id']) {
    const value = response.headers[name];
    if (value !== undefined) headers[name] = value;
  }
  return {
    status: response.status,
    headers,
    body: text.length > MAX_RECORDED_BODY ? text.slice(0, MAX_RECORDED_BODY) : text,
  };
}

/**
 * `text` with every value of the connector's declared secrets in its config replaced by
 * `[redacted]`: an error message or a recorded answer that quotes a key (a provider echoing it, a
 * connector careless with it) never reaches the delivery log or the logs. Values under 4
 * characters are left alone.
 */
function withoutSecrets(text: string, connector: AnyConnector, config: unknown): string {
  // Runs on every answer: nothing is allocated unless a secret is actually in the text.
  let found: string[] | undefined;
  for (const field of connector.secrets ?? []) {
    const value = (config as Record<string, unknown> | null | undefined)?.[field];
    if (typeof value !== 'string' || value.length < 4 || !text.includes(value)) continue;
    if (found) found.push(value);
    else found = [value];
  }
  if (!found) return text;
  // Longest first: a secret that contains another is replaced whole.
  found.sort((a, b) => b.length - a.length);
  let out = text;
  for (const value of found) out = out.replaceAll(value, '[redacted]');
  return out;
}

/**
 * Creates a dispatcher over any {@link DeliveryStore}.
 *
 * @example
 * const dispatcher = createDispatcher({
 *   store: new MemoryDeliveryStore(),
 *   connectors: [bindConnector(goodera, { apiUrl, tokenUrl, clientId, clientSecret })],
 * });
 * dispatcher.start();
 * const delivery = await dispatcher.submitAndWait({ companyId, provider: 'goodera', event });
 * await dispatcher.stop();
 */
export function createDispatcher(options: DispatcherOptions): Dispatcher {
  const store = options.store;
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? noopLogger;
  const ownsHttp = options.http === undefined;
  const http = options.http ?? createHttpClient();
  const tokens = options.tokens ?? new MemoryTokenStore();
  const ownsLimiter = options.rateLimiter === undefined;
  const limiter = options.rateLimiter ?? createRateLimiter({ clock });
  const concurrency = options.concurrency ?? 16;
  const leaseMs = options.leaseMs ?? 300_000;
  const pollIntervalMs = options.pollIntervalMs ?? 500;
  const disabledRecheckMs = options.disabledRecheckMs ?? 30_000;
  const claimCoalesceMs = options.claimCoalesceMs ?? 0;
  const claimQuorum = Math.max(1, Math.floor(concurrency / 4));
  const workerId = options.workerId ?? randomUUID();
  // Each claim gets its own lease token, so an attempt that outlived its lease cannot record an
  // outcome over a newer claim of the same delivery, even one made by this same worker.
  let claimSequence = 0;
  const leases = new WeakMap<Delivery, string>();
  const newLease = () => `${workerId}/${++claimSequence}`;
  const leaseOf = (delivery: Delivery) => leases.get(delivery) ?? workerId;
  const random = options.random ?? Math.random;

  const bindings = new Map<string, AnyConnectorBinding>();
  for (const binding of options.connectors) {
    if (bindings.has(binding.connector.id)) {
      throw new Error(`[impact-in] connector "${binding.connector.id}" is registered twice`);
    }
    bindings.set(binding.connector.id, binding);
  }
  const providers = [...bindings.keys()];
  const policies = new Map<string, RetryPolicy>();
  for (const [id, binding] of bindings) {
    policies.set(id, resolveRetryPolicy({ ...options.retryPolicy, ...binding.connector.retryPolicy }));
  }

  const inflight = new Set<Promise<void>>();
  const waiters = new Map<string, Set<(delivery: Delivery) => void>>();
  let running = false;
  /** Bumped by every `stop()`: a `runOnce` or `drive` started before it ends. */
  let generation = 0;
  let closed = false;
  let closing: Promise<void> | undefined;
  /** Wakes `drive`'s sleeps (at `stop()`). */
  const sleepers = new Set<() => void>();
  /** Rejects the pending `waitFor`s (at `close()`). */
  const waitersToFail = new Set<(error: Error) => void>();
  let loopPromise: Promise<void> | undefined;
  let wake: (() => void) | undefined;
  // Set when there is news (a submit, a freed slot) while the loop is not yet waiting.
  let wakeRequested = false;
  const signalLoop = () => {
    wakeRequested = true;
    wake?.();
  };
  // Aborted when stop() runs out of patience. Shared by every attempt: the HTTP client keeps one
  // listener per signal, not one per request.
  let stopController = new AbortController();

  const notifyWaiters = (delivery: Delivery) => {
    if (!TERMINAL.has(delivery.status)) return;
    const set = waiters.get(delivery.id);
    if (!set) return;
    waiters.delete(delivery.id);
    for (const resolve of set) resolve(delivery);
  };

  // Returns synchronously when there is no per-tenant resolver: one await less per attempt.
  const configFor = (companyId: string, provider: string) => {
    const binding = bindings.get(provider);
    if (!binding) return undefined;
    const connector = binding.connector as AnyConnector;
    if (!options.resolveConfig) return { connector, config: binding.config as unknown };
    return options
      .resolveConfig(companyId, provider)
      .then((override) => ({ connector, config: (override ?? binding.config) as unknown }));
  };

  const bucketOf = (connector: AnyConnector, config: unknown, companyId: string) => {
    const spec: RateLimitSpec | undefined =
      typeof connector.rateLimit === 'function' ? connector.rateLimit(config) : connector.rateLimit;
    const credential = connector.credentialKey ? connector.credentialKey(config) : companyId;
    return { spec, key: `${connector.id}:${credential}` };
  };

  const attempt = async (delivery: Delivery): Promise<void> => {
    const started = clock.now();
    // The stop signal of this attempt: a `stop()` that gives up waiting aborts the attempts begun
    // before it finished; those begun after it (a restart, `runOnce`, a replay) get a new one.
    const stopSignal = stopController.signal;
    const log =
      logger === noopLogger
        ? noopLogger
        : logger.child({
            deliveryId: delivery.deliveryId,
            provider: delivery.provider,
            eventId: delivery.eventId,
          });
    const found = configFor(delivery.companyId, delivery.provider);
    const resolved = found instanceof Promise ? await found : found;
    const attemptNumber = delivery.attemptCount + 1;
    if (!resolved) {
      const error = new UnknownProviderError(delivery.provider, providers);
      await finish(
        delivery,
        { status: 'failed', at: new Date(clock.now()), error: error.message },
        started,
        error,
      );
      return;
    }
    const { connector, config } = resolved;
    if (options.isEnabled && !(await options.isEnabled(delivery.companyId, delivery.provider))) {
      await store.release(delivery.id, leaseOf(delivery), new Date(clock.now() + disabledRecheckMs));
      log.debug({ status: delivery.status }, 'integration disabled; delivery waits');
      return;
    }
    const { spec, key } = bucketOf(connector, config, delivery.companyId);
    const pausedUntil = limiter.pausedUntil(key);
    if (pausedUntil !== undefined) {
      await store.release(delivery.id, leaseOf(delivery), new Date(pausedUntil));
      return;
    }
    if (!connector.deliver) {
      const error = new PermanentError(`[impact-in] [${connector.id}] connector cannot deliver`, {
        code: 'unsupported',
      });
      await finish(
        delivery,
        { status: 'failed', at: new Date(clock.now()), error: error.message },
        started,
        error,
      );
      return;
    }
    const deliver = connector.deliver;
    const context: ConnectorContext<unknown> = {
      config,
      companyId: delivery.companyId,
      http,
      tokens,
      logger: log,
      clock,
      signal: stopSignal,
    };
    const run = () =>
      deliver({ event: delivery.event, deliveryId: delivery.deliveryId, attempt: attemptNumber }, context);

    let payload: unknown;
    let providerResponse: ProviderResponse | null = null;
    let error: ImpactInError | undefined;
    try {
      const result = spec ? await limiter.schedule(key, spec, run, stopSignal) : await run();
      payload = result.payload;
      // Redacted once, for the log and the error alike (before the error's message cuts the text
      // short: a key straddling the cut would leak).
      const body = withoutSecrets(result.response.text(), connector, config);
      providerResponse = recordResponse(result.response, body);
      if (spec || result.response.status === 429) await limiter.observe(key, result.response);
      const classified = connector.classifyResponse?.(result.response, config);
      if (classified === undefined) {
        if (result.response.status >= 300) {
          error = errorFromResponse(
            connector.id,
            {
              status: result.response.status,
              headers: result.response.headers,
              text: body,
            },
            clock.now(),
          );
        }
      } else if (classified !== null) {
        error = classified;
      }
    } catch (thrown) {
      error = classifyError(thrown, connector.id);
    }

    const at = new Date(clock.now());
    const policy = policies.get(connector.id)!;
    let outcome: AttemptOutcome;
    if (error && stopSignal.aborted && providerResponse === null) {
      // `stop()` gave up waiting and aborted this attempt before the provider answered: its fate
      // at the provider is unknown, and no fault of the delivery's. It is due again at once
      // (another replica, or this one restarted, takes it), with the same deliveryId as
      // idempotency key, whatever attempts the policy has left. An answer that did arrive is
      // recorded as it is.
      outcome = {
        status: 'retrying',
        at,
        nextAttemptAt: at,
        error: storableText(
          `[impact-in] [${connector.id}] interrupted: the dispatcher stopped during this attempt; the next one uses the same idempotency key`,
        ),
        payload,
        providerResponse,
      };
    } else if (!error) {
      outcome = { status: 'success', at, payload, providerResponse };
    } else if (error.kind === 'retryable' && attemptNumber < policy.maxAttempts) {
      const delay = computeRetryDelay(attemptNumber, policy, { retryAfterMs: error.retryAfterMs, random });
      outcome = {
        status: 'retrying',
        at,
        nextAttemptAt: new Date(at.getTime() + delay),
        error: storableText(withoutSecrets(error.message, connector, config)),
        payload,
        providerResponse,
      };
    } else {
      outcome = {
        status: 'failed',
        at,
        error: storableText(withoutSecrets(error.message, connector, config)),
        payload,
        providerResponse,
      };
    }
    await finish(delivery, outcome, started, error);
  };

  const finish = async (
    delivery: Delivery,
    outcome: AttemptOutcome,
    started: number,
    error?: ImpactInError,
  ) => {
    const recorded = await store.recordAttempt(delivery.id, leaseOf(delivery), outcome);
    const log = { deliveryId: delivery.deliveryId, provider: delivery.provider, eventId: delivery.eventId };
    if (!recorded) {
      logger.warn({ ...log, status: delivery.status }, 'lease lost before the outcome was recorded');
      return;
    }
    const fields = { ...log, status: recorded.status, attemptCount: recorded.attemptCount };
    if (recorded.status === 'success') logger.info(fields, 'delivered');
    else if (recorded.status === 'retrying')
      logger.warn(
        { ...fields, error: outcome.status === 'retrying' ? outcome.error : undefined },
        'attempt failed; retry scheduled',
      );
    else {
      logger.error({ ...fields, error: recorded.lastError }, 'delivery failed');
      await options.notifier
        ?.notify({
          level: 'error',
          title: `Delivery to ${recorded.provider} failed`,
          message: recorded.lastError ?? 'failed',
          companyId: recorded.companyId,
          data: { deliveryId: recorded.deliveryId, eventId: recorded.eventId },
        })
        .catch(() => {});
    }
    options.onAttempt?.({
      delivery: recorded,
      durationMs: clock.now() - started,
      ...(error ? { error } : {}),
    });
    notifyWaiters(recorded);
  };

  const track = (delivery: Delivery) => {
    const task: Promise<void> = attempt(delivery)
      .catch(async (thrown) => {
        logger.error(
          { deliveryId: delivery.deliveryId, provider: delivery.provider, err: String(thrown) },
          'attempt crashed',
        );
        await store
          .release(delivery.id, leaseOf(delivery), new Date(clock.now() + pollIntervalMs))
          .catch(() => {});
      })
      .finally(() => {
        inflight.delete(task);
        signalLoop();
      });
    inflight.add(task);
    return task;
  };

  const claimBatch = async (limit: number) => {
    const owner = newLease();
    const batch = await store.claimDue({ owner, now: new Date(clock.now()), limit, leaseMs, providers });
    for (const delivery of batch) leases.set(delivery, owner);
    return batch;
  };

  const loop = async () => {
    while (running) {
      if (claimCoalesceMs > 0 && inflight.size > 0 && concurrency - inflight.size < claimQuorum) {
        await new Promise((resolve) => setTimeout(resolve, claimCoalesceMs));
        if (!running) break;
      }
      const free = concurrency - inflight.size;
      let claimed = 0;
      if (free > 0) {
        try {
          const batch = await claimBatch(free);
          claimed = batch.length;
          for (const delivery of batch) track(delivery);
        } catch (thrown) {
          logger.error({ err: String(thrown) }, 'claiming due deliveries failed');
        }
      }
      if (!running) break;
      if (wakeRequested) {
        wakeRequested = false;
        if (claimed > 0 || inflight.size < concurrency) continue;
      }
      const saturated = inflight.size >= concurrency;
      await new Promise<void>((resolve) => {
        // Saturated: wait for a slot. Idle: poll, or wake early on a submit.
        const timer = saturated ? undefined : setTimeout(resolve, claimed > 0 ? 0 : pollIntervalMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
      wakeRequested = false;
    }
  };

  const waitFor = (id: string, waitOptions: { timeoutMs?: number } = {}) =>
    new Promise<Delivery>((resolve, reject) => {
      const timeoutMs = waitOptions.timeoutMs ?? 120_000;
      let settled = false;
      const done = (delivery: Delivery) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        clearInterval(poll);
        waiters.get(id)?.delete(done);
        waitersToFail.delete(fail);
        resolve(delivery);
      };
      const fail = (error: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        clearInterval(poll);
        waiters.get(id)?.delete(done);
        waitersToFail.delete(fail);
        reject(error);
      };
      const timer = setTimeout(
        () => fail(new Error(`[impact-in] delivery ${id} did not finish within ${timeoutMs} ms`)),
        timeoutMs,
      );
      waitersToFail.add(fail);
      // Another replica may finish it: look at the store as well.
      const check = () =>
        store.get(id).then(
          (delivery) => delivery && TERMINAL.has(delivery.status) && done(delivery),
          () => {},
        );
      const poll = setInterval(check, Math.max(pollIntervalMs, 250));
      let set = waiters.get(id);
      if (!set) {
        set = new Set();
        waiters.set(id, set);
      }
      set.add(done);
      void check();
    });

  /**
   * Without the worker loop (`start()` not called), attempts what is due, then sleeps until the
   * delivery `id` is due again (its retry backoff, a rate limit's pause), until it is final, the
   * loop was started after all, or `until` (epoch ms) passes.
   */
  const drive = async (id: string, until: number): Promise<void> => {
    const started = generation;
    for (;;) {
      if (generation !== started || closed) return;
      const attempted = await dispatcher.runOnce();
      if (generation !== started || closed) return;
      const current = await store.get(id);
      if (!current || TERMINAL.has(current.status) || running) return;
      const left = until - Date.now();
      if (left <= 0) return;
      const dueIn = current.nextAttemptAt ? current.nextAttemptAt.getTime() - clock.now() : pollIntervalMs;
      // Due but nothing was attempted: it is leased elsewhere (another worker, a replay); look
      // again after a poll interval rather than spin.
      const wait = Math.max(dueIn, attempted === 0 ? pollIntervalMs : 10);
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          sleepers.delete(done);
          resolve();
        };
        const timer = setTimeout(done, Math.min(wait, left));
        sleepers.add(done);
      });
    }
  };

  const replayOne = async (id: string, companyId?: string): Promise<Delivery | undefined> => {
    const requeued = await store.requeue(id, {
      ...(companyId ? { companyId } : {}),
      now: new Date(clock.now()),
    });
    if (!requeued) return store.get(id, companyId);
    const owner = newLease();
    const claimed = await store.claim(id, { owner, now: new Date(clock.now()), leaseMs });
    if (claimed) leases.set(claimed, owner);
    if (!claimed) return requeued; // another worker took it: it will be attempted there
    await track(claimed);
    return store.get(id);
  };

  const bulk = async (ids: readonly string[], companyId?: string): Promise<BulkReplayResult> => {
    const results: ReplayResult[] = new Array(ids.length);
    let next = 0;
    const workers = Array.from({ length: Math.min(concurrency, ids.length) }, async () => {
      while (next < ids.length) {
        const index = next++;
        const id = ids[index]!;
        try {
          const delivery = await replayOne(id, companyId);
          if (!delivery) results[index] = { id, success: false, error: 'not found' };
          else if (delivery.status === 'success')
            results[index] = { id, success: true, newStatus: 'success' };
          else
            results[index] = {
              id,
              success: false,
              newStatus: delivery.status,
              error: delivery.lastError ?? `status ${delivery.status}`,
            };
        } catch (thrown) {
          results[index] = {
            id,
            success: false,
            error: thrown instanceof Error ? thrown.message : String(thrown),
          };
        }
      }
    });
    await Promise.all(workers);
    const successful = results.filter((result) => result.success).length;
    return { summary: { total: ids.length, successful, failed: ids.length - successful }, results };
  };

  const dispatcher: Dispatcher = {
    providers,
    async submit(request) {
      const checked = DeliverRequestSchema.safeParse(request);
      if (!checked.success) {
        throw new DeliveryValidationError(
          checked.error.issues.map((issue) => ({
            path: formatFieldPath(issue.path) || '(request)',
            message: issue.message,
          })),
          { cause: checked.error },
        );
      }
      const parsed = checked.data;
      if (!bindings.has(parsed.provider)) throw new UnknownProviderError(parsed.provider, providers);
      const result = await store.submit({
        companyId: parsed.companyId,
        provider: parsed.provider,
        event: parsed.event,
        nextAttemptAt: new Date(clock.now()),
      });
      if (result.created) signalLoop();
      return result;
    },
    async submitAndWait(request, waitOptions) {
      const { delivery } = await dispatcher.submit(request);
      if (TERMINAL.has(delivery.status)) return delivery;
      if (!running) {
        // Nobody else will attempt it: drive it here, retries included, until it is final.
        const until = Date.now() + (waitOptions?.timeoutMs ?? 120_000);
        drive(delivery.id, until).catch((error: unknown) =>
          logger.error({ err: String(error) }, 'submitAndWait could not attempt the delivery'),
        );
      }
      return waitFor(delivery.id, waitOptions);
    },
    async runOnce() {
      let total = 0;
      const started = generation;
      for (;;) {
        // A `stop()` meanwhile ends this run (its interrupted attempts are due again at once and
        // would be claimed straight back).
        if (generation !== started || closed) break;
        const batch = await claimBatch(concurrency);
        if (batch.length === 0) break;
        total += batch.length;
        await Promise.all(batch.map(track));
      }
      return total;
    },
    start() {
      if (running) return;
      running = true;
      if (stopController.signal.aborted) stopController = new AbortController();
      loopPromise = loop();
    },
    async stop(stopOptions = {}) {
      running = false;
      generation++;
      for (const wakeUp of [...sleepers]) wakeUp();
      signalLoop();
      const stopping = loopPromise;
      await stopping;
      // `start()` may have been called meanwhile: its loop is not this one.
      if (loopPromise === stopping) loopPromise = undefined;
      // Attempts that start during the wait (a replay while HTTP requests drain) share this
      // controller, so the timeout bounds them too.
      const controller = stopController;
      const pending = [...inflight];
      if (pending.length > 0) {
        const timeoutMs = stopOptions.timeoutMs ?? 30_000;
        const timer = setTimeout(() => controller.abort(new Error('dispatcher stopped')), timeoutMs);
        await Promise.allSettled(pending);
        clearTimeout(timer);
      }
      // Attempts from here on (a restart, `runOnce`, a replay) get a signal of their own.
      if (controller.signal.aborted && stopController === controller) stopController = new AbortController();
    },
    close(closeOptions) {
      // Once: a second close (a test's cleanup after the code under test closed) waits for the first.
      closing ??= (async () => {
        await dispatcher.stop(closeOptions);
        closed = true;
        for (const fail of [...waitersToFail]) {
          fail(new Error('[impact-in] the dispatcher was closed before the delivery finished'));
        }
        if (ownsLimiter) await limiter.close();
        if (ownsHttp) await http.close();
      })();
      return closing;
    },
    get: (id, companyId) => store.get(id, companyId),
    list: (query) => store.list(query),
    stats: (query) => store.stats(query),
    replay: (id, replayOptions = {}) => replayOne(id, replayOptions.companyId),
    bulkReplay: (ids, bulkOptions = {}) => bulk(ids, bulkOptions.companyId),
    async retryAllFailed(retryOptions) {
      const { companyId } = retryOptions;
      const ids = await store.failedIds({ companyId, provider: retryOptions.provider, limit: 1_000_000 });
      const inlineLimit = Math.max(0, retryOptions.inlineLimit ?? 100);
      const inline = await bulk(ids.slice(0, inlineLimit), companyId);
      const rest = ids.slice(inlineLimit);
      if (rest.length === 0) return inline;
      const now = new Date(clock.now());
      let queued: string[];
      if (store.requeueFailed) {
        queued = await store.requeueFailed(rest, { companyId, now });
      } else {
        queued = [];
        for (const id of rest) if (await store.requeue(id, { companyId, now })) queued.push(id);
      }
      const requeued = new Set(queued);
      signalLoop();
      return {
        summary: { ...inline.summary, total: ids.length, queued: queued.length },
        results: [
          ...inline.results,
          ...rest.map((id) =>
            requeued.has(id)
              ? { id, success: false, newStatus: 'pending' as const }
              : { id, success: false, error: 'changed meanwhile (leased or no longer failed)' },
          ),
        ],
      };
    },
    waitFor,
  };
  return dispatcher;
}
