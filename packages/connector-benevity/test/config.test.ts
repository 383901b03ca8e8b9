import { bindConnector } from '@impact-in/core';
import { describe, expect, it } from 'vitest';
import { BENEVITY_ENV, type BenevityConfigInput, benevity, connector, fromEnv } from '../src/index.js';

const pathsOf = (input: unknown) => {
  const parsed = benevity.config.safeParse(input);
  expect(parsed.success).toBe(false);
  return parsed.error!.issues.map((issue) => [issue.path.join('.'), issue.message]);
};

describe('config', () => {
  it('is exported as `connector` too, for plugin loaders, and its env config parses again unchanged', () => {
    expect(connector).toBe(benevity);
    const config = fromEnv({
      BENEVITY_API_URL: 'https://api.benevity.com/',
      BENEVITY_API_KEY: 'k',
      BENEVITY_SIGNATURE_SECRET: 's',
    });
    expect(benevity.config.parse(config)).toEqual(config);
  });

  it('declares its secrets', () => {
    expect(benevity.secrets).toEqual(['apiKey', 'signatureSecret', 'clientSecret']);
  });

  it('takes seed 002’s three settings as a complete config (auth defaults to api_key)', () => {
    expect(
      benevity.config.parse({
        apiUrl: 'https://api.benevity.com/',
        apiKey: 'k-123',
        signatureSecret: 's-456',
      }),
    ).toEqual({
      auth: 'api_key',
      apiUrl: 'https://api.benevity.com',
      apiKey: 'k-123',
      signatureSecret: 's-456',
    });
  });

  it('names every missing field in api_key mode', () => {
    expect(pathsOf({})).toEqual([
      ['apiUrl', 'apiUrl is required'],
      ['apiKey', 'apiKey is required'],
      ['signatureSecret', 'signatureSecret is required'],
    ]);
    expect(pathsOf({ apiUrl: 'ftp://x', apiKey: ' ', signatureSecret: 7 })).toEqual([
      ['apiUrl', 'apiUrl must be an http(s) URL'],
      ['apiKey', 'apiKey must not be empty'],
      ['signatureSecret', 'signatureSecret must be a string'],
    ]);
  });

  it('names every missing field in oauth mode, and defaults authMethod', () => {
    expect(pathsOf({ auth: 'oauth', apiUrl: 'https://api.benevity.com' })).toEqual([
      ['tokenUrl', 'tokenUrl is required'],
      ['clientId', 'clientId is required'],
      ['clientSecret', 'clientSecret is required'],
    ]);
    const config = benevity.config.parse({
      auth: 'oauth',
      apiUrl: 'https://api.benevity.com',
      tokenUrl: 'https://api.benevity.com/oauth/token',
      clientId: 'id',
      clientSecret: 'secret',
    });
    expect(config).toMatchObject({ auth: 'oauth', authMethod: 'client_secret_post' });
    expect(pathsOf({ ...config, authMethod: 'private_key_jwt' })[0]![0]).toBe('authMethod');
  });

  it('names auth when the mode is unknown', () => {
    expect(pathsOf({ auth: 'basic', apiUrl: 'https://x' })).toEqual([
      ['auth', 'auth must be "api_key" or "oauth"'],
    ]);
  });

  it('bindConnector reports the field in the [impact-in] [benevity] form', () => {
    const incomplete = { apiUrl: 'https://api.benevity.com', apiKey: 'k' } as unknown as BenevityConfigInput;
    expect(() => bindConnector(benevity, incomplete)).toThrow(
      '[impact-in] [benevity] invalid config: signatureSecret: signatureSecret is required',
    );
  });
});

describe('fromEnv', () => {
  it('builds API key mode from seed 002’s variables', () => {
    expect(
      fromEnv({
        BENEVITY_API_URL: 'https://api.benevity.com',
        BENEVITY_API_KEY: 'your_api_key_here',
        BENEVITY_SIGNATURE_SECRET: 'your_signature_secret_here',
        UNRELATED: 'x',
      }),
    ).toEqual({
      auth: 'api_key',
      apiUrl: 'https://api.benevity.com',
      apiKey: 'your_api_key_here',
      signatureSecret: 'your_signature_secret_here',
    });
  });

  it('builds OAuth mode when a client id is set', () => {
    expect(
      fromEnv({
        BENEVITY_API_URL: 'https://api.benevity.com',
        BENEVITY_TOKEN_URL: 'https://api.benevity.com/oauth/token',
        BENEVITY_CLIENT_ID: 'client-1',
        BENEVITY_CLIENT_SECRET: 'secret-1',
        BENEVITY_TOKEN_AUTH_METHOD: 'client_secret_basic',
        BENEVITY_SIGNATURE_SECRET: 'sig',
        BENEVITY_REQUESTS_PER_MINUTE: '300',
      }),
    ).toEqual({
      auth: 'oauth',
      apiUrl: 'https://api.benevity.com',
      tokenUrl: 'https://api.benevity.com/oauth/token',
      clientId: 'client-1',
      clientSecret: 'secret-1',
      authMethod: 'client_secret_basic',
      signatureSecret: 'sig',
      requestsPerMinute: 300,
    });
  });

  it('returns undefined when Benevity is not configured (empty values count as unset)', () => {
    expect(fromEnv({})).toBeUndefined();
    expect(fromEnv({ BENEVITY_API_KEY: '', BENEVITY_API_URL: '  ' })).toBeUndefined();
  });

  it('names the variables at fault, never their values', () => {
    const env = { BENEVITY_API_URL: 'not a url', BENEVITY_API_KEY: 'secret-key-value-123' };
    expect(() => fromEnv(env)).toThrow(
      '[impact-in] [benevity] invalid environment: BENEVITY_API_URL: apiUrl must be an http(s) URL; ' +
        'BENEVITY_SIGNATURE_SECRET: signatureSecret is required',
    );
    expect(() => fromEnv({ ...env, BENEVITY_AUTH: 'saml' })).toThrow(
      'BENEVITY_AUTH: auth must be "api_key" or "oauth"',
    );
    expect(() =>
      fromEnv({
        BENEVITY_API_URL: 'https://x.example',
        BENEVITY_CLIENT_ID: 'c',
        BENEVITY_REQUESTS_PER_MINUTE: 'lots',
      }),
    ).toThrow(
      '[impact-in] [benevity] invalid environment: BENEVITY_REQUESTS_PER_MINUTE: requestsPerMinute must be a number; ' +
        'BENEVITY_TOKEN_URL: tokenUrl is required; BENEVITY_CLIENT_SECRET: clientSecret is required',
    );
    try {
      fromEnv(env);
    } catch (error) {
      expect((error as Error).message).not.toContain('secret-key-value-123');
    }
  });

  it('is the only place env names live, and every one of them maps to a config field', () => {
    expect(Object.values(BENEVITY_ENV).every((name) => name.startsWith('BENEVITY_'))).toBe(true);
    const shape = Object.keys({
      ...benevity.config.options[0].shape,
      ...benevity.config.options[1].shape,
    });
    expect(Object.keys(BENEVITY_ENV).every((field) => shape.includes(field))).toBe(true);
  });
});
