import { PermanentError } from '@impact-in/core';
import { describe, expect, it } from 'vitest';
import { importKintellCsv, parseDateTime } from '../src/index.js';
import { chunked, collect, errors, importText, records, sessionRow, sessionsCsv } from './helpers.js';

const one = async (overrides: Record<string, string>, options = {}) => {
  const [item] = await importText(sessionsCsv(sessionRow(overrides)), options);
  return item!;
};

describe('row validation', () => {
  it.each([
    [{ session_id: '' }, 'session_id', 'required'],
    [{ program: 'Buddy' }, 'program', 'must be one of language_connect, mentorship'],
    [{ scheduled_at: '' }, 'scheduled_at', 'required'],
    [
      { scheduled_at: '04/03/2025' },
      'scheduled_at',
      'must be a date-time: ISO 8601 (2025-03-04T09:30:00Z) or YYYY-MM-DD HH:MM[:SS]',
    ],
    [{ scheduled_at: '2025-02-30 10:00' }, 'scheduled_at', 'is not a valid date-time: 2025-02-30 10:00'],
    [{ status: 'done-ish' }, 'status', 'must be one of scheduled, completed, cancelled, no_show'],
    [{ completed_at: '' }, 'completed_at', 'required when status is completed'],
    [{ duration_minutes: '' }, 'duration_minutes', 'required when status is completed'],
    [{ completed_at: '2025-03-04T09:59:59Z' }, 'completed_at', 'is before scheduled_at'],
    [{ duration_minutes: '1441' }, 'duration_minutes', 'must be a number from 0 to 1440'],
    [{ duration_minutes: '-5' }, 'duration_minutes', 'must be a number from 0 to 1440'],
    [{ duration_minutes: 'an hour' }, 'duration_minutes', 'must be a number from 0 to 1440'],
    [{ participant_email: 'ana@', participant_id: '' }, 'participant_email', 'is not an email address'],
    [{ volunteer_email: 'vol at acme.example' }, 'volunteer_email', 'is not an email address'],
    [{ participant_email: '', participant_id: '' }, 'participant_email', 'required (or participant_id)'],
    [{ volunteer_email: '', volunteer_id: '' }, 'volunteer_email', 'required (or volunteer_id)'],
    [{ rating: '6' }, 'rating', 'must be a whole number from 1 to 5'],
    [{ rating: '0' }, 'rating', 'must be a whole number from 1 to 5'],
    [{ rating: '4.5' }, 'rating', 'must be a whole number from 1 to 5'],
    [{ session_id: 'x'.repeat(151) }, 'session_id', 'must be at most 150 characters'],
  ])('reports %o on column %s: %s', async (overrides, column, message) => {
    expect(await one(overrides)).toEqual({ ok: false, line: 2, column, message });
  });

  it('accepts the cross-field rules when they hold', async () => {
    const [cancelled, noShow, zero, decimals] = records(
      await importText(
        sessionsCsv(
          sessionRow({ status: 'Cancelled', completed_at: '', duration_minutes: '' }, 1),
          sessionRow({ status: 'No-Show', completed_at: '', duration_minutes: '' }, 2),
          sessionRow({ completed_at: '2025-03-04T10:00:00Z', duration_minutes: '0' }, 3),
          sessionRow({ duration_minutes: '1440', rating: '1' }, 4),
        ),
      ),
    );
    expect(cancelled!.data.status).toBe('cancelled');
    expect(noShow!.data.status).toBe('no_show');
    expect(zero!.data.duration_minutes).toBe(0);
    expect(decimals!.data).toMatchObject({ duration_minutes: 1440, rating: 1 });
  });

  it('reads decimal minutes with a point or a comma', async () => {
    const csv = sessionsCsv(
      sessionRow({ duration_minutes: '52.5' }, 1),
      sessionRow({ duration_minutes: '"52,5"' }, 2),
    );
    expect(records(await importText(csv)).map((record) => record.data.duration_minutes)).toEqual([
      52.5, 52.5,
    ]);
  });

  it('lists every problem of a row in one item, the first one naming the column', async () => {
    expect(await one({ rating: '9', volunteer_email: 'nope' })).toEqual({
      ok: false,
      line: 2,
      column: 'volunteer_email',
      message: 'is not an email address; also rating: must be a whole number from 1 to 5',
    });
  });

  it('normalises program and status spellings', async () => {
    const spellings = [
      ['Language Connect', 'language_connect'],
      ['language-connect', 'language_connect'],
      ['LC', 'language_connect'],
      ['MFU', 'mentorship'],
      ['Mentorship', 'mentorship'],
      ['mentoring', 'mentorship'],
      ['Mentors for Ukraine', 'mentorship'],
    ];
    const rows = spellings.map(([program], index) => sessionRow({ program: program! }, index + 1));
    const found = records(await importText(sessionsCsv(...rows))).map((record) => record.data.program);
    expect(found).toEqual(spellings.map(([, expected]) => expected));
    const statuses = ['COMPLETED', 'complete', 'Scheduled', 'booked', 'canceled', 'no show', 'noshow'];
    const statusRows = statuses.map((status, index) =>
      sessionRow(
        status.startsWith('c') || status.startsWith('C')
          ? { status }
          : { status, completed_at: '', duration_minutes: '' },
        index + 1,
      ),
    );
    expect(records(await importText(sessionsCsv(...statusRows))).map((record) => record.data.status)).toEqual(
      ['completed', 'completed', 'scheduled', 'scheduled', 'cancelled', 'no_show', 'no_show'],
    );
  });

  it('keeps good rows and reports bad ones, in file order', async () => {
    const items = await importText(
      sessionsCsv(
        sessionRow({}, 1),
        sessionRow({ rating: 'x' }, 2),
        sessionRow({}, 3),
        sessionRow({ program: '?' }, 4),
      ),
    );
    expect(items.map((item) => [item.line, item.ok])).toEqual([
      [2, true],
      [3, false],
      [4, true],
      [5, false],
    ]);
  });

  it('stops at the first bad row in strict mode, yielding the rows before it and that error', async () => {
    const csv = sessionsCsv(
      sessionRow({}, 1),
      sessionRow({}, 2),
      sessionRow({ rating: 'x' }, 3),
      sessionRow({}, 4),
    );
    for (const batchSize of [1, 2, 1_000]) {
      const items = await importText(csv, { strict: true, batchSize });
      expect(items.map((item) => [item.line, item.ok])).toEqual([
        [2, true],
        [3, true],
        [4, false],
      ]);
    }
  });

  it('closes the source when a strict import stops early', async () => {
    let closed = false;
    const rows = Array.from({ length: 2_000 }, (_, index) =>
      sessionRow(index === 5 ? { rating: 'x' } : {}, index + 1),
    );
    async function* source() {
      try {
        yield* chunked(sessionsCsv(...rows), 1_024);
      } finally {
        closed = true;
      }
    }
    const items = await collect(importKintellCsv(source(), { strict: true }));
    expect(items.at(-1)).toMatchObject({ ok: false, line: 7 });
    expect(closed).toBe(true);
  });

  it('refuses invalid options before reading anything', async () => {
    const run = (options: Record<string, unknown>) =>
      collect(importKintellCsv(chunked(sessionsCsv()), options));
    await expect(run({ timezone: 'Mars/Olympus' })).rejects.toThrow(
      '[impact-in] [kintell] invalid import options: timezone: unknown time zone "Mars/Olympus"',
    );
    await expect(run({ batchSize: 0 })).rejects.toThrow(PermanentError);
    await expect(run({ mapping: 'invoices' })).rejects.toThrow(
      'mapping: unknown mapping "invoices" (expected sessions or courses)',
    );
    await expect(run({ campaigns: [{ campaignId: 'c', from: 'soon' }] })).rejects.toThrow(
      'campaigns[0].from: must be an ISO date (2025-03-31) or date-time',
    );
  });

  it('stops between batches when the signal is aborted', async () => {
    const controller = new AbortController();
    const rows = Array.from({ length: 50 }, (_, index) => sessionRow({}, index + 1));
    const seen: number[] = [];
    await expect(async () => {
      for await (const item of importKintellCsv(chunked(sessionsCsv(...rows)), {
        batchSize: 10,
        signal: controller.signal,
      })) {
        seen.push(item.line);
        if (seen.length === 10) controller.abort(new Error('user cancelled'));
      }
    }).rejects.toThrow('user cancelled');
    expect(seen).toHaveLength(10);
  });
});

describe('header aliases', () => {
  it('matches headers case-insensitively, ignoring spaces, hyphens, underscores and parentheses', async () => {
    const header = [
      ' Session ID ',
      'PROGRAM',
      'Start Time',
      'End-Time',
      'Duration (minutes)',
      'session_status',
      'Mentee E-mail',
      'Learner Name',
      'Mentor Email',
      'Mentor',
      'Learner ID',
      'mentorId',
      'Target Language',
      'Stars',
      'Comments',
      'Campaign',
    ].join(',');
    const csv = `${header}\n${sessionRow()}\n`;
    let columns: Array<{ header: string; field: string }> = [];
    const [record] = records(await importText(csv, { onHeader: (info) => (columns = info.columns) }));
    expect(columns.map((column) => column.field)).toEqual([
      'session_id',
      'program',
      'scheduled_at',
      'completed_at',
      'duration_minutes',
      'status',
      'participant_email',
      'participant_name',
      'volunteer_email',
      'volunteer_name',
      'participant_id',
      'volunteer_id',
      'language',
      'rating',
      'feedback',
      'company_ref',
    ]);
    expect(record!.data).toMatchObject({ session_id: 's-1', company_ref: 'ACME', volunteer_id: 'kv-1' });
  });

  it('names the column as written in the file', async () => {
    const csv =
      'Session ID,Program,Start Time,Status,Mentee Email,Mentor Email,Stars\ns-1,LC,2025-03-04 10:00,Scheduled,ana@example.org,vol@acme.example,11\n';
    expect(await importText(csv)).toEqual([
      { ok: false, line: 2, column: 'Stars', message: 'must be a whole number from 1 to 5' },
    ]);
  });

  it('refuses two columns that mean the same field', async () => {
    const csv = 'Session ID,Program,Start Time,Status,Mentee Email,Mentor Email,Volunteer Email\n';
    expect(await importText(csv)).toEqual([
      {
        ok: false,
        line: 1,
        message: 'columns "Mentor Email" and "Volunteer Email" both mean volunteer_email: keep one of them',
      },
    ]);
  });

  it('accepts an id column in place of an email column', async () => {
    const csv =
      'session_id,program,scheduled_at,status,participant_id,volunteer_id\ns-1,MFU,2025-03-04 10:00,scheduled,kp-1,kv-1\n';
    const [record] = records(await importText(csv));
    expect(record!.data).toMatchObject({ participant_email: null, participant_id: 'kp-1' });
  });
});

describe('date-times and time zones', () => {
  const scheduled = async (value: string, timezone?: string) => {
    const [item] = await importText(
      sessionsCsv(
        sessionRow({ scheduled_at: value, status: 'scheduled', completed_at: '', duration_minutes: '' }),
      ),
      timezone ? { timezone } : {},
    );
    return item!.ok ? item!.record.data.scheduled_at : item;
  };

  it('reads ISO 8601 with Z or an offset, whatever the time zone', async () => {
    expect(await scheduled('2025-03-04T10:00:00Z', 'Europe/Oslo')).toBe('2025-03-04T10:00:00Z');
    expect(await scheduled('2025-03-04T10:00:00+01:00', 'America/New_York')).toBe('2025-03-04T09:00:00Z');
    expect(await scheduled('2025-03-04T10:00:00.250-0530')).toBe('2025-03-04T15:30:00.250Z');
  });

  it('reads YYYY-MM-DD HH:MM[:SS] in UTC by default', async () => {
    expect(await scheduled('2025-03-04 10:00')).toBe('2025-03-04T10:00:00Z');
    expect(await scheduled('2025-03-04 10:00:30')).toBe('2025-03-04T10:00:30Z');
    expect(await scheduled('2025-03-04')).toBe('2025-03-04T00:00:00Z');
  });

  it('reads local times in the configured zone, summer and winter', async () => {
    expect(await scheduled('2025-01-15 10:00', 'Europe/Oslo')).toBe('2025-01-15T09:00:00Z');
    expect(await scheduled('2025-07-15 10:00', 'Europe/Oslo')).toBe('2025-07-15T08:00:00Z');
    expect(await scheduled('2025-07-15T10:00:00', 'America/New_York')).toBe('2025-07-15T14:00:00Z');
    expect(await scheduled('2025-07-15 10:00', 'Asia/Kolkata')).toBe('2025-07-15T04:30:00Z');
  });

  it('moves a time skipped by DST forward, and takes the earlier of a repeated time', () => {
    // Oslo skips 02:00-03:00 on 2025-03-30 and repeats 02:00-03:00 on 2025-10-26.
    expect(parseDateTime('2025-03-30 02:30', 'Europe/Oslo')).toBe(Date.UTC(2025, 2, 30, 1, 30));
    expect(parseDateTime('2025-10-26 02:30', 'Europe/Oslo')).toBe(Date.UTC(2025, 9, 26, 0, 30));
    expect(parseDateTime('2025-10-26 03:30', 'Europe/Oslo')).toBe(Date.UTC(2025, 9, 26, 2, 30));
    expect(parseDateTime('2025-11-02 01:30', 'America/New_York')).toBe(Date.UTC(2025, 10, 2, 5, 30));
  });

  it('refuses impossible dates and offsets', () => {
    expect(parseDateTime('2025-13-01 10:00', 'UTC')).toMatch(/not a valid date-time/);
    expect(parseDateTime('2024-02-29 10:00', 'UTC')).toBe(Date.UTC(2024, 1, 29, 10));
    expect(parseDateTime('2025-02-29 10:00', 'UTC')).toMatch(/not a valid date-time/);
    expect(parseDateTime('2025-03-04 24:00', 'UTC')).toMatch(/not a valid date-time/);
    expect(parseDateTime('2025-03-04T10:00:00+19:00', 'UTC')).toMatch(/offset out of range/);
    expect(parseDateTime('0000-01-01', 'UTC')).toMatch(/not a valid date-time/);
    expect(parseDateTime('9999-12-31T23:00:00-05:00', 'UTC')).toMatch(/outside the years 0001-9999/);
    expect(parseDateTime('0050-06-01T00:00:00Z', 'UTC')).toBe(new Date('0050-06-01T00:00:00Z').getTime());
  });

  it('compares completed_at with scheduled_at as instants, across zones', async () => {
    const items = await importText(
      sessionsCsv(
        sessionRow({
          scheduled_at: '2025-03-04 10:00',
          completed_at: '2025-03-04T09:30:00Z',
          duration_minutes: '30',
        }),
      ),
      { timezone: 'Europe/Oslo' },
    );
    expect(records(items)[0]!.data).toMatchObject({
      scheduled_at: '2025-03-04T09:00:00Z',
      completed_at: '2025-03-04T09:30:00Z',
    });
    expect(
      errors(
        await importText(
          sessionsCsv(sessionRow({ scheduled_at: '2025-03-04 10:00', completed_at: '2025-03-04T09:30:00Z' })),
        ),
      ),
    ).toHaveLength(1);
  });
});
