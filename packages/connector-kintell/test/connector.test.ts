import { createReadStream } from 'node:fs';
import { bindConnector, type ImportItem } from '@impact-in/core';
import { createConnectorHarness } from '@impact-in/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { fromEnv, importKintellCsv, KintellConfigSchema, kintell } from '../src/index.js';
import { chunked, collect, expectValidEvent, fakeDirectory, sessionRow, sessionsCsv } from './helpers.js';

const EXAMPLE = new URL('../examples/sessions.csv', import.meta.url);

const harnesses: Array<ReturnType<typeof createConnectorHarness>> = [];
const harnessWith = (config: unknown) => {
  const harness = createConnectorHarness({ connector: kintell, config });
  harnesses.push(harness);
  return harness;
};
afterAll(async () => {
  for (const harness of harnesses) await harness.close();
});

describe('the kintell connector', () => {
  it('is an import and webhook connector with two secrets and no deliver', () => {
    expect(kintell.id).toBe('kintell');
    expect(kintell.secrets).toEqual(['webhookSecret', 'previousWebhookSecret']);
    expect(typeof kintell.import).toBe('function');
    expect(typeof kintell.webhook).toBe('function');
    expect(kintell.deliver).toBeUndefined();
  });

  it('needs no config at all, and fills in the defaults', () => {
    expect(KintellConfigSchema.parse({})).toEqual({
      toleranceSeconds: 300,
      campaigns: [],
      identityFallback: 'unmatched',
      timezone: 'UTC',
    });
  });

  it('names the bad field of a config', () => {
    expect(() => bindConnector(kintell, { webhookSecret: 'short' })).toThrow(
      '[impact-in] [kintell] invalid config: webhookSecret: must be at least 16 characters',
    );
    expect(() => bindConnector(kintell, { timezone: 'Europe/Atlantis' })).toThrow(
      'timezone: must be an IANA time zone such as "Europe/Oslo"',
    );
    expect(() => bindConnector(kintell, { campaigns: [{ program: 'mentorship' } as never] })).toThrow(
      'campaigns.0.campaignId: required: the campaign id',
    );
  });

  it('imports with the config defaults and the context tenant', async () => {
    const harness = harnessWith({
      campaigns: [{ campaignId: 'camp-acme', companyRef: 'acme' }],
      timezone: 'Europe/Oslo',
      identityFallback: 'email',
    });
    const csv = sessionsCsv(
      sessionRow({ scheduled_at: '2025-03-04 11:00', completed_at: '2025-03-04 11:45' }),
    );
    const [item] = await collect(kintell.import!(chunked(csv), {}, harness.context()));
    expect(item).toMatchObject({
      ok: true,
      record: {
        companyId: 'company_789',
        data: {
          campaignId: 'camp-acme',
          scheduled_at: '2025-03-04T10:00:00Z',
          volunteer: { matchedBy: 'fallback_email' },
        },
      },
    });
  });

  it('lets import options override the config', async () => {
    const harness = harnessWith({ campaigns: [{ campaignId: 'camp-acme' }], identityFallback: 'email' });
    const directory = fakeDirectory({ byExternalId: { 'kv-1': 'user_1' } });
    const csv = sessionsCsv(sessionRow({ rating: 'x' }, 1), sessionRow({}, 2));
    const items = await collect(
      kintell.import!(
        chunked(csv),
        {
          strict: true,
          campaigns: [],
          identity: directory,
          identityFallback: 'unmatched',
          companyId: 'company_other',
        },
        harness.context(),
      ),
    );
    expect(items).toEqual([expect.objectContaining({ ok: false, line: 2, column: 'rating' })]);
    const [good] = await collect(
      kintell.import!(
        chunked(sessionsCsv(sessionRow())),
        { campaigns: [], identity: directory, companyId: 'company_other' },
        harness.context(),
      ),
    );
    expect(good).toMatchObject({
      ok: true,
      record: { companyId: 'company_other', data: { campaignId: null } },
    });
  });

  it('imports upskilling course completions with mapping "courses"', async () => {
    const harness = harnessWith({});
    const csv =
      'learner_email,course_id,platform,completed_at,hours\nana@acme.example,C-1,eCornell,2025-03-04,2\n';
    const [item] = await collect(kintell.import!(chunked(csv), { mapping: 'courses' }, harness.context()));
    expect(item).toMatchObject({
      ok: true,
      record: { provider: 'upskilling', kind: 'course', sourceId: 'ecornell:C-1:ana@acme.example' },
    });
  });
});

describe('fromEnv', () => {
  it('always returns a config: imports need no credentials', () => {
    expect(fromEnv({})).toEqual(KintellConfigSchema.parse({}));
  });

  it('reads KINTELL_WEBHOOK_SECRET, KINTELL_PREVIOUS_WEBHOOK_SECRET and KINTELL_TIMEZONE', () => {
    expect(
      fromEnv({
        KINTELL_WEBHOOK_SECRET: ' kintell-secret-new-0001 ',
        KINTELL_PREVIOUS_WEBHOOK_SECRET: 'kintell-secret-old-0000',
        KINTELL_TIMEZONE: 'Europe/Oslo',
        UNRELATED: 'x',
      }),
    ).toMatchObject({
      webhookSecret: 'kintell-secret-new-0001',
      previousWebhookSecret: 'kintell-secret-old-0000',
      timezone: 'Europe/Oslo',
    });
    expect(fromEnv({ KINTELL_WEBHOOK_SECRET: '' }).webhookSecret).toBeUndefined();
  });

  it('names a bad variable and never echoes its value', () => {
    let message = '';
    try {
      fromEnv({ KINTELL_WEBHOOK_SECRET: 'tiny-secret', KINTELL_TIMEZONE: 'Nowhere/Land' });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toBe(
      '[impact-in] [kintell] invalid environment: KINTELL_WEBHOOK_SECRET: must be at least 16 characters; KINTELL_TIMEZONE: must be an IANA time zone such as "Europe/Oslo"',
    );
    expect(message).not.toContain('tiny-secret');
  });
});

describe('the example export (examples/sessions.csv)', () => {
  it('imports from a file stream: 16 sessions and 4 reported rows', async () => {
    const directory = fakeDirectory({
      byExternalId: { 'kv-301': 'user_ingrid', 'kv-302': 'user_bjorn', 'kv-303': 'user_tomas' },
      byEmail: { 'ingrid.berg@acme.example': 'user_ingrid', 'zoe.angstrom@acme.example': 'user_zoe' },
    });
    const items: ImportItem[] = await collect(
      importKintellCsv(createReadStream(EXAMPLE, { highWaterMark: 512 }), {
        identity: directory,
        timezone: 'Europe/Oslo',
        companyId: 'company_789',
        campaigns: [
          { campaignId: 'camp-mfu-2025', program: 'mentorship' },
          { campaignId: 'camp-acme-lc', companyRef: 'ACME' },
        ],
      }),
    );
    expect(items).toHaveLength(20);
    expect(items.filter((item) => !item.ok)).toEqual([
      { ok: false, line: 11, column: 'Duration (minutes)', message: 'required when status is completed' },
      { ok: false, line: 12, column: 'Mentee Email', message: 'is not an email address' },
      { ok: false, line: 14, column: 'Rating', message: 'must be a whole number from 1 to 5' },
      { ok: false, line: 18, column: 'Completed At', message: 'is before scheduled_at' },
    ]);
    const good = items.flatMap((item) => (item.ok ? [item.record] : []));
    for (const record of good) if (record.event) expectValidEvent(record.event);
    const byId = new Map(good.map((record) => [record.sourceId, record]));
    expect(byId.get('KS-10001')).toMatchObject({
      occurredAt: '2025-03-03T08:45:00Z',
      data: { participant_name: 'Олена Коваленко', campaignId: 'camp-acme-lc' },
      event: { userId: 'user_ingrid', value: 0.75 },
    });
    expect(byId.get('KS-10003')!.data.feedback).toBe('CV review.\nWe rewrote the summary together.');
    expect(byId.get('KS-10003')!.data.campaignId).toBe('camp-mfu-2025');
    // No Kintell id, an upper-case email: matched by the normalised email.
    expect(byId.get('KS-10013')!.data.volunteer).toMatchObject({ userId: 'user_ingrid', matchedBy: 'email' });
    expect(byId.get('KS-10007')).toMatchObject({ data: { unmatched: true, campaignId: null } });
    expect(byId.get('KS-10007')!.event).toBeUndefined();
    expect(good.filter((record) => record.event).length).toBe(8);
  });
});
