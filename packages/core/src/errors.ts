import { storableText } from './schemas.js';

/** Which error class a failure belongs to. */
export type ErrorKind = 'retryable' | 'permanent';

export interface ImpactInErrorOptions {
  /** Machine-readable code: `http_503`, `ECONNRESET`, `invalid_client`, `validation`, … */
  code?: string;
  /** HTTP status when the error came from a provider's answer. */
  status?: number;
  /** Milliseconds the provider asked us to wait (`Retry-After`). */
  retryAfterMs?: number;
  /** For OAuth providers: a 401 that should force one token refresh before it counts. */
  authRejected?: boolean;
  cause?: unknown;
}

/** Marks impact-in's errors, whichever copy of this package made them. */
const BRAND = Symbol.for('@impact-in/core.ImpactInError');

/**
 * Base class of every error impact-in raises on purpose. Messages read `[impact-in] [provider] …`.
 *
 * `instanceof` works across copies of `@impact-in/core`: an ESM app whose plugin was built as
 * CommonJS, or a plugin pinned to another version, loads the package twice, and each copy has its
 * own classes. An error from the other copy still is `instanceof ImpactInError` (by a brand), and
 * `instanceof RetryableError`, `PermanentError` or any subclass when its class of that name is
 * in its prototype chain; so a plugin's `RetryableError` is retried, not taken for a crash.
 */
export class ImpactInError extends Error {
  static override [Symbol.hasInstance]<T>(
    this: abstract new (
      ...args: never[]
    ) => T,
    value: unknown,
  ): value is T {
    // biome-ignore lint/complexity/noThisInStatic: `x instanceof RetryableError` asks RetryableError, which is `this` here
    return isInstanceOf(this, value);
  }

  readonly kind: ErrorKind;
  readonly code: string;
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;
  readonly authRejected: boolean;

  constructor(kind: ErrorKind, message: string, options: ImpactInErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = kind === 'retryable' ? 'RetryableError' : 'PermanentError';
    this.kind = kind;
    this.code = options.code ?? (options.status ? `http_${options.status}` : 'error');
    this.status = options.status;
    this.retryAfterMs = options.retryAfterMs;
    this.authRejected = options.authRejected ?? false;
  }
}

Object.defineProperty(ImpactInError.prototype, BRAND, { value: true });

function isInstanceOf(klass: abstract new (...args: never[]) => unknown, value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (Function.prototype[Symbol.hasInstance].call(klass, value)) return true;
  if ((value as { [BRAND]?: unknown })[BRAND] !== true) return false;
  if (klass === ImpactInError) return true;
  for (let proto = Object.getPrototypeOf(value); proto; proto = Object.getPrototypeOf(proto)) {
    if ((proto as { constructor?: { name?: string } }).constructor?.name === klass.name) return true;
  }
  return false;
}

/** A failure worth trying again later: network errors, 408, 425, 429, 5xx. */
export class RetryableError extends ImpactInError {
  constructor(message: string, options: ImpactInErrorOptions = {}) {
    super('retryable', message, options);
  }
}

/** A failure that will not get better by retrying: 4xx, bad credentials, schema failures. */
export class PermanentError extends ImpactInError {
  constructor(message: string, options: ImpactInErrorOptions = {}) {
    super('permanent', message, options);
  }
}

/** Network error codes (Node and undici) that mean "try again". */
export const RETRYABLE_NETWORK_CODES: ReadonlySet<string> = new Set([
  'ETIMEDOUT',
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_DESTROYED',
  'UND_ERR_REQ_RETRY',
]);

const RETRYABLE_STATUS = new Set([408, 425, 429, 500, 502, 503, 504]);

/** `retryable` for 408, 425, 429, 500, 502, 503, 504; `permanent` for every other 4xx/5xx; `undefined` for 1xx-3xx. */
export function classifyStatus(status: number): ErrorKind | undefined {
  if (status < 400) return undefined;
  return RETRYABLE_STATUS.has(status) ? 'retryable' : 'permanent';
}

/**
 * Parses `Retry-After` in both forms: delta-seconds (`120`) and HTTP-date
 * (`Wed, 21 Oct 2015 07:28:00 GMT`). Returns milliseconds from `now`, never negative,
 * or `undefined` when absent or unparseable.
 *
 * @example parseRetryAfter('5') // 5000
 */
export function parseRetryAfter(
  value: string | null | undefined,
  now: number = Date.now(),
): number | undefined {
  if (value === null || value === undefined) return undefined;
  const trimmed = value.trim();
  if (trimmed === '') return undefined;
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  if (!/[a-z]/i.test(trimmed)) return undefined;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

function errorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current && typeof current === 'object'; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && RETRYABLE_NETWORK_CODES.has(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * Turns anything thrown during an attempt into an {@link ImpactInError}.
 * ImpactInErrors pass through; network errors (including undici's `UND_ERR_*`, also when
 * nested in `cause`) are retryable; zod validation failures and everything else are permanent.
 */
export function classifyError(error: unknown, provider = 'core'): ImpactInError {
  if (error instanceof ImpactInError) return error;
  const code = errorCode(error);
  const message = error instanceof Error ? error.message : String(error);
  if (code) {
    return new RetryableError(`[impact-in] [${provider}] network error ${code}: ${message}`, {
      code,
      cause: error,
    });
  }
  if (error instanceof Error && error.name === 'BottleneckError') {
    // The rate limiter gave up on a queued job: the request was never sent.
    return new RetryableError(`[impact-in] [${provider}] rate limiter: ${message}`, {
      code: 'rate_limited',
      cause: error,
    });
  }
  if (error instanceof Error && error.name === 'AbortError') {
    return new RetryableError(`[impact-in] [${provider}] request aborted: ${message}`, {
      code: 'ABORTED',
      cause: error,
    });
  }
  if (error instanceof Error && (error.name === 'ZodError' || error.name === '$ZodError')) {
    return new PermanentError(`[impact-in] [${provider}] validation failed: ${message}`, {
      code: 'validation',
      cause: error,
    });
  }
  return new PermanentError(`[impact-in] [${provider}] ${message}`, { code: 'unexpected', cause: error });
}

/** Builds the error for a provider HTTP answer of 400 or more. */
export function errorFromResponse(
  provider: string,
  response: { status: number; headers: Record<string, string>; text: string },
  now: number = Date.now(),
): ImpactInError {
  const kind = classifyStatus(response.status) ?? 'permanent';
  const text = storableText(response.text);
  const snippet = text.length > 500 ? `${text.slice(0, 500)}…` : text;
  const message = `[impact-in] [${provider}] HTTP ${response.status}${snippet ? `: ${snippet}` : ''}`;
  const options: ImpactInErrorOptions = {
    status: response.status,
    retryAfterMs: parseRetryAfter(response.headers['retry-after'], now),
    authRejected: response.status === 401,
  };
  return kind === 'retryable' ? new RetryableError(message, options) : new PermanentError(message, options);
}

/** A field-level problem in inbound data. `path` names the field, e.g. `volunteers[2].hours`. */
export interface FieldIssue {
  path: string;
  message: string;
}

/**
 * Inbound data (a webhook, an ingest payload) that does not validate. The host answers 400 and
 * lists `issues`, each naming its field.
 */
export class InboundValidationError extends PermanentError {
  readonly issues: FieldIssue[];

  constructor(provider: string, issues: FieldIssue[]) {
    const summary = issues
      .slice(0, 5)
      .map((issue) => `${issue.path}: ${issue.message}`)
      .join('; ');
    super(
      `[impact-in] [${provider}] invalid payload: ${summary}${issues.length > 5 ? ` (+${issues.length - 5} more)` : ''}`,
      {
        code: 'validation',
      },
    );
    this.name = 'InboundValidationError';
    this.issues = issues;
  }

  /** Builds one from a zod error, with paths like `volunteers[2].hours`. */
  static fromZod(
    provider: string,
    error: { issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }> },
  ) {
    return new InboundValidationError(
      provider,
      error.issues.map((issue) => ({
        path: formatFieldPath(issue.path) || '(body)',
        message: issue.message,
      })),
    );
  }
}

/**
 * A delivery request given to `submit` that does not validate (a bad event, a missing
 * `companyId`). `issues` name each field, e.g. `event.timestamp`; the zod error is the `cause`.
 *
 * @example
 * try { await dispatcher.submit(request) } catch (error) {
 *   if (error instanceof DeliveryValidationError) console.warn(error.issues);
 * }
 */
export class DeliveryValidationError extends PermanentError {
  readonly issues: FieldIssue[];

  constructor(issues: FieldIssue[], options: { cause?: unknown } = {}) {
    const summary = issues
      .slice(0, 5)
      .map((issue) => `${issue.path}: ${issue.message}`)
      .join('; ');
    super(
      `[impact-in] invalid delivery request: ${summary}${issues.length > 5 ? ` (+${issues.length - 5} more)` : ''}`,
      { code: 'validation', cause: options.cause },
    );
    this.name = 'DeliveryValidationError';
    this.issues = issues;
  }
}

/**
 * A field path as people write it: `volunteers[2].hours`. `prefix` is prepended (`query` gives
 * `query.page`). Empty for the root.
 *
 * @example formatFieldPath(['event', 'impact', 0, 'score']) // 'event.impact[0].score'
 */
export function formatFieldPath(path: ReadonlyArray<PropertyKey>, prefix = ''): string {
  let out = prefix;
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out;
}

/**
 * A webhook that failed verification: missing or wrong signature, stale timestamp, bad token.
 * The host answers 401 with `reason` and processes nothing.
 */
export class WebhookVerificationError extends PermanentError {
  readonly reason: string;

  constructor(provider: string, reason: string) {
    super(`[impact-in] [${provider}] webhook rejected: ${reason}`, { code: 'webhook_unverified' });
    this.name = 'WebhookVerificationError';
    this.reason = reason;
  }
}
