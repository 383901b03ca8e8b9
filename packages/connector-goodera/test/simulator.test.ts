import { createFakeClock, type ProviderServer, startProviderServer } from '@impact-in/testing';
import {
  createGooderaSimulator,
  GOODERA_SIMULATOR_PATHS,
  GOODERA_TEST_CREDENTIALS,
  GOODERA_TEST_WEBHOOK,
} from '@impact-in/testing/providers/goodera';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SEED_PAYLOAD } from './helpers.js';

const { clientId, clientSecret } = GOODERA_TEST_CREDENTIALS;
const clock = createFakeClock();
const simulator = createGooderaSimulator({
  clock,
  tokenLifetimeSeconds: 60,
  rateLimit: { maxRequests: 3, windowMs: 60_000 },
  clients: [GOODERA_TEST_CREDENTIALS, { clientId: 'gd_client_b', clientSecret: 'gd_secret_b_000000000000' }],
});
let provider: ProviderServer;

beforeAll(async () => {
  provider = await startProviderServer(simulator.handlers);
});
afterAll(() => provider.close());
afterEach(() => {
  simulator.reset();
  provider.reset();
});

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
const postToken = (body: string, headers: Record<string, string> = {}) =>
  fetch(`${provider.url}${GOODERA_SIMULATOR_PATHS.token}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body,
  });
const getToken = async (credentials: Credentials = GOODERA_TEST_CREDENTIALS) => {
  const response = await postToken(
    form({
      grant_type: 'client_credentials',
      client_id: credentials.clientId,
      client_secret: credentials.clientSecret,
    }),
  );
  expect(response.status).toBe(200);
  return (await response.json()) as { access_token: string; refresh_token: string; expires_in: number };
};
const postEvent = (token: string | undefined, body: string, headers: Record<string, string> = {}) =>
  fetch(`${provider.url}${GOODERA_SIMULATOR_PATHS.events}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-idempotency-key': 'key-1',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body,
  });
const SEED_BODY = JSON.stringify(SEED_PAYLOAD);
type Credentials = { clientId: string; clientSecret: string };

describe('Goodera simulator: token endpoint', () => {
  it('issues an expiring bearer token and a refresh token to client_secret_post and client_secret_basic', async () => {
    const posted = await getToken();
    expect(posted).toMatchObject({ token_type: 'Bearer', expires_in: 60, scope: 'impact:write' });
    expect(posted.access_token).toMatch(/^gd_at_/);
    expect(posted.refresh_token).toMatch(/^gd_rt_/);
    const basic = await postToken(form({ grant_type: 'client_credentials' }), {
      authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`,
    });
    expect(basic.status).toBe(200);
    expect(basic.headers.get('cache-control')).toBe('no-store');
    expect(simulator.tokenLog.map((entry) => entry.authMethod)).toEqual([
      'client_secret_post',
      'client_secret_basic',
    ]);
    expect(simulator.tokenRequests).toBe(2);
  });

  it('answers a wrong secret with RFC 6749 invalid_client, with a Basic challenge when Basic was used', async () => {
    const posted = await postToken(
      form({ grant_type: 'client_credentials', client_id: clientId, client_secret: 'nope' }),
    );
    expect(posted.status).toBe(401);
    expect(await posted.json()).toEqual({
      error: 'invalid_client',
      error_description: 'Client authentication failed',
    });
    const basic = await postToken(form({ grant_type: 'client_credentials' }), {
      authorization: `Basic ${Buffer.from(`${clientId}:nope`).toString('base64')}`,
    });
    expect(basic.status).toBe(401);
    expect(basic.headers.get('www-authenticate')).toBe('Basic realm="goodera"');
    const anonymous = await postToken(form({ grant_type: 'client_credentials' }));
    expect(anonymous.status).toBe(401);
  });

  it('refuses malformed token requests in the OAuth error shape', async () => {
    const json = await fetch(`${provider.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        grant_type: 'client_credentials',
        client_id: clientId,
        client_secret: clientSecret,
      }),
    });
    expect(json.status).toBe(400);
    expect(await json.json()).toMatchObject({ error: 'invalid_request' });
    const both = await postToken(
      form({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret }),
      {
        authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`,
      },
    );
    expect(await both.json()).toMatchObject({ error: 'invalid_request' });
    const password = await postToken(
      form({ grant_type: 'password', client_id: clientId, client_secret: clientSecret }),
    );
    expect(await password.json()).toMatchObject({ error: 'unsupported_grant_type' });
  });

  it('honours a refresh token once (rotation), only for the client it was issued to', async () => {
    const first = await getToken();
    const refresh = (refreshToken: string, credentials: Credentials = GOODERA_TEST_CREDENTIALS) =>
      postToken(
        form({
          grant_type: 'refresh_token',
          refresh_token: refreshToken,
          client_id: credentials.clientId,
          client_secret: credentials.clientSecret,
        }),
      );
    const other = await refresh(first.refresh_token, {
      clientId: 'gd_client_b',
      clientSecret: 'gd_secret_b_000000000000',
    });
    expect(await other.json()).toMatchObject({ error: 'invalid_grant' });
    const renewed = await refresh(first.refresh_token);
    expect(renewed.status).toBe(200);
    const again = await refresh(first.refresh_token);
    expect(again.status).toBe(400);
    expect(await again.json()).toMatchObject({ error: 'invalid_grant' });
    expect(simulator.tokenLog.map((entry) => entry.grantType)).toEqual([
      'client_credentials',
      'refresh_token',
      'refresh_token',
      'refresh_token',
    ]);
  });
});

describe('Goodera simulator: impact events API', () => {
  it('accepts seed 002’s payload with a valid token and records it once per idempotency key', async () => {
    const { access_token: token } = await getToken();
    const first = await postEvent(token, SEED_BODY);
    expect(first.status).toBe(202);
    const accepted = (await first.json()) as { id: string };
    expect(accepted).toMatchObject({ status: 'accepted', external_id: 'evt_123' });
    const again = await postEvent(token, SEED_BODY);
    expect(again.status).toBe(202);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(((await again.json()) as { id: string }).id).toBe(accepted.id);
    expect(simulator.accepted()).toEqual([{ idempotencyKey: 'key-1', body: SEED_PAYLOAD, times: 2 }]);

    const conflict = await postEvent(token, SEED_BODY.replace('0.85', '0.86'));
    expect(conflict.status).toBe(409);
    expect(await conflict.json()).toMatchObject({ error: { code: 'idempotency_key_reused' } });
  });

  it('refuses missing, unknown, revoked and expired tokens in Goodera’s shape', async () => {
    const missing = await postEvent(undefined, SEED_BODY);
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="goodera"');
    expect(await missing.json()).toEqual({
      error: { code: 'unauthorized', message: 'A bearer access token is required' },
      request_id: expect.stringMatching(/^req_\d{6}$/),
    });
    const unknown = await postEvent('gd_at_forged', SEED_BODY);
    expect(await unknown.json()).toMatchObject({
      error: { code: 'invalid_token', message: 'The access token is not known' },
    });

    const { access_token: revoked } = await getToken();
    simulator.revokeAccessTokens();
    const refused = await postEvent(revoked, SEED_BODY);
    expect(await refused.json()).toMatchObject({ error: { message: 'The access token was revoked' } });

    const { access_token: token } = await getToken();
    await clock.advance(59_999);
    expect((await postEvent(token, SEED_BODY)).status).toBe(202);
    await clock.advance(1);
    const expired = await postEvent(token, SEED_BODY, { 'x-idempotency-key': 'key-2' });
    expect(expired.status).toBe(401);
    expect(expired.headers.get('www-authenticate')).toBe(
      'Bearer realm="goodera", error="invalid_token", error_description="The access token expired"',
    );
    expect(expired.headers.get('x-ratelimit-remaining')).toBe('2');
    expect(simulator.accepted()).toHaveLength(1);
  });

  it('validates the body against schema v2.1 and names the fields it refuses', async () => {
    const { access_token: token } = await getToken();
    const badScore = structuredClone(SEED_PAYLOAD);
    badScore.event.impact.dimensions[1]!.score = 1.5;
    const refused = await postEvent(token, JSON.stringify(badScore));
    expect(refused.status).toBe(422);
    expect(await refused.json()).toMatchObject({
      error: {
        code: 'validation_failed',
        details: [{ field: 'event.impact.dimensions[1].score', message: expect.any(String) }],
      },
    });
    const extra = await postEvent(token, JSON.stringify({ ...SEED_PAYLOAD, value: 5 }), {
      'x-idempotency-key': 'k3',
    });
    expect(extra.status).toBe(422);
    const version = await postEvent(token, SEED_BODY.replace('v2.1', 'v1.0'), { 'x-idempotency-key': 'k4' });
    expect(await version.json()).toMatchObject({ error: { code: 'unsupported_schema_version' } });
    expect(simulator.accepted()).toEqual([]);
  });

  it('needs JSON, valid JSON and an idempotency key', async () => {
    const { access_token: token } = await getToken();
    expect((await postEvent(token, SEED_BODY, { 'content-type': 'text/plain' })).status).toBe(415);
    expect((await postEvent(token, '{"schema_version":')).status).toBe(400);
    const noKey = await fetch(`${provider.url}/v2/events/impact`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: SEED_BODY,
    });
    expect(await noKey.json()).toMatchObject({ error: { code: 'missing_idempotency_key' } });
  });

  it('limits each client per window: X-RateLimit-Remaining on every answer, then 429 with Retry-After', async () => {
    const { access_token: token } = await getToken();
    const remaining: Array<string | null> = [];
    for (let index = 0; index < 3; index++) {
      const response = await postEvent(token, SEED_BODY, { 'x-idempotency-key': `rl-${index}` });
      remaining.push(response.headers.get('x-ratelimit-remaining'));
    }
    expect(remaining).toEqual(['2', '1', '0']);
    await clock.advance(20_000);
    const limited = await postEvent(token, SEED_BODY, { 'x-idempotency-key': 'rl-3' });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('40');
    expect(limited.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(await limited.json()).toMatchObject({ error: { code: 'rate_limited' } });
    expect(simulator.rateLimited).toBe(1);

    // Another client has its own window.
    const other = await getToken({ clientId: 'gd_client_b', clientSecret: 'gd_secret_b_000000000000' });
    expect((await postEvent(other.access_token, SEED_BODY, { 'x-idempotency-key': 'b-1' })).status).toBe(202);

    await clock.advance(40_000);
    const { access_token: fresh } = await getToken(); // the 60 s token expired meanwhile
    const reopened = await postEvent(fresh, SEED_BODY, { 'x-idempotency-key': 'rl-3' });
    expect(reopened.status).toBe(202);
    expect(reopened.headers.get('x-ratelimit-remaining')).toBe('2');
  });

  it('fails on demand after checking auth: a status in Goodera’s shape, a reset, a request that hangs', async () => {
    const { access_token: token } = await getToken();
    simulator.failNext({ kind: 'status', status: 503, retryAfter: '2' });
    const unauthenticated = await postEvent(undefined, SEED_BODY);
    expect(unauthenticated.status).toBe(401); // the queued failure waits for an authenticated request
    const failed = await postEvent(token, SEED_BODY);
    expect(failed.status).toBe(503);
    expect(failed.headers.get('retry-after')).toBe('2');
    expect(failed.headers.get('x-ratelimit-remaining')).toBe('2');
    expect(await failed.json()).toEqual({
      error: { code: 'service_unavailable', message: 'Simulated 503 (service_unavailable)' },
      request_id: 'req_injected_503',
    });

    simulator.failNext({ kind: 'reset' });
    await expect(postEvent(token, SEED_BODY)).rejects.toThrow();
    simulator.failNext({ kind: 'timeout' });
    const hanging = fetch(`${provider.url}/v2/events/impact`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-idempotency-key': 'k',
        authorization: `Bearer ${token}`,
      },
      body: SEED_BODY,
      signal: AbortSignal.timeout(300),
    });
    await expect(hanging).rejects.toThrow(/aborted due to timeout/);
    expect(simulator.accepted()).toEqual([]);
  });

  it('serves an authenticated ping, and forgets everything on reset()', async () => {
    const { access_token: token } = await getToken();
    const ping = await fetch(`${provider.url}/v2/ping`, { headers: { authorization: `Bearer ${token}` } });
    expect(await ping.json()).toEqual({ status: 'ok', client_id: clientId });
    await postEvent(token, SEED_BODY);
    simulator.reset();
    expect(simulator.accepted()).toEqual([]);
    expect(simulator.tokenRequests).toBe(0);
    expect((await postEvent(token, SEED_BODY)).status).toBe(401);
  });
});

describe('Goodera simulator: webhooks', () => {
  it('signs webhooks verifiable with its JWKS (RS256) or the shared secret (HS256)', async () => {
    const jwksResponse = await fetch(`${provider.url}/.well-known/jwks.json`);
    const jwks = (await jwksResponse.json()) as { keys: Array<Record<string, unknown>> };
    expect(jwks.keys).toEqual([
      expect.objectContaining({ kty: 'RSA', kid: 'goodera-sim-1', alg: 'RS256', use: 'sig' }),
    ]);
    expect(jwks.keys[0]).not.toHaveProperty('d');

    const options = {
      issuer: GOODERA_TEST_WEBHOOK.issuer,
      audience: GOODERA_TEST_WEBHOOK.audience,
      currentDate: new Date(clock.now()),
    };
    const rs = await simulator.signWebhook({ id: 'whe_1' });
    const bearer = (headers: Record<string, string>) => headers.authorization!.replace(/^Bearer /, '');
    const { payload } = await jwtVerify(bearer(rs.headers), createLocalJWKSet(jwks as never), options);
    expect(payload).toMatchObject({
      iat: Math.floor(clock.now() / 1000),
      exp: Math.floor(clock.now() / 1000) + 300,
    });
    expect(payload.body_sha256).toBe(
      Buffer.from(await crypto.subtle.digest('SHA-256', Buffer.from(rs.body))).toString('base64url'),
    );

    const hs = await simulator.signWebhook('{"id":"whe_2"}', { alg: 'HS256', bodySha256: null });
    const verified = await jwtVerify(
      bearer(hs.headers),
      new TextEncoder().encode(GOODERA_TEST_WEBHOOK.sharedSecret),
      options,
    );
    expect(verified.payload.body_sha256).toBeUndefined();
    expect(hs.body).toBe('{"id":"whe_2"}');
  });
});
