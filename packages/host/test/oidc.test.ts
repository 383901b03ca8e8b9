import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, type JWK, type JWTPayload, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadHostEnv } from '../src/config.js';
import { event, startTestHost, type TestHost } from './helpers.js';

const AUDIENCE = 'impact-in-test-client';
/** Starting a host on PGlite (and migrating it) can take a while on a busy machine. */
const HOOK_TIMEOUT = 60_000;

type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

/** A loopback identity provider: a JWKS and a discovery document, counting requests by path. */
interface Issuer {
  base: string;
  jwksUrl: string;
  kid: string;
  privateKey: PrivateKey;
  publicJwk: JWK;
  publicPem: string;
  /** A key pair the JWKS does not list. */
  strangerKey: PrivateKey;
  hits: Map<string, number>;
  close(): Promise<void>;
}

async function startIssuer(): Promise<Issuer> {
  const kid = `test-key-${randomUUID().slice(0, 8)}`;
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const stranger = await generateKeyPair('RS256');
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  const publicPem = await exportSPKI(publicKey);
  const hits = new Map<string, number>();
  let base = '';
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0]!;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const send = (status: number, body: unknown) => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(body));
    };
    if (path === '/.well-known/openid-configuration') {
      send(200, { issuer: base, jwks_uri: `${base}/jwks`, id_token_signing_alg_values_supported: ['RS256'] });
    } else if (path === '/jwks') {
      send(200, { keys: [publicJwk] });
    } else {
      send(404, { error: 'not found' });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    jwksUrl: `${base}/jwks`,
    kid,
    privateKey,
    publicJwk,
    publicPem,
    strangerKey: stranger.privateKey,
    hits,
    close: () =>
      new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve()))),
  };
}

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

interface TokenOptions {
  claims?: JWTPayload;
  issuer?: string;
  audience?: string;
  subject?: string | null;
  expiresAt?: number | null;
  notBefore?: number;
  key?: PrivateKey | Uint8Array;
  alg?: string;
  kid?: string;
}

// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field
type Body = any;

async function read(response: Response) {
  const text = await response.text();
  let body: Body;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: response.status, text, body };
}

/** An error answer: `{ error: { code, message } }` and nothing else (no data). */
function expectErrorBody(result: { text: string; body: Body }, code?: string) {
  expect(result.body, result.text).toBeTypeOf('object');
  expect(Object.keys(result.body)).toEqual(['error']);
  expect(result.body.error.code).toBeTypeOf('string');
  expect(result.body.error.message).toBeTypeOf('string');
  expect(Object.keys(result.body.error).every((key) => ['code', 'message', 'details'].includes(key))).toBe(
    true,
  );
  if (code) expect(result.body.error.code).toBe(code);
}

describe.each([{ mode: 'explicit IMPACT_IN_OIDC_JWKS_URL' as const }, { mode: 'issuer discovery' as const }])(
  'OIDC bearer tokens ($mode)',
  ({ mode }) => {
    let issuer: Issuer;
    let t: TestHost;
    let issuerId: string;
    let deliveryOfA: { id: string; eventId: string };

    const sign = async (options: TokenOptions = {}) => {
      const now = Math.floor(Date.now() / 1000);
      const jwt = new SignJWT({ tenant_id: t.tenantA, role: 'viewer', ...options.claims })
        .setProtectedHeader({ alg: options.alg ?? 'RS256', kid: options.kid ?? issuer.kid, typ: 'JWT' })
        .setIssuer(options.issuer ?? issuerId)
        .setAudience(options.audience ?? AUDIENCE)
        .setIssuedAt(now);
      if (options.subject !== null) jwt.setSubject(options.subject ?? 'user-1@example.com');
      if (options.expiresAt !== null) jwt.setExpirationTime(options.expiresAt ?? now + 300);
      if (options.notBefore !== undefined) jwt.setNotBefore(options.notBefore);
      return jwt.sign(options.key ?? issuer.privateKey);
    };

    beforeAll(async () => {
      issuer = await startIssuer();
      // With an explicit JWKS URL the issuer id need not serve discovery: a path with none proves
      // the host does not look for it.
      issuerId = mode === 'issuer discovery' ? issuer.base : `${issuer.base}/no-discovery-here`;
      t = await startTestHost({
        IMPACT_IN_OIDC_ISSUER: issuerId,
        IMPACT_IN_OIDC_AUDIENCE: AUDIENCE,
        ...(mode === 'issuer discovery' ? {} : { IMPACT_IN_OIDC_JWKS_URL: issuer.jwksUrl }),
      });
      const submitted = await read(
        await t.request('/v1/impact-in/deliver', {
          method: 'POST',
          key: t.keys.operator,
          body: JSON.stringify({ companyId: t.tenantA, provider: 'acme', event: event() }),
        }),
      );
      expect(submitted.status).toBe(202);
      deliveryOfA = { id: submitted.body.data.id, eventId: submitted.body.data.eventId };
    }, HOOK_TIMEOUT);
    afterAll(async () => {
      await t?.close();
      await issuer?.close();
    }, HOOK_TIMEOUT);

    const call = async (token: string, path: string, init: { method?: string; body?: unknown } = {}) =>
      read(
        await t.request(path, {
          key: token,
          method: init.method ?? 'GET',
          ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
        }),
      );

    /** A refused token: 401 with an error body that carries no data and does not echo the token. */
    const expectRefused = async (token: string, path = '/v1/impact-in/deliveries') => {
      const result = await call(token, path);
      expect(result.status, result.text).toBe(401);
      expectErrorBody(result);
      expect(result.text).not.toContain(token);
      expect(result.text).not.toContain(deliveryOfA.id);
      expect(result.text).not.toContain(deliveryOfA.eventId);
      return result;
    };

    it('lets a viewer token of tenant A read its deliveries, and fetches the keys the configured way', async () => {
      const result = await call(await sign(), '/v1/impact-in/deliveries');
      expect(result.status, result.text).toBe(200);
      expect(result.body.data.map((d: { id: string }) => d.id)).toContain(deliveryOfA.id);
      expect(result.body.data.every((d: { companyId: string }) => d.companyId === t.tenantA)).toBe(true);
      const detail = await call(await sign(), `/v1/impact-in/deliveries/${deliveryOfA.id}`);
      expect(detail.status, detail.text).toBe(200);
      expect(issuer.hits.get('/jwks') ?? 0).toBeGreaterThan(0);
      if (mode === 'issuer discovery') {
        expect(issuer.hits.get('/.well-known/openid-configuration') ?? 0).toBeGreaterThan(0);
      } else {
        expect(issuer.hits.get('/.well-known/openid-configuration')).toBeUndefined();
        expect(issuer.hits.get('/no-discovery-here/.well-known/openid-configuration')).toBeUndefined();
      }
    });

    it('refuses a viewer token on an operator route (403, no data)', async () => {
      const result = await call(await sign(), '/v1/impact-in/deliver', {
        method: 'POST',
        body: { companyId: t.tenantA, provider: 'acme', event: event() },
      });
      expect(result.status, result.text).toBe(403);
      expectErrorBody(result, 'forbidden');
    });

    it('lets an operator token deliver for its tenant', async () => {
      const result = await call(await sign({ claims: { role: 'operator' } }), '/v1/impact-in/deliver', {
        method: 'POST',
        body: { companyId: t.tenantA, provider: 'acme', event: event() },
      });
      expect(result.status, result.text).toBe(202);
      expect(result.body.data.companyId).toBe(t.tenantA);
    });

    it('lets an admin token use the admin API of its tenant', async () => {
      const result = await call(
        await sign({ claims: { role: 'admin' } }),
        `/v1/tenants/${t.tenantA}/integrations`,
      );
      expect(result.status, result.text).toBe(200);
      expect(result.body.data.map((i: { provider: string }) => i.provider)).toContain('acme');
      const keys = await call(await sign({ claims: { role: 'admin' } }), `/v1/tenants/${t.tenantA}/keys`);
      expect(keys.status, keys.text).toBe(200);
      // A viewer token is refused there.
      const viewer = await call(await sign(), `/v1/tenants/${t.tenantA}/keys`);
      expect(viewer.status).toBe(403);
      expectErrorBody(viewer, 'forbidden');
    });

    it('accepts a tenant claim in upper case (tenant ids are compared case-insensitively)', async () => {
      const result = await call(
        await sign({ claims: { tenant_id: t.tenantA.toUpperCase() } }),
        '/v1/impact-in/deliveries',
      );
      expect(result.status, result.text).toBe(200);
      expect(result.body.data.map((d: { id: string }) => d.id)).toContain(deliveryOfA.id);
    });

    it('refuses an expired token (401)', async () => {
      const now = Math.floor(Date.now() / 1000);
      const result = await expectRefused(await sign({ expiresAt: now - 60 }));
      expect(result.body.error.code).toBe('invalid_token');
    });

    it('refuses a token whose nbf is in the future (401)', async () => {
      const now = Math.floor(Date.now() / 1000);
      await expectRefused(await sign({ notBefore: now + 600 }));
    });

    it('refuses a token of another issuer (401)', async () => {
      await expectRefused(await sign({ issuer: 'https://evil.example.com' }));
      await expectRefused(await sign({ issuer: `${issuerId}/` }));
    });

    it('refuses a token for another audience (401)', async () => {
      await expectRefused(await sign({ audience: 'someone-else' }));
    });

    it('refuses a token without exp or sub (401)', async () => {
      await expectRefused(await sign({ expiresAt: null }));
      await expectRefused(await sign({ subject: null }));
    });

    it.each(['none', 'None', 'NONE'])('refuses an unsecured JWT (alg: %s) with 401', async (alg) => {
      const now = Math.floor(Date.now() / 1000);
      const payload = {
        iss: issuerId,
        aud: AUDIENCE,
        sub: 'attacker',
        iat: now,
        exp: now + 300,
        tenant_id: t.tenantA,
        role: 'admin',
      };
      const token = `${b64url({ alg })}.${b64url(payload)}.`;
      await expectRefused(token);
      await expectRefused(token, `/v1/tenants/${t.tenantA}/keys`);
      // With a typ and the JWKS's kid as well.
      await expectRefused(`${b64url({ alg, typ: 'JWT', kid: issuer.kid })}.${b64url(payload)}.`);
    });

    it('refuses HS256 tokens: with a shared secret, and with the public key as the HMAC secret (401)', async () => {
      await expectRefused(
        await sign({ alg: 'HS256', key: new TextEncoder().encode('a-shared-secret-of-32-bytes-long!!') }),
      );
      await expectRefused(await sign({ alg: 'HS256', key: new TextEncoder().encode(issuer.publicPem) }));
      await expectRefused(
        await sign({ alg: 'HS256', key: new TextEncoder().encode(JSON.stringify(issuer.publicJwk)) }),
      );
    });

    it('refuses a token signed by a key the JWKS does not list (401)', async () => {
      // Under the JWKS key's kid: the signature does not verify.
      await expectRefused(await sign({ key: issuer.strangerKey, claims: { role: 'admin' } }));
      // Under an unknown kid: no key matches.
      await expectRefused(await sign({ key: issuer.strangerKey, kid: 'unknown-kid' }));
    });

    it('refuses a token whose signature was tampered with, or whose payload was swapped (401)', async () => {
      const token = await sign();
      const [header, payload, signature] = token.split('.') as [string, string, string];
      const forged = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
      forged.role = 'admin';
      await expectRefused(`${header}.${b64url(forged)}.${signature}`);
      const flipped = `${signature.slice(0, -2)}${signature.endsWith('AA') ? 'BB' : 'AA'}`;
      await expectRefused(`${header}.${payload}.${flipped}`);
    });

    it('refuses a tenant claim naming no tenant (401)', async () => {
      const result = await expectRefused(await sign({ claims: { tenant_id: randomUUID() } }));
      expect(result.body.error.code).toBe('invalid_token');
      await expectRefused(await sign({ claims: { tenant_id: 'not-a-tenant' } }));
      await expectRefused(await sign({ claims: { tenant_id: 42 } }));
      await expectRefused(await sign({ claims: { tenant_id: undefined } }));
    });

    it("answers a tenant B token on tenant A's paths with 404, without A's data", async () => {
      const tokenB = await sign({ claims: { tenant_id: t.tenantB, role: 'admin' } });
      for (const path of [
        `/v1/tenants/${t.tenantA}/integrations`,
        `/v1/tenants/${t.tenantA}/keys`,
        `/v1/tenants/${t.tenantA}/audit`,
        `/v1/tenants/${t.tenantA}/integrations/acme/config`,
      ]) {
        const result = await call(tokenB, path);
        expect(result.status, `${path}: ${result.text}`).toBe(404);
        expectErrorBody(result);
        expect(result.text).not.toContain(t.tenantA);
      }
      const detail = await call(tokenB, `/v1/impact-in/deliveries/${deliveryOfA.id}`);
      expect(detail.status).toBe(404);
      expectErrorBody(detail);
      expect(detail.text).not.toContain(deliveryOfA.eventId);
      const list = await call(tokenB, '/v1/impact-in/deliveries');
      expect(list.status).toBe(200);
      expect(list.text).not.toContain(deliveryOfA.id);
      expect(list.text).not.toContain(t.tenantA);
      const foreign = await call(tokenB, `/v1/impact-in/deliveries?companyId=${t.tenantA}`);
      expect(foreign.status).toBe(403);
      expectErrorBody(foreign, 'tenant_mismatch');
      // And its own tenant's path works.
      const own = await call(tokenB, `/v1/tenants/${t.tenantB}/integrations`);
      expect(own.status, own.text).toBe(200);
    });

    it('refuses a role claim that is not a role (401)', async () => {
      for (const role of ['superuser', 'Admin', '', 7, ['admin'], null]) {
        await expectRefused(await sign({ claims: { role } as JWTPayload }));
      }
      await expectRefused(await sign({ claims: { role: undefined } }));
    });

    it('audits changes made with a token as actorType oidc with the subject', async () => {
      const subject = `admin-${randomUUID().slice(0, 8)}@example.com`;
      const token = await sign({ subject, claims: { role: 'admin' } });
      const created = await call(token, `/v1/tenants/${t.tenantA}/keys`, {
        method: 'POST',
        body: { role: 'viewer', name: 'made with oidc' },
      });
      expect(created.status, created.text).toBe(201);
      const audit = await call(token, `/v1/tenants/${t.tenantA}/audit?action=key.create`);
      expect(audit.status, audit.text).toBe(200);
      const entry = audit.body.data.find((e: { target: string }) => e.target === created.body.data.id);
      expect(entry).toMatchObject({ actor: subject, actorType: 'oidc', action: 'key.create' });
      // The entry is found by its actor too.
      const byActor = await call(
        token,
        `/v1/tenants/${t.tenantA}/audit?actor=${encodeURIComponent(subject)}`,
      );
      expect(byActor.body.data.map((e: { id: string }) => e.id)).toContain(entry.id);
      // The key made by the token works.
      const withKey = await call(created.body.data.key, '/v1/impact-in/deliveries');
      expect(withKey.status).toBe(200);
      // A replay by an operator token is audited the same way.
      const operator = `operator-${randomUUID().slice(0, 8)}`;
      const replay = await call(
        await sign({ subject: operator, claims: { role: 'operator' } }),
        `/v1/impact-in/deliveries/${deliveryOfA.id}/replay`,
        { method: 'POST' },
      );
      expect(replay.status, replay.text).toBe(200);
      const replays = await call(token, `/v1/tenants/${t.tenantA}/audit?action=delivery.replay`);
      expect(replays.body.data).toContainEqual(
        expect.objectContaining({ actor: operator, actorType: 'oidc', target: deliveryOfA.id }),
      );
    });

    it('keeps API keys working beside OIDC', async () => {
      const viewer = await call(t.keys.viewer, '/v1/impact-in/deliveries');
      expect(viewer.status).toBe(200);
      const admin = await call(t.keys.admin, `/v1/tenants/${t.tenantA}/integrations`);
      expect(admin.status).toBe(200);
      const forbidden = await call(t.keys.viewer, `/v1/tenants/${t.tenantA}/keys`);
      expect(forbidden.status).toBe(403);
      // An API key change is audited as api_key.
      const created = await call(t.keys.admin, `/v1/tenants/${t.tenantA}/keys`, {
        method: 'POST',
        body: { role: 'viewer' },
      });
      expect(created.status).toBe(201);
      const audit = await call(t.keys.admin, `/v1/tenants/${t.tenantA}/audit?action=key.create`);
      expect(
        audit.body.data.find((e: { target: string }) => e.target === created.body.data.id),
      ).toMatchObject({
        actorType: 'api_key',
      });
      const garbage = await call('iik_not-a-real-key', '/v1/impact-in/deliveries');
      expect(garbage.status).toBe(401);
      expectErrorBody(garbage);
      const missing = await read(await t.request('/v1/impact-in/deliveries', { key: null }));
      expect(missing.status).toBe(401);
      expectErrorBody(missing);
    });

    it('refuses malformed JWT-shaped tokens with 401, never 500', async () => {
      for (const token of [
        'a.b.c',
        'eyJhbGciOiJSUzI1NiJ9.e30.',
        'x.y.',
        `${b64url({ alg: 'RS256' })}.notjson.sig`,
      ]) {
        const result = await call(token, '/v1/impact-in/deliveries');
        expect(result.status, `${token}: ${result.text}`).toBe(401);
        expectErrorBody(result);
      }
    });
  },
);

describe('OIDC with custom claim names', () => {
  let issuer: Issuer;
  let t: TestHost;
  const TENANT_CLAIM = 'https://impact-in/tenant';
  const ROLE_CLAIM = 'https://impact-in/role';

  const sign = (claims: JWTPayload) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: issuer.kid })
      .setIssuer(issuer.base)
      .setAudience(AUDIENCE)
      .setSubject('custom-claims-user')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(issuer.privateKey);

  beforeAll(async () => {
    issuer = await startIssuer();
    t = await startTestHost({
      IMPACT_IN_OIDC_ISSUER: issuer.base,
      IMPACT_IN_OIDC_AUDIENCE: AUDIENCE,
      IMPACT_IN_OIDC_JWKS_URL: issuer.jwksUrl,
      IMPACT_IN_OIDC_TENANT_CLAIM: TENANT_CLAIM,
      IMPACT_IN_OIDC_ROLE_CLAIM: ROLE_CLAIM,
    });
  }, HOOK_TIMEOUT);
  afterAll(async () => {
    await t?.close();
    await issuer?.close();
  }, HOOK_TIMEOUT);

  it('reads the tenant and role from the configured claims', async () => {
    const token = await sign({ [TENANT_CLAIM]: t.tenantA, [ROLE_CLAIM]: 'admin' });
    const response = await read(await t.request(`/v1/tenants/${t.tenantA}/keys`, { key: token }));
    expect(response.status, response.text).toBe(200);
    const viewer = await sign({ [TENANT_CLAIM]: t.tenantA, [ROLE_CLAIM]: 'viewer' });
    expect((await t.request('/v1/impact-in/deliveries', { key: viewer })).status).toBe(200);
    expect((await t.request(`/v1/tenants/${t.tenantA}/keys`, { key: viewer })).status).toBe(403);
  });

  it('ignores the default claim names', async () => {
    const token = await sign({ tenant_id: t.tenantA, role: 'admin' });
    const response = await read(await t.request('/v1/impact-in/deliveries', { key: token }));
    expect(response.status).toBe(401);
    expectErrorBody(response, 'invalid_token');
    // Half of each: the tenant under the custom name, the role under the default one.
    const mixed = await sign({ [TENANT_CLAIM]: t.tenantA, role: 'admin' });
    expect((await t.request('/v1/impact-in/deliveries', { key: mixed })).status).toBe(401);
  });
});

/** A loopback server answering every request with `status` and `body`, or a port nothing listens on. */
async function startBrokenIssuer(answer?: { status: number; contentType: string; body: string }) {
  const server = createServer((_, response) => {
    response.writeHead(answer?.status ?? 500, { 'content-type': answer?.contentType ?? 'text/plain' });
    response.end(answer?.body ?? '');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  // Without an answer, nothing listens there any more: connections are refused.
  if (!answer) await close();
  return { base, close: answer ? close : async () => {} };
}

describe.each([
  { name: 'the discovery document is unreachable (connection refused)', answer: undefined, jwks: false },
  { name: 'the JWKS is unreachable (connection refused)', answer: undefined, jwks: true },
  {
    name: 'the discovery document is not JSON',
    answer: { status: 200, contentType: 'text/html', body: '<html>maintenance</html>' },
    jwks: false,
  },
  {
    name: 'the discovery document answers 503',
    answer: { status: 503, contentType: 'text/plain', body: 'down' },
    jwks: false,
  },
  {
    name: 'the JWKS answers 500',
    answer: { status: 500, contentType: 'text/plain', body: 'oops' },
    jwks: true,
  },
  {
    name: 'the JWKS is not JSON',
    answer: { status: 200, contentType: 'text/html', body: '<html>maintenance</html>' },
    jwks: true,
  },
])('OIDC when $name', ({ answer, jwks }) => {
  let broken: Awaited<ReturnType<typeof startBrokenIssuer>>;
  let signer: Issuer;
  let t: TestHost;

  beforeAll(async () => {
    broken = await startBrokenIssuer(answer);
    signer = await startIssuer();
    t = await startTestHost({
      IMPACT_IN_OIDC_ISSUER: broken.base,
      IMPACT_IN_OIDC_AUDIENCE: AUDIENCE,
      ...(jwks ? { IMPACT_IN_OIDC_JWKS_URL: `${broken.base}/jwks` } : {}),
    });
  }, HOOK_TIMEOUT);
  afterAll(async () => {
    await t?.close();
    await signer?.close();
    await broken?.close();
  }, HOOK_TIMEOUT);

  it('refuses a token with 401 or 503 and an error body, never 500', async () => {
    const token = await new SignJWT({ tenant_id: t.tenantA, role: 'admin' })
      .setProtectedHeader({ alg: 'RS256', kid: signer.kid })
      .setIssuer(broken.base)
      .setAudience(AUDIENCE)
      .setSubject('user-1')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(signer.privateKey);
    for (const path of ['/v1/impact-in/deliveries', `/v1/tenants/${t.tenantA}/integrations`]) {
      const result = await read(await t.request(path, { key: token }));
      expect([401, 503], `${path}: ${result.status} ${result.text}`).toContain(result.status);
      expectErrorBody(result);
    }
  });

  it('keeps serving API keys', async () => {
    const result = await read(await t.request('/v1/impact-in/deliveries', { key: t.keys.viewer }));
    expect(result.status, result.text).toBe(200);
  });
});

describe('OIDC configuration', () => {
  const base = { IMPACT_IN_OIDC_ISSUER: 'https://issuer.example.com', IMPACT_IN_OIDC_AUDIENCE: 'client-1' };

  const configError = (env: Record<string, string | undefined>) => {
    try {
      loadHostEnv(env);
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return error as ConfigError;
    }
    throw new Error(`loadHostEnv accepted ${JSON.stringify(env)}`);
  };

  it.each(['none', 'NONE', 'RS256,none', 'RS256, None ,ES256', ' , '])(
    'refuses IMPACT_IN_OIDC_ALGORITHMS=%j',
    (algorithms) => {
      const error = configError({ ...base, IMPACT_IN_OIDC_ALGORITHMS: algorithms });
      expect(error.variable).toBe('IMPACT_IN_OIDC_ALGORITHMS');
      expect(error.message).toContain('IMPACT_IN_OIDC_ALGORITHMS');
    },
  );

  it('requires the audience when an issuer is set', () => {
    const error = configError({ IMPACT_IN_OIDC_ISSUER: 'https://issuer.example.com' });
    expect(error.variable).toBe('IMPACT_IN_OIDC_AUDIENCE');
    expect(error.message).toContain('IMPACT_IN_OIDC_AUDIENCE');
    // An empty value is "not set".
    expect(configError({ ...base, IMPACT_IN_OIDC_AUDIENCE: '' }).variable).toBe('IMPACT_IN_OIDC_AUDIENCE');
  });

  it('refuses an issuer or JWKS URL that is not a URL', () => {
    expect(configError({ ...base, IMPACT_IN_OIDC_ISSUER: 'accounts.google' }).variable).toBe(
      'IMPACT_IN_OIDC_ISSUER',
    );
    expect(configError({ ...base, IMPACT_IN_OIDC_JWKS_URL: 'not a url' }).variable).toBe(
      'IMPACT_IN_OIDC_JWKS_URL',
    );
  });

  it('has the documented defaults', () => {
    const env = loadHostEnv(base);
    expect(env.IMPACT_IN_OIDC_TENANT_CLAIM).toBe('tenant_id');
    expect(env.IMPACT_IN_OIDC_ROLE_CLAIM).toBe('role');
    expect(env.IMPACT_IN_OIDC_ALGORITHMS).toEqual(['RS256', 'ES256', 'EdDSA']);
    expect(loadHostEnv({}).IMPACT_IN_OIDC_ISSUER).toBeUndefined();
  });
});
