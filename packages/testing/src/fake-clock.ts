import type { Clock } from '@impact-in/core';

/** A clock that only moves when told to. */
export interface FakeClock extends Clock {
  /** Moves time forward, resolving every sleep that falls due (in order). */
  advance(ms: number): Promise<void>;
  /** Jumps to an absolute time (never backwards). */
  set(epochMs: number): Promise<void>;
  /** Sleeps not yet due. */
  pendingSleeps(): number;
}

/**
 * Creates a fake clock, starting at `start` (default 2025-11-14T10:00:00Z).
 *
 * @example
 * const clock = createFakeClock();
 * const slept = clock.sleep(1000);
 * await clock.advance(1000); // `slept` resolves
 */
export function createFakeClock(start: number | Date = Date.UTC(2025, 10, 14, 10, 0, 0)): FakeClock {
  let now = typeof start === 'number' ? start : start.getTime();
  const sleepers: Array<{ at: number; resolve: () => void }> = [];

  const flush = async () => {
    sleepers.sort((a, b) => a.at - b.at);
    while (sleepers.length > 0 && sleepers[0]!.at <= now) {
      sleepers.shift()!.resolve();
      await Promise.resolve();
    }
  };

  const clock: FakeClock = {
    now: () => now,
    sleep(ms, signal) {
      return new Promise<void>((resolve, reject) => {
        if (signal?.aborted) {
          reject(signal.reason);
          return;
        }
        const sleeper = { at: now + ms, resolve };
        sleepers.push(sleeper);
        signal?.addEventListener(
          'abort',
          () => {
            const index = sleepers.indexOf(sleeper);
            if (index >= 0) sleepers.splice(index, 1);
            reject(signal.reason);
          },
          { once: true },
        );
        if (ms <= 0) void flush();
      });
    },
    async advance(ms) {
      now += ms;
      await flush();
    },
    async set(epochMs) {
      now = Math.max(now, epochMs);
      await flush();
    },
    pendingSleeps: () => sleepers.length,
  };
  return clock;
}
