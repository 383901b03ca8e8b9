import { createHmac } from 'node:crypto';
import {
  ImpactEventSchema,
  InboundRecordSchema,
  InboundValidationError,
  type RawRequest,
  WebhookVerificationError,
} from '@impact-in/core';
import { createConnectorHarness, createFakeClock } from '@impact-in/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { type KintellConfigInput, kintell, signKintellWebhook, verifyKintellWebhook } from '../src/index.js';
import { fakeDirectory } from './helpers.js';

const SECRET = 'kintell-webhook-secret-0001';
const PREVIOUS = 'kintell-webhook-secret-0000';
const clock = createFakeClock();
const now = () => Math.floor(clock.now() / 1_000);

const harnesses: Array<ReturnType<typeof createConnectorHarness>> = [];
function contextWith(config: KintellConfigInput) {
  const harness = createConnectorHarness({ connector: kintell, config, clock });
  harnesses.push(harness);
  return harness.context();
}
afterAll(async () => {
  for (const harness of harnesses) await harness.close();
});

const context = contextWith({
  webhookSecret: SECRET,
  previousWebhookSecret: PREVIOUS,
  campaigns: [{ campaignId: 'camp-lc', program: 'language_connect' }],
  timezone: 'Europe/Oslo',
});

const completed = {
  id: 'evt_01',
  type: 'session.completed',
  created_at: '2025-11-14T10:05:00Z',
  data: {
    session_id: 'ks-42',
    program: 'Language Connect',
    scheduled_at: '2025-11-14 10:00',
    completed_at: '2025-11-14T09:45:00Z',
    duration_minutes: 45,
    participant_email: 'Learner@Example.org',
    participant_name: 'Zoë',
    volunteer_email: 'Vol@Acme.example',
    volunteer_id: 'kv-9',
    language: 'uk',
    rating: 5,
  },
};

function request(
  body: unknown,
  options: { path?: string; secret?: string; timestamp?: number; header?: string } = {},
): RawRequest {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const signature =
    options.header ?? signKintellWebhook(options.secret ?? SECRET, text, options.timestamp ?? now());
  return {
    method: 'POST',
    url: `https://impact.example/v1/webhooks/${options.path ?? 'session-completed'}`,
    headers: { 'content-type': 'application/json', 'x-kintell-signature': signature },
    body: new TextEncoder().encode(text),
  };
}

const refusal = async (promise: Promise<unknown>) => {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(WebhookVerificationError);
  return (error as WebhookVerificationError).reason;
};

describe('webhook signatures', () => {
  it('accepts a valid signature and parses the session', async () => {
    const records = await kintell.webhook!(request(completed), context);
    expect(records).toHaveLength(1);
    expect(InboundRecordSchema.safeParse(records[0]).success).toBe(true);
  });

  it('signs "<t>.<raw body>" with HMAC-SHA256, hex', () => {
    const expected = createHmac('sha256', 'secret').update('1700000000.{"a":1}').digest('hex');
    expect(signKintellWebhook('secret', '{"a":1}', 1_700_000_000)).toBe(`t=1700000000,v1=${expected}`);
    expect(signKintellWebhook('secret', new TextEncoder().encode('{"a":1}'), 1_700_000_000)).toBe(
      `t=1700000000,v1=${expected}`,
    );
  });

  it('refuses a wrong signature', async () => {
    expect(
      await refusal(kintell.webhook!(request(completed, { secret: 'someone-elses-secret-00' }), context)),
    ).toBe('signature does not match');
  });

  it('refuses a body changed after signing', async () => {
    const signed = request(completed);
    const tampered = {
      ...signed,
      body: new TextEncoder().encode(JSON.stringify({ ...completed, id: 'evt_02' })),
    };
    expect(await refusal(kintell.webhook!(tampered, context))).toBe('signature does not match');
  });

  it('refuses a stale timestamp', async () => {
    expect(await refusal(kintell.webhook!(request(completed, { timestamp: now() - 301 }), context))).toBe(
      'timestamp is 301 s old (tolerance 300 s): a replay or a stuck clock',
    );
    await expect(
      kintell.webhook!(request(completed, { timestamp: now() - 300 }), context),
    ).resolves.toHaveLength(1);
  });

  it('refuses a timestamp in the future', async () => {
    expect(await refusal(kintell.webhook!(request(completed, { timestamp: now() + 301 }), context))).toBe(
      'timestamp is 301 s in the future (tolerance 300 s)',
    );
  });

  it('honours toleranceSeconds', async () => {
    const strict = contextWith({ webhookSecret: SECRET, toleranceSeconds: 30 });
    expect(await refusal(kintell.webhook!(request(completed, { timestamp: now() - 31 }), strict))).toMatch(
      /31 s old/,
    );
  });

  it('accepts the previous secret during a rotation, and any of several v1 signatures', async () => {
    await expect(kintell.webhook!(request(completed, { secret: PREVIOUS }), context)).resolves.toHaveLength(
      1,
    );
    const text = JSON.stringify(completed);
    const t = now();
    const both = `t=${t},v1=${'0'.repeat(64)},v1=${signKintellWebhook(SECRET, text, t).split('v1=')[1]}`;
    await expect(kintell.webhook!(request(text, { header: both }), context)).resolves.toHaveLength(1);
    const rotatedOut = contextWith({ webhookSecret: SECRET });
    expect(await refusal(kintell.webhook!(request(completed, { secret: PREVIOUS }), rotatedOut))).toBe(
      'signature does not match',
    );
  });

  it('refuses everything when no secret is configured', async () => {
    const unconfigured = contextWith({});
    expect(await refusal(kintell.webhook!(request(completed), unconfigured))).toBe(
      'no webhook secret is configured (webhookSecret)',
    );
  });

  it('refuses a missing or malformed signature header', async () => {
    const missing = request(completed);
    delete missing.headers['x-kintell-signature'];
    expect(await refusal(kintell.webhook!(missing, context))).toBe('missing x-kintell-signature header');
    for (const header of ['v1=abc', 't=soon,v1=abc', `t=${now()}`, 'nonsense']) {
      expect(await refusal(kintell.webhook!(request(completed, { header }), context))).toBe(
        'malformed x-kintell-signature header (expected t=<unix seconds>,v1=<hex>)',
      );
    }
  });

  it('verifyKintellWebhook compares in constant time against every candidate', () => {
    const text = JSON.stringify(completed);
    const raw = request(text);
    expect(() =>
      verifyKintellWebhook(raw, { webhookSecret: SECRET, toleranceSeconds: 300 }, clock),
    ).not.toThrow();
  });
});

describe('webhook bodies', () => {
  it('turns session.completed into a record keyed by the webhook event id, with its impact event', async () => {
    const [record] = await kintell.webhook!(request(completed), context);
    expect(record).toMatchObject({
      provider: 'kintell',
      kind: 'session.completed',
      sourceId: 'evt_01',
      companyId: 'company_789',
      occurredAt: '2025-11-14T10:05:00Z',
      data: {
        session_id: 'ks-42',
        program: 'language_connect',
        status: 'completed',
        // Local times are read in the config's zone (Oslo, UTC+1 in November).
        scheduled_at: '2025-11-14T09:00:00Z',
        completed_at: '2025-11-14T09:45:00Z',
        duration_minutes: 45,
        volunteer_id: 'kv-9',
        volunteer: { userId: 'vol@acme.example', matchedBy: 'fallback_email' },
        participant: { userId: 'learner@example.org', matchedBy: 'fallback_email' },
        campaignId: 'camp-lc',
        campaignRule: 0,
        unmatched: false,
        webhookEventId: 'evt_01',
        webhookType: 'session.completed',
      },
      event: {
        eventId: 'kintell-session-ks-42',
        userId: 'vol@acme.example',
        eventType: 'session_completed',
        timestamp: '2025-11-14T09:45:00Z',
        value: 0.75,
        unit: 'hours',
        metadata: { sessionId: 'ks-42', program: 'language_connect', campaignId: 'camp-lc', rating: 5 },
      },
    });
    expect(ImpactEventSchema.safeParse(record!.event).success).toBe(true);
  });

  it('turns session.scheduled into a record without an event', async () => {
    const scheduled = {
      id: 'evt_00',
      type: 'session.scheduled',
      created_at: '2025-11-13T08:00:00+01:00',
      data: {
        session_id: 'ks-42',
        program: 'MFU',
        scheduled_at: '2025-11-14T09:00:00Z',
        participant_id: 'kp-1',
        volunteer_email: 'vol@acme.example',
      },
    };
    const [record] = await kintell.webhook!(request(scheduled, { path: 'session-scheduled' }), context);
    expect(record).toMatchObject({
      kind: 'session.scheduled',
      sourceId: 'evt_00',
      occurredAt: '2025-11-13T07:00:00Z',
      data: {
        session_id: 'ks-42',
        status: 'scheduled',
        program: 'mentorship',
        unmatched: true,
        campaignId: null,
      },
    });
    expect(record!.event).toBeUndefined();
  });

  it('carries no event when the volunteer has only a Kintell id', async () => {
    const body = { ...completed, data: { ...completed.data, volunteer_email: undefined } };
    const [record] = await kintell.webhook!(request(body), context);
    expect(record!.event).toBeUndefined();
    expect(record!.data.volunteer).toEqual({ userId: null, matchedBy: 'unmatched' });
    expect(record!.data.volunteer_id).toBe('kv-9');
  });

  it('refuses a type that disagrees with the path, naming type', async () => {
    const error = await kintell.webhook!(request(completed, { path: 'session-scheduled' }), context).catch(
      (caught) => caught,
    );
    expect(error).toBeInstanceOf(InboundValidationError);
    expect(error.issues).toEqual([
      {
        path: 'type',
        message:
          'is session.completed but the request was posted to …/session-scheduled (expects session.scheduled)',
      },
    ]);
  });

  it('accepts either type on a path that names neither', async () => {
    await expect(kintell.webhook!(request(completed, { path: 'kintell' }), context)).resolves.toHaveLength(1);
  });

  it('refuses malformed JSON', async () => {
    const error = await kintell.webhook!(request('{"id": "evt_1", '), context).catch((caught) => caught);
    expect(error).toBeInstanceOf(InboundValidationError);
    expect(error.issues).toEqual([{ path: '(body)', message: 'is not valid JSON' }]);
  });

  it('names every bad field of the body', async () => {
    const bad = {
      id: 'evt_9',
      type: 'session.started',
      created_at: 'yesterday',
      data: {},
    };
    const error = await kintell.webhook!(request(bad, { path: 'x' }), context).catch((caught) => caught);
    expect(error.issues.map((issue: { path: string }) => issue.path)).toEqual(['type', 'created_at']);
    const badData = { ...completed, data: { ...completed.data, rating: 7, duration_minutes: true } };
    const dataError = await kintell.webhook!(request(badData), context).catch((caught) => caught);
    expect(dataError.issues).toEqual([
      { path: 'data.duration_minutes', message: 'must be a string or a number' },
    ]);
    const badRating = { ...completed, data: { ...completed.data, rating: 7 } };
    const ratingError = await kintell.webhook!(request(badRating), context).catch((caught) => caught);
    expect(ratingError.issues).toEqual([
      { path: 'data.rating', message: 'must be a whole number from 1 to 5' },
    ]);
  });

  it('refuses a status that contradicts the type', async () => {
    const body = { ...completed, data: { ...completed.data, status: 'cancelled' } };
    const error = await kintell.webhook!(request(body), context).catch((caught) => caught);
    expect(error.issues).toEqual([
      { path: 'data.status', message: 'is cancelled but the webhook type is session.completed' },
    ]);
  });

  it('refuses NUL characters and lone surrogates', async () => {
    const text = JSON.stringify(completed).replace('"Zoë"', '"Zo\\u0000\\ud800"');
    const error = await kintell.webhook!(request(text), context).catch((caught) => caught);
    expect(error).toBeInstanceOf(InboundValidationError);
    expect(error.issues[0].path).toBe('data.participant_name');
  });
});

describe('webhook people through the tenant directory', () => {
  const withDirectory = (config: KintellConfigInput, directory: ReturnType<typeof fakeDirectory>) => ({
    ...contextWith({ webhookSecret: SECRET, timezone: 'Europe/Oslo', ...config }),
    identity: directory,
  });

  it('resolves people by Kintell id, then email, and credits the directory’s user', async () => {
    const directory = fakeDirectory({
      byExternalId: { 'kv-9': 'emp-1042' },
      byEmail: { 'learner@example.org': 'usr-77', 'vol@acme.example': 'not-used' },
    });
    const [record] = await kintell.webhook!(request(completed), withDirectory({}, directory));
    expect(record!.data).toMatchObject({
      participant: { userId: 'usr-77', matchedBy: 'email' },
      volunteer: { userId: 'emp-1042', matchedBy: 'external_id' },
      unmatched: false,
    });
    expect(record!.event).toMatchObject({
      eventId: 'kintell-session-ks-42',
      userId: 'emp-1042',
      metadata: { participantUserId: 'usr-77' },
    });
    expect(ImpactEventSchema.safeParse(record!.event).success).toBe(true);
    expect(directory.calls).toEqual([
      { method: 'byExternalIds', provider: 'kintell', keys: ['kv-9'] },
      { method: 'byEmails', keys: ['learner@example.org'] },
    ]);
  });

  it('keeps an unknown volunteer unmatched, with no event, by default and with reject', async () => {
    for (const identityFallback of [undefined, 'reject'] as const) {
      const config = identityFallback ? { identityFallback } : {};
      const [record] = await kintell.webhook!(request(completed), withDirectory(config, fakeDirectory()));
      expect(record!.data).toMatchObject({
        volunteer: { userId: null, matchedBy: 'unmatched' },
        participant: { userId: null, matchedBy: 'unmatched' },
        unmatched: true,
      });
      expect(record!.event).toBeUndefined();
    }
  });

  it('uses the normalised email with fallback email', async () => {
    const directory = fakeDirectory({ byEmail: { 'learner@example.org': 'usr-77' } });
    const [record] = await kintell.webhook!(
      request(completed),
      withDirectory({ identityFallback: 'email' }, directory),
    );
    expect(record!.data).toMatchObject({
      participant: { userId: 'usr-77', matchedBy: 'email' },
      volunteer: { userId: 'vol@acme.example', matchedBy: 'fallback_email' },
    });
    expect(record!.event?.userId).toBe('vol@acme.example');
  });

  it('still verifies the signature before asking the directory anything', async () => {
    const directory = fakeDirectory();
    const error = await kintell.webhook!(
      request(completed, { secret: 'wrong-secret-wrong-secret' }),
      withDirectory({}, directory),
    ).catch((caught) => caught);
    expect(error).toBeInstanceOf(WebhookVerificationError);
    expect(directory.calls).toEqual([]);
  });
});
