import { type ProviderServer, startProviderServer } from '@impact-in/testing';
import {
  BENEVITY_SIMULATOR_PATHS,
  BENEVITY_TEST_CREDENTIALS,
  type BenevitySimulator,
  createBenevitySimulator,
} from '@impact-in/testing/providers/benevity';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expectedSignature } from './helpers.js';

const { apiKey, signatureSecret, clientId, clientSecret } = BENEVITY_TEST_CREDENTIALS;
let now = Date.UTC(2025, 10, 14, 10, 0, 0);
let simulator: BenevitySimulator;
let provider: ProviderServer;

beforeAll(async () => {
  simulator = createBenevitySimulator({ now: () => now, tokenLifetimeSeconds: 600 });
  provider = await startProviderServer(simulator.handlers);
});
afterAll(() => provider.close());
afterEach(() => {
  simulator.reset();
  provider.reset();
});

const validBody = (id = 'evt_sim_1') =>
  JSON.stringify({
    schema_version: 'v1.0',
    event: {
      id,
      type: 'volunteer_hours',
      timestamp: '2025-11-14T10:00:00Z',
      user: { external_id: 'user_456', company_id: 'company_789' },
      impact: { value: 5, unit: 'hours', metadata: { program: 'buddy_mentoring' } },
    },
  });

/** POSTs an impact event over real HTTP; the defaults make a correct request. */
const post = (
  body = validBody(),
  headers: Record<string, string | undefined> = {},
  signal?: AbortSignal,
): Promise<Response> => {
  const all: Record<string, string | undefined> = {
    'content-type': 'application/json',
    'x-api-key': apiKey,
    'x-idempotency-key': 'key-1',
    'x-benevity-signature': expectedSignature(signatureSecret, body),
    ...headers,
  };
  return fetch(`${provider.url}${BENEVITY_SIMULATOR_PATHS.impactEvents}`, {
    method: 'POST',
    body,
    ...(signal ? { signal } : {}),
    headers: Object.fromEntries(
      Object.entries(all).filter((entry): entry is [string, string] => entry[1] !== undefined),
    ),
  });
};

const token = (form: Record<string, string>, headers: Record<string, string> = {}) =>
  fetch(`${provider.url}${BENEVITY_SIMULATOR_PATHS.token}`, {
    method: 'POST',
    body: new URLSearchParams(form).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
  });

describe('Benevity simulator: impact events', () => {
  it('accepts a correct request with 202 and a receipt', async () => {
    const response = await post();
    expect(response.status).toBe(202);
    expect(response.headers.get('x-request-id')).toMatch(/^req_sim_/);
    expect(await response.json()).toEqual({
      status: 'accepted',
      receipt_id: 'bnv_rcpt_000001',
      event_id: 'evt_sim_1',
      received_at: '2025-11-14T10:00:00.000Z',
    });
    expect(simulator.accepted()).toEqual([
      { idempotencyKey: 'key-1', body: JSON.parse(validBody()), times: 1 },
    ]);
    expect(simulator.deliveryRequests).toBe(1);
  });

  const refusals: Array<[string, Record<string, string | undefined>, number, string]> = [
    ['no API key', { 'x-api-key': undefined }, 401, 'MISSING_API_KEY'],
    ['a wrong API key', { 'x-api-key': 'bnv_other_key' }, 401, 'INVALID_API_KEY'],
    ['no signature', { 'x-benevity-signature': undefined }, 401, 'MISSING_SIGNATURE'],
    [
      'a wrong signature',
      { 'x-benevity-signature': expectedSignature('other', validBody()) },
      401,
      'INVALID_SIGNATURE',
    ],
    [
      'an unknown bearer token',
      { 'x-api-key': undefined, authorization: 'Bearer bnv_at_forged' },
      401,
      'INVALID_TOKEN',
    ],
    ['a non-JSON content type', { 'content-type': 'text/plain' }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['no idempotency key', { 'x-idempotency-key': undefined }, 400, 'MISSING_IDEMPOTENCY_KEY'],
  ];
  for (const [what, headers, status, code] of refusals) {
    it(`refuses ${what} with ${status} ${code} in Benevity’s error shape`, async () => {
      const response = await post(validBody(), headers);
      expect(response.status).toBe(status);
      const body = (await response.json()) as { error: { code: string; message: string } };
      expect(Object.keys(body)).toEqual(['error']);
      expect(body.error.code).toBe(code);
      expect(body.error.message).toEqual(expect.any(String));
      expect(simulator.accepted()).toEqual([]);
    });
  }

  it('checks the signature over the exact bytes: the same JSON re-serialised is refused', async () => {
    const body = validBody();
    const response = await post(JSON.stringify(JSON.parse(body), null, 1), {
      'x-benevity-signature': expectedSignature(signatureSecret, body),
    });
    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('INVALID_SIGNATURE');
  });

  it('validates the v1.0 body and names each bad field', async () => {
    const body = JSON.stringify({
      schema_version: 'v2.0',
      event: {
        id: 'evt_bad',
        type: 'Volunteer Hours',
        timestamp: '2025-11-14',
        user: { external_id: 'user_456' },
        impact: { value: '5', unit: 'hours', metadata: { program: { nested: true } } },
        extra: 1,
      },
    });
    const response = await post(body);
    expect(response.status).toBe(400);
    const { error } = (await response.json()) as {
      error: { code: string; details: Array<{ field: string; message: string }> };
    };
    expect(error.code).toBe('VALIDATION_FAILED');
    expect(error.details.map((detail) => detail.field).sort()).toEqual(
      [
        'schema_version',
        'event',
        'event.type',
        'event.timestamp',
        'event.user.company_id',
        'event.impact.value',
        'event.impact.metadata.program',
      ].sort(),
    );
    expect(error.details.find((detail) => detail.field === 'schema_version')!.message).toBe('must be "v1.0"');
  });

  it('refuses a body that is not JSON', async () => {
    const response = await post('{"schema_version":');
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('INVALID_JSON');
  });

  it('dedupes by idempotency key: a repeat gets the original answer, marked as replayed', async () => {
    const first = await post();
    const firstBody = await first.text();
    now += 5_000;
    const second = await post();
    expect(second.status).toBe(202);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(await second.text()).toBe(firstBody);
    expect(simulator.accepted()).toEqual([
      { idempotencyKey: 'key-1', body: JSON.parse(validBody()), times: 2 },
    ]);
  });

  it('refuses a key reused for another body, and an event id recorded under another key', async () => {
    expect((await post()).status).toBe(202);
    const reused = await post(validBody('evt_other'));
    expect(reused.status).toBe(409);
    expect(((await reused.json()) as { error: { code: string } }).error.code).toBe('IDEMPOTENCY_KEY_REUSED');
    const duplicate = await post(validBody(), { 'x-idempotency-key': 'key-2' });
    expect(duplicate.status).toBe(409);
    expect(await duplicate.json()).toEqual({
      error: {
        code: 'DUPLICATE_EVENT',
        message: 'Event evt_sim_1 was already recorded.',
        receipt_id: 'bnv_rcpt_000001',
      },
    });
    expect(simulator.accepted()).toHaveLength(1);
  });

  it('failNext: the next requests fail as told (after auth), in Benevity’s shape, then it recovers', async () => {
    simulator.failNext({ kind: 'status', status: 503 }, 2);
    // A bad key is still refused as such: failures come after authentication.
    expect((await post(validBody(), { 'x-api-key': 'wrong' })).status).toBe(401);
    const first = await post();
    expect(first.status).toBe(503);
    expect(await first.json()).toEqual({ error: { code: 'SERVICE_UNAVAILABLE', message: 'Simulated 503.' } });
    expect((await post()).status).toBe(503);
    expect((await post()).status).toBe(202);
    expect(simulator.accepted()).toHaveLength(1);
  });

  it('failNext: 429 with Retry-After, 504, a custom body, and a connection reset', async () => {
    simulator.failNext({ kind: 'status', status: 429, retryAfter: '30' });
    const limited = await post();
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('30');
    expect(((await limited.json()) as { error: { code: string } }).error.code).toBe('RATE_LIMITED');
    simulator.failNext({ kind: 'status', status: 504 });
    expect(((await (await post()).json()) as { error: { code: string } }).error.code).toBe('GATEWAY_TIMEOUT');
    simulator.failNext({ kind: 'status', status: 500, body: 'raw failure' });
    expect(await (await post()).text()).toBe('raw failure');
    simulator.failNext({ kind: 'reset' });
    await expect(post()).rejects.toThrow();
    expect(simulator.accepted()).toEqual([]);
  });

  it('failNext: a timeout never answers', async () => {
    simulator.failNext({ kind: 'timeout' });
    const error = await post(validBody(), {}, AbortSignal.timeout(500)).catch((thrown: unknown) => thrown);
    expect((error as Error).name).toBe('TimeoutError');
    // The failure was used up: the next request is answered.
    expect((await post()).status).toBe(202);
  });

  it('reset() forgets deliveries, tokens, failures and counters', async () => {
    await post();
    const issued = (await (
      await token({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret })
    ).json()) as {
      access_token: string;
    };
    simulator.failNext({ kind: 'status', status: 503 });
    simulator.reset();
    expect(simulator.accepted()).toEqual([]);
    expect([simulator.tokenRequests, simulator.deliveryRequests, simulator.issuedTokens]).toEqual([0, 0, 0]);
    expect((await post()).status).toBe(202);
    const stale = await post(validBody('evt_2'), {
      'x-api-key': undefined,
      'x-idempotency-key': 'key-2',
      authorization: `Bearer ${issued.access_token}`,
    });
    expect(stale.status).toBe(401);
  });
});

describe('Benevity simulator: OAuth token endpoint', () => {
  const credentialsForm = {
    grant_type: 'client_credentials',
    client_id: clientId,
    client_secret: clientSecret,
  };

  it('issues expiring bearer tokens that work until they expire by the simulator clock', async () => {
    const response = await token(credentialsForm);
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toEqual({
      access_token: expect.stringMatching(/^bnv_at_[0-9a-f]{32}$/),
      token_type: 'Bearer',
      expires_in: 600,
      scope: 'impact-events:write',
    });
    const withToken = (id: string) =>
      post(validBody(id), {
        'x-api-key': undefined,
        'x-idempotency-key': id,
        authorization: `Bearer ${body.access_token}`,
      });
    expect((await withToken('evt_a')).status).toBe(202);
    now += 599_999;
    expect((await withToken('evt_b')).status).toBe(202);
    now += 1;
    const expired = await withToken('evt_c');
    expect(expired.status).toBe(401);
    expect(((await expired.json()) as { error: { code: string } }).error.code).toBe('TOKEN_EXPIRED');
    expect(simulator.tokenRequests).toBe(1);
  });

  it('accepts client_secret_basic, and refuses bad credentials as invalid_client', async () => {
    const basic = `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`;
    expect((await token({ grant_type: 'client_credentials' }, { authorization: basic })).status).toBe(200);
    const wrong = await token({ ...credentialsForm, client_secret: 'nope' });
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toEqual({
      error: 'invalid_client',
      error_description: 'Client authentication failed.',
    });
    const wrongBasic = await token(
      { grant_type: 'client_credentials' },
      { authorization: `Basic ${Buffer.from(`${clientId}:nope`).toString('base64')}` },
    );
    expect(wrongBasic.status).toBe(401);
    expect(wrongBasic.headers.get('www-authenticate')).toBe('Basic realm="benevity"');
    expect(simulator.tokenGrants).toEqual(['client_credentials', 'client_credentials', 'client_credentials']);
    expect(simulator.issuedTokens).toBe(1);
  });

  it('refuses unsupported grants, JSON token requests and two client auth methods', async () => {
    expect(await (await token({ ...credentialsForm, grant_type: 'password' })).json()).toMatchObject({
      error: 'unsupported_grant_type',
    });
    const json = await fetch(`${provider.url}/oauth/token`, {
      method: 'POST',
      body: JSON.stringify(credentialsForm),
      headers: { 'content-type': 'application/json' },
    });
    expect(json.status).toBe(400);
    expect(await json.json()).toMatchObject({ error: 'invalid_request' });
    const both = await token(credentialsForm, {
      authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`,
    });
    expect(await both.json()).toMatchObject({ error: 'invalid_request' });
  });

  it('honours refresh tokens once each, rotating them', async () => {
    const rotating = createBenevitySimulator({ issueRefreshTokens: true });
    const server = await startProviderServer(rotating.handlers);
    const request = (form: Record<string, string>) =>
      fetch(`${server.url}/oauth/token`, {
        method: 'POST',
        body: new URLSearchParams({ client_id: clientId, client_secret: clientSecret, ...form }).toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      }).then(async (response) => ({
        status: response.status,
        body: (await response.json()) as Record<string, string>,
      }));
    const first = await request({ grant_type: 'client_credentials' });
    expect(first.body.refresh_token).toMatch(/^bnv_rt_/);
    const second = await request({ grant_type: 'refresh_token', refresh_token: first.body.refresh_token! });
    expect(second.status).toBe(200);
    expect(second.body.refresh_token).not.toBe(first.body.refresh_token);
    expect(second.body.access_token).not.toBe(first.body.access_token);
    const replayed = await request({ grant_type: 'refresh_token', refresh_token: first.body.refresh_token! });
    expect(replayed).toEqual({
      status: 400,
      body: { error: 'invalid_grant', error_description: 'The refresh token is not valid.' },
    });
    expect(rotating.tokenGrants).toEqual(['client_credentials', 'refresh_token', 'refresh_token']);
    await server.close();
  });

  it('revokeTokens() makes issued tokens fail with INVALID_TOKEN', async () => {
    const { access_token: accessToken } = (await (await token(credentialsForm)).json()) as {
      access_token: string;
    };
    simulator.revokeTokens();
    const response = await fetch(`${provider.url}/api/v1/ping`, {
      headers: { authorization: `Bearer ${accessToken}` },
    });
    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('INVALID_TOKEN');
  });
});

describe('Benevity simulator: ping and webhook signing', () => {
  it('answers ping for a good key and refuses a bad one', async () => {
    const good = await fetch(`${provider.url}/api/v1/ping`, { headers: { 'x-api-key': apiKey } });
    expect(await good.json()).toEqual({ status: 'ok', authenticated_by: 'api_key' });
    const bad = await fetch(`${provider.url}/api/v1/ping`, { headers: { 'x-api-key': 'nope' } });
    expect(bad.status).toBe(401);
  });

  it('signs webhooks with the signature secret', () => {
    expect(simulator.signWebhook('{"id":"whk_1"}')).toEqual({
      'content-type': 'application/json',
      'x-benevity-signature': expectedSignature(signatureSecret, '{"id":"whk_1"}'),
    });
  });

  it('accepts other credentials when configured with them', async () => {
    const custom = createBenevitySimulator({ credentials: { apiKey: 'custom-key-1' } });
    const server = await startProviderServer(custom.handlers);
    const ping = (key: string) => fetch(`${server.url}/api/v1/ping`, { headers: { 'x-api-key': key } });
    expect((await ping('custom-key-1')).status).toBe(200);
    expect((await ping(apiKey)).status).toBe(401);
    expect(custom.credentials.signatureSecret).toBe(signatureSecret);
    await server.close();
  });
});
