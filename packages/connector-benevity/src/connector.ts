import {
  type ConnectorContext,
  classifyError,
  createOAuthClient,
  defineConnector,
  errorFromResponse,
  type HealthResult,
  type HttpRequest,
  type HttpResponse,
  hmacSha256,
  type ImpactInError,
  type OAuthClient,
  PermanentError,
  RetryableError,
} from '@impact-in/core';
import {
  BENEVITY_SECRETS,
  type BenevityConfig,
  BenevityConfigSchema,
  type BenevityOAuthConfig,
  PROVIDER,
} from './config.js';
import { parseBenevityIngest, parseBenevityWebhook, verifyBenevityWebhook } from './inbound.js';
import { IMPACT_EVENTS_PATH, PING_PATH, signBenevityBody, toBenevityPayload } from './payload.js';

/** Benevity's error body: `{ "error": { "code", "message", "details"?: [{ "field", "message" }] } }`. */
export interface BenevityErrorBody {
  error: {
    code: string;
    message?: string;
    details?: Array<{ field?: string; message?: string }>;
    receipt_id?: string;
  };
}

/** What to check when Benevity names a credential problem. Never the credential itself. */
const HINTS: Record<string, string> = {
  INVALID_API_KEY: 'check apiKey',
  MISSING_API_KEY: 'check apiKey',
  INVALID_SIGNATURE: 'check signatureSecret',
  MISSING_SIGNATURE: 'set signatureSecret',
  INVALID_TOKEN: 'check clientId and clientSecret',
  TOKEN_EXPIRED: 'check clientId and clientSecret',
};

/**
 * Reads Benevity's error body, or `undefined` when the answer is not in that shape (a proxy's
 * HTML page, an empty 503).
 *
 * @example readBenevityError(response)?.error.code // 'INVALID_SIGNATURE'
 */
export function readBenevityError(response: Pick<HttpResponse, 'text'>): BenevityErrorBody | undefined {
  let body: unknown;
  try {
    body = JSON.parse(response.text());
  } catch {
    return undefined;
  }
  if (typeof body !== 'object' || body === null) return undefined;
  const error = (body as { error?: unknown }).error;
  if (typeof error !== 'object' || error === null) return undefined;
  if (typeof (error as { code?: unknown }).code !== 'string') return undefined;
  return body as BenevityErrorBody;
}

const clip = (text: string, max = 300) => (text.length > max ? `${text.slice(0, max)}…` : text);

/**
 * Benevity's answers, classified: 2xx is success; `409 DUPLICATE_EVENT` (the event id is already
 * recorded, under another idempotency key) is success too, since the event is on Benevity and no
 * retry can change that; other answers in Benevity's error shape keep the status table (429, 5xx
 * retryable; other 4xx permanent) with a message that names the error code, the fields at fault
 * and the setting to check. Anything else falls back to the default classification.
 *
 * @example
 * classifyBenevityResponse(response) // PermanentError "[impact-in] [benevity] HTTP 401 INVALID_SIGNATURE: …"
 */
export function classifyBenevityResponse(
  response: Pick<HttpResponse, 'status' | 'headers' | 'text'>,
): ImpactInError | null | undefined {
  if (response.status < 300) return undefined;
  const body = readBenevityError(response);
  if (!body) return undefined;
  const { code, message, details } = body.error;
  if (response.status === 409 && code === 'DUPLICATE_EVENT') return null;
  const fallback = errorFromResponse(PROVIDER, {
    status: response.status,
    headers: response.headers,
    text: '',
  });
  const fields = (details ?? [])
    .filter((detail) => typeof detail?.field === 'string')
    .map((detail) => `${detail.field}: ${detail.message ?? 'invalid'}`)
    .join('; ');
  const hint = HINTS[code];
  const text = [
    `[impact-in] [${PROVIDER}] HTTP ${response.status} ${code}`,
    message ? `: ${clip(message)}` : '',
    fields ? ` (${clip(fields)})` : '',
    hint ? ` — ${hint}` : '',
  ].join('');
  const options = {
    code: code.toLowerCase(),
    status: response.status,
    retryAfterMs: fallback.retryAfterMs,
    authRejected: fallback.authRejected,
  };
  return fallback.kind === 'retryable'
    ? new RetryableError(text, options)
    : new PermanentError(text, options);
}

// One OAuth client per config object; token state lives in the context's TokenStore, so a new
// client for an equal config (a per-tenant config resolved afresh) shares tokens and single flight.
const oauthClients = new WeakMap<BenevityOAuthConfig, OAuthClient>();

function oauthFor(config: BenevityOAuthConfig): OAuthClient {
  let client = oauthClients.get(config);
  if (!client) {
    client = createOAuthClient(PROVIDER, {
      tokenUrl: config.tokenUrl,
      clientId: config.clientId,
      clientSecret: config.clientSecret,
      authMethod: config.authMethod,
      ...(config.scope ? { scope: config.scope } : {}),
    });
    oauthClients.set(config, client);
  }
  return client;
}

/** Sends a request with the mode's credentials: `X-API-Key`, or a bearer token (one refresh on 401). */
function send(
  context: ConnectorContext<BenevityConfig>,
  request: Omit<HttpRequest, 'headers'> & { headers: Record<string, string> },
): Promise<HttpResponse> {
  const { config } = context;
  if (config.auth === 'api_key') {
    return context.http.request({ ...request, headers: { ...request.headers, 'X-API-Key': config.apiKey } });
  }
  return oauthFor(config).send(context, (token) => ({
    ...request,
    headers: { ...request.headers, Authorization: `Bearer ${token}` },
  }));
}

/**
 * The Benevity connector: impact events out (schema v1.0, API key + HMAC-SHA256 or OAuth 2.0
 * client credentials), signed webhooks and volunteer/donation ingest in.
 *
 * @example
 * const dispatcher = createDispatcher({
 *   store: new MemoryDeliveryStore(),
 *   connectors: [bindConnector(benevity, { apiUrl: 'https://api.benevity.com', apiKey, signatureSecret })],
 * });
 */
export const benevity = defineConnector({
  id: PROVIDER,
  displayName: 'Benevity',
  config: BenevityConfigSchema,
  // `defineConnector` types secrets as the keys every union branch shares, which leaves out the
  // per-mode ones (`apiKey`, `clientSecret`); the list itself is exact.
  secrets: BENEVITY_SECRETS as unknown as readonly (keyof BenevityConfig & string)[],
  rateLimit: (config) =>
    config.requestsPerMinute ? { maxRequests: config.requestsPerMinute, windowMs: 60_000 } : undefined,
  // The bucket (and 429 pause) belongs to the credential. An API key is a secret, so its bucket is
  // named by a keyed hash of it, never by the key.
  credentialKey: (config) =>
    config.auth === 'oauth'
      ? `oauth:${config.clientId}`
      : `key:${hmacSha256('impact-in:benevity:credential', config.apiKey).slice(0, 16)}`,
  classifyResponse: (response) => classifyBenevityResponse(response),

  async deliver({ event, deliveryId }, context) {
    const { config } = context;
    const payload = toBenevityPayload(event, context.companyId);
    // Built once: these exact bytes are signed and sent, on the first try and on the 401 resend.
    const body = JSON.stringify(payload);
    const headers: Record<string, string> = {
      'Content-Type': 'application/json',
      'X-Idempotency-Key': deliveryId,
    };
    if (config.signatureSecret)
      headers['X-Benevity-Signature'] = signBenevityBody(config.signatureSecret, body);
    const response = await send(context, {
      method: 'POST',
      url: `${config.apiUrl}${IMPACT_EVENTS_PATH}`,
      headers,
      body,
      signal: context.signal,
    });
    return { payload, response };
  },

  async webhook(request, context) {
    const secret = context.config.signatureSecret;
    if (!secret) {
      throw new PermanentError(
        `[impact-in] [${PROVIDER}] signatureSecret is not configured, so webhooks cannot be verified`,
        { code: 'config' },
      );
    }
    verifyBenevityWebhook(request, secret);
    return parseBenevityWebhook(request.body, context.companyId, { logger: context.logger });
  },

  async ingest(kind, body, context) {
    return parseBenevityIngest(kind, body, context.companyId);
  },

  async health(context): Promise<HealthResult> {
    const started = context.clock.now();
    try {
      const response = await send(context, {
        method: 'GET',
        url: `${context.config.apiUrl}${PING_PATH}`,
        headers: { Accept: 'application/json' },
        signal: context.signal,
      });
      const latencyMs = context.clock.now() - started;
      if (response.status >= 300) {
        const error =
          classifyBenevityResponse(response) ??
          errorFromResponse(PROVIDER, { status: response.status, headers: response.headers, text: '' });
        return { ok: false, latencyMs, message: error.message };
      }
      if (!context.config.signatureSecret) {
        return { ok: true, latencyMs, message: 'no signatureSecret: inbound webhooks cannot be verified' };
      }
      return { ok: true, latencyMs };
    } catch (error) {
      return {
        ok: false,
        latencyMs: context.clock.now() - started,
        message: classifyError(error, PROVIDER).message,
      };
    }
  },
});
