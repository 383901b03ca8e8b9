import { z } from '@impact-in/core';
import { describe, expect, it } from 'vitest';
import { cell, csvRow, defineCsvMapping, Invalid, importCsv, text } from '../src/index.js';
import { chunked, collect, fakeDirectory, importText, records } from './helpers.js';

const COURSES = [
  'Learner Email,Employee ID,Learner Name,Course Code,Course Title,Platform,Completion Date,Credit Hours,Score',
  'ana@acme.example,E-1,Ana,ECN-101,Inclusive Leadership,eCornell,2025-03-04,12.5,92',
  'bo@acme.example,,Bo,ITS-7,Safety Basics,itslearning,2025-03-05 14:00,,',
  'cy@acme.example,,Cy,ITS-7,Safety Basics,itslearning,someday,,',
  ',,,ITS-7,Safety Basics,itslearning,2025-03-05,,',
].join('\n');

describe('the courses mapping (upskilling completions)', () => {
  it('turns each completion into a course record with a course_completed event', async () => {
    const directory = fakeDirectory({
      byExternalId: { 'E-1': 'user_ana' },
      byEmail: { 'bo@acme.example': 'user_bo' },
    });
    const items = await importText(COURSES, {
      mapping: 'courses',
      identity: directory,
      timezone: 'Europe/Oslo',
    });
    expect(items.map((item) => [item.line, item.ok])).toEqual([
      [2, true],
      [3, true],
      [4, false],
      [5, false],
    ]);
    const [ana, bo] = records(items.slice(0, 2));
    expect(ana).toMatchObject({
      provider: 'upskilling',
      kind: 'course',
      sourceId: 'ecornell:ECN-101:E-1',
      occurredAt: '2025-03-03T23:00:00Z',
      data: { course_id: 'ECN-101', platform: 'ecornell', hours: 12.5, score: 92, unmatched: false },
      event: {
        eventId: 'upskilling-course-ecornell:ECN-101:E-1',
        userId: 'user_ana',
        eventType: 'course_completed',
        value: 12.5,
        unit: 'hours',
      },
    });
    expect(bo).toMatchObject({
      sourceId: 'itslearning:ITS-7:bo@acme.example',
      event: { userId: 'user_bo', value: 0, timestamp: '2025-03-05T13:00:00Z' },
    });
    expect(items[2]).toMatchObject({ column: 'Completion Date' });
    expect(items[3]).toMatchObject({ column: 'Learner Email', message: 'required (or learner_id)' });
    expect(directory.calls[0]).toMatchObject({ method: 'byExternalIds', provider: 'upskilling' });
  });

  it('shows how small a new mapping is', async () => {
    // A complete mapping: columns with aliases, a row schema, the people, and the record.
    const badges = defineCsvMapping({
      name: 'badges',
      provider: 'kintell',
      kind: 'badge',
      columns: {
        badge_id: { required: true, aliases: ['Badge'] },
        email: { required: true, aliases: ['Mentor Email'] },
      },
      row: () =>
        csvRow({
          badge_id: text(50),
          email: cell((value) =>
            value.includes('@') ? value.toLowerCase() : new Invalid('is not an email'),
          ),
        }),
      people: [{ role: 'volunteer', email: 'email' }],
      toRecord: (row, { people }) => ({
        sourceId: row.badge_id,
        data: { email: row.email, volunteer: people.volunteer },
      }),
    });
    const items = await collect(
      importCsv(chunked('Badge,Mentor Email\nb-1,Ana@Acme.example\nb-2,nobody\n'), badges),
    );
    expect(items).toEqual([
      {
        ok: true,
        line: 2,
        record: expect.objectContaining({
          provider: 'kintell',
          kind: 'badge',
          sourceId: 'b-1',
          data: expect.objectContaining({ email: 'ana@acme.example' }),
        }),
      },
      { ok: false, line: 3, column: 'Mentor Email', message: 'is not an email' },
    ]);
  });

  it('takes any zod schema as a row schema (zod alone then validates every row)', async () => {
    const plain = defineCsvMapping({
      name: 'plain',
      provider: 'kintell',
      kind: 'note',
      columns: { note_id: { required: true }, words: {} },
      row: () => z.object({ note_id: z.string().min(2), words: z.coerce.number().int().optional() }),
      toRecord: (row) => ({ sourceId: row.note_id, data: { words: row.words ?? null } }),
    });
    const items = await collect(importCsv(chunked('note_id,words\nn-1,12\nx,3\nn-3,\n'), plain));
    expect(items.map((item) => (item.ok ? item.record.data : item.column))).toEqual([
      { words: 12 },
      'note_id',
      { words: null },
    ]);
  });

  it('refuses a mapping whose columns share a header', () => {
    expect(() =>
      defineCsvMapping({
        name: 'clash',
        provider: 'kintell',
        kind: 'x',
        columns: { start: { aliases: ['Date'] }, end: { aliases: ['date'] } },
        row: () => z.object({}),
        toRecord: () => ({ sourceId: 'x', data: {} }),
      }),
    ).toThrow('header "date" would mean both start and end');
  });
});
