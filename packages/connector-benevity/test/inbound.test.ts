import {
  InboundRecordSchema,
  InboundValidationError,
  PermanentError,
  type RawRequest,
  WebhookVerificationError,
} from '@impact-in/core';
import { createConnectorHarness } from '@impact-in/testing';
import { BENEVITY_TEST_CREDENTIALS, createBenevitySimulator } from '@impact-in/testing/providers/benevity';
import { afterAll, describe, expect, it } from 'vitest';
import { type BenevityConfig, benevity, parseBenevityIngest } from '../src/index.js';
import { apiKeyConfig, expectedSignature, oauthConfig } from './helpers.js';

const SECRET = BENEVITY_TEST_CREDENTIALS.signatureSecret;
const harness = createConnectorHarness<BenevityConfig>({
  connector: benevity,
  config: apiKeyConfig('https://api.benevity.example'),
});
afterAll(() => harness.close());

const volunteerWebhook = {
  id: 'whk_01JD8Z6X3V',
  type: 'volunteer.recorded',
  occurred_at: '2025-11-14T10:05:00Z',
  company_id: 'bnv_co_42',
  data: {
    id: 'vol_9001',
    user_external_id: 'user_456',
    email: 'ana@example.com',
    hours: 2.5,
    activity_date: '2025-11-10',
    cause: 'Food Bank of the Rockies',
    cause_id: 'cause_77',
    program: 'buddy_mentoring',
    status: 'completed',
  },
};

const request = (body: string | Uint8Array, headers: Record<string, string> = {}): RawRequest => ({
  method: 'POST',
  url: 'https://host.example/webhooks/benevity',
  headers: { 'content-type': 'application/json', ...headers },
  body: typeof body === 'string' ? new TextEncoder().encode(body) : body,
});
const signed = (body: string, secret = SECRET) =>
  request(body, { 'x-benevity-signature': expectedSignature(secret, body) });
const webhook = (raw: RawRequest) => benevity.webhook!(raw, harness.context());

const issuesOf = async (promise: Promise<unknown>) => {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(InboundValidationError);
  return (error as InboundValidationError).issues;
};

describe('webhook verification', () => {
  const body = JSON.stringify(volunteerWebhook);

  it('accepts a body signed with the signature secret', async () => {
    await expect(webhook(signed(body))).resolves.toHaveLength(1);
  });

  it('accepts a sha256= prefix and upper-case hex', async () => {
    const signature = expectedSignature(SECRET, body);
    await expect(
      webhook(request(body, { 'x-benevity-signature': `sha256=${signature}` })),
    ).resolves.toHaveLength(1);
    await expect(
      webhook(request(body, { 'x-benevity-signature': signature.toUpperCase() })),
    ).resolves.toHaveLength(1);
  });

  it('accepts what the simulator signs, as the demo sends it', async () => {
    const simulator = createBenevitySimulator();
    await expect(webhook(request(body, simulator.signWebhook(body)))).resolves.toHaveLength(1);
  });

  const refusals: Array<[string, RawRequest, string]> = [
    ['a missing signature', request(body), 'missing X-Benevity-Signature header'],
    [
      'an empty signature',
      request(body, { 'x-benevity-signature': '' }),
      'missing X-Benevity-Signature header',
    ],
    [
      'a signature with another secret',
      signed(body, 'some-other-secret'),
      'X-Benevity-Signature does not match the body',
    ],
    [
      'a tampered body',
      request(body.replace('"hours":2.5', '"hours":25'), {
        'x-benevity-signature': expectedSignature(SECRET, body),
      }),
      'X-Benevity-Signature does not match the body',
    ],
    [
      'a signature over a re-serialised copy',
      request(JSON.stringify(JSON.parse(body), null, 2), {
        'x-benevity-signature': expectedSignature(SECRET, body),
      }),
      'X-Benevity-Signature does not match the body',
    ],
    [
      'a malformed signature',
      request(body, { 'x-benevity-signature': 'not-hex' }),
      'malformed X-Benevity-Signature header',
    ],
  ];
  for (const [what, raw, reason] of refusals) {
    it(`refuses ${what} with WebhookVerificationError`, async () => {
      const error = await webhook(raw).catch((thrown: unknown) => thrown);
      expect(error).toBeInstanceOf(WebhookVerificationError);
      expect(error).toMatchObject({ reason, message: `[impact-in] [benevity] webhook rejected: ${reason}` });
    });
  }

  it('verifies before parsing: an unsigned invalid body is a verification error, not a validation error', async () => {
    await expect(webhook(request('{not json'))).rejects.toBeInstanceOf(WebhookVerificationError);
  });

  it('cannot verify without a signatureSecret (oauth mode without one): a config error', async () => {
    const oauthHarness = createConnectorHarness<BenevityConfig>({
      connector: benevity,
      config: oauthConfig('https://api.benevity.example', { signatureSecret: undefined }),
    });
    const error = await benevity.webhook!(signed(body), oauthHarness.context()).catch(
      (thrown: unknown) => thrown,
    );
    await oauthHarness.close();
    expect(error).toBeInstanceOf(PermanentError);
    expect(error).not.toBeInstanceOf(WebhookVerificationError);
    expect(error).toMatchObject({ code: 'config' });
  });
});

describe('webhook parsing', () => {
  it('turns volunteer.recorded into a volunteer record with an impact event', async () => {
    const [record] = await webhook(signed(JSON.stringify(volunteerWebhook)));
    expect(record).toEqual({
      provider: 'benevity',
      kind: 'volunteer',
      sourceId: 'whk_01JD8Z6X3V',
      companyId: 'company_789',
      occurredAt: '2025-11-14T10:05:00Z',
      data: {
        recordId: 'vol_9001',
        userExternalId: 'user_456',
        email: 'ana@example.com',
        hours: 2.5,
        activityDate: '2025-11-10',
        cause: 'Food Bank of the Rockies',
        causeId: 'cause_77',
        program: 'buddy_mentoring',
        status: 'completed',
        benevityCompanyId: 'bnv_co_42',
      },
      event: {
        eventId: 'benevity-volunteer-vol_9001',
        userId: 'user_456',
        eventType: 'volunteer_hours',
        timestamp: '2025-11-10T00:00:00Z',
        value: 2.5,
        unit: 'hours',
        metadata: {
          source: 'benevity',
          program: 'buddy_mentoring',
          cause: 'Food Bank of the Rockies',
          causeId: 'cause_77',
        },
      },
    });
    expect(() => InboundRecordSchema.parse(record)).not.toThrow();
  });

  it('turns donation.completed into a donation record with an impact event in the currency', async () => {
    const body = JSON.stringify({
      id: 'whk_donation_1',
      type: 'donation.completed',
      occurred_at: '2025-11-14T11:00:00+01:00',
      data: {
        id: 'don_314',
        user_external_id: 'user_456',
        amount: 50,
        currency: 'EUR',
        donated_at: '2025-11-14T10:59:00Z',
        match_amount: 50,
        cause: 'Red Cross',
      },
    });
    const [record] = await webhook(signed(body));
    expect(record).toMatchObject({
      kind: 'donation',
      sourceId: 'whk_donation_1',
      data: { recordId: 'don_314', amount: 50, currency: 'EUR', matchAmount: 50, status: 'completed' },
      event: {
        eventId: 'benevity-donation-don_314',
        eventType: 'donation',
        value: 50,
        unit: 'EUR',
        timestamp: '2025-11-14T10:59:00Z',
        metadata: { source: 'benevity', cause: 'Red Cross', matchAmount: 50 },
      },
    });
    expect(() => InboundRecordSchema.parse(record)).not.toThrow();
  });

  it('records pending hours without an impact event', async () => {
    const body = JSON.stringify({
      ...volunteerWebhook,
      data: { ...volunteerWebhook.data, status: 'pending' },
    });
    const [record] = await webhook(signed(body));
    expect(record!.data.status).toBe('pending');
    expect(record!.event).toBeUndefined();
  });

  it('acknowledges an unknown type with no records, and logs it', async () => {
    const body = JSON.stringify({
      id: 'whk_x',
      type: 'campaign.created',
      occurred_at: '2025-11-14T10:00:00Z',
      data: {},
    });
    await expect(webhook(signed(body))).resolves.toEqual([]);
    expect(harness.logger.entries.some((entry) => entry.fields.webhookType === 'campaign.created')).toBe(
      true,
    );
  });

  it('still reports a broken envelope of an unknown type', async () => {
    const issues = await issuesOf(
      webhook(signed(JSON.stringify({ type: 'campaign.created', occurred_at: 'x' }))),
    );
    expect(issues.map((issue) => issue.path)).toEqual(['id', 'occurred_at']);
    const missingType = await issuesOf(
      webhook(signed(JSON.stringify({ id: 'whk_1', occurred_at: '2025-11-14T10:00:00Z' }))),
    );
    expect(missingType.map((issue) => issue.path)).toEqual(['type']);
  });

  it('names every bad field', async () => {
    const body = JSON.stringify({
      ...volunteerWebhook,
      occurred_at: 'yesterday',
      data: { ...volunteerWebhook.data, hours: -1, activity_date: '10/11/2025', email: 'nope' },
    });
    const issues = await issuesOf(webhook(signed(body)));
    expect(issues.map((issue) => issue.path).sort()).toEqual(
      ['data.activity_date', 'data.email', 'data.hours', 'occurred_at'].sort(),
    );
    expect(issues.find((issue) => issue.path === 'data.hours')!.message).toBe('must be greater than 0');
  });

  it('reports a body that is not JSON as (body)', async () => {
    const issues = await issuesOf(webhook(signed('{"id":')));
    expect(issues).toEqual([{ path: '(body)', message: 'is not valid JSON' }]);
  });
});

describe('ingest', () => {
  const ingest = (kind: string, body: unknown) => benevity.ingest!(kind, body, harness.context());
  const volunteer = (overrides: Record<string, unknown> = {}) => ({
    id: `vol_${Math.random().toString(36).slice(2, 8)}`,
    user_external_id: 'user_456',
    email: 'ana@example.com',
    hours: 3,
    activity_date: '2025-11-10',
    cause: 'Parks',
    ...overrides,
  });

  it('parses a volunteers batch into one record per entry, sourceId = the entry id', async () => {
    const records = await ingest('volunteers', {
      company_id: 'bnv_co_42',
      volunteers: [volunteer({ id: 'vol_1' }), volunteer({ id: 'vol_2', status: 'cancelled', hours: 1 })],
    });
    expect(records.map((record) => [record.kind, record.sourceId, record.occurredAt])).toEqual([
      ['volunteer', 'vol_1', '2025-11-10T00:00:00Z'],
      ['volunteer', 'vol_2', '2025-11-10T00:00:00Z'],
    ]);
    expect(records[0]!.event).toMatchObject({ eventId: 'benevity-volunteer-vol_1', value: 3, unit: 'hours' });
    expect(records[1]!.event).toBeUndefined();
    expect(records[0]!.data.benevityCompanyId).toBe('bnv_co_42');
    expect(() => InboundRecordSchema.array().parse(records)).not.toThrow();
  });

  it('gives the same event id for the same hours by webhook and by ingest', async () => {
    const [fromWebhook] = await webhook(signed(JSON.stringify(volunteerWebhook)));
    const [fromIngest] = await ingest('volunteers', { volunteers: [volunteerWebhook.data] });
    expect(fromIngest!.event).toEqual(fromWebhook!.event);
  });

  it('reports each bad field by its place, all at once', async () => {
    const issues = await issuesOf(
      ingest('volunteers', {
        volunteers: [
          volunteer({ user_external_id: undefined }),
          volunteer({ hours: 'three' }),
          volunteer({ activity_date: '2025-13-40', email: 'not-an-email' }),
        ],
      }),
    );
    expect(issues).toEqual([
      { path: 'volunteers[0].user_external_id', message: 'must be a string id' },
      { path: 'volunteers[1].hours', message: 'must be a number of hours' },
      { path: 'volunteers[2].email', message: 'must be an email address' },
      { path: 'volunteers[2].activity_date', message: 'must be an ISO 8601 date, e.g. 2025-11-14' },
    ]);
  });

  it('reports repeated ids within a batch', async () => {
    const issues = await issuesOf(
      ingest('volunteers', {
        volunteers: [volunteer({ id: 'a' }), volunteer({ id: 'b' }), volunteer({ id: 'a' })],
      }),
    );
    expect(issues).toEqual([{ path: 'volunteers[2].id', message: 'duplicates volunteers[0].id' }]);
  });

  it('parses donations and names bad donation fields', async () => {
    const good = {
      id: 'don_1',
      user_external_id: 'user_456',
      amount: 25.5,
      currency: 'CAD',
      donated_at: '2025-11-14T10:00:00Z',
      status: 'refunded',
    };
    const [record] = await ingest('donations', { donations: [good] });
    expect(record).toMatchObject({
      kind: 'donation',
      sourceId: 'don_1',
      data: { status: 'refunded', amount: 25.5 },
    });
    expect(record!.event).toBeUndefined();
    const issues = await issuesOf(
      ingest('donations', { donations: [good, { ...good, id: 'don_2', currency: 'usd', amount: 0 }] }),
    );
    expect(issues).toEqual([
      { path: 'donations[1].amount', message: 'must be greater than 0' },
      { path: 'donations[1].currency', message: 'must be an ISO 4217 code such as "USD"' },
    ]);
  });

  it('names a missing list, accepts JSON text and bytes, and reports bad JSON as (body)', async () => {
    expect((await issuesOf(ingest('volunteers', { company_id: 'x' })))[0]!.path).toBe('volunteers');
    const text = JSON.stringify({ volunteers: [volunteer({ id: 'vol_text' })] });
    expect((await ingest('volunteers', text))[0]!.sourceId).toBe('vol_text');
    expect((await ingest('volunteers', new TextEncoder().encode(text)))[0]!.sourceId).toBe('vol_text');
    expect(await issuesOf(ingest('volunteers', '{'))).toEqual([
      { path: '(body)', message: 'is not valid JSON' },
    ]);
  });

  it('refuses an unknown kind as a permanent error, not a validation error', async () => {
    const error = await ingest('directory', { workers: [] }).catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(PermanentError);
    expect(error).not.toBeInstanceOf(InboundValidationError);
    expect((error as Error).message).toBe(
      '[impact-in] [benevity] unknown ingest kind "directory" (known: volunteers, donations)',
    );
    expect(() => parseBenevityIngest('donation', {}, 'c1')).toThrow(/unknown ingest kind "donation"/);
  });
});
