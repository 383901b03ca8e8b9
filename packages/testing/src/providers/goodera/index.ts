import { createHash, randomBytes } from 'node:crypto';
import { safeEqual, z } from '@impact-in/core';
import { exportJWK, generateKeyPair, type JSONWebKeySet, type JWTPayload, SignJWT } from 'jose';
import { delay, HttpResponse, http, type RequestHandler } from 'msw';
import {
  type AcceptedDelivery,
  bodyFieldPath,
  type InjectedFailure,
  oauthErrorResponse,
  type ProviderSimulator,
  SimulatorState,
} from '../simulator.js';

/** An OAuth client of the simulator. */
export interface GooderaClientCredentials {
  clientId: string;
  clientSecret: string;
}

/** The OAuth client the simulator accepts unless told otherwise. */
export const GOODERA_TEST_CREDENTIALS: Readonly<GooderaClientCredentials> = Object.freeze({
  clientId: 'gd_client_test_7f3a9c',
  clientSecret: 'gd_secret_test_4b8e2d6f1a9c3e5b',
});

/** Issuer, audience and HS256 secret of the webhook tokens the simulator signs. */
export const GOODERA_TEST_WEBHOOK: Readonly<{ issuer: string; audience: string; sharedSecret: string }> =
  Object.freeze({
    issuer: 'https://auth.goodera.test',
    audience: 'impact-in',
    sharedSecret: 'gd_whsec_test_0123456789abcdef0123456789abcdef',
  });

/** The routes the simulator serves, under its base URL. */
export const GOODERA_SIMULATOR_PATHS = Object.freeze({
  token: '/oauth/token',
  events: '/v2/events/impact',
  ping: '/v2/ping',
  jwks: '/.well-known/jwks.json',
});

export interface GooderaSimulatorOptions {
  /** OAuth clients it knows. Default: {@link GOODERA_TEST_CREDENTIALS}. */
  clients?: ReadonlyArray<GooderaClientCredentials>;
  /** `expires_in` of access tokens. Default 3600. */
  tokenLifetimeSeconds?: number;
  /** How long a refresh token stays valid. Default 30 days. */
  refreshTokenLifetimeSeconds?: number;
  /** Issue a `refresh_token` with every access token. Default `true`. */
  issueRefreshTokens?: boolean;
  /** Requests per window per client on the API routes. Default Goodera's 100 per 60 s. */
  rateLimit?: { maxRequests: number; windowMs: number };
  /** Time as the simulator sees it (token expiry, rate windows). Default the system clock. */
  clock?: { now(): number };
  /** Real milliseconds the token endpoint takes to answer, so concurrent callers overlap. Default 0. */
  tokenDelayMs?: number;
  /** Claims of the webhook tokens `signWebhook` makes. Default {@link GOODERA_TEST_WEBHOOK}. */
  webhook?: { issuer?: string; audience?: string; sharedSecret?: string };
}

/** One request to the token endpoint, as the simulator saw it. */
export interface GooderaTokenRequest {
  grantType: string | null;
  authMethod: 'client_secret_post' | 'client_secret_basic' | 'none';
  clientId: string | null;
  status: number;
  /** The error code when refused (`invalid_client`, `invalid_grant`, …). */
  error?: string;
  /** What it issued, when it did. */
  accessToken?: string;
  refreshToken?: string;
  at: number;
}

export interface SignWebhookOptions {
  /** `RS256` signs with the key the simulator publishes at its JWKS route; `HS256` with the shared secret. Default `RS256`. */
  alg?: 'RS256' | 'HS256';
  issuer?: string;
  audience?: string;
  /** Default 300. */
  expiresInSeconds?: number;
  /** `null` leaves the `body_sha256` claim out. Default: the hash of the body. */
  bodySha256?: string | null;
}

/** A Goodera simulator: OAuth token endpoint, impact events v2.1, rate limits, JWKS and webhook signing. */
export interface GooderaSimulator extends ProviderSimulator {
  /** Requests to the token endpoint so far, refused ones included. */
  readonly tokenRequests: number;
  readonly tokenLog: readonly GooderaTokenRequest[];
  /** API requests answered 429 so far. */
  readonly rateLimited: number;
  /** Every access token issued so far is refused from now on (401 `invalid_token`); refresh tokens still work. */
  revokeAccessTokens(): void;
  /** Every refresh token issued so far is refused from now on (400 `invalid_grant`). */
  revokeRefreshTokens(): void;
  /** The JWKS it serves: the public half of its webhook signing key. */
  jwks(): Promise<JSONWebKeySet>;
  /** Signs a webhook the way Goodera sends one: JSON body plus `Authorization: Bearer <JWT>`. */
  signWebhook(
    payload: unknown,
    options?: SignWebhookOptions,
  ): Promise<{ body: string; headers: Record<string, string> }>;
}

const EventV21Schema = z.strictObject({
  schema_version: z.literal('v2.1'),
  event: z.strictObject({
    external_id: z.string().min(1).max(200),
    event_type: z.string().min(1).max(100),
    timestamp: z.iso.datetime({ offset: true }),
    participant: z.strictObject({ external_user_id: z.string().min(1).max(200) }),
    impact: z.strictObject({
      dimensions: z
        .array(
          z.strictObject({
            dimension_name: z.string().min(1).max(100),
            score: z.number().min(0).max(1),
            scale: z.literal('normalized_0_1'),
          }),
        )
        .max(50),
      metadata: z.record(z.string(), z.unknown()),
    }),
  }),
});

/** RFC 6749 §2.3.1: id and secret are form-encoded, joined by a colon, then base64. */
function parseBasic(header: string | null): { clientId: string; clientSecret: string } | undefined {
  const match = header ? /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header) : null;
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  const formDecode = (value: string) => {
    try {
      return decodeURIComponent(value.replace(/\+/g, ' '));
    } catch {
      return value;
    }
  };
  return {
    clientId: formDecode(decoded.slice(0, colon)),
    clientSecret: formDecode(decoded.slice(colon + 1)),
  };
}

/** Goodera's error codes for the statuses tests inject. */
const STATUS_CODES: Record<number, string> = {
  400: 'bad_request',
  401: 'invalid_token',
  403: 'forbidden',
  404: 'not_found',
  409: 'conflict',
  422: 'validation_failed',
  429: 'rate_limited',
  500: 'internal_error',
  502: 'bad_gateway',
  503: 'service_unavailable',
  504: 'gateway_timeout',
};

const token = (prefix: string) => `${prefix}${randomBytes(18).toString('base64url')}`;

/**
 * Creates a Goodera simulator. It accepts only correct requests: form-encoded token requests
 * authenticated with `client_secret_post` or `client_secret_basic`, bearer tokens it issued and that
 * have not expired by its clock, bodies that match schema v2.1 exactly, an `X-Idempotency-Key` on
 * every delivery. It refuses the rest in Goodera's shapes (`{ error, error_description }` from the
 * token endpoint, `{ error: { code, message, details }, request_id }` from the API), limits each
 * client to 100 requests a minute (429 + `Retry-After`, `X-RateLimit-Remaining` on every API
 * answer), and records accepted deliveries once per idempotency key.
 *
 * @example
 * const simulator = createGooderaSimulator({ clock: harness.clock });
 * const provider = await startProviderServer(simulator.handlers);
 * // config: { apiUrl: provider.url, tokenUrl: `${provider.url}/oauth/token`, ...GOODERA_TEST_CREDENTIALS }
 */
export function createGooderaSimulator(options: GooderaSimulatorOptions = {}): GooderaSimulator {
  const clients = options.clients ?? [GOODERA_TEST_CREDENTIALS];
  const clock = options.clock ?? { now: () => Date.now() };
  const lifetimeMs = (options.tokenLifetimeSeconds ?? 3_600) * 1_000;
  const refreshLifetimeMs = (options.refreshTokenLifetimeSeconds ?? 30 * 86_400) * 1_000;
  const issueRefresh = options.issueRefreshTokens ?? true;
  const limit = options.rateLimit ?? { maxRequests: 100, windowMs: 60_000 };
  const webhook = { ...GOODERA_TEST_WEBHOOK, ...options.webhook };

  const state = new SimulatorState();
  const accessTokens = new Map<string, { clientId: string; expiresAt: number; revoked: boolean }>();
  const refreshTokens = new Map<string, { clientId: string; expiresAt: number }>();
  const windows = new Map<string, { start: number; count: number }>();
  /** What each (client, idempotency key) was first sent with, and what it was answered. */
  const idempotency = new Map<string, { body: string; response: Record<string, unknown> }>();
  const tokenLog: GooderaTokenRequest[] = [];
  let rateLimited = 0;
  let sequence = 0;

  let signingKey: Promise<Awaited<ReturnType<typeof generateKeyPair>>> | undefined;
  const keyPair = () => {
    signingKey ??= generateKeyPair('RS256', { extractable: true });
    return signingKey;
  };
  const KEY_ID = 'goodera-sim-1';

  interface Quota {
    remaining: number;
    resetAt: number;
  }
  const quotaHeaders = (quota: Quota | undefined): Record<string, string> =>
    quota
      ? {
          'x-ratelimit-limit': String(limit.maxRequests),
          'x-ratelimit-remaining': String(quota.remaining),
          'x-ratelimit-reset': String(Math.ceil(quota.resetAt / 1_000)),
        }
      : {};

  const apiError = (
    status: number,
    code: string,
    message: string,
    extra: {
      quota?: Quota;
      headers?: Record<string, string>;
      details?: Array<{ field: string; message: string }>;
    } = {},
  ) => {
    const requestId = `req_${String(++sequence).padStart(6, '0')}`;
    return HttpResponse.json(
      {
        error: { code, message, ...(extra.details ? { details: extra.details } : {}) },
        request_id: requestId,
      },
      { status, headers: { 'x-request-id': requestId, ...quotaHeaders(extra.quota), ...extra.headers } },
    );
  };

  /** The client behind a bearer token, or the 401 to answer. */
  const authenticate = (request: Request): { clientId: string } | Response => {
    const header = request.headers.get('authorization');
    const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    const challenge = 'Bearer realm="goodera"';
    if (!match) {
      return apiError(401, 'unauthorized', 'A bearer access token is required', {
        headers: { 'www-authenticate': challenge },
      });
    }
    const entry = accessTokens.get(match[1]!);
    const invalid = (description: string) =>
      apiError(401, 'invalid_token', description, {
        headers: {
          'www-authenticate': `${challenge}, error="invalid_token", error_description="${description}"`,
        },
        ...(entry ? { quota: peekQuota(entry.clientId) } : {}),
      });
    if (!entry) return invalid('The access token is not known');
    if (entry.revoked) return invalid('The access token was revoked');
    if (clock.now() >= entry.expiresAt) return invalid('The access token expired');
    return { clientId: entry.clientId };
  };

  const windowOf = (clientId: string) => {
    const now = clock.now();
    let window = windows.get(clientId);
    if (!window || now >= window.start + limit.windowMs) {
      window = { start: now, count: 0 };
      windows.set(clientId, window);
    }
    return window;
  };
  /** The client's quota without counting a request (nor opening a window). */
  const peekQuota = (clientId: string): Quota => {
    const now = clock.now();
    const window = windows.get(clientId);
    if (!window || now >= window.start + limit.windowMs) {
      return { remaining: limit.maxRequests, resetAt: now + limit.windowMs };
    }
    return {
      remaining: Math.max(0, limit.maxRequests - window.count),
      resetAt: window.start + limit.windowMs,
    };
  };
  /** Counts one API request against the client's window; a refused one is not counted. */
  const take = (clientId: string): { quota: Quota; retryAfterSeconds?: number } => {
    const window = windowOf(clientId);
    const resetAt = window.start + limit.windowMs;
    if (window.count >= limit.maxRequests) {
      return {
        quota: { remaining: 0, resetAt },
        retryAfterSeconds: Math.max(1, Math.ceil((resetAt - clock.now()) / 1_000)),
      };
    }
    window.count++;
    return { quota: { remaining: limit.maxRequests - window.count, resetAt } };
  };

  /** Authenticates and counts an API request; answers 401 or 429 itself. */
  const admit = (request: Request): { clientId: string; quota: Quota } | Response => {
    const auth = authenticate(request);
    if (auth instanceof Response) return auth;
    const { quota, retryAfterSeconds } = take(auth.clientId);
    if (retryAfterSeconds !== undefined) {
      rateLimited++;
      return apiError(
        429,
        'rate_limited',
        `Rate limit of ${limit.maxRequests} requests per ${limit.windowMs / 1_000} s exceeded for this client`,
        { quota, headers: { 'retry-after': String(retryAfterSeconds) } },
      );
    }
    return { clientId: auth.clientId, quota };
  };

  const issue = (clientId: string, entry: GooderaTokenRequest) => {
    const now = clock.now();
    const accessToken = token('gd_at_');
    accessTokens.set(accessToken, { clientId, expiresAt: now + lifetimeMs, revoked: false });
    const refreshToken = issueRefresh ? token('gd_rt_') : undefined;
    if (refreshToken) refreshTokens.set(refreshToken, { clientId, expiresAt: now + refreshLifetimeMs });
    entry.status = 200;
    entry.accessToken = accessToken;
    if (refreshToken) entry.refreshToken = refreshToken;
    return HttpResponse.json(
      {
        access_token: accessToken,
        token_type: 'Bearer',
        expires_in: lifetimeMs / 1_000,
        ...(refreshToken ? { refresh_token: refreshToken } : {}),
        scope: 'impact:write',
      },
      { headers: { 'cache-control': 'no-store', pragma: 'no-cache' } },
    );
  };

  const tokenHandler = async (request: Request): Promise<Response> => {
    if (options.tokenDelayMs) await delay(options.tokenDelayMs);
    const entry: GooderaTokenRequest = {
      grantType: null,
      authMethod: 'none',
      clientId: null,
      status: 0,
      at: clock.now(),
    };
    tokenLog.push(entry);
    const refuse = (status: number, error: string, description: string, headers?: Record<string, string>) => {
      entry.status = status;
      entry.error = error;
      return oauthErrorResponse(status, error, description, headers);
    };
    if (!(request.headers.get('content-type') ?? '').startsWith('application/x-www-form-urlencoded')) {
      return refuse(400, 'invalid_request', 'The token request must be application/x-www-form-urlencoded');
    }
    const form = new URLSearchParams(await request.text());
    entry.grantType = form.get('grant_type');
    const basic = parseBasic(request.headers.get('authorization'));
    if (basic && (form.has('client_secret') || form.has('client_id'))) {
      return refuse(400, 'invalid_request', 'Use exactly one client authentication method');
    }
    const given = basic ?? {
      clientId: form.get('client_id') ?? '',
      clientSecret: form.get('client_secret') ?? '',
    };
    entry.authMethod = basic
      ? 'client_secret_basic'
      : form.has('client_secret')
        ? 'client_secret_post'
        : 'none';
    entry.clientId = given.clientId || null;
    const client = clients.find((candidate) => candidate.clientId === given.clientId);
    if (entry.authMethod === 'none' || !client || !safeEqual(given.clientSecret, client.clientSecret)) {
      return refuse(
        401,
        'invalid_client',
        'Client authentication failed',
        basic ? { 'www-authenticate': 'Basic realm="goodera"' } : {},
      );
    }
    if (entry.grantType === 'client_credentials') return issue(client.clientId, entry);
    if (entry.grantType === 'refresh_token') {
      const presented = form.get('refresh_token') ?? '';
      const stored = refreshTokens.get(presented);
      if (!stored || stored.clientId !== client.clientId || clock.now() >= stored.expiresAt) {
        return refuse(400, 'invalid_grant', 'The refresh token is invalid, expired or revoked');
      }
      // Rotation: a refresh token works once.
      refreshTokens.delete(presented);
      return issue(client.clientId, entry);
    }
    if (!entry.grantType) return refuse(400, 'invalid_request', 'grant_type is required');
    return refuse(400, 'unsupported_grant_type', `grant_type ${entry.grantType} is not supported`);
  };

  const eventsHandler = async (request: Request): Promise<Response> => {
    const admitted = admit(request);
    if (admitted instanceof Response) return admitted;
    const { clientId, quota } = admitted;
    const failure = await state.nextFailure();
    if (failure) {
      if (failure.type !== 'error')
        for (const [name, value] of Object.entries(quotaHeaders(quota))) failure.headers.set(name, value);
      return failure;
    }
    if (!(request.headers.get('content-type') ?? '').startsWith('application/json')) {
      return apiError(415, 'unsupported_media_type', 'Send application/json', { quota });
    }
    const idempotencyKey = request.headers.get('x-idempotency-key');
    if (!idempotencyKey || idempotencyKey.length > 255) {
      return apiError(400, 'missing_idempotency_key', 'X-Idempotency-Key (1-255 characters) is required', {
        quota,
      });
    }
    const text = await request.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return apiError(400, 'invalid_json', 'The body is not valid JSON', { quota });
    }
    const version = (body as { schema_version?: unknown } | null)?.schema_version;
    if (version !== 'v2.1') {
      return apiError(
        400,
        'unsupported_schema_version',
        `schema_version must be "v2.1", got ${JSON.stringify(version)}`,
        {
          quota,
        },
      );
    }
    const parsed = EventV21Schema.safeParse(body);
    if (!parsed.success) {
      return apiError(422, 'validation_failed', 'The impact event does not match schema v2.1', {
        quota,
        details: parsed.error.issues.map((issue) => ({
          field: bodyFieldPath(issue.path),
          message: issue.message,
        })),
      });
    }
    const key = `${clientId}\n${idempotencyKey}`;
    const previous = idempotency.get(key);
    if (previous) {
      if (previous.body !== text) {
        return apiError(
          409,
          'idempotency_key_reused',
          'This X-Idempotency-Key was used with a different body',
          {
            quota,
          },
        );
      }
      state.accept(idempotencyKey, body);
      return HttpResponse.json(previous.response, {
        status: 202,
        headers: { 'idempotent-replayed': 'true', ...quotaHeaders(quota) },
      });
    }
    const number = String(++sequence).padStart(6, '0');
    const response = {
      id: `gd_evt_${number}`,
      status: 'accepted',
      external_id: parsed.data.event.external_id,
      received_at: new Date(clock.now()).toISOString(),
    };
    idempotency.set(key, { body: text, response });
    state.accept(idempotencyKey, body);
    return HttpResponse.json(response, {
      status: 202,
      headers: { 'x-request-id': `req_${number}`, ...quotaHeaders(quota) },
    });
  };

  const simulator: GooderaSimulator = {
    provider: 'goodera',
    handlers: (baseUrl: string): RequestHandler[] => [
      http.post(`${baseUrl}${GOODERA_SIMULATOR_PATHS.token}`, ({ request }) => tokenHandler(request)),
      http.post(`${baseUrl}${GOODERA_SIMULATOR_PATHS.events}`, ({ request }) => eventsHandler(request)),
      http.get(`${baseUrl}${GOODERA_SIMULATOR_PATHS.ping}`, ({ request }) => {
        const admitted = admit(request);
        if (admitted instanceof Response) return admitted;
        return HttpResponse.json(
          { status: 'ok', client_id: admitted.clientId },
          { headers: quotaHeaders(admitted.quota) },
        );
      }),
      http.get(`${baseUrl}${GOODERA_SIMULATOR_PATHS.jwks}`, async () =>
        HttpResponse.json(await simulator.jwks(), { headers: { 'cache-control': 'max-age=300' } }),
      ),
    ],
    accepted: (): AcceptedDelivery[] => state.accepted(),
    failNext(failure: InjectedFailure, count?: number) {
      // Injected statuses answer in Goodera's error shape unless the test brings its own body.
      if (failure.kind === 'status' && failure.body === undefined) {
        const code = STATUS_CODES[failure.status] ?? `http_${failure.status}`;
        failure = {
          ...failure,
          body: JSON.stringify({
            error: { code, message: `Simulated ${failure.status} (${code})` },
            request_id: `req_injected_${failure.status}`,
          }),
        };
      }
      state.failNext(failure, count);
    },
    reset() {
      state.reset();
      accessTokens.clear();
      refreshTokens.clear();
      windows.clear();
      idempotency.clear();
      tokenLog.length = 0;
      rateLimited = 0;
    },
    get tokenRequests() {
      return tokenLog.length;
    },
    get tokenLog() {
      return tokenLog;
    },
    get rateLimited() {
      return rateLimited;
    },
    revokeAccessTokens() {
      for (const entry of accessTokens.values()) entry.revoked = true;
    },
    revokeRefreshTokens() {
      refreshTokens.clear();
    },
    async jwks() {
      const { publicKey } = await keyPair();
      const jwk = await exportJWK(publicKey);
      return { keys: [{ ...jwk, kid: KEY_ID, alg: 'RS256', use: 'sig' }] };
    },
    async signWebhook(payload, signOptions = {}) {
      const body = typeof payload === 'string' ? payload : JSON.stringify(payload);
      const alg = signOptions.alg ?? 'RS256';
      const now = Math.floor(clock.now() / 1_000);
      const claims: JWTPayload = {};
      const hash =
        signOptions.bodySha256 === undefined
          ? createHash('sha256').update(body).digest('base64url')
          : signOptions.bodySha256;
      if (hash !== null) claims.body_sha256 = hash;
      const jwt = new SignJWT(claims)
        .setProtectedHeader(alg === 'RS256' ? { alg, typ: 'JWT', kid: KEY_ID } : { alg, typ: 'JWT' })
        .setIssuer(signOptions.issuer ?? webhook.issuer)
        .setAudience(signOptions.audience ?? webhook.audience)
        .setIssuedAt(now)
        .setExpirationTime(now + (signOptions.expiresInSeconds ?? 300))
        .setJti(token('whj_'));
      const signed =
        alg === 'RS256'
          ? await jwt.sign((await keyPair()).privateKey)
          : await jwt.sign(new TextEncoder().encode(webhook.sharedSecret));
      return { body, headers: { authorization: `Bearer ${signed}`, 'content-type': 'application/json' } };
    },
  };
  return simulator;
}
