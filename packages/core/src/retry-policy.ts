/** How often and how patiently a delivery is retried. */
export interface RetryPolicy {
  /** Total attempts including the first. */
  maxAttempts: number;
  initialDelayMs: number;
  multiplier: number;
  maxDelayMs: number;
  /** Fraction of the delay added or removed at random: 0.1 means ±10 %. */
  jitter: number;
}

/** Seed 002: 3 attempts, 1 s initial delay, ×2, 30 s max, ±10 % jitter. */
export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  maxAttempts: 3,
  initialDelayMs: 1_000,
  multiplier: 2,
  maxDelayMs: 30_000,
  jitter: 0.1,
});

/** Merges a partial override onto the default policy and checks it. */
export function resolveRetryPolicy(override: Partial<RetryPolicy> = {}): RetryPolicy {
  const policy = { ...DEFAULT_RETRY_POLICY, ...override };
  if (!Number.isInteger(policy.maxAttempts) || policy.maxAttempts < 1) {
    throw new RangeError('[impact-in] retryPolicy.maxAttempts must be an integer >= 1');
  }
  if (policy.jitter < 0 || policy.jitter >= 1)
    throw new RangeError('[impact-in] retryPolicy.jitter must be in [0, 1)');
  if (policy.initialDelayMs < 0 || policy.maxDelayMs < 0 || policy.multiplier < 1) {
    throw new RangeError('[impact-in] retryPolicy delays must be >= 0 and multiplier >= 1');
  }
  return policy;
}

/**
 * Delay before the next attempt, after `attempt` attempts have failed (1-based).
 * When the provider sent `Retry-After`, that is the delay, exactly: it replaces the
 * backoff rather than adding to it, so nothing sleeps twice.
 *
 * @example computeRetryDelay(1, DEFAULT_RETRY_POLICY) // ≈ 1000 ± 100
 */
export function computeRetryDelay(
  attempt: number,
  policy: RetryPolicy = DEFAULT_RETRY_POLICY,
  options: { retryAfterMs?: number | undefined; random?: () => number } = {},
): number {
  if (options.retryAfterMs !== undefined && options.retryAfterMs >= 0) return Math.ceil(options.retryAfterMs);
  const exponent = Math.max(0, attempt - 1);
  const base = Math.min(policy.initialDelayMs * policy.multiplier ** exponent, policy.maxDelayMs);
  const random = options.random ?? Math.random;
  const factor = 1 + (random() * 2 - 1) * policy.jitter;
  return Math.max(0, Math.round(base * factor));
}

/** Whether another attempt is allowed after `attempt` attempts. */
export function hasAttemptsLeft(attempt: number, policy: RetryPolicy): boolean {
  return attempt < policy.maxAttempts;
}
