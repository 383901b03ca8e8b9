import { describe, expect, it } from 'vitest';
import { type CampaignRule, compileCampaignRules, matchCampaign } from '../src/index.js';
import { expectValidEvent, fakeDirectory, importText, records, sessionRow, sessionsCsv } from './helpers.js';

const campaignOf = async (rules: CampaignRule[], overrides: Record<string, string>, timezone = 'UTC') => {
  const [record] = records(
    await importText(sessionsCsv(sessionRow(overrides)), { campaigns: rules, timezone }),
  );
  return [record!.data.campaignId, record!.data.campaignRule];
};

describe('campaign association', () => {
  it('matches on program, in any accepted spelling', async () => {
    const rules = [
      { campaignId: 'camp-mfu', program: 'MFU' },
      { campaignId: 'camp-lc', program: 'Language Connect' },
    ];
    expect(await campaignOf(rules, { program: 'mentorship' })).toEqual(['camp-mfu', 0]);
    expect(await campaignOf(rules, { program: 'LC' })).toEqual(['camp-lc', 1]);
  });

  it('matches on company reference, case-insensitively', async () => {
    const rules = [{ campaignId: 'camp-acme', companyRef: 'acme corp' }];
    expect(await campaignOf(rules, { company_ref: 'ACME Corp' })).toEqual(['camp-acme', 0]);
    expect(await campaignOf(rules, { company_ref: 'Globex' })).toEqual([null, null]);
    expect(await campaignOf(rules, { company_ref: '' })).toEqual([null, null]);
  });

  it('matches a window on scheduled_at, both ends inclusive, a date alone covering its whole day', async () => {
    const rules = [{ campaignId: 'camp-march', from: '2025-03-01', to: '2025-03-31' }];
    expect(await campaignOf(rules, { scheduled_at: '2025-03-01T00:00:00Z' })).toEqual(['camp-march', 0]);
    expect(
      await campaignOf(rules, { scheduled_at: '2025-03-31T23:59:59Z', completed_at: '2025-04-01T00:30:00Z' }),
    ).toEqual(['camp-march', 0]);
    expect(await campaignOf(rules, { scheduled_at: '2025-02-28T23:59:59Z' })).toEqual([null, null]);
    expect(
      await campaignOf(rules, { scheduled_at: '2025-04-01T00:00:00Z', completed_at: '2025-04-01T00:45:00Z' }),
    ).toEqual([null, null]);
  });

  it('reads date-only window edges in the import time zone', async () => {
    const rules = [{ campaignId: 'camp-oslo-march', from: '2025-03-01', to: '2025-03-31' }];
    // 23:30 UTC on Feb 28 is already March 1 in Oslo.
    expect(await campaignOf(rules, { scheduled_at: '2025-02-28T23:30:00Z' }, 'Europe/Oslo')).toEqual([
      'camp-oslo-march',
      0,
    ]);
    expect(
      await campaignOf(
        rules,
        { scheduled_at: '2025-03-31T22:30:00Z', completed_at: '2025-03-31T23:00:00Z' },
        'Europe/Oslo',
      ),
    ).toEqual([null, null]);
  });

  it('takes the first rule that matches', async () => {
    const rules = [
      { campaignId: 'camp-acme-mfu', program: 'mentorship', companyRef: 'ACME' },
      { campaignId: 'camp-acme', companyRef: 'ACME' },
      { campaignId: 'camp-any' },
    ];
    expect(await campaignOf(rules, { program: 'MFU' })).toEqual(['camp-acme-mfu', 0]);
    expect(await campaignOf(rules, { program: 'LC' })).toEqual(['camp-acme', 1]);
    expect(await campaignOf(rules, { company_ref: 'Other' })).toEqual(['camp-any', 2]);
  });

  it('gives campaignId null when no rule matches, or there are none', async () => {
    expect(await campaignOf([], {})).toEqual([null, null]);
    expect(await campaignOf([{ campaignId: 'camp-mfu', program: 'mentorship' }], {})).toEqual([null, null]);
  });

  it('matchCampaign works on its own', () => {
    const rules = compileCampaignRules(
      [{ campaignId: 'c-1', program: 'MFU', to: '2025-03-31T12:00:00+02:00' }],
      'UTC',
    );
    expect(matchCampaign(rules, { program: 'mentorship', at: Date.UTC(2025, 2, 31, 10) })).toEqual({
      campaignId: 'c-1',
      rule: 0,
    });
    expect(matchCampaign(rules, { program: 'mentorship', at: Date.UTC(2025, 2, 31, 10, 0, 1) })).toBeNull();
    expect(() =>
      compileCampaignRules([{ campaignId: 'c', from: '2025-04-01', to: '2025-03-01' }], 'UTC'),
    ).toThrow('campaigns[0].to: from must not be after to');
    expect(() => compileCampaignRules([{ campaignId: 'c', program: 'buddy' }], 'UTC')).toThrow(
      'campaigns[0].program: must be language_connect or mentorship',
    );
  });
});

describe('records and impact events', () => {
  const directory = () =>
    fakeDirectory({
      byExternalId: { 'kv-1': 'user_v1', 'kp-1': 'user_p1', 'kv-2': 'user_v2', 'kv-3': 'user_v3' },
    });

  it('turns a completed session into a record with a session_completed event in hours', async () => {
    const csv = sessionsCsv(sessionRow({ duration_minutes: '50', language: 'uk', rating: '4' }));
    const [record] = records(
      await importText(csv, {
        identity: directory(),
        companyId: 'company_789',
        campaigns: [{ campaignId: 'camp-1', program: 'language_connect' }],
      }),
    );
    expect(record).toEqual({
      provider: 'kintell',
      kind: 'session',
      sourceId: 's-1',
      companyId: 'company_789',
      occurredAt: '2025-03-04T10:45:00Z',
      data: {
        session_id: 's-1',
        program: 'language_connect',
        status: 'completed',
        scheduled_at: '2025-03-04T10:00:00Z',
        completed_at: '2025-03-04T10:45:00Z',
        duration_minutes: 50,
        participant_email: 'learner1@example.org',
        participant_name: 'Learner 1',
        participant_id: 'kp-1',
        volunteer_email: 'volunteer1@acme.example',
        volunteer_name: 'Volunteer 1',
        volunteer_id: 'kv-1',
        language: 'uk',
        rating: 4,
        feedback: 'Great',
        company_ref: 'ACME',
        // How each person resolved; their email, name and id are the row's own columns above.
        participant: { userId: 'user_p1', matchedBy: 'external_id' },
        volunteer: { userId: 'user_v1', matchedBy: 'external_id' },
        campaignId: 'camp-1',
        campaignRule: 0,
        unmatched: false,
      },
      event: {
        eventId: 'kintell-session-s-1',
        userId: 'user_v1',
        eventType: 'session_completed',
        timestamp: '2025-03-04T10:45:00Z',
        value: 0.83,
        unit: 'hours',
        metadata: {
          source: 'kintell',
          sessionId: 's-1',
          program: 'language_connect',
          language: 'uk',
          rating: 4,
          campaignId: 'camp-1',
          participantUserId: 'user_p1',
        },
      },
    });
    expectValidEvent(record!.event!);
  });

  it('rounds hours to 2 decimals', async () => {
    const minutes = ['45', '60', '90', '1', '20', '1440', '52.5'];
    const rows = minutes.map((duration, index) =>
      sessionRow({ duration_minutes: duration, volunteer_id: 'kv-1' }, index + 1),
    );
    const values = records(await importText(sessionsCsv(...rows), { identity: directory() })).map(
      (record) => record.event?.value,
    );
    expect(values).toEqual([0.75, 1, 1.5, 0.02, 0.33, 24, 0.88]);
  });

  it('gives the same event id on every import of a session, so it is delivered once', async () => {
    const csv = sessionsCsv(sessionRow({}, 1), sessionRow({}, 2));
    const first = records(await importText(csv, { identity: directory() }));
    const again = records(await importText(csv, { identity: directory(), chunkSize: 3 }));
    expect(first.map((record) => record.event?.eventId)).toEqual([
      'kintell-session-s-1',
      'kintell-session-s-2',
    ]);
    expect(again.map((record) => record.event)).toEqual(first.map((record) => record.event));
  });

  it('carries no event for sessions that are not completed, or whose volunteer did not resolve', async () => {
    const csv = sessionsCsv(
      sessionRow({ status: 'scheduled', completed_at: '', duration_minutes: '' }, 1),
      sessionRow({ status: 'cancelled' }, 2),
      sessionRow({}, 4),
    );
    const found = records(await importText(csv, { identity: directory() }));
    expect(
      found.map((record) => [record.sourceId, record.event?.eventId ?? null, record.occurredAt]),
    ).toEqual([
      ['s-1', null, '2025-03-04T10:00:00Z'],
      ['s-2', null, '2025-03-04T10:45:00Z'],
      ['s-4', null, '2025-03-04T10:45:00Z'],
    ]);
    expect(found[2]!.data.unmatched).toBe(true);
  });
});
