import { hmacSha256, safeEqual, verifyHmacSha256, z } from '@impact-in/core';
import { HttpResponse, http, type RequestHandler } from 'msw';
import {
  type AcceptedDelivery,
  bodyFieldPath,
  type InjectedFailure,
  oauthErrorResponse,
  type ProviderSimulator,
  SimulatorState,
} from '../simulator.js';

/** Credentials a Benevity simulator accepts. */
export interface BenevityCredentials {
  apiKey: string;
  signatureSecret: string;
  clientId: string;
  clientSecret: string;
}

/** What {@link createBenevitySimulator} accepts unless told otherwise. Test values, never real ones. */
export const BENEVITY_TEST_CREDENTIALS: Readonly<BenevityCredentials> = Object.freeze({
  apiKey: 'bnv_test_api_key_4f3c2a1b',
  signatureSecret: 'bnv_test_signature_secret_9e8d7c6b',
  clientId: 'bnv_test_client_id',
  clientSecret: 'bnv_test_client_secret_5a4b3c2d',
});

/** Routes below the simulator's base URL. */
export const BENEVITY_SIMULATOR_PATHS = Object.freeze({
  impactEvents: '/api/v1/impact-events',
  ping: '/api/v1/ping',
  token: '/oauth/token',
});

export interface BenevitySimulatorOptions {
  /** Override some or all of {@link BENEVITY_TEST_CREDENTIALS}. */
  credentials?: Partial<BenevityCredentials>;
  /** Access token lifetime (`expires_in`). Default 3600 s, as Benevity's one-hour tokens. */
  tokenLifetimeSeconds?: number;
  /** Also issue (single-use, rotating) refresh tokens with client-credentials grants. Default false. */
  issueRefreshTokens?: boolean;
  /** The simulator's clock, which tokens expire by. Pass a fake clock's `now` in tests. Default `Date.now`. */
  now?: () => number;
}

/** A Benevity simulator, with counters and controls beyond {@link ProviderSimulator}. */
export interface BenevitySimulator extends ProviderSimulator {
  readonly credentials: Readonly<BenevityCredentials>;
  /** Calls to the token endpoint, answered or refused. */
  readonly tokenRequests: number;
  /** `grant_type` of every token request, in order. */
  readonly tokenGrants: readonly string[];
  /** Calls to `POST /api/v1/impact-events`, answered or refused. */
  readonly deliveryRequests: number;
  /** Access tokens issued so far. */
  readonly issuedTokens: number;
  /** Invalidates every issued access token now (a revocation): the next bearer call gets a 401. */
  revokeTokens(): void;
  /** Headers Benevity sends with a webhook whose exact body is `body`. */
  signWebhook(body: string | Uint8Array): Record<string, string>;
}

/** The v1.0 body the simulator accepts (seed 002), strict about unknown fields. */
const NonEmpty = z.string().min(1, 'must not be empty');
const ImpactEventV1 = z.strictObject({
  schema_version: z.literal('v1.0', { error: 'must be "v1.0"' }),
  event: z.strictObject({
    id: NonEmpty.max(200),
    type: z.string().regex(/^[a-z][a-z0-9_]*$/, 'must be snake_case, e.g. "volunteer_hours"'),
    timestamp: z.iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time' }),
    user: z.strictObject({ external_id: NonEmpty.max(200), company_id: NonEmpty.max(200) }),
    impact: z.strictObject({
      value: z.number({ error: 'must be a number' }).finite(),
      unit: NonEmpty.max(50),
      metadata: z
        .record(z.string().min(1), z.union([z.string(), z.number(), z.boolean()]), {
          error: 'must be a flat object of strings, numbers and booleans',
        })
        .optional(),
    }),
  }),
});

const FAILURE_CODES: Record<number, string> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  429: 'RATE_LIMITED',
  500: 'INTERNAL_ERROR',
  502: 'BAD_GATEWAY',
  503: 'SERVICE_UNAVAILABLE',
  504: 'GATEWAY_TIMEOUT',
};

interface Receipt {
  body: string;
  eventId: string;
  status: number;
  response: string;
}

/**
 * A Benevity simulator: msw handlers for `POST /api/v1/impact-events` (API key + HMAC-SHA256,
 * or an OAuth bearer token), `GET /api/v1/ping` and `POST /oauth/token` (client credentials,
 * expiring tokens, rotating refresh tokens), answering errors in Benevity's shape
 * `{"error":{"code","message","details"?}}`. Deliveries are deduplicated by `X-Idempotency-Key`:
 * a repeat gets the original answer with `Idempotent-Replayed: true`.
 *
 * @example
 * const simulator = createBenevitySimulator();
 * const provider = await startProviderServer(simulator.handlers);
 * // deliver with apiUrl: provider.url and BENEVITY_TEST_CREDENTIALS …
 * expect(simulator.accepted()).toHaveLength(1);
 */
export function createBenevitySimulator(options: BenevitySimulatorOptions = {}): BenevitySimulator {
  const credentials: BenevityCredentials = { ...BENEVITY_TEST_CREDENTIALS, ...options.credentials };
  const lifetimeSeconds = options.tokenLifetimeSeconds ?? 3600;
  const now = options.now ?? Date.now;
  const state = new SimulatorState();
  const accessTokens = new Map<string, { expiresAt: number }>();
  const refreshTokens = new Set<string>();
  const receipts = new Map<string, Receipt>();
  const receiptByEvent = new Map<string, string>();
  const tokenGrants: string[] = [];
  let tokenRequests = 0;
  let deliveryRequests = 0;
  let issuedTokens = 0;
  let requestCounter = 0;

  const requestId = () => `req_sim_${(++requestCounter).toString().padStart(6, '0')}`;

  const benevityError = (
    status: number,
    code: string,
    message: string,
    extra: Record<string, unknown> = {},
    headers: Record<string, string> = {},
  ) =>
    HttpResponse.json(
      { error: { code, message, ...extra } },
      { status, headers: { 'x-request-id': requestId(), ...headers } },
    );

  /** Checks the API key or bearer token. Returns the refusal, or the mode that authenticated. */
  const authenticate = (request: Request): Response | 'api_key' | 'bearer' => {
    const authorization = request.headers.get('authorization');
    if (authorization !== null) {
      const match = /^Bearer\s+(\S+)$/i.exec(authorization);
      const challenge = { 'www-authenticate': 'Bearer realm="benevity", error="invalid_token"' };
      const token = match ? accessTokens.get(match[1]!) : undefined;
      if (!token) return benevityError(401, 'INVALID_TOKEN', 'The access token is not valid.', {}, challenge);
      if (now() >= token.expiresAt)
        return benevityError(401, 'TOKEN_EXPIRED', 'The access token has expired.', {}, challenge);
      return 'bearer';
    }
    const apiKey = request.headers.get('x-api-key');
    if (apiKey === null || apiKey === '') {
      return benevityError(401, 'MISSING_API_KEY', 'Send X-API-Key or an Authorization bearer token.');
    }
    if (!safeEqual(apiKey, credentials.apiKey))
      return benevityError(401, 'INVALID_API_KEY', 'The API key is not valid.');
    return 'api_key';
  };

  const issueTokens = (scope: string, withRefresh: boolean) => {
    const accessToken = `bnv_at_${crypto.randomUUID().replaceAll('-', '')}`;
    accessTokens.set(accessToken, { expiresAt: now() + lifetimeSeconds * 1000 });
    issuedTokens++;
    const body: Record<string, unknown> = {
      access_token: accessToken,
      token_type: 'Bearer',
      expires_in: lifetimeSeconds,
      scope,
    };
    if (withRefresh) {
      const refreshToken = `bnv_rt_${crypto.randomUUID().replaceAll('-', '')}`;
      refreshTokens.add(refreshToken);
      body.refresh_token = refreshToken;
    }
    return HttpResponse.json(body, {
      status: 200,
      headers: { 'cache-control': 'no-store', pragma: 'no-cache' },
    });
  };

  const handlers = (rawBaseUrl: string): RequestHandler[] => {
    const baseUrl = rawBaseUrl.replace(/\/+$/, '');
    return [
      http.post(`${baseUrl}${BENEVITY_SIMULATOR_PATHS.token}`, async ({ request }) => {
        tokenRequests++;
        const contentType = request.headers.get('content-type') ?? '';
        const form = new URLSearchParams(await request.text());
        tokenGrants.push(form.get('grant_type') ?? '');
        if (!contentType.toLowerCase().startsWith('application/x-www-form-urlencoded')) {
          return oauthErrorResponse(400, 'invalid_request', 'The token request must be form-encoded.');
        }
        // RFC 6749 2.3.1: Basic credentials are form-urlencoded before base64.
        let clientId = form.get('client_id');
        let clientSecret = form.get('client_secret');
        const basic = /^Basic\s+(\S+)$/i.exec(request.headers.get('authorization') ?? '');
        if (basic) {
          if (clientSecret !== null) {
            return oauthErrorResponse(
              400,
              'invalid_request',
              'Use one client authentication method, not two.',
            );
          }
          const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
          const colon = decoded.indexOf(':');
          clientId = null;
          if (colon >= 0) {
            try {
              clientId = decodeURIComponent(decoded.slice(0, colon));
              clientSecret = decodeURIComponent(decoded.slice(colon + 1));
            } catch {
              clientId = null; // malformed percent-encoding: not authenticated
            }
          }
        }
        const challenge: Record<string, string> = basic
          ? { 'www-authenticate': 'Basic realm="benevity"' }
          : {};
        if (
          clientId === null ||
          clientSecret === null ||
          !safeEqual(clientId, credentials.clientId) ||
          !safeEqual(clientSecret, credentials.clientSecret)
        ) {
          return oauthErrorResponse(401, 'invalid_client', 'Client authentication failed.', challenge);
        }
        const scope = form.get('scope') ?? 'impact-events:write';
        const grantType = form.get('grant_type');
        if (grantType === 'client_credentials')
          return issueTokens(scope, options.issueRefreshTokens ?? false);
        if (grantType === 'refresh_token') {
          const refreshToken = form.get('refresh_token') ?? '';
          // Single use: a refresh token is spent by its first use, and a new one comes back.
          if (!refreshTokens.delete(refreshToken)) {
            return oauthErrorResponse(400, 'invalid_grant', 'The refresh token is not valid.');
          }
          return issueTokens(scope, true);
        }
        return oauthErrorResponse(400, 'unsupported_grant_type', 'Use client_credentials or refresh_token.');
      }),

      http.get(`${baseUrl}${BENEVITY_SIMULATOR_PATHS.ping}`, ({ request }) => {
        const auth = authenticate(request);
        if (auth instanceof Response) return auth;
        return HttpResponse.json(
          { status: 'ok', authenticated_by: auth === 'bearer' ? 'oauth_client' : 'api_key' },
          { headers: { 'x-request-id': requestId() } },
        );
      }),

      http.post(`${baseUrl}${BENEVITY_SIMULATOR_PATHS.impactEvents}`, async ({ request }) => {
        deliveryRequests++;
        const bytes = new Uint8Array(await request.arrayBuffer());
        const auth = authenticate(request);
        if (auth instanceof Response) return auth;
        const signature = request.headers.get('x-benevity-signature');
        // The signature is required with an API key; with a bearer token it is checked when sent.
        if (signature === null) {
          if (auth === 'api_key') {
            return benevityError(
              401,
              'MISSING_SIGNATURE',
              'X-Benevity-Signature is required with an API key.',
            );
          }
        } else if (!verifyHmacSha256(credentials.signatureSecret, bytes, signature)) {
          return benevityError(
            401,
            'INVALID_SIGNATURE',
            'X-Benevity-Signature does not match the request body.',
          );
        }

        const failure = await state.nextFailure();
        if (failure) return failure;

        if (!(request.headers.get('content-type') ?? '').toLowerCase().startsWith('application/json')) {
          return benevityError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Send Content-Type: application/json.');
        }
        const key = request.headers.get('x-idempotency-key');
        if (key === null || key.trim() === '' || key.length > 255) {
          return benevityError(
            400,
            'MISSING_IDEMPOTENCY_KEY',
            'X-Idempotency-Key must hold 1 to 255 characters.',
          );
        }
        const text = Buffer.from(bytes).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          return benevityError(400, 'INVALID_JSON', 'The request body is not valid JSON.');
        }
        const parsed = ImpactEventV1.safeParse(json);
        if (!parsed.success) {
          return benevityError(400, 'VALIDATION_FAILED', 'The request body does not match schema v1.0.', {
            details: parsed.error.issues.map((issue) => ({
              field: bodyFieldPath(issue.path),
              message: issue.message,
            })),
          });
        }

        const previous = receipts.get(key);
        if (previous) {
          if (previous.body !== text) {
            return benevityError(
              409,
              'IDEMPOTENCY_KEY_REUSED',
              'This X-Idempotency-Key was used with a different request body.',
            );
          }
          state.accept(key, json);
          return new HttpResponse(previous.response, {
            status: previous.status,
            headers: {
              'content-type': 'application/json',
              'idempotent-replayed': 'true',
              'x-request-id': requestId(),
            },
          });
        }
        const eventId = parsed.data.event.id;
        const earlier = receiptByEvent.get(eventId);
        if (earlier) {
          return benevityError(409, 'DUPLICATE_EVENT', `Event ${eventId} was already recorded.`, {
            receipt_id: JSON.parse(receipts.get(earlier)!.response).receipt_id,
          });
        }
        state.accept(key, json);
        const response = JSON.stringify({
          status: 'accepted',
          receipt_id: `bnv_rcpt_${String(receipts.size + 1).padStart(6, '0')}`,
          event_id: eventId,
          received_at: new Date(now()).toISOString(),
        });
        receipts.set(key, { body: text, eventId, status: 202, response });
        receiptByEvent.set(eventId, key);
        return new HttpResponse(response, {
          status: 202,
          headers: { 'content-type': 'application/json', 'x-request-id': requestId() },
        });
      }),
    ];
  };

  return {
    provider: 'benevity',
    credentials,
    handlers,
    accepted: (): AcceptedDelivery[] => state.accepted(),
    failNext(failure: InjectedFailure, count = 1) {
      // Injected statuses answer in Benevity's own error shape unless the test gives a body.
      const shaped: InjectedFailure =
        failure.kind === 'status' && failure.body === undefined
          ? {
              ...failure,
              body: JSON.stringify({
                error: {
                  code: FAILURE_CODES[failure.status] ?? `HTTP_${failure.status}`,
                  message: `Simulated ${failure.status}.`,
                },
              }),
            }
          : failure;
      state.failNext(shaped, count);
    },
    reset() {
      state.reset();
      accessTokens.clear();
      refreshTokens.clear();
      receipts.clear();
      receiptByEvent.clear();
      tokenGrants.length = 0;
      tokenRequests = 0;
      deliveryRequests = 0;
      issuedTokens = 0;
    },
    revokeTokens() {
      accessTokens.clear();
    },
    signWebhook(body) {
      return {
        'content-type': 'application/json',
        'x-benevity-signature': hmacSha256(credentials.signatureSecret, body),
      };
    },
    get tokenRequests() {
      return tokenRequests;
    },
    get tokenGrants() {
      return [...tokenGrants];
    },
    get deliveryRequests() {
      return deliveryRequests;
    },
    get issuedTokens() {
      return issuedTokens;
    },
  };
}
