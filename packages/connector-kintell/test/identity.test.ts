import { PermanentError } from '@impact-in/core';
import { describe, expect, it } from 'vitest';
import { importKintellCsv, normaliseEmail } from '../src/index.js';
import { chunked, collect, fakeDirectory, importText, records, sessionRow, sessionsCsv } from './helpers.js';

describe('normaliseEmail', () => {
  it('trims, lower-cases and composes (NFC), and changes nothing else', () => {
    expect(normaliseEmail('  Ana.Lopez@ACME.Example ')).toBe('ana.lopez@acme.example');
    // "é" as e + combining acute (NFD) becomes the single code point (NFC).
    expect(normaliseEmail('Jose\u0301@Example.org')).toBe('jos\u00e9@example.org');
    expect(normaliseEmail('ÅSE@ØRSTA.NO')).toBe('åse@ørsta.no');
    expect(normaliseEmail('ana+kintell@gmail.com')).toBe('ana+kintell@gmail.com');
    expect(normaliseEmail('a.n.a@gmail.com')).toBe('a.n.a@gmail.com');
  });
});

describe('identity resolution', () => {
  it('matches by Kintell id first, then by normalised email', async () => {
    const directory = fakeDirectory({
      byExternalId: { 'kv-1': 'user_volunteer_by_id' },
      byEmail: { 'learner1@example.org': 'user_learner_by_email', 'volunteer1@acme.example': 'not_used' },
    });
    const csv = sessionsCsv(
      sessionRow({ participant_email: ' Learner1@Example.ORG ', participant_id: 'kp-unknown' }),
    );
    const [record] = records(await importText(csv, { identity: directory }));
    expect(record!.data.volunteer).toEqual({ userId: 'user_volunteer_by_id', matchedBy: 'external_id' });
    expect(record!.data.participant).toMatchObject({ userId: 'user_learner_by_email', matchedBy: 'email' });
    expect(record!.data.unmatched).toBe(false);
    expect(record!.event?.userId).toBe('user_volunteer_by_id');
    expect(record!.event?.metadata?.participantUserId).toBe('user_learner_by_email');
    // Emails are asked for only for people their id did not match, normalised.
    expect(directory.calls).toEqual([
      { method: 'byExternalIds', provider: 'kintell', keys: ['kp-unknown', 'kv-1'] },
      { method: 'byEmails', keys: ['learner1@example.org'] },
    ]);
  });

  it('keeps unmatched people with userId null and marks the record (fallback unmatched, the default)', async () => {
    const items = await importText(sessionsCsv(sessionRow()), { identity: fakeDirectory() });
    const [record] = records(items);
    expect(record!.data.volunteer).toMatchObject({ userId: null, matchedBy: 'unmatched' });
    expect(record!.data.participant).toMatchObject({ userId: null, matchedBy: 'unmatched' });
    expect(record!.data.unmatched).toBe(true);
    // No user to credit: no event, but the record is kept.
    expect(record!.event).toBeUndefined();
  });

  it('resolves everyone by the fallback when there is no directory', async () => {
    const [record] = records(await importText(sessionsCsv(sessionRow())));
    expect(record!.data).toMatchObject({ unmatched: true, volunteer: { matchedBy: 'unmatched' } });
  });

  it('uses the normalised email as the user id with fallback email', async () => {
    const csv = sessionsCsv(sessionRow({ volunteer_email: 'Bjørn@ACME.example' }));
    const [record] = records(await importText(csv, { identity: fakeDirectory(), identityFallback: 'email' }));
    expect(record!.data.volunteer).toMatchObject({
      userId: 'bjørn@acme.example',
      matchedBy: 'fallback_email',
    });
    expect(record!.data.unmatched).toBe(false);
    expect(record!.event?.userId).toBe('bjørn@acme.example');
  });

  it('keeps a person with only an id unmatched with fallback email', async () => {
    const csv = sessionsCsv(sessionRow({ participant_email: '' }));
    const [record] = records(await importText(csv, { identityFallback: 'email' }));
    expect(record!.data.participant).toEqual({ userId: null, matchedBy: 'unmatched' });
    expect(record!.data.participant_id).toBe('kp-1');
    expect(record!.data.unmatched).toBe(true);
  });

  it('reports the row, naming the column, with fallback reject', async () => {
    const directory = fakeDirectory({
      byEmail: {
        'learner1@example.org': 'u_l1',
        'volunteer1@acme.example': 'u_v1',
        'learner3@example.org': 'u_l3',
        'volunteer3@acme.example': 'u_v3',
      },
    });
    const csv = sessionsCsv(sessionRow({}, 1), sessionRow({}, 2), sessionRow({}, 3));
    const items = await importText(csv, { identity: directory, identityFallback: 'reject' });
    expect(items).toEqual([
      expect.objectContaining({ ok: true, line: 2 }),
      {
        ok: false,
        line: 3,
        column: 'participant_email',
        message:
          'participant matches no platform user (by kintell id or email) and identityFallback is "reject"',
      },
      expect.objectContaining({ ok: true, line: 4 }),
    ]);
  });

  it('names the id column when a rejected person has no email', async () => {
    const csv =
      'session_id,program,scheduled_at,status,participant_id,volunteer_id\ns-1,MFU,2025-03-04 10:00,scheduled,kp-1,kv-1\n';
    expect(await importText(csv, { identityFallback: 'reject' })).toEqual([
      expect.objectContaining({ ok: false, line: 2, column: 'participant_id' }),
    ]);
  });

  it('makes one byExternalIds and one byEmails call per batch', async () => {
    const directory = fakeDirectory({ byExternalId: { 'kv-1': 'u_1' } });
    const rows = Array.from({ length: 25 }, (_, index) => sessionRow({}, index + 1));
    const items = await importText(sessionsCsv(...rows), {
      identity: directory,
      batchSize: 10,
      chunkSize: 5,
    });
    expect(items).toHaveLength(25);
    expect(directory.calls.map((call) => [call.method, call.keys.length])).toEqual([
      ['byExternalIds', 20],
      ['byEmails', 19],
      ['byExternalIds', 20],
      ['byEmails', 20],
      ['byExternalIds', 10],
      ['byEmails', 10],
    ]);
  });

  it('asks each distinct id and email once per batch', async () => {
    const directory = fakeDirectory();
    const rows = Array.from({ length: 6 }, (_, index) =>
      sessionRow({ volunteer_id: 'kv-same', volunteer_email: 'Same@acme.example' }, index + 1),
    );
    await importText(sessionsCsv(...rows), { identity: directory });
    expect(directory.calls[0]!.keys.filter((key) => key === 'kv-same')).toHaveLength(1);
    expect(directory.calls[1]!.keys.filter((key) => key === 'same@acme.example')).toHaveLength(1);
  });

  it('skips the directory for a batch with nobody to look up', async () => {
    const directory = fakeDirectory();
    await importText(sessionsCsv(sessionRow({ rating: 'bad' })), { identity: directory });
    expect(directory.calls).toEqual([]);
  });

  it('stops the import when the directory answers with an unusable user id', async () => {
    const directory = fakeDirectory({ byExternalId: { 'kv-1': 'x'.repeat(201) } });
    await expect(
      collect(importKintellCsv(chunked(sessionsCsv(sessionRow())), { identity: directory })),
    ).rejects.toThrow(PermanentError);
  });
});
