import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type Clock,
  createHttpClient,
  createOAuthClient,
  type ImpactInError,
  MemoryTokenStore,
  PermanentError,
  RetryableError,
  tokenKey,
} from '../src/index.js';

interface TokenCall {
  headers: IncomingMessage['headers'];
  form: Record<string, string>;
}

/** A token endpoint and an API behind it, on a real socket. Each test sets `answerToken`/`answerApi`. */
const tokenCalls: TokenCall[] = [];
const apiCalls: string[] = [];
let answerToken: (call: TokenCall, response: ServerResponse) => void;
let answerApi: (authorization: string, response: ServerResponse) => void;
let issued = 0;
let base = '';
const server = createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    if (request.url === '/oauth/token') {
      const call = { headers: request.headers, form: Object.fromEntries(new URLSearchParams(body)) };
      tokenCalls.push(call);
      // Answer a little later so concurrent callers overlap the request.
      setTimeout(() => answerToken(call, response), 30);
      return;
    }
    apiCalls.push(request.headers.authorization ?? '');
    answerApi(request.headers.authorization ?? '', response);
  });
});

const issue = (response: ServerResponse, extra: Record<string, unknown> = {}) => {
  issued++;
  response.writeHead(200, { 'content-type': 'application/json' });
  response.end(
    JSON.stringify({ access_token: `tok_${issued}`, token_type: 'Bearer', expires_in: 3600, ...extra }),
  );
};

let now = Date.UTC(2025, 10, 14, 10, 0, 0);
const clock: Clock = { now: () => now, sleep: async () => {} };
const http = createHttpClient({ headersTimeoutMs: 2_000 });
const config = () => ({
  tokenUrl: `${base}/oauth/token`,
  clientId: 'client-42',
  clientSecret: 's3cr3t-value-xyz',
});

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await http.close();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});
afterEach(() => {
  tokenCalls.length = 0;
  apiCalls.length = 0;
  answerToken = (_call, response) => issue(response);
  answerApi = (_authorization, response) => response.writeHead(200).end('{}');
});
answerToken = (_call, response) => issue(response);
answerApi = (_authorization, response) => response.writeHead(200).end('{}');

const context = (tokens = new MemoryTokenStore(), companyId = 'company_789') => ({
  companyId,
  http,
  tokens,
  clock,
});

describe('createOAuthClient', () => {
  it('requests a token form-encoded with client_secret_post, stores it per (tenant, provider, clientId) and reuses it', async () => {
    const oauth = createOAuthClient('goodera', config());
    const tokens = new MemoryTokenStore();
    const first = await oauth.accessToken(context(tokens));
    const again = await oauth.accessToken(context(tokens));
    expect(again).toBe(first);
    expect(tokenCalls).toHaveLength(1);
    expect(tokenCalls[0]!.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(tokenCalls[0]!.headers.authorization).toBeUndefined();
    expect(tokenCalls[0]!.form).toEqual({
      grant_type: 'client_credentials',
      client_id: 'client-42',
      client_secret: 's3cr3t-value-xyz',
    });
    const stored = await tokens.get(
      tokenKey({ tenant: 'company_789', provider: 'goodera', clientId: 'client-42' }),
    );
    expect(stored).toMatchObject({ accessToken: first, tokenType: 'Bearer', expiresAt: now + 3_600_000 });
    // Another tenant has its own token.
    await oauth.accessToken(context(tokens, 'company_other'));
    expect(tokenCalls).toHaveLength(2);
  });

  it('supports client_secret_basic: credentials in the Authorization header, not the body', async () => {
    const oauth = createOAuthClient('goodera', {
      ...config(),
      clientId: 'id:with space',
      authMethod: 'client_secret_basic',
    });
    await oauth.accessToken(context());
    const expected = Buffer.from(
      `${encodeURIComponent('id:with space')}:${encodeURIComponent('s3cr3t-value-xyz')}`,
    ).toString('base64');
    expect(tokenCalls[0]!.headers.authorization).toBe(`Basic ${expected}`);
    expect(tokenCalls[0]!.form).toEqual({ grant_type: 'client_credentials' });
  });

  it('refreshes before expiry, by the skew', async () => {
    const oauth = createOAuthClient('goodera', { ...config(), skewMs: 60_000 });
    const tokens = new MemoryTokenStore();
    const first = await oauth.accessToken(context(tokens));
    now += 3_600_000 - 60_001;
    expect(await oauth.accessToken(context(tokens))).toBe(first);
    now += 2;
    const second = await oauth.accessToken(context(tokens));
    expect(second).not.toBe(first);
    expect(tokenCalls).toHaveLength(2);
  });

  it('makes exactly one token request for 50 concurrent callers with an expired token', async () => {
    const oauth = createOAuthClient('goodera', config());
    const tokens = new MemoryTokenStore();
    const results = await Promise.all(Array.from({ length: 50 }, () => oauth.accessToken(context(tokens))));
    expect(tokenCalls).toHaveLength(1);
    expect(new Set(results).size).toBe(1);
  });

  it('uses a stored refresh_token, keeps it when the answer has none, and falls back on invalid_grant', async () => {
    const oauth = createOAuthClient('goodera', config());
    const tokens = new MemoryTokenStore();
    answerToken = (_call, response) => issue(response, { refresh_token: 'ref_1' });
    await oauth.accessToken(context(tokens));
    now += 3_600_000;
    answerToken = (_call, response) => issue(response);
    await oauth.accessToken(context(tokens));
    expect(tokenCalls[1]!.form).toMatchObject({ grant_type: 'refresh_token', refresh_token: 'ref_1' });
    const key = tokenKey({ tenant: 'company_789', provider: 'goodera', clientId: 'client-42' });
    expect((await tokens.get(key))?.refreshToken).toBe('ref_1');

    now += 3_600_000;
    answerToken = (call, response) => {
      if (call.form.grant_type === 'refresh_token') {
        response.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"invalid_grant"}');
      } else issue(response);
    };
    const renewed = await oauth.accessToken(context(tokens));
    expect(renewed).toMatch(/^tok_/);
    expect(tokenCalls.slice(2).map((call) => call.form.grant_type)).toEqual([
      'refresh_token',
      'client_credentials',
    ]);
  });

  it("supports Workday's refresh_token grant with a configured long-lived refresh token", async () => {
    const oauth = createOAuthClient('workday', {
      ...config(),
      grantType: 'refresh_token',
      refreshToken: 'wd_refresh',
    });
    await oauth.accessToken(context());
    expect(tokenCalls[0]!.form).toEqual({
      grant_type: 'refresh_token',
      refresh_token: 'wd_refresh',
      client_id: 'client-42',
      client_secret: 's3cr3t-value-xyz',
    });
  });

  it('answers a 401 with exactly one forced refresh, shared by concurrent callers, then resends', async () => {
    const oauth = createOAuthClient('goodera', config());
    const tokens = new MemoryTokenStore();
    const stale = await oauth.accessToken(context(tokens));
    answerApi = (authorization, response) =>
      response.writeHead(authorization === `Bearer ${stale}` ? 401 : 200).end('{}');
    const responses = await Promise.all(
      Array.from({ length: 20 }, () =>
        oauth.send(context(tokens), (token) => ({
          method: 'POST',
          url: `${base}/api`,
          body: '{}',
          headers: { authorization: `Bearer ${token}` },
        })),
      ),
    );
    expect(responses.every((response) => response.status === 200)).toBe(true);
    expect(tokenCalls).toHaveLength(2);
    expect(apiCalls.filter((call) => call === `Bearer ${stale}`)).toHaveLength(20);
  });

  it('returns a second 401 as it is: one refresh, two API calls', async () => {
    const oauth = createOAuthClient('goodera', config());
    answerApi = (_authorization, response) => response.writeHead(401).end('{"error":"unauthorized"}');
    const response = await oauth.send(context(), (token) => ({
      url: `${base}/api`,
      headers: { authorization: `Bearer ${token}` },
    }));
    expect(response.status).toBe(401);
    expect(apiCalls).toHaveLength(2);
    expect(tokenCalls).toHaveLength(2);
  });

  it('makes invalid_client a permanent error naming the client id, never the secret', async () => {
    const oauth = createOAuthClient('goodera', config());
    answerToken = (_call, response) =>
      response.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"invalid_client"}');
    const error = await oauth.accessToken(context()).catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(PermanentError);
    expect((error as ImpactInError).code).toBe('invalid_client');
    expect((error as Error).message).toBe(
      '[impact-in] [goodera] token request failed: 401 invalid_client: the provider rejected clientId "client-42" or its clientSecret',
    );
    expect((error as Error).message).not.toContain('s3cr3t');
  });

  it('makes a 503 from the token endpoint retryable, with its Retry-After', async () => {
    const oauth = createOAuthClient('goodera', config());
    answerToken = (_call, response) => response.writeHead(503, { 'retry-after': '9' }).end('down');
    const error = await oauth.accessToken(context()).catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(RetryableError);
    expect((error as ImpactInError).retryAfterMs).toBe(9_000);
  });

  it('makes an unreachable token endpoint retryable', async () => {
    const oauth = createOAuthClient('goodera', { ...config(), tokenUrl: 'http://127.0.0.1:9/oauth/token' });
    const error = await oauth.accessToken(context()).catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(RetryableError);
    expect((error as ImpactInError).code).toBe('ECONNREFUSED');
  });
});
