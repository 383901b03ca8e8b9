import type { Logger } from '@impact-in/core';
import pino from 'pino';

/** Keys whose values never reach the logs, at any depth pino checks. */
const REDACT = [
  'apiKey',
  'signatureSecret',
  'clientSecret',
  'password',
  'refreshToken',
  'accessToken',
  'authorization',
  'token',
  'secret',
];

/**
 * JSON logs on stdout (pino), secrets redacted. Delivery logs carry `deliveryId`, `provider`,
 * `eventId`, `status` and `attemptCount`.
 */
export function createLogger(
  options: { level?: string; destination?: NodeJS.WritableStream } = {},
): Logger & pino.Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: { service: 'impact-in' },
      redact: {
        // Top level and one level down: deeper wildcards cost more per line than they catch.
        paths: [...REDACT, ...REDACT.map((key) => `*.${key}`)],
        censor: '[redacted]',
      },
    },
    // Buffered, asynchronous writes: a synchronous write per log line costs a syscall per
    // delivery on the hot path. `flushLogs` runs on shutdown so nothing is lost on SIGTERM.
    options.destination ?? pino.destination({ dest: 1, sync: false, minLength: 4_096 }),
  );
}
