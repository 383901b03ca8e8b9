/** A pino-compatible logger subset. pino instances satisfy it as they are. */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

/** A logger that drops everything: the default, so the SDK is silent unless asked. */
export const noopLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return noopLogger;
  },
};

const SECRET_KEY_PATTERN =
  /secret|password|token|api[-_]?key|authorization|signature|private[-_]?key|credential/i;

/** Masks a secret for display: `"••••1234"` (last four kept when the value is long enough). */
export function maskSecret(value: string): string {
  if (value.length <= 8) return '••••';
  return `••••${value.slice(-4)}`;
}

/**
 * Deep-copies `value`, replacing the values of secret-looking keys (and of `extraKeys`)
 * with `"[redacted]"`. Use before logging anything that might hold credentials.
 */
export function redactSecrets(value: unknown, extraKeys: readonly string[] = []): unknown {
  const extra = new Set(extraKeys);
  const walk = (input: unknown, depth: number): unknown => {
    if (depth > 8 || input === null || typeof input !== 'object') return input;
    if (Array.isArray(input)) return input.map((item) => walk(item, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(input as Record<string, unknown>)) {
      out[key] = SECRET_KEY_PATTERN.test(key) || extra.has(key) ? '[redacted]' : walk(inner, depth + 1);
    }
    return out;
  };
  return walk(value, 0);
}
