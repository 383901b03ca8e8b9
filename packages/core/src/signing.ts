import { createHmac, timingSafeEqual } from 'node:crypto';

type Bytes = string | Uint8Array;
type Encoding = 'hex' | 'base64';

/**
 * HMAC-SHA256 of `body` (the exact bytes sent) with `secret`.
 *
 * @example hmacSha256('secret', '{"a":1}') // 64 hex chars
 */
export function hmacSha256(secret: Bytes, body: Bytes, encoding: Encoding = 'hex'): string {
  return createHmac('sha256', secret).update(body).digest(encoding);
}

/** Constant-time string comparison (length leaks, content does not). */
export function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  if (left.length !== right.length) {
    timingSafeEqual(left, left);
    return false;
  }
  return timingSafeEqual(left, right);
}

/**
 * Verifies an HMAC-SHA256 signature in constant time. Hex comparison is case-insensitive;
 * an optional `sha256=` prefix is accepted.
 */
export function verifyHmacSha256(
  secret: Bytes,
  body: Bytes,
  signature: string | null | undefined,
  encoding: Encoding = 'hex',
): boolean {
  if (!signature) return false;
  let given = signature.trim();
  if (given.startsWith('sha256=')) given = given.slice(7);
  if (encoding === 'hex') given = given.toLowerCase();
  return safeEqual(hmacSha256(secret, body, encoding), given);
}

export interface TimestampedSignature {
  timestamp: number;
  signature: string;
}

/** Signs `${timestamp}.${body}` (timestamp in unix seconds). */
export function signTimestamped(
  secret: Bytes,
  body: Bytes,
  timestampSeconds: number | string,
  encoding: Encoding = 'hex',
): string {
  const bodyBuffer = typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body);
  return hmacSha256(
    secret,
    Buffer.concat([Buffer.from(`${timestampSeconds}.`, 'utf8'), bodyBuffer]),
    encoding,
  );
}

export type VerifyFailure = 'missing' | 'malformed' | 'stale' | 'future' | 'mismatch';
export type VerifyResult = { ok: true } | { ok: false; reason: VerifyFailure };

/**
 * Verifies a timestamped signature: the timestamp must be within `toleranceSeconds`
 * (default 300) of `now`, and the HMAC of `${timestamp}.${body}` must match.
 */
export function verifyTimestamped(
  secret: Bytes,
  body: Bytes,
  timestamp: string | number | null | undefined,
  signature: string | null | undefined,
  options: { toleranceSeconds?: number; now?: number; encoding?: Encoding } = {},
): VerifyResult {
  if (timestamp === null || timestamp === undefined || timestamp === '' || !signature) {
    return { ok: false, reason: 'missing' };
  }
  const text = String(timestamp).trim();
  if (!/^\d{1,12}$/.test(text)) return { ok: false, reason: 'malformed' };
  const seconds = Number(text);
  const tolerance = options.toleranceSeconds ?? 300;
  const nowSeconds = Math.floor((options.now ?? Date.now()) / 1000);
  if (seconds < nowSeconds - tolerance) return { ok: false, reason: 'stale' };
  if (seconds > nowSeconds + tolerance) return { ok: false, reason: 'future' };
  const encoding = options.encoding ?? 'hex';
  // Sign the timestamp exactly as it was sent, not a re-formatted number.
  const expected = signTimestamped(secret, body, text, encoding);
  let given = signature.trim();
  if (encoding === 'hex') given = given.toLowerCase();
  return safeEqual(expected, given) ? { ok: true } : { ok: false, reason: 'mismatch' };
}

// --- Standard Webhooks (https://www.standardwebhooks.com) -------------------------------

function standardSecretBytes(secret: string): Buffer {
  const raw = secret.startsWith('whsec_') ? secret.slice(6) : secret;
  const bytes = Buffer.from(raw, 'base64');
  if (bytes.length === 0) throw new Error('[impact-in] standard webhooks secret is empty or not base64');
  return bytes;
}

function standardContent(id: string, timestampSeconds: number, body: Bytes): Buffer {
  const bodyBuffer = typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body);
  return Buffer.concat([Buffer.from(`${id}.${timestampSeconds}.`, 'utf8'), bodyBuffer]);
}

/**
 * Signs a message the Standard Webhooks way and returns the three headers to send.
 *
 * @example
 * const headers = signStandardWebhook('whsec_…', { id: 'msg_1', timestamp: 1614265330, body });
 * // { 'webhook-id': 'msg_1', 'webhook-timestamp': '1614265330', 'webhook-signature': 'v1,…' }
 */
export function signStandardWebhook(
  secret: string,
  message: { id: string; timestamp: number; body: Bytes },
): { 'webhook-id': string; 'webhook-timestamp': string; 'webhook-signature': string } {
  const signature = createHmac('sha256', standardSecretBytes(secret))
    .update(standardContent(message.id, message.timestamp, message.body))
    .digest('base64');
  return {
    'webhook-id': message.id,
    'webhook-timestamp': String(message.timestamp),
    'webhook-signature': `v1,${signature}`,
  };
}

/**
 * Verifies Standard Webhooks headers. `secrets` may hold several secrets (rotation), and the
 * signature header may hold several space-separated `v1,…` signatures; any match passes.
 * Timestamps more than `toleranceSeconds` (default 300) away from now are refused.
 */
export function verifyStandardWebhook(
  secrets: string | readonly string[],
  headers: Record<string, string | undefined>,
  body: Bytes,
  options: { toleranceSeconds?: number; now?: number } = {},
): VerifyResult {
  const lower: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(headers)) lower[name.toLowerCase()] = value;
  const id = lower['webhook-id'];
  const timestamp = lower['webhook-timestamp'];
  const signatureHeader = lower['webhook-signature'];
  if (!id || !timestamp || !signatureHeader) return { ok: false, reason: 'missing' };
  if (!/^\d+$/.test(timestamp)) return { ok: false, reason: 'malformed' };
  const seconds = Number(timestamp);
  const tolerance = options.toleranceSeconds ?? 300;
  const nowSeconds = Math.floor((options.now ?? Date.now()) / 1000);
  if (seconds < nowSeconds - tolerance) return { ok: false, reason: 'stale' };
  if (seconds > nowSeconds + tolerance) return { ok: false, reason: 'future' };
  const candidates = signatureHeader
    .split(' ')
    .map((part) => part.trim())
    .filter((part) => part.startsWith('v1,'))
    .map((part) => part.slice(3));
  if (candidates.length === 0) return { ok: false, reason: 'malformed' };
  const content = standardContent(id, seconds, body);
  for (const secret of typeof secrets === 'string' ? [secrets] : secrets) {
    const expected = createHmac('sha256', standardSecretBytes(secret)).update(content).digest('base64');
    for (const candidate of candidates) {
      if (safeEqual(expected, candidate)) return { ok: true };
    }
  }
  return { ok: false, reason: 'mismatch' };
}
