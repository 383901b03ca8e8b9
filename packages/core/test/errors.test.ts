import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  classifyError,
  classifyStatus,
  errorFromResponse,
  ImpactInError,
  PermanentError,
  parseRetryAfter,
  RETRYABLE_NETWORK_CODES,
  RetryableError,
  WebhookVerificationError,
} from '../src/index.js';

describe('classifyStatus', () => {
  it.each([408, 425, 429, 500, 502, 503, 504])('%i is retryable', (status) => {
    expect(classifyStatus(status)).toBe('retryable');
  });

  it.each([400, 401, 403, 404, 409, 410, 422, 501, 505])('%i is permanent', (status) => {
    expect(classifyStatus(status)).toBe('permanent');
  });

  it.each([100, 200, 201, 204, 301, 302, 304])('%i is not an error', (status) => {
    expect(classifyStatus(status)).toBeUndefined();
  });
});

describe('parseRetryAfter', () => {
  const now = Date.UTC(2015, 9, 21, 7, 28, 0); // Wed, 21 Oct 2015 07:28:00 GMT

  it('parses delta-seconds', () => {
    expect(parseRetryAfter('120')).toBe(120_000);
    expect(parseRetryAfter('0')).toBe(0);
    expect(parseRetryAfter('1')).toBe(1_000);
    expect(parseRetryAfter(' 7 ')).toBe(7_000);
  });

  it('parses an HTTP-date relative to the given now', () => {
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:30:00 GMT', now)).toBe(120_000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', now)).toBe(0);
  });

  it('parses an HTTP-date relative to the real clock by default', () => {
    const inTenSeconds = new Date(Date.now() + 10_000).toUTCString();
    const parsed = parseRetryAfter(inTenSeconds);
    expect(parsed).toBeGreaterThan(8_000);
    expect(parsed).toBeLessThanOrEqual(10_000);
  });

  it('returns 0 for a date in the past', () => {
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:27:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('Thu, 01 Jan 1970 00:00:00 GMT', now)).toBe(0);
  });

  it('returns undefined for garbage', () => {
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter('not a date at all', now)).toBeUndefined();
    expect(parseRetryAfter('-5', now)).toBeUndefined();
    expect(parseRetryAfter('1.5', now)).toBeUndefined();
    expect(parseRetryAfter('12:30', now)).toBeUndefined();
  });

  it('returns undefined for empty or absent values', () => {
    expect(parseRetryAfter('')).toBeUndefined();
    expect(parseRetryAfter('   ')).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
    expect(parseRetryAfter(null)).toBeUndefined();
  });
});

describe('error classes', () => {
  it('RetryableError and PermanentError carry their kind, name and code', () => {
    const retryable = new RetryableError('boom', { status: 503 });
    expect(retryable).toBeInstanceOf(ImpactInError);
    expect(retryable).toBeInstanceOf(Error);
    expect(retryable.kind).toBe('retryable');
    expect(retryable.name).toBe('RetryableError');
    expect(retryable.code).toBe('http_503');
    expect(retryable.status).toBe(503);
    expect(retryable.authRejected).toBe(false);

    const permanent = new PermanentError('nope', { code: 'invalid_client' });
    expect(permanent.kind).toBe('permanent');
    expect(permanent.name).toBe('PermanentError');
    expect(permanent.code).toBe('invalid_client');
    expect(permanent.status).toBeUndefined();
    expect(new PermanentError('x').code).toBe('error');
  });

  it('keeps the cause', () => {
    const cause = new Error('root');
    expect(new RetryableError('wrapped', { cause }).cause).toBe(cause);
    expect(new RetryableError('bare').cause).toBeUndefined();
  });
});

describe('classifyError', () => {
  it('passes ImpactInErrors through unchanged', () => {
    const retryable = new RetryableError('[impact-in] [x] boom', { code: 'custom' });
    const permanent = new PermanentError('[impact-in] [x] nope');
    expect(classifyError(retryable)).toBe(retryable);
    expect(classifyError(permanent, 'goodera')).toBe(permanent);
  });

  const networkCodes = [
    'ECONNRESET',
    'ETIMEDOUT',
    'ECONNREFUSED',
    'UND_ERR_HEADERS_TIMEOUT',
    'UND_ERR_SOCKET',
  ];

  it.each(networkCodes)('an error with code %s is retryable with that code', (code) => {
    expect(RETRYABLE_NETWORK_CODES.has(code)).toBe(true);
    const error = Object.assign(new Error(`socket said ${code}`), { code });
    const classified = classifyError(error, 'goodera');
    expect(classified).toBeInstanceOf(RetryableError);
    expect(classified.kind).toBe('retryable');
    expect(classified.code).toBe(code);
    expect(classified.cause).toBe(error);
    expect(classified.message).toContain('[impact-in] [goodera]');
    expect(classified.message).toContain(code);
  });

  it.each(networkCodes)('code %s nested in cause is found', (code) => {
    const root = Object.assign(new Error('root'), { code });
    const wrapper = new TypeError('fetch failed', { cause: root });
    const classified = classifyError(wrapper, 'benevity');
    expect(classified.kind).toBe('retryable');
    expect(classified.code).toBe(code);
    expect(classified.cause).toBe(wrapper);

    const doublyWrapped = new Error('outer', { cause: new Error('middle', { cause: root }) });
    expect(classifyError(doublyWrapped).code).toBe(code);
    expect(classifyError(doublyWrapped).kind).toBe('retryable');
  });

  it('finds a retryable code below a non-network code', () => {
    const error = Object.assign(new Error('outer'), {
      code: 'ERR_SOMETHING',
      cause: Object.assign(new Error('inner'), { code: 'ECONNRESET' }),
    });
    expect(classifyError(error).code).toBe('ECONNRESET');
  });

  it('classifies a real ZodError as permanent validation', () => {
    const result = z
      .object({ amount: z.number().positive(), currency: z.string() })
      .safeParse({ amount: -1 });
    expect(result.success).toBe(false);
    const classified = classifyError(result.error, 'goodera');
    expect(classified).toBeInstanceOf(PermanentError);
    expect(classified.kind).toBe('permanent');
    expect(classified.code).toBe('validation');
    expect(classified.cause).toBe(result.error);
    expect(classified.message).toContain('[impact-in] [goodera] validation failed');

    let thrown: unknown;
    try {
      z.string().parse(42);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(z.ZodError);
    expect(classifyError(thrown).code).toBe('validation');
  });

  it('classifies a plain Error as permanent', () => {
    const error = new Error('something odd');
    const classified = classifyError(error, 'goodera');
    expect(classified).toBeInstanceOf(PermanentError);
    expect(classified.kind).toBe('permanent');
    expect(classified.code).toBe('unexpected');
    expect(classified.message).toBe('[impact-in] [goodera] something odd');
    expect(classified.cause).toBe(error);
  });

  it('classifies an error with a non-network code as permanent', () => {
    const classified = classifyError(Object.assign(new Error('bad'), { code: 'ERR_INVALID_ARG_TYPE' }));
    expect(classified.kind).toBe('permanent');
  });

  it('classifies non-Error throwables as permanent', () => {
    const classified = classifyError('a string was thrown');
    expect(classified.kind).toBe('permanent');
    expect(classified.message).toBe('[impact-in] [core] a string was thrown');
    expect(classifyError(undefined).kind).toBe('permanent');
  });

  it('classifies an AbortError as retryable', () => {
    const controller = new AbortController();
    controller.abort();
    const classified = classifyError(controller.signal.reason);
    expect(classified.kind).toBe('retryable');
    expect(classified.code).toBe('ABORTED');
  });
});

describe('errorFromResponse', () => {
  it('503 with retry-after is retryable with retryAfterMs', () => {
    const error = errorFromResponse('goodera', {
      status: 503,
      headers: { 'retry-after': '7' },
      text: 'maintenance',
    });
    expect(error).toBeInstanceOf(RetryableError);
    expect(error.kind).toBe('retryable');
    expect(error.status).toBe(503);
    expect(error.code).toBe('http_503');
    expect(error.retryAfterMs).toBe(7_000);
    expect(error.authRejected).toBe(false);
    expect(error.message).toBe('[impact-in] [goodera] HTTP 503: maintenance');
  });

  it('uses now for an HTTP-date retry-after', () => {
    const now = Date.UTC(2015, 9, 21, 7, 28, 0);
    const error = errorFromResponse(
      'goodera',
      { status: 429, headers: { 'retry-after': 'Wed, 21 Oct 2015 07:28:45 GMT' }, text: '' },
      now,
    );
    expect(error.kind).toBe('retryable');
    expect(error.retryAfterMs).toBe(45_000);
    expect(error.message).toBe('[impact-in] [goodera] HTTP 429');
  });

  it('401 is permanent and flags authRejected', () => {
    const error = errorFromResponse('benevity', {
      status: 401,
      headers: {},
      text: '{"error":"invalid_token"}',
    });
    expect(error).toBeInstanceOf(PermanentError);
    expect(error.kind).toBe('permanent');
    expect(error.status).toBe(401);
    expect(error.authRejected).toBe(true);
    expect(error.retryAfterMs).toBeUndefined();
    expect(error.message).toContain('[impact-in] [benevity]');
    expect(error.message).toContain('HTTP 401');
    expect(error.message).toContain('invalid_token');
  });

  it('403 and 422 are permanent without authRejected', () => {
    for (const status of [403, 422]) {
      const error = errorFromResponse('p', { status, headers: {}, text: '' });
      expect(error.kind).toBe('permanent');
      expect(error.authRejected).toBe(false);
    }
  });

  it('truncates long bodies to 500 characters', () => {
    const error = errorFromResponse('p', { status: 500, headers: {}, text: 'x'.repeat(2_000) });
    expect(error.message).toBe(`[impact-in] [p] HTTP 500: ${'x'.repeat(500)}…`);
  });
});

describe('errors from another copy of @impact-in/core', () => {
  // The built CommonJS bundle is a second copy with classes of its own, as an ESM app loading a
  // plugin built as CommonJS (or pinned to another version) has.
  const other = createRequire(import.meta.url)('../dist/index.cjs') as typeof import('../src/index.js');

  it('are still instances of the class of the same name, and only of it', () => {
    expect(other.RetryableError).not.toBe(RetryableError);
    const retryable = new other.RetryableError('[impact-in] [acme] busy', { retryAfterMs: 500 });
    expect(retryable instanceof ImpactInError).toBe(true);
    expect(retryable instanceof RetryableError).toBe(true);
    expect(retryable instanceof PermanentError).toBe(false);
    const rejected = new other.WebhookVerificationError('acme', 'bad signature');
    expect(rejected instanceof WebhookVerificationError).toBe(true);
    expect(rejected instanceof PermanentError).toBe(true);
    expect(rejected instanceof RetryableError).toBe(false);
    expect(new Error('plain') instanceof ImpactInError).toBe(false);
    expect(Object.assign(new Error('look-alike'), { kind: 'retryable' }) instanceof RetryableError).toBe(
      false,
    );
  });

  it('keep their kind and Retry-After through classifyError', () => {
    const thrown = new other.RetryableError('[impact-in] [acme] busy', { retryAfterMs: 500 });
    const classified = classifyError(thrown, 'acme');
    expect(classified).toBe(thrown);
    expect(classified.kind).toBe('retryable');
    expect(classified.retryAfterMs).toBe(500);
  });
});
