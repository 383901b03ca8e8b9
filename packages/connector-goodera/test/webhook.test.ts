import {
  InboundValidationError,
  type RawRequest,
  RetryableError,
  WebhookVerificationError,
} from '@impact-in/core';
import {
  type ConnectorHarness,
  createConnectorHarness,
  createFakeClock,
  type ProviderServer,
  startProviderServer,
} from '@impact-in/testing';
import { createGooderaSimulator, GOODERA_TEST_WEBHOOK } from '@impact-in/testing/providers/goodera';
import { exportJWK, generateKeyPair, type JWTPayload, SignJWT, UnsecuredJWT } from 'jose';
import { HttpResponse, http } from 'msw';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bodySha256, type GooderaConfig, goodera } from '../src/index.js';
import { gooderaConfig } from './helpers.js';

const ISSUER = 'https://auth.goodera.example';
const AUDIENCE = 'impact-in-webhooks';
const SHARED_SECRET = 'goodera-webhook-shared-secret-0123456789';
const clock = createFakeClock();
const nowSeconds = () => Math.floor(clock.now() / 1_000);

// Our own signing keys, published at a JWKS served over loopback like Goodera's.
const signing = await generateKeyPair('RS256', { extractable: true });
const stranger = await generateKeyPair('RS256', { extractable: true });
let keys: ProviderServer;
let harness: ConnectorHarness<GooderaConfig>;

beforeAll(async () => {
  const jwk = { ...(await exportJWK(signing.publicKey)), kid: 'key-1', alg: 'RS256', use: 'sig' };
  keys = await startProviderServer((url) => [
    http.get(`${url}/.well-known/jwks.json`, () => HttpResponse.json({ keys: [jwk] })),
  ]);
  harness = createConnectorHarness({
    connector: goodera,
    config: gooderaConfig('https://api.goodera.test', {
      webhook: { jwksUrl: `${keys.url}/.well-known/jwks.json`, issuer: ISSUER, audience: AUDIENCE },
      webhookSharedSecret: SHARED_SECRET,
    }),
    clock,
  });
});
afterAll(async () => {
  await harness.close();
  await keys.close();
});

const volunteer = {
  participation_id: 'gp_1001',
  external_user_id: 'user_456',
  email: 'ana@example.com',
  project_id: 'proj_77',
  project_name: 'Buddy mentoring',
  hours: 5,
  activity_date: '2025-11-14',
  status: 'approved',
};
const notification = {
  id: 'whe_01',
  type: 'volunteer.participation.approved',
  created_at: '2025-11-14T10:05:00Z',
  data: volunteer,
};
const BODY = JSON.stringify(notification);

interface TokenOptions {
  claims?: JWTPayload;
  body?: string;
  key?: Parameters<SignJWT['sign']>[0];
  header?: { alg: string; kid?: string };
  issuer?: string;
  audience?: string;
  issuedAt?: number;
  expiresAt?: number;
}

const sign = (options: TokenOptions = {}) => {
  const body = options.body ?? BODY;
  return new SignJWT({ body_sha256: bodySha256(body), ...options.claims })
    .setProtectedHeader(options.header ?? { alg: 'RS256', kid: 'key-1' })
    .setIssuer(options.issuer ?? ISSUER)
    .setAudience(options.audience ?? AUDIENCE)
    .setIssuedAt(options.issuedAt ?? nowSeconds())
    .setExpirationTime(options.expiresAt ?? nowSeconds() + 300)
    .sign(options.key ?? signing.privateKey);
};

const request = (authorization: string | undefined, body: string = BODY): RawRequest => ({
  method: 'POST',
  url: '/webhooks/goodera',
  headers: {
    'content-type': 'application/json',
    ...(authorization === undefined ? {} : { authorization }),
  },
  body: new TextEncoder().encode(body),
});

const receive = (raw: RawRequest, context = harness.context()) => goodera.webhook!(raw, context);

const refusal = async (raw: RawRequest) => {
  const thrown = await receive(raw).catch((error: unknown) => error);
  expect(thrown).toBeInstanceOf(WebhookVerificationError);
  return thrown as WebhookVerificationError;
};

const EXPECTED_RECORD = {
  provider: 'goodera',
  kind: 'volunteer',
  sourceId: 'gp_1001',
  companyId: 'company_789',
  occurredAt: '2025-11-14T00:00:00Z',
  data: {
    participationId: 'gp_1001',
    userId: 'user_456',
    email: 'ana@example.com',
    projectId: 'proj_77',
    projectName: 'Buddy mentoring',
    hours: 5,
    activityDate: '2025-11-14',
    status: 'approved',
    webhookEventId: 'whe_01',
    webhookType: 'volunteer.participation.approved',
  },
  event: {
    eventId: 'goodera-volunteer-gp_1001',
    userId: 'user_456',
    eventType: 'volunteer_hours',
    timestamp: '2025-11-14T00:00:00Z',
    value: 5,
    unit: 'hours',
    metadata: { source: 'goodera', projectId: 'proj_77', project: 'Buddy mentoring' },
  },
};

describe('webhook: verification', () => {
  it('accepts a token signed with a key from the JWKS and parses the volunteer update', async () => {
    const records = await receive(request(`Bearer ${await sign()}`));
    expect(records).toEqual([EXPECTED_RECORD]);
  });

  it('accepts an HS256 token made with the shared secret', async () => {
    const token = await sign({ header: { alg: 'HS256' }, key: new TextEncoder().encode(SHARED_SECRET) });
    expect(await receive(request(`Bearer ${token}`))).toEqual([EXPECTED_RECORD]);
  });

  it('refuses a request without Authorization', async () => {
    expect((await refusal(request(undefined))).reason).toBe('missing Authorization bearer token');
  });

  it('refuses an Authorization that is not a bearer JWT', async () => {
    expect((await refusal(request('Basic Z29vZGVyYTpzZWNyZXQ='))).reason).toBe(
      'Authorization is not a bearer JWT',
    );
    expect((await refusal(request('Bearer not-a-jwt'))).reason).toBe('Authorization is not a bearer JWT');
  });

  it('refuses a token signed with a key that is not in the JWKS', async () => {
    const sameKid = await sign({ key: stranger.privateKey });
    expect((await refusal(request(`Bearer ${sameKid}`))).reason).toBe('bad signature');
    const otherKid = await sign({ key: stranger.privateKey, header: { alg: 'RS256', kid: 'key-2' } });
    expect((await refusal(request(`Bearer ${otherKid}`))).reason).toBe(
      'no key in the JWKS matches the token',
    );
  });

  it('refuses an HS256 token made with the wrong secret', async () => {
    const token = await sign({
      header: { alg: 'HS256' },
      key: new TextEncoder().encode('not-the-shared-secret-0123456789abcdef'),
    });
    expect((await refusal(request(`Bearer ${token}`))).reason).toBe('bad signature');
  });

  it('refuses a token whose signature was altered', async () => {
    const token = await sign();
    const [header, payload, signature] = token.split('.');
    const flipped = `${signature!.slice(0, -2)}${signature!.endsWith('AA') ? 'BB' : 'AA'}`;
    expect((await refusal(request(`Bearer ${header}.${payload}.${flipped}`))).reason).toBe('bad signature');
  });

  it('refuses a tampered body: the token is bound to the exact bytes by body_sha256', async () => {
    const token = await sign();
    const tampered = BODY.replace('"hours":5', '"hours":50');
    expect(tampered).not.toBe(BODY);
    expect((await refusal(request(`Bearer ${token}`, tampered))).reason).toBe(
      'body does not match the token (body_sha256)',
    );
    // Re-serialising changes bytes too; the same JSON value with other whitespace does not pass.
    expect((await refusal(request(`Bearer ${token}`, JSON.stringify(notification, null, 2)))).reason).toBe(
      'body does not match the token (body_sha256)',
    );
  });

  it('refuses a token without body_sha256', async () => {
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'RS256', kid: 'key-1' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt(nowSeconds())
      .setExpirationTime(nowSeconds() + 300)
      .sign(signing.privateKey);
    expect((await refusal(request(`Bearer ${token}`))).reason).toBe('token has no body_sha256 claim');
  });

  it('refuses an expired token, and one issued too long ago', async () => {
    const expired = await sign({ issuedAt: nowSeconds() - 120, expiresAt: nowSeconds() - 10 });
    expect((await refusal(request(`Bearer ${expired}`))).reason).toBe('token expired');
    const old = await sign({ issuedAt: nowSeconds() - 600, expiresAt: nowSeconds() + 3_600 });
    expect((await refusal(request(`Bearer ${old}`))).reason).toBe('token too old (iat)');
  });

  it('judges expiry by the context clock', async () => {
    const token = await sign();
    expect(await receive(request(`Bearer ${token}`))).toHaveLength(1);
    const later = createFakeClock(clock.now() + 306_000);
    const context = { ...harness.context(), clock: later };
    const thrown = await receive(request(`Bearer ${token}`), context).catch((error: unknown) => error);
    expect((thrown as WebhookVerificationError).reason).toBe('token expired');
  });

  it('refuses the wrong issuer and the wrong audience', async () => {
    const issuer = await sign({ issuer: 'https://evil.example' });
    expect((await refusal(request(`Bearer ${issuer}`))).reason).toBe('claim "iss" check failed');
    const audience = await sign({ audience: 'someone-else' });
    expect((await refusal(request(`Bearer ${audience}`))).reason).toBe('claim "aud" check failed');
  });

  it('refuses alg none', async () => {
    const unsecured = new UnsecuredJWT({ body_sha256: bodySha256(BODY) })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt(nowSeconds())
      .setExpirationTime(nowSeconds() + 300)
      .encode();
    expect(unsecured.endsWith('.')).toBe(true);
    expect((await refusal(request(`Bearer ${unsecured}`))).reason).toBe('signature algorithm not allowed');
  });

  it('refuses HS256 signed with the public key (algorithm confusion) when only a JWKS is configured', async () => {
    const jwksOnly = createConnectorHarness({
      connector: goodera,
      config: gooderaConfig('https://api.goodera.test', {
        webhook: { jwksUrl: `${keys.url}/.well-known/jwks.json`, issuer: ISSUER, audience: AUDIENCE },
      }),
      clock,
    });
    const publicJwk = JSON.stringify(await exportJWK(signing.publicKey));
    const token = await sign({ header: { alg: 'HS256' }, key: new TextEncoder().encode(publicJwk) });
    const thrown = await goodera.webhook!(request(`Bearer ${token}`), jwksOnly.context()).catch(
      (error) => error,
    );
    expect((thrown as WebhookVerificationError).reason).toBe('signature algorithm not allowed');
    await jwksOnly.close();
  });

  it('never echoes the token in the error', async () => {
    const token = await sign({ audience: 'someone-else' });
    const error = await refusal(request(`Bearer ${token}`));
    expect(error.message).toBe('[impact-in] [goodera] webhook rejected: claim "aud" check failed');
    expect(error.message).not.toContain(token.slice(0, 20));
  });

  it('refuses every webhook when verification is not configured', async () => {
    const bare = createConnectorHarness({
      connector: goodera,
      config: gooderaConfig('https://api.goodera.test'),
      clock,
    });
    const thrown = await goodera.webhook!(request(`Bearer ${await sign()}`), bare.context()).catch(
      (error) => error,
    );
    expect((thrown as WebhookVerificationError).reason).toBe(
      'webhook verification is not configured (config.webhook)',
    );
    await bare.close();
  });

  it('answers an unreachable JWKS with a RetryableError: the sender is not at fault', async () => {
    const unreachable = createConnectorHarness({
      connector: goodera,
      config: gooderaConfig('https://api.goodera.test', {
        webhook: { jwksUrl: 'http://127.0.0.1:9/jwks.json', issuer: ISSUER, audience: AUDIENCE },
      }),
      clock,
    });
    const thrown = await goodera.webhook!(request(`Bearer ${await sign()}`), unreachable.context()).catch(
      (error) => error,
    );
    expect(thrown).toBeInstanceOf(RetryableError);
    expect(thrown).toMatchObject({ code: 'jwks_unavailable' });
    await unreachable.close();
  });
});

describe('webhook: payload', () => {
  const deliverBody = async (payload: unknown) => {
    const body = JSON.stringify(payload);
    return receive(request(`Bearer ${await sign({ body })}`, body));
  };

  it('names each bad field of the volunteer update', async () => {
    const thrown = await deliverBody({
      ...notification,
      data: { ...volunteer, hours: -1, activity_date: '14/11/2025', status: 'done' },
    }).catch((error: unknown) => error);
    expect(thrown).toBeInstanceOf(InboundValidationError);
    expect((thrown as InboundValidationError).issues.map((issue) => issue.path)).toEqual([
      'data.hours',
      'data.activity_date',
      'data.status',
    ]);
  });

  it('names bad envelope fields', async () => {
    const thrown = await deliverBody({
      type: 'volunteer.participation.approved',
      created_at: 'yesterday',
      data: volunteer,
    }).catch((error: unknown) => error);
    expect((thrown as InboundValidationError).issues.map((issue) => issue.path)).toEqual([
      'id',
      'created_at',
    ]);
  });

  it('parses a donation update; a pending volunteer implies no impact event', async () => {
    const [donation] = await deliverBody({
      id: 'whe_02',
      type: 'donation.completed',
      created_at: '2025-11-14T10:06:00Z',
      data: {
        donation_id: 'gdn_9',
        external_user_id: 'user_456',
        amount: 50,
        currency: 'EUR',
        donated_at: '2025-11-14T09:00:00Z',
        status: 'completed',
      },
    });
    expect(donation).toMatchObject({
      kind: 'donation',
      sourceId: 'gdn_9',
      event: { eventType: 'donation', value: 50, unit: 'EUR' },
    });
    const [pending] = await deliverBody({ ...notification, data: { ...volunteer, status: 'registered' } });
    expect(pending).toMatchObject({ kind: 'volunteer', data: { status: 'registered' } });
    expect(pending!.event).toBeUndefined();
  });

  it('acknowledges a notification type it does not know with no records', async () => {
    expect(
      await deliverBody({ ...notification, type: 'campaign.created', data: { anything: true } }),
    ).toEqual([]);
  });
});

describe('webhook: signed by the Goodera simulator', () => {
  const simulator = createGooderaSimulator({ clock });
  let provider: ProviderServer;
  beforeAll(async () => {
    provider = await startProviderServer(simulator.handlers);
  });
  afterAll(() => provider.close());

  for (const alg of ['RS256', 'HS256'] as const) {
    it(`verifies the simulator's ${alg} webhook against its published JWKS or shared secret`, async () => {
      const verifying = createConnectorHarness({
        connector: goodera,
        config: gooderaConfig(provider.url, {
          webhook: {
            jwksUrl: `${provider.url}/.well-known/jwks.json`,
            issuer: GOODERA_TEST_WEBHOOK.issuer,
            audience: GOODERA_TEST_WEBHOOK.audience,
          },
          webhookSharedSecret: GOODERA_TEST_WEBHOOK.sharedSecret,
        }),
        clock,
      });
      const signed = await simulator.signWebhook(notification, { alg });
      expect(signed.body).toBe(BODY);
      const raw = {
        method: 'POST',
        url: '/webhooks/goodera',
        headers: signed.headers,
        body: Buffer.from(signed.body),
      };
      expect(await goodera.webhook!(raw, verifying.context())).toEqual([EXPECTED_RECORD]);
      const tampered = { ...raw, body: Buffer.from(signed.body.replace('gp_1001', 'gp_1002')) };
      const thrown = await goodera.webhook!(tampered, verifying.context()).catch((error) => error);
      expect(thrown).toBeInstanceOf(WebhookVerificationError);
      await verifying.close();
    });
  }
});
