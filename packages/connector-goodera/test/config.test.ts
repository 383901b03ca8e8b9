import { readdirSync, readFileSync } from 'node:fs';
import { bindConnector } from '@impact-in/core';
import { describe, expect, it } from 'vitest';
import { fromEnv, GOODERA_ENV, GooderaConfigSchema, goodera } from '../src/index.js';

const SEED_ENV = {
  GOODERA_API_URL: 'https://api.goodera.com',
  GOODERA_TOKEN_URL: 'https://api.goodera.com/oauth/token',
  GOODERA_CLIENT_ID: 'your_client_id_here',
  GOODERA_CLIENT_SECRET: 'your_client_secret_here',
};

describe('config', () => {
  it('fills in the defaults and trims a trailing slash off the URLs', () => {
    const config = GooderaConfigSchema.parse({
      apiUrl: 'https://api.goodera.com/',
      tokenUrl: 'https://api.goodera.com/oauth/token',
      clientId: 'id',
      clientSecret: 'secret',
    });
    expect(config).toEqual({
      apiUrl: 'https://api.goodera.com',
      tokenUrl: 'https://api.goodera.com/oauth/token',
      clientId: 'id',
      clientSecret: 'secret',
      authMethod: 'client_secret_post',
      tokenSkewSeconds: 60,
      rateLimit: { maxRequests: 100, windowMs: 60_000 },
    });
  });

  it('declares its secrets', () => {
    expect(goodera.secrets).toEqual(['clientSecret', 'webhookSharedSecret']);
    expect(goodera.id).toBe('goodera');
  });

  it('names every missing field', () => {
    expect(() => bindConnector(goodera, {} as never)).toThrow(
      '[impact-in] [goodera] invalid config: apiUrl: must be an http(s) URL: the Goodera API base, e.g. https://api.goodera.com; ' +
        'tokenUrl: must be an http(s) URL: the OAuth token endpoint, e.g. https://api.goodera.com/oauth/token; ' +
        'clientId: required: the Goodera OAuth client id; clientSecret: required: the Goodera OAuth client secret',
    );
  });

  it('says what is wrong when fromEnv found no GOODERA_* variable', () => {
    expect(fromEnv({})).toBeUndefined();
    expect(() => bindConnector(goodera, fromEnv({})!)).toThrow(
      "[impact-in] [goodera] no config: bindConnector was given undefined (a connector's fromEnv gives undefined when none of its variables is set)",
    );
  });

  it('names a wrong field', () => {
    const base = { ...fromEnv(SEED_ENV)! };
    expect(() => bindConnector(goodera, { ...base, apiUrl: 'ftp://api.goodera.com' })).toThrow(
      /apiUrl: must be an http\(s\) URL/,
    );
    expect(() => bindConnector(goodera, { ...base, authMethod: 'private_key_jwt' as never })).toThrow(
      /authMethod: /,
    );
    expect(() => bindConnector(goodera, { ...base, rateLimit: { maxRequests: 0 } })).toThrow(
      /rateLimit\.maxRequests: /,
    );
    expect(() => bindConnector(goodera, { ...base, webhookSharedSecret: 'short' })).toThrow(
      'webhookSharedSecret: must be at least 32 characters (HS256 needs 256 bits)',
    );
  });

  it('needs a JWKS URL or a shared secret once webhook verification is configured', () => {
    const base = { ...fromEnv(SEED_ENV)! };
    expect(() =>
      bindConnector(goodera, { ...base, webhook: { issuer: 'https://goodera', audience: 'impact-in' } }),
    ).toThrow('webhook.jwksUrl: set webhook.jwksUrl or webhookSharedSecret to verify webhook tokens');
    expect(() =>
      bindConnector(goodera, { ...base, webhook: { jwksUrl: 'https://goodera/jwks' } as never }),
    ).toThrow(/webhook\.issuer: required/);
    const bound = bindConnector(goodera, {
      ...base,
      webhook: { jwksUrl: 'https://goodera/jwks', issuer: 'https://goodera', audience: ['a', 'b'] },
    });
    expect(bound.config.webhook).toEqual({
      jwksUrl: 'https://goodera/jwks',
      issuer: 'https://goodera',
      audience: ['a', 'b'],
      maxTokenAgeSeconds: 300,
      clockToleranceSeconds: 5,
      requireBodyHash: true,
    });
  });
});

describe('fromEnv', () => {
  it("builds the config from seed 002's four variables", () => {
    expect(fromEnv(SEED_ENV)).toEqual({
      apiUrl: 'https://api.goodera.com',
      tokenUrl: 'https://api.goodera.com/oauth/token',
      clientId: 'your_client_id_here',
      clientSecret: 'your_client_secret_here',
      authMethod: 'client_secret_post',
      tokenSkewSeconds: 60,
      rateLimit: { maxRequests: 100, windowMs: 60_000 },
    });
  });

  it('reads the optional variables', () => {
    const config = fromEnv({
      ...SEED_ENV,
      GOODERA_AUTH_METHOD: 'client_secret_basic',
      GOODERA_SCOPE: 'impact:write',
      GOODERA_RATE_LIMIT_PER_MINUTE: '60',
      GOODERA_WEBHOOK_JWKS_URL: 'https://api.goodera.com/.well-known/jwks.json',
      GOODERA_WEBHOOK_ISSUER: 'https://api.goodera.com',
      GOODERA_WEBHOOK_AUDIENCE: 'impact-in, impact-in-staging',
      GOODERA_WEBHOOK_SECRET: 'a-shared-secret-of-at-least-32-chars!',
    });
    expect(config).toMatchObject({
      authMethod: 'client_secret_basic',
      scope: 'impact:write',
      rateLimit: { maxRequests: 60, windowMs: 60_000 },
      webhook: {
        jwksUrl: 'https://api.goodera.com/.well-known/jwks.json',
        issuer: 'https://api.goodera.com',
        audience: ['impact-in', 'impact-in-staging'],
      },
      webhookSharedSecret: 'a-shared-secret-of-at-least-32-chars!',
    });
  });

  it('returns undefined when no GOODERA_ variable is set (empty ones count as unset)', () => {
    expect(fromEnv({})).toBeUndefined();
    expect(fromEnv({ GOODERA_CLIENT_ID: '', OTHER: 'x' })).toBeUndefined();
  });

  it('names the variable that is missing or wrong, never its value', () => {
    expect(() => fromEnv({ ...SEED_ENV, GOODERA_CLIENT_SECRET: undefined })).toThrow(
      '[impact-in] [goodera] invalid environment: GOODERA_CLIENT_SECRET: required: the Goodera OAuth client secret',
    );
    expect(() => fromEnv({ ...SEED_ENV, GOODERA_API_URL: 'api.goodera.com' })).toThrow(
      /^\[impact-in\] \[goodera\] invalid environment: GOODERA_API_URL: /,
    );
    expect(() => fromEnv({ ...SEED_ENV, GOODERA_RATE_LIMIT_PER_MINUTE: 'lots' })).toThrow(
      /GOODERA_RATE_LIMIT_PER_MINUTE: /,
    );
    expect(() => fromEnv({ ...SEED_ENV, GOODERA_WEBHOOK_ISSUER: 'https://goodera' })).toThrow(
      /GOODERA_WEBHOOK_AUDIENCE: /,
    );
    const thrown = (() => {
      try {
        fromEnv({
          ...SEED_ENV,
          GOODERA_TOKEN_URL: 'not a url',
          GOODERA_WEBHOOK_SECRET: 'short-secret-value',
        });
      } catch (error) {
        return error as Error;
      }
    })();
    expect(thrown?.message).toContain('GOODERA_TOKEN_URL');
    expect(thrown?.message).toContain('GOODERA_WEBHOOK_SECRET');
    expect(thrown?.message).not.toContain('short-secret-value');
    expect(thrown?.message).not.toContain('not a url');
  });

  it('only looks at the object it is given, never at process.env', () => {
    process.env.GOODERA_CLIENT_ID = 'from-process-env';
    try {
      expect(fromEnv({})).toBeUndefined();
    } finally {
      delete process.env.GOODERA_CLIENT_ID;
    }
    expect(Object.values(GOODERA_ENV).slice(0, 4)).toEqual(Object.keys(SEED_ENV));
  });
});

describe('package boundaries', () => {
  const sources = readdirSync(new URL('../src/', import.meta.url)).map((file) =>
    readFileSync(new URL(`../src/${file}`, import.meta.url), 'utf8'),
  );

  it('never reads process.env in the connector (docs may mention it; code may not)', () => {
    const code = sources.map((source) => source.replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, ''));
    for (const source of code) expect(source).not.toMatch(/process\.env|globalThis\.process/);
  });

  it('imports only @impact-in/core, jose and node built-ins', () => {
    const imported = new Set(
      sources.flatMap((source) => [...source.matchAll(/from '([^']+)'/g)].map((match) => match[1]!)),
    );
    for (const name of imported)
      expect(name).toMatch(/^(@impact-in\/core|jose|node:[a-z_]+|\.\/[a-z-]+\.js)$/);
  });
});
