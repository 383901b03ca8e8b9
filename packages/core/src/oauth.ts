import type { Clock } from './clock.js';
import { classifyError, ImpactInError, PermanentError, parseRetryAfter, RetryableError } from './errors.js';
import type { HttpClient, HttpRequest, HttpResponse } from './http-client.js';
import { type StoredToken, type TokenStore, tokenKey } from './interfaces.js';

/** OAuth 2.0 settings of one credential. */
export interface OAuthConfig {
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  /** How the client authenticates to the token endpoint. Default `client_secret_post`. */
  authMethod?: 'client_secret_post' | 'client_secret_basic';
  /**
   * `client_credentials` (default), or `refresh_token` for providers that issue a long-lived
   * refresh token to an integration client (Workday's API clients for integrations).
   */
  grantType?: 'client_credentials' | 'refresh_token';
  /** The long-lived refresh token, with `grantType: 'refresh_token'`. */
  refreshToken?: string;
  scope?: string;
  /** Refresh this long before expiry. Default 60 s. */
  skewMs?: number;
}

/** What token operations need from a connector context. */
export interface OAuthContext {
  companyId: string;
  http: HttpClient;
  tokens: TokenStore;
  clock: Clock;
  signal?: AbortSignal;
}

/** Single flight per token store and key: concurrent callers with an expired token share one request. */
const inflight = new WeakMap<TokenStore, Map<string, Promise<StoredToken>>>();

function formEncode(fields: Record<string, string | undefined>): string {
  return Object.entries(fields)
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
    .map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(value)}`)
    .join('&');
}

interface TokenErrorBody {
  error?: string;
  error_description?: string;
}

/**
 * OAuth 2.0 token handling shared by connectors: tokens kept in the {@link TokenStore} under
 * `(tenant, provider, clientId)`, refreshed `skewMs` before expiry, one token request at a time
 * per key, a stored `refresh_token` used when present, and a 401 answered by exactly one forced
 * refresh. Secrets and tokens never appear in errors.
 *
 * @example
 * const oauth = createOAuthClient('goodera', { tokenUrl, clientId, clientSecret });
 * const response = await oauth.send(context, (token) => ({
 *   method: 'POST', url, body, headers: { authorization: `Bearer ${token}` },
 * }));
 */
export function createOAuthClient(provider: string, config: OAuthConfig) {
  const skewMs = config.skewMs ?? 60_000;
  const keyOf = (context: OAuthContext) =>
    tokenKey({ tenant: context.companyId, provider, clientId: config.clientId });

  const requestToken = async (context: OAuthContext, grant: Record<string, string>): Promise<StoredToken> => {
    const headers: Record<string, string> = {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    };
    const fields: Record<string, string | undefined> = { ...grant, scope: config.scope };
    if ((config.authMethod ?? 'client_secret_post') === 'client_secret_basic') {
      const basic = `${encodeURIComponent(config.clientId)}:${encodeURIComponent(config.clientSecret)}`;
      headers.authorization = `Basic ${Buffer.from(basic, 'utf8').toString('base64')}`;
    } else {
      fields.client_id = config.clientId;
      fields.client_secret = config.clientSecret;
    }
    let response: HttpResponse;
    try {
      response = await context.http.request({
        method: 'POST',
        url: config.tokenUrl,
        headers,
        body: formEncode(fields),
        signal: context.signal,
      });
    } catch (error) {
      const classified = classifyError(error, provider);
      throw new RetryableError(`[impact-in] [${provider}] token request failed: ${classified.code}`, {
        code: classified.code,
        cause: error,
      });
    }
    if (response.status >= 400) {
      let body: TokenErrorBody = {};
      try {
        body = response.json<TokenErrorBody>();
      } catch {
        // Not JSON: the status says enough.
      }
      const code = body.error ?? `http_${response.status}`;
      const prefix = `[impact-in] [${provider}] token request failed: ${response.status} ${code}`;
      if (code === 'invalid_client') {
        throw new PermanentError(
          `${prefix}: the provider rejected clientId "${config.clientId}" or its clientSecret`,
          {
            code,
            status: response.status,
          },
        );
      }
      if (code === 'invalid_grant' || code === 'unauthorized_client' || code === 'invalid_scope') {
        const what =
          grant.grant_type === 'refresh_token' ? 'the refresh token was rejected' : 'the grant was refused';
        throw new PermanentError(`${prefix}: ${what}`, { code, status: response.status });
      }
      if (response.status === 429 || response.status >= 500) {
        throw new RetryableError(prefix, {
          code,
          status: response.status,
          retryAfterMs: parseRetryAfter(response.headers['retry-after'], context.clock.now()),
        });
      }
      throw new PermanentError(prefix, { code, status: response.status });
    }
    let parsed: {
      access_token?: unknown;
      token_type?: unknown;
      expires_in?: unknown;
      refresh_token?: unknown;
      scope?: unknown;
    };
    try {
      parsed = response.json();
    } catch {
      throw new RetryableError(`[impact-in] [${provider}] token response is not JSON`, {
        code: 'bad_token_response',
      });
    }
    if (typeof parsed.access_token !== 'string' || parsed.access_token === '') {
      throw new PermanentError(`[impact-in] [${provider}] token response has no access_token`, {
        code: 'bad_token_response',
      });
    }
    const expiresIn =
      typeof parsed.expires_in === 'number' ? parsed.expires_in : Number(parsed.expires_in ?? 3600);
    return {
      accessToken: parsed.access_token,
      tokenType: typeof parsed.token_type === 'string' ? parsed.token_type : 'Bearer',
      refreshToken: typeof parsed.refresh_token === 'string' ? parsed.refresh_token : undefined,
      scope: typeof parsed.scope === 'string' ? parsed.scope : undefined,
      expiresAt: context.clock.now() + (Number.isFinite(expiresIn) ? expiresIn : 3600) * 1000,
    };
  };

  const fetchToken = async (context: OAuthContext, stored: StoredToken | undefined): Promise<StoredToken> => {
    if (config.grantType === 'refresh_token') {
      if (!config.refreshToken) {
        throw new PermanentError(`[impact-in] [${provider}] grantType refresh_token needs refreshToken`, {
          code: 'config',
        });
      }
      const token = await requestToken(context, {
        grant_type: 'refresh_token',
        refresh_token: config.refreshToken,
      });
      return token;
    }
    if (stored?.refreshToken) {
      try {
        const token = await requestToken(context, {
          grant_type: 'refresh_token',
          refresh_token: stored.refreshToken,
        });
        return { ...token, refreshToken: token.refreshToken ?? stored.refreshToken };
      } catch (error) {
        // A refresh token can expire or be revoked; the client credentials still work.
        if (!(error instanceof ImpactInError) || error.code !== 'invalid_grant') throw error;
      }
    }
    return requestToken(context, { grant_type: 'client_credentials' });
  };

  /**
   * A valid access token. With `rejected`, the caller saw that token refused (401): a new one is
   * fetched unless another caller already replaced it.
   */
  const accessToken = async (context: OAuthContext, options: { rejected?: string } = {}): Promise<string> => {
    const key = keyOf(context);
    const stored = await context.tokens.get(key);
    const fresh = stored && stored.expiresAt - skewMs > context.clock.now();
    if (stored && fresh && stored.accessToken !== options.rejected) return stored.accessToken;
    let pending = inflight.get(context.tokens);
    if (!pending) {
      pending = new Map();
      inflight.set(context.tokens, pending);
    }
    let request = pending.get(key);
    if (!request) {
      const map = pending;
      request = (async () => {
        try {
          const token = await fetchToken(context, stored);
          await context.tokens.set(key, token);
          return token;
        } finally {
          map.delete(key);
        }
      })();
      pending.set(key, request);
    }
    return (await request).accessToken;
  };

  return {
    accessToken,
    /** Forgets the stored token (e.g. after the credential changed). */
    async invalidate(context: Pick<OAuthContext, 'companyId' | 'tokens'>): Promise<void> {
      await context.tokens.delete(
        tokenKey({ tenant: context.companyId, provider, clientId: config.clientId }),
      );
    },
    /**
     * Sends a request with a bearer token. A 401 forces one refresh and one resend; a second 401
     * is returned as it is (and so classified permanent).
     */
    async send(context: OAuthContext, build: (token: string) => HttpRequest): Promise<HttpResponse> {
      const token = await accessToken(context);
      const response = await context.http.request(build(token));
      if (response.status !== 401) return response;
      const renewed = await accessToken(context, { rejected: token });
      return context.http.request(build(renewed));
    },
  };
}

export type OAuthClient = ReturnType<typeof createOAuthClient>;
