import { describe, expect, it } from 'vitest';
import {
  computeRetryDelay,
  DEFAULT_RETRY_POLICY,
  hasAttemptsLeft,
  type RetryPolicy,
  resolveRetryPolicy,
} from '../src/index.js';

const half = () => 0.5;

describe('DEFAULT_RETRY_POLICY', () => {
  it('equals the seed values', () => {
    expect(DEFAULT_RETRY_POLICY).toEqual({
      maxAttempts: 3,
      initialDelayMs: 1_000,
      multiplier: 2,
      maxDelayMs: 30_000,
      jitter: 0.1,
    });
  });

  it('is frozen', () => {
    expect(Object.isFrozen(DEFAULT_RETRY_POLICY)).toBe(true);
  });
});

describe('computeRetryDelay', () => {
  it('doubles from 1000 ms with random() = 0.5 (no jitter)', () => {
    expect(computeRetryDelay(1, DEFAULT_RETRY_POLICY, { random: half })).toBe(1_000);
    expect(computeRetryDelay(2, DEFAULT_RETRY_POLICY, { random: half })).toBe(2_000);
    expect(computeRetryDelay(3, DEFAULT_RETRY_POLICY, { random: half })).toBe(4_000);
    expect(computeRetryDelay(4, DEFAULT_RETRY_POLICY, { random: half })).toBe(8_000);
  });

  it('uses the default policy when none is given', () => {
    expect(computeRetryDelay(2, undefined, { random: half })).toBe(2_000);
  });

  it('applies ±10 % jitter at the extremes of random()', () => {
    expect(computeRetryDelay(1, DEFAULT_RETRY_POLICY, { random: () => 0 })).toBe(900);
    expect(computeRetryDelay(1, DEFAULT_RETRY_POLICY, { random: () => 1 })).toBe(1_100);
    expect(computeRetryDelay(2, DEFAULT_RETRY_POLICY, { random: () => 0 })).toBe(1_800);
    expect(computeRetryDelay(2, DEFAULT_RETRY_POLICY, { random: () => 1 })).toBe(2_200);
    expect(computeRetryDelay(3, DEFAULT_RETRY_POLICY, { random: () => 0 })).toBe(3_600);
    expect(computeRetryDelay(3, DEFAULT_RETRY_POLICY, { random: () => 1 })).toBe(4_400);
  });

  it('caps at maxDelayMs for large attempts, with jitter applied around the cap', () => {
    for (const attempt of [6, 10, 50, 1_000]) {
      expect(computeRetryDelay(attempt, DEFAULT_RETRY_POLICY, { random: half })).toBe(30_000);
      expect(computeRetryDelay(attempt, DEFAULT_RETRY_POLICY, { random: () => 0 })).toBe(27_000);
      expect(computeRetryDelay(attempt, DEFAULT_RETRY_POLICY, { random: () => 1 })).toBe(33_000);
      for (let run = 0; run < 50; run++) {
        const delay = computeRetryDelay(attempt, DEFAULT_RETRY_POLICY);
        expect(delay).toBeGreaterThanOrEqual(27_000);
        expect(delay).toBeLessThanOrEqual(33_000);
      }
    }
    // Attempt 5 (16 s) is still under the cap, attempt 6 (32 s) is over it.
    expect(computeRetryDelay(5, DEFAULT_RETRY_POLICY, { random: half })).toBe(16_000);
  });

  it('keeps every attempt-1 delay within [900, 1100] over 1000 runs with Math.random', () => {
    const delays = Array.from({ length: 1_000 }, () => computeRetryDelay(1, DEFAULT_RETRY_POLICY));
    for (const delay of delays) {
      expect(Number.isInteger(delay)).toBe(true);
      expect(delay).toBeGreaterThanOrEqual(900);
      expect(delay).toBeLessThanOrEqual(1_100);
    }
    // Jitter actually varies the delay.
    expect(new Set(delays).size).toBeGreaterThan(50);
    expect(Math.min(...delays)).toBeLessThan(1_000);
    expect(Math.max(...delays)).toBeGreaterThan(1_000);
  });

  it('treats attempt 0 like attempt 1', () => {
    expect(computeRetryDelay(0, DEFAULT_RETRY_POLICY, { random: half })).toBe(1_000);
  });

  it('uses retryAfterMs exactly, replacing (not adding to) the backoff', () => {
    expect(computeRetryDelay(1, DEFAULT_RETRY_POLICY, { retryAfterMs: 7_000, random: () => 1 })).toBe(7_000);
    expect(computeRetryDelay(3, DEFAULT_RETRY_POLICY, { retryAfterMs: 7_000, random: () => 0 })).toBe(7_000);
    expect(computeRetryDelay(2, DEFAULT_RETRY_POLICY, { retryAfterMs: 500 })).toBe(500);
    expect(computeRetryDelay(2, DEFAULT_RETRY_POLICY, { retryAfterMs: 0 })).toBe(0);
    // Not capped by maxDelayMs: the provider's word wins.
    expect(computeRetryDelay(1, DEFAULT_RETRY_POLICY, { retryAfterMs: 120_000 })).toBe(120_000);
    // Fractions round up.
    expect(computeRetryDelay(1, DEFAULT_RETRY_POLICY, { retryAfterMs: 1_500.2 })).toBe(1_501);
  });

  it('falls back to backoff when retryAfterMs is undefined or negative', () => {
    expect(computeRetryDelay(2, DEFAULT_RETRY_POLICY, { retryAfterMs: undefined, random: half })).toBe(2_000);
    expect(computeRetryDelay(2, DEFAULT_RETRY_POLICY, { retryAfterMs: -1, random: half })).toBe(2_000);
  });

  it('follows a custom policy', () => {
    const policy: RetryPolicy = {
      maxAttempts: 5,
      initialDelayMs: 200,
      multiplier: 3,
      maxDelayMs: 5_000,
      jitter: 0,
    };
    expect([1, 2, 3, 4, 5].map((attempt) => computeRetryDelay(attempt, policy, { random: () => 0 }))).toEqual(
      [200, 600, 1_800, 5_000, 5_000],
    );
  });
});

describe('resolveRetryPolicy', () => {
  it('returns the defaults when nothing is overridden', () => {
    const policy = resolveRetryPolicy();
    expect(policy).toEqual(DEFAULT_RETRY_POLICY);
    expect(policy).not.toBe(DEFAULT_RETRY_POLICY);
  });

  it('merges overrides onto the defaults', () => {
    expect(resolveRetryPolicy({ maxAttempts: 5, jitter: 0 })).toEqual({
      maxAttempts: 5,
      initialDelayMs: 1_000,
      multiplier: 2,
      maxDelayMs: 30_000,
      jitter: 0,
    });
  });

  it('rejects maxAttempts 0, negative or fractional', () => {
    expect(() => resolveRetryPolicy({ maxAttempts: 0 })).toThrow(RangeError);
    expect(() => resolveRetryPolicy({ maxAttempts: 0 })).toThrow(/maxAttempts/);
    expect(() => resolveRetryPolicy({ maxAttempts: -1 })).toThrow(RangeError);
    expect(() => resolveRetryPolicy({ maxAttempts: 1.5 })).toThrow(RangeError);
    expect(resolveRetryPolicy({ maxAttempts: 1 }).maxAttempts).toBe(1);
  });

  it('rejects jitter 1 and negative jitter', () => {
    expect(() => resolveRetryPolicy({ jitter: 1 })).toThrow(RangeError);
    expect(() => resolveRetryPolicy({ jitter: 1 })).toThrow(/jitter/);
    expect(() => resolveRetryPolicy({ jitter: -0.1 })).toThrow(RangeError);
    expect(resolveRetryPolicy({ jitter: 0.99 }).jitter).toBe(0.99);
  });

  it('rejects negative delays and multipliers below 1', () => {
    expect(() => resolveRetryPolicy({ initialDelayMs: -1 })).toThrow(RangeError);
    expect(() => resolveRetryPolicy({ maxDelayMs: -1 })).toThrow(RangeError);
    expect(() => resolveRetryPolicy({ multiplier: 0.5 })).toThrow(RangeError);
  });
});

describe('hasAttemptsLeft', () => {
  it('allows attempts below maxAttempts only', () => {
    expect(hasAttemptsLeft(1, DEFAULT_RETRY_POLICY)).toBe(true);
    expect(hasAttemptsLeft(2, DEFAULT_RETRY_POLICY)).toBe(true);
    expect(hasAttemptsLeft(3, DEFAULT_RETRY_POLICY)).toBe(false);
    expect(hasAttemptsLeft(4, DEFAULT_RETRY_POLICY)).toBe(false);
  });
});
