import Bottleneck from 'bottleneck';
import { type Clock, systemClock } from './clock.js';
import { parseRetryAfter } from './errors.js';

/** A provider's published limit, e.g. Goodera's 100 requests per minute. */
export interface RateLimitSpec {
  maxRequests: number;
  windowMs: number;
  /** Requests in flight at once for one bucket. Default unlimited. */
  maxConcurrent?: number;
}

export interface RateLimiterOptions {
  /**
   * Share buckets between replicas through Redis (bottleneck's clustering). Pass an
   * ioredis client; core never imports a Redis library itself.
   */
  redis?: { client: unknown; keyPrefix?: string };
  clock?: Clock;
  /** Upper bound on how long one scheduled job may run before bottleneck drops it. Default 120 s. */
  jobExpirationMs?: number;
}

/** Per-(provider, credential) request limiting with 429 back-off. */
export interface RateLimiter {
  /** Runs `task` once the bucket `key` allows it. An aborted `signal` cancels a task that has not started. */
  schedule<T>(key: string, spec: RateLimitSpec, task: () => Promise<T>, signal?: AbortSignal): Promise<T>;
  /**
   * Feeds a provider answer back: a 429 pauses the bucket until `Retry-After`;
   * `X-RateLimit-Remaining` lowers the bucket's reservoir to what the provider says is left.
   */
  observe(key: string, response: { status: number; headers: Record<string, string> }): Promise<void>;
  /** Epoch ms until which the bucket is paused, if it is. */
  pausedUntil(key: string): number | undefined;
  close(): Promise<void>;
}

/**
 * Creates a rate limiter built on bottleneck, one bucket per key.
 *
 * @example
 * const limiter = createRateLimiter();
 * await limiter.schedule('goodera:client-1', { maxRequests: 100, windowMs: 60_000 }, () => send());
 */
export function createRateLimiter(options: RateLimiterOptions = {}): RateLimiter {
  const clock = options.clock ?? systemClock;
  const buckets = new Map<string, Bottleneck>();
  const paused = new Map<string, number>();
  const expiration = options.jobExpirationMs ?? 120_000;
  let connection: Bottleneck.IORedisConnection | undefined;
  if (options.redis) {
    connection = new Bottleneck.IORedisConnection({ client: options.redis.client as never });
  }
  const prefix = options.redis?.keyPrefix ?? 'impact-in';

  const bucket = (key: string, spec: RateLimitSpec): Bottleneck => {
    let limiter = buckets.get(key);
    if (!limiter) {
      const settings: Bottleneck.ConstructorOptions = {
        reservoir: spec.maxRequests,
        reservoirRefreshAmount: spec.maxRequests,
        reservoirRefreshInterval: spec.windowMs,
        maxConcurrent: spec.maxConcurrent ?? null,
      };
      if (connection) {
        Object.assign(settings, {
          id: `${prefix}:${key}`,
          datastore: 'ioredis',
          connection,
          clearDatastore: false,
          timeout: Math.max(spec.windowMs * 10, 600_000),
        });
      }
      limiter = new Bottleneck(settings);
      limiter.on('error', () => {});
      buckets.set(key, limiter);
    }
    return limiter;
  };

  const pauseFor = (key: string) => {
    const until = paused.get(key);
    if (until === undefined) return 0;
    const wait = until - clock.now();
    if (wait <= 0) paused.delete(key);
    return Math.max(0, wait);
  };

  return {
    async schedule(key, spec, task, signal) {
      // Sit out a 429 pause before queueing: a wait inside the job would count against the job's
      // expiration, and bottleneck does not stop a job it has expired.
      let wait = pauseFor(key);
      while (wait > 0) {
        await clock.sleep(wait, signal);
        wait = pauseFor(key);
      }
      let expired = false;
      let started = false;
      const scheduled = bucket(key, spec).schedule({ expiration }, async () => {
        // A job that waited in the queue past a shutdown (or its expiration) does not start.
        if (signal?.aborted) throw signal.reason ?? new Error('aborted');
        if (expired) throw new Error('expired');
        started = true;
        return task();
      });
      scheduled.catch((error: unknown) => {
        if (error instanceof Error && error.name === 'BottleneckError') expired = true;
      });
      if (!signal) return scheduled;
      // Waiting for the bucket must not hold up a shutdown: give up on abort. A task that has
      // started ends on its own (it has the signal too), so an answer that arrives is not lost.
      return new Promise((resolve, reject) => {
        const onAbort = () => {
          if (started) return;
          scheduled.catch(() => {});
          reject(signal.reason ?? new Error('aborted'));
        };
        if (signal.aborted) onAbort();
        else signal.addEventListener('abort', onAbort, { once: true });
        scheduled.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
      });
    },
    async observe(key, response) {
      const limiter = buckets.get(key);
      const now = clock.now();
      // Lower the reservoir with incrementReservoir: bottleneck's updateSettings({ reservoir })
      // stops the in-memory refresh timer for good (SGrondin/bottleneck#185).
      const lowerTo = async (target: number) => {
        if (!limiter) return;
        try {
          const current = await limiter.currentReservoir();
          if (current !== null && target < current) await limiter.incrementReservoir(target - current);
        } catch {
          // A lost Redis connection must not fail the delivery; the local pause still holds.
        }
      };
      if (response.status === 429) {
        // Pause exactly until Retry-After. Emptying the reservoir instead would hold the bucket
        // until its next refill, up to a whole window later than the provider asked.
        const retryAfter = parseRetryAfter(response.headers['retry-after'], now) ?? 1_000;
        paused.set(key, Math.max(paused.get(key) ?? 0, now + retryAfter));
        return;
      }
      const remainingHeader = response.headers['x-ratelimit-remaining'];
      if (remainingHeader !== undefined && /^\d+$/.test(remainingHeader.trim())) {
        await lowerTo(Number(remainingHeader));
      }
    },
    pausedUntil(key) {
      return pauseFor(key) > 0 ? paused.get(key) : undefined;
    },
    async close() {
      const all = [...buckets.values()];
      buckets.clear();
      await Promise.all(all.map((limiter) => limiter.stop({ dropWaitingJobs: true }).catch(() => {})));
      if (connection) await connection.disconnect(false).catch(() => {});
    },
  };
}
