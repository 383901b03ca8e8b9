import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createRateLimiter, type RateLimiter } from '../src/index.js';

const limiters: RateLimiter[] = [];

function track(limiter: RateLimiter): RateLimiter {
  limiters.push(limiter);
  return limiter;
}

afterAll(async () => {
  await Promise.all(limiters.map((limiter) => limiter.close()));
});

/** Schedules `count` tasks at once and resolves with each task's start time (ms after `t0`). */
async function burst(
  limiter: RateLimiter,
  key: string,
  spec: { maxRequests: number; windowMs: number },
  count: number,
  t0: number,
): Promise<number[]> {
  const starts: number[] = [];
  await Promise.all(
    Array.from({ length: count }, (_, index) =>
      limiter.schedule(key, spec, async () => {
        starts.push(Date.now() - t0);
        return index;
      }),
    ),
  );
  return starts;
}

describe('createRateLimiter (in memory)', () => {
  it('on abort, gives up on a queued task but lets a started one finish with its result', async () => {
    const limiter = track(createRateLimiter());
    const spec = { maxRequests: 1, windowMs: 60_000 };
    const controller = new AbortController();
    let finish: (value: string) => void = () => {};
    const running = limiter.schedule(
      'abort-started',
      spec,
      () =>
        new Promise<string>((resolve) => {
          finish = resolve;
        }),
      controller.signal,
    );
    // The second waits for the window: it has not started when the abort comes.
    let secondStarted = false;
    const queued = limiter.schedule(
      'abort-started',
      spec,
      async () => {
        secondStarted = true;
        return 'late';
      },
      controller.signal,
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    controller.abort(new Error('dispatcher stopped'));
    await expect(queued).rejects.toThrow('dispatcher stopped');
    // The answer that arrives after the abort is the task's result, not an abort.
    finish('answered');
    await expect(running).resolves.toBe('answered');
    expect(secondStarted).toBe(false);
  });

  it('sits out a Retry-After longer than the job expiration without the job expiring or sending late', async () => {
    const limiter = track(createRateLimiter({ jobExpirationMs: 200 }));
    const spec = { maxRequests: 5, windowMs: 1_000 };
    await limiter.observe('long-pause', { status: 429, headers: { 'retry-after': '1' } });
    const t0 = Date.now();
    let startedAt = 0;
    const result = await limiter.schedule('long-pause', spec, async () => {
      startedAt = Date.now() - t0;
      return 'sent';
    });
    expect(result).toBe('sent');
    expect(startedAt).toBeGreaterThanOrEqual(950);
  });

  it('after a 429 on a live bucket, later tasks start once Retry-After has passed, and refills continue', async () => {
    const limiter = track(createRateLimiter());
    const spec = { maxRequests: 3, windowMs: 500 };
    await limiter.schedule('live-429', spec, async () => 'first');
    await limiter.observe('live-429', { status: 429, headers: { 'retry-after': '1' } });
    const t0 = Date.now();
    const starts = await burst(limiter, 'live-429', spec, 5, t0);
    expect(starts).toHaveLength(5);
    expect(Math.min(...starts)).toBeGreaterThanOrEqual(950);
    // 5 tasks with 3 per 500 ms need at least one more refill after the pause: the timer still runs.
    expect(Math.max(...starts)).toBeLessThan(4_000);
  });

  it('x-ratelimit-remaining: 0 on a live bucket makes the next task wait for the next window', async () => {
    const limiter = track(createRateLimiter());
    const spec = { maxRequests: 10, windowMs: 800 };
    const t0 = Date.now();
    await limiter.schedule('remaining-0', spec, async () => 'first');
    await limiter.observe('remaining-0', { status: 200, headers: { 'x-ratelimit-remaining': '0' } });
    const starts = await burst(limiter, 'remaining-0', spec, 2, t0);
    expect(Math.min(...starts)).toBeGreaterThanOrEqual(700);
    expect(Math.max(...starts)).toBeLessThan(2_500);
  });

  it('runs maxRequests tasks at once and holds the rest until the window refreshes', async () => {
    const limiter = track(createRateLimiter());
    const t0 = Date.now();
    const results: number[] = [];
    const starts: number[] = [];
    await Promise.all(
      Array.from({ length: 8 }, (_, index) =>
        limiter
          .schedule('burst', { maxRequests: 5, windowMs: 1_000 }, async () => {
            starts.push(Date.now() - t0);
            return index * 10;
          })
          .then((value) => results.push(value)),
      ),
    );
    expect(results.sort((a, b) => a - b)).toEqual([0, 10, 20, 30, 40, 50, 60, 70]);
    expect(starts).toHaveLength(8);
    const sorted = [...starts].sort((a, b) => a - b);
    const first = sorted[0]!;
    for (const start of sorted.slice(0, 5)) expect(start - first).toBeLessThan(300);
    for (const start of sorted.slice(5)) {
      expect(start - first).toBeGreaterThanOrEqual(900);
      expect(start - first).toBeLessThan(2_500);
    }
  });

  it('returns the task result and propagates task errors', async () => {
    const limiter = track(createRateLimiter());
    const spec = { maxRequests: 10, windowMs: 1_000 };
    await expect(limiter.schedule('result', spec, async () => ({ answer: 42 }))).resolves.toEqual({
      answer: 42,
    });
    await expect(
      limiter.schedule('result', spec, async () => {
        throw new Error('task failed');
      }),
    ).rejects.toThrow('task failed');
  });

  it('a 429 with retry-after pauses the key until then, and a later task waits for it', async () => {
    const limiter = track(createRateLimiter());
    await limiter.observe('fresh-429', { status: 429, headers: { 'retry-after': '1' } });
    const until = limiter.pausedUntil('fresh-429');
    expect(until).toBeDefined();
    expect(Math.abs(until! - (Date.now() + 1_000))).toBeLessThan(100);
    // Other keys are not paused.
    expect(limiter.pausedUntil('other')).toBeUndefined();

    let startedAt = 0;
    await limiter.schedule('fresh-429', { maxRequests: 5, windowMs: 1_000 }, async () => {
      startedAt = Date.now();
    });
    expect(startedAt).toBeGreaterThanOrEqual(until! - 5);
  });

  it('x-ratelimit-remaining above what is left does not raise the reservoir', async () => {
    const limiter = track(createRateLimiter());
    const spec = { maxRequests: 3, windowMs: 1_000 };
    const t0 = Date.now();
    await limiter.schedule('remaining-high', spec, async () => 'first'); // 2 left
    await limiter.observe('remaining-high', { status: 200, headers: { 'x-ratelimit-remaining': '100' } });
    const starts = await burst(limiter, 'remaining-high', spec, 3, t0);
    const sorted = starts.sort((a, b) => a - b);
    expect(sorted[0]!).toBeLessThan(300);
    expect(sorted[1]!).toBeLessThan(300);
    expect(sorted[2]!).toBeGreaterThanOrEqual(900);
  });

  it('keeps distinct keys independent', async () => {
    const limiter = track(createRateLimiter());
    const spec = { maxRequests: 1, windowMs: 1_000 };
    const t0 = Date.now();
    const [a, b, c] = await Promise.all([
      burst(limiter, 'key-a', spec, 2, t0),
      burst(limiter, 'key-b', spec, 1, t0),
      burst(limiter, 'key-c', spec, 1, t0),
    ]);
    const sortedA = a.sort((x, y) => x - y);
    expect(sortedA[0]!).toBeLessThan(300);
    expect(sortedA[1]!).toBeGreaterThanOrEqual(900);
    // key-b and key-c are not held back by key-a's exhausted bucket.
    expect(b[0]!).toBeLessThan(300);
    expect(c[0]!).toBeLessThan(300);
  });

  it('a 429 on one key does not pause another', async () => {
    const limiter = track(createRateLimiter());
    await limiter.observe('throttled', { status: 429, headers: { 'retry-after': '30' } });
    expect(limiter.pausedUntil('throttled')).toBeGreaterThan(Date.now() + 29_000);
    const t0 = Date.now();
    await limiter.schedule('unthrottled', { maxRequests: 5, windowMs: 1_000 }, async () => undefined);
    expect(Date.now() - t0).toBeLessThan(300);
    expect(limiter.pausedUntil('unthrottled')).toBeUndefined();
  });
});

describe('createRateLimiter (Redis-backed)', () => {
  const options = { maxRetriesPerRequest: 1, connectTimeout: 2_000, retryStrategy: () => null };
  const redisA = new Redis('redis://127.0.0.1:6379', options);
  const redisB = new Redis('redis://127.0.0.1:6379', options);
  redisA.on('error', () => {});
  redisB.on('error', () => {});

  afterAll(() => {
    // limiter.close() disconnects the clients; this also covers a failed test before that.
    redisA.disconnect();
    redisB.disconnect();
  });

  it('shares one bucket between two limiters on separate connections', async () => {
    // Fails (does not skip) when Redis is down.
    await expect(redisA.ping()).resolves.toBe('PONG');
    await expect(redisB.ping()).resolves.toBe('PONG');

    const keyPrefix = `test-${randomUUID()}`;
    const limiterA = track(createRateLimiter({ redis: { client: redisA, keyPrefix } }));
    const limiterB = track(createRateLimiter({ redis: { client: redisB, keyPrefix } }));
    const spec = { maxRequests: 4, windowMs: 2_000 };
    const t0 = Date.now();
    const starts: { limiter: 'A' | 'B'; at: number }[] = [];
    const settled: string[] = [];
    for (const [name, limiter] of [
      ['A', limiterA],
      ['B', limiterB],
    ] as const) {
      for (let index = 0; index < 3; index++) {
        // The jobs still waiting when the limiters close in afterAll are dropped (rejected): handled here.
        limiter
          .schedule('shared', spec, async () => {
            starts.push({ limiter: name, at: Date.now() - t0 });
          })
          .then(
            () => settled.push('done'),
            () => settled.push('dropped'),
          );
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    // Four of six started across both limiters; two wait for the shared window to refresh.
    expect(starts).toHaveLength(4);
    for (const start of starts) expect(start.at).toBeLessThan(1_500);
    expect(settled.filter((state) => state === 'done')).toHaveLength(4);
    // Each limiter has only 3 jobs, so 4 starts means both drew from the one shared bucket
    // (with a private bucket each, all 6 would have started at once).
    expect(new Set(starts.map((start) => start.limiter))).toEqual(new Set(['A', 'B']));

    // The bucket lives in Redis under the prefix.
    const keys = await redisA.keys(`*${keyPrefix}*`);
    expect(keys.length).toBeGreaterThan(0);
  });
});
