import { InboundRecordSchema, InboundValidationError, PermanentError } from '@impact-in/core';
import { createConnectorHarness } from '@impact-in/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { goodera, parseDonations, parseVolunteers } from '../src/index.js';
import { gooderaConfig } from './helpers.js';

const harness = createConnectorHarness({
  connector: goodera,
  config: gooderaConfig('https://api.goodera.test'),
});
afterAll(() => harness.close());
const ingest = (kind: string, body: unknown) => goodera.ingest!(kind, body, harness.context());

const volunteer = (overrides: Record<string, unknown> = {}) => ({
  participation_id: 'gp_1001',
  external_user_id: 'user_456',
  project_id: 'proj_77',
  project_name: 'Buddy mentoring',
  hours: 5,
  activity_date: '2025-11-14',
  status: 'approved',
  ...overrides,
});

const donation = (overrides: Record<string, unknown> = {}) => ({
  donation_id: 'gdn_1',
  external_user_id: 'user_456',
  amount: 25.5,
  currency: 'USD',
  donated_at: '2025-11-14T09:30:00Z',
  nonprofit_id: 'np_3',
  nonprofit_name: 'Food Bank',
  matched_amount: 25.5,
  status: 'completed',
  ...overrides,
});

const issuesOf = async (promise: Promise<unknown>) => {
  const thrown = await promise.catch((error: unknown) => error);
  expect(thrown).toBeInstanceOf(InboundValidationError);
  return (thrown as InboundValidationError).issues;
};

describe('ingest volunteers', () => {
  it('parses a batch into volunteer records; approved hours imply a volunteer_hours event', async () => {
    const records = await ingest('volunteers', {
      volunteers: [
        volunteer(),
        volunteer({ participation_id: 'gp_1002', status: 'attended', cause: 'education' }),
      ],
    });
    expect(records).toEqual([
      {
        provider: 'goodera',
        kind: 'volunteer',
        sourceId: 'gp_1001',
        companyId: 'company_789',
        occurredAt: '2025-11-14T00:00:00Z',
        data: {
          participationId: 'gp_1001',
          userId: 'user_456',
          projectId: 'proj_77',
          projectName: 'Buddy mentoring',
          hours: 5,
          activityDate: '2025-11-14',
          status: 'approved',
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
      },
      {
        provider: 'goodera',
        kind: 'volunteer',
        sourceId: 'gp_1002',
        companyId: 'company_789',
        occurredAt: '2025-11-14T00:00:00Z',
        data: {
          participationId: 'gp_1002',
          userId: 'user_456',
          projectId: 'proj_77',
          projectName: 'Buddy mentoring',
          cause: 'education',
          hours: 5,
          activityDate: '2025-11-14',
          status: 'attended',
        },
      },
    ]);
    for (const record of records) expect(InboundRecordSchema.safeParse(record).success).toBe(true);
  });

  it('reports every bad field by name, e.g. volunteers[1].hours', async () => {
    const issues = await issuesOf(
      ingest('volunteers', {
        volunteers: [
          volunteer({ email: 'not-an-email' }),
          volunteer({ hours: 'five' }),
          volunteer({ activity_date: '2025-13-40', status: 'done', participation_id: '' }),
        ],
      }),
    );
    expect(issues.map((issue) => issue.path)).toEqual([
      'volunteers[0].email',
      'volunteers[1].hours',
      'volunteers[2].participation_id',
      'volunteers[2].activity_date',
      'volunteers[2].status',
    ]);
    expect(issues[1]!.message).toMatch(/number/);
  });

  it('names a missing list, a negative and an absurd number of hours', async () => {
    expect((await issuesOf(ingest('volunteers', {}))).map((issue) => issue.path)).toEqual(['volunteers']);
    const issues = await issuesOf(
      ingest('volunteers', { volunteers: [volunteer({ hours: -1 }), volunteer({ hours: 1e6 })] }),
    );
    expect(issues.map((issue) => issue.path)).toEqual(['volunteers[0].hours', 'volunteers[1].hours']);
  });

  it('accepts the raw JSON text or bytes, and names a body that is not JSON', async () => {
    const text = JSON.stringify({ volunteers: [volunteer()] });
    expect(await ingest('volunteers', text)).toHaveLength(1);
    expect(await ingest('volunteers', new TextEncoder().encode(text))).toHaveLength(1);
    expect(await issuesOf(ingest('volunteers', '{"volunteers": ['))).toEqual([
      { path: '(body)', message: 'is not valid JSON' },
    ]);
  });

  it('parses an empty batch to no records', () => {
    expect(parseVolunteers({ volunteers: [] })).toEqual([]);
  });
});

describe('ingest donations', () => {
  it('parses a batch into donation records; completed donations imply a donation event', async () => {
    const [completed, refunded] = await ingest('donations', {
      donations: [donation(), donation({ donation_id: 'gdn_2', status: 'refunded' })],
    });
    expect(completed).toEqual({
      provider: 'goodera',
      kind: 'donation',
      sourceId: 'gdn_1',
      companyId: 'company_789',
      occurredAt: '2025-11-14T09:30:00Z',
      data: {
        donationId: 'gdn_1',
        userId: 'user_456',
        amount: 25.5,
        currency: 'USD',
        donatedAt: '2025-11-14T09:30:00Z',
        nonprofitId: 'np_3',
        nonprofitName: 'Food Bank',
        matchedAmount: 25.5,
        status: 'completed',
      },
      event: {
        eventId: 'goodera-donation-gdn_1',
        userId: 'user_456',
        eventType: 'donation',
        timestamp: '2025-11-14T09:30:00Z',
        value: 25.5,
        unit: 'USD',
        metadata: { source: 'goodera', nonprofit: 'Food Bank', matchedAmount: 25.5 },
      },
    });
    expect(refunded).toMatchObject({ sourceId: 'gdn_2', data: { status: 'refunded' } });
    expect(refunded!.event).toBeUndefined();
    expect(InboundRecordSchema.safeParse(completed).success).toBe(true);
  });

  it('reports every bad field by name, e.g. donations[0].currency', async () => {
    const issues = await issuesOf(
      ingest('donations', {
        donations: [
          donation({ currency: 'usd' }),
          donation({ amount: 0, donated_at: '2025-11-14' }),
          donation({ external_user_id: undefined, matched_amount: -5 }),
        ],
      }),
    );
    expect(issues.map((issue) => issue.path)).toEqual([
      'donations[0].currency',
      'donations[1].amount',
      'donations[1].donated_at',
      'donations[2].external_user_id',
      'donations[2].matched_amount',
    ]);
    expect(issues[0]!.message).toBe('must be an ISO 4217 code such as "USD"');
  });

  it('summarises the named issues in the error message', async () => {
    const thrown = await ingest('donations', { donations: [donation({ currency: 'usd' })] }).catch(
      (error) => error,
    );
    expect((thrown as Error).message).toBe(
      '[impact-in] [goodera] invalid payload: donations[0].currency: must be an ISO 4217 code such as "USD"',
    );
    expect(parseDonations({ donations: [donation()] }, 'tenant_x')[0]!.companyId).toBe('tenant_x');
  });
});

describe('ingest kinds', () => {
  it('refuses a kind it does not know, naming the kinds it does', async () => {
    const thrown = await ingest('directory', {}).catch((error: unknown) => error);
    expect(thrown).toBeInstanceOf(PermanentError);
    expect((thrown as Error).message).toBe(
      '[impact-in] [goodera] unknown ingest kind "directory" (expected volunteers or donations)',
    );
  });
});
