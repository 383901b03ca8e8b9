import { createHash } from 'node:crypto';
import {
  type Clock,
  type RawRequest,
  RetryableError,
  safeEqual,
  systemClock,
  WebhookVerificationError,
} from '@impact-in/core';
import { createRemoteJWKSet, decodeProtectedHeader, errors, type JWTPayload, jwtVerify } from 'jose';
import type { GooderaConfig } from './config.js';

/** Signature algorithms accepted with a JWKS: asymmetric only, so a public key is never used as an HMAC secret. */
const ASYMMETRIC_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'EdDSA',
];

/** One remote key set per URL, so keys are cached (and refetched on rotation) across requests. */
const keySets = new Map<string, ReturnType<typeof createRemoteJWKSet>>();

function keySet(url: string) {
  let set = keySets.get(url);
  if (!set) {
    set = createRemoteJWKSet(new URL(url), { timeoutDuration: 5_000 });
    keySets.set(url, set);
  }
  return set;
}

/**
 * SHA-256 of the exact body bytes, base64url: the `body_sha256` claim that binds a webhook token
 * to its body.
 *
 * @example bodySha256('{"id":"whe_1"}') // 43 base64url characters
 */
export function bodySha256(body: string | Uint8Array): string {
  return createHash('sha256').update(body).digest('base64url');
}

const reject = (reason: string) => new WebhookVerificationError('goodera', reason);

/** Maps jose's failures to reasons a sender can act on; none of them echo the token. */
function reasonOf(error: unknown): string {
  // maxTokenAge failures are JWTExpired too, on the `iat` claim.
  if (error instanceof errors.JWTExpired)
    return error.claim === 'iat' ? 'token too old (iat)' : 'token expired';
  if (error instanceof errors.JWTClaimValidationFailed) return `claim "${error.claim}" check failed`;
  if (error instanceof errors.JOSEAlgNotAllowed) return 'signature algorithm not allowed';
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'bad signature';
  if (error instanceof errors.JWKSNoMatchingKey) return 'no key in the JWKS matches the token';
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) return 'malformed token';
  return 'token not verified';
}

/** A failure to fetch the key set is ours (or Goodera's), not the sender's fault: retry later. */
function isKeySetUnavailable(error: unknown): boolean {
  if (error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid) return true;
  // A non-200 answer or a body that is not JSON: jose raises its generic error for both.
  if (error instanceof errors.JOSEError) return error.code === 'ERR_JOSE_GENERIC';
  // Anything else comes from fetch itself (connection refused, DNS).
  return true;
}

/**
 * Verifies a Goodera webhook: the bearer JWT in `Authorization`, checked with `jose` against the
 * configured JWKS (asymmetric algorithms) or the shared secret (HS256), its issuer, audience,
 * expiry and age, and its `body_sha256` claim against the exact raw body. Resolves with the
 * verified claims; throws `WebhookVerificationError` when anything does not hold, and
 * `RetryableError` when the JWKS cannot be fetched.
 *
 * @example
 * const claims = await verifyGooderaWebhook(request, config, clock);
 */
export async function verifyGooderaWebhook(
  request: RawRequest,
  config: GooderaConfig,
  clock: Clock = systemClock,
): Promise<JWTPayload> {
  const webhook = config.webhook;
  if (!webhook) throw reject('webhook verification is not configured (config.webhook)');
  const authorization = request.headers.authorization;
  if (!authorization) throw reject('missing Authorization bearer token');
  const match = /^Bearer\s+([A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)\s*$/i.exec(authorization);
  if (!match) throw reject('Authorization is not a bearer JWT');
  const token = match[1]!;

  let alg: string | undefined;
  try {
    alg = decodeProtectedHeader(token).alg;
  } catch {
    throw reject('malformed token');
  }
  const symmetric = alg === 'HS256';
  if (symmetric && !config.webhookSharedSecret) throw reject('signature algorithm not allowed');
  if (!symmetric && !webhook.jwksUrl) throw reject('signature algorithm not allowed');

  const options = {
    issuer: webhook.issuer,
    audience: webhook.audience,
    algorithms: symmetric ? ['HS256'] : ASYMMETRIC_ALGORITHMS,
    currentDate: new Date(clock.now()),
    clockTolerance: webhook.clockToleranceSeconds,
    maxTokenAge: webhook.maxTokenAgeSeconds,
    requiredClaims: ['exp', 'iat'],
  };
  let claims: JWTPayload;
  try {
    claims = symmetric
      ? (await jwtVerify(token, new TextEncoder().encode(config.webhookSharedSecret!), options)).payload
      : (await jwtVerify(token, keySet(webhook.jwksUrl!), options)).payload;
  } catch (error) {
    if (!symmetric && isKeySetUnavailable(error)) {
      throw new RetryableError('[impact-in] [goodera] webhook keys (JWKS) could not be fetched', {
        code: 'jwks_unavailable',
        cause: error,
      });
    }
    throw reject(reasonOf(error));
  }

  const claimed = claims.body_sha256;
  if (claimed === undefined) {
    if (webhook.requireBodyHash) throw reject('token has no body_sha256 claim');
  } else if (typeof claimed !== 'string' || !safeEqual(bodySha256(request.body), claimed)) {
    throw reject('body does not match the token (body_sha256)');
  }
  return claims;
}
