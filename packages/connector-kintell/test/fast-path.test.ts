import { z } from '@impact-in/core';
import { describe, expect, it } from 'vitest';
import { coursesMapping, sessionRowSchema } from '../src/index.js';
import { compileRow } from '../src/values.js';

const POOL: Record<string, Array<string | undefined>> = {
  session_id: ['s-1', 'x'.repeat(150), 'x'.repeat(151), undefined],
  program: ['language_connect', 'MFU', 'Language Connect', 'buddy', undefined],
  scheduled_at: [
    '2025-03-04T10:00:00Z',
    '2025-03-04 10:00',
    '2025-03-04',
    '2025-02-30 10:00',
    '04/03/2025',
    undefined,
  ],
  completed_at: ['2025-03-04T11:00:00Z', '2025-03-04T09:00:00Z', '2025-03-04 12:00:00', 'later', undefined],
  duration_minutes: ['60', '52,5', '1440', '1441', '-1', 'x', undefined],
  status: ['completed', 'Scheduled', 'no show', 'cancelled', 'paused', undefined],
  participant_email: ['ana@example.org', 'jörg@müller.example', 'ana@', 'a b@c.de', undefined],
  participant_name: ['Ana', 'x'.repeat(301), undefined],
  participant_id: ['kp-1', undefined],
  volunteer_email: ['vol@acme.example', 'VOL@ACME.EXAMPLE', 'vol@acme', undefined],
  volunteer_name: ['Bjørn', undefined],
  volunteer_id: ['kv-1', undefined],
  language: ['uk', undefined],
  rating: ['1', '5', '0', '6', '4.5', undefined],
  feedback: ['ok', undefined],
  company_ref: ['ACME', undefined],
  learner_email: ['ana@acme.example', 'nope', undefined],
  learner_id: ['E-1', undefined],
  learner_name: ['Ana', undefined],
  course_id: ['C-1', undefined],
  course_name: ['Course', undefined],
  platform: ['eCornell', 'x'.repeat(51), undefined],
  hours: ['2', '1000', '1001', undefined],
  score: ['92', '100.5', undefined],
};

function check(schema: z.ZodType, rounds: number, seed: number) {
  const compiled = compileRow(schema);
  expect(compiled).toBeDefined();
  let state = seed;
  const next = () => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    return state / 2_147_483_648;
  };
  let accepted = 0;
  for (let round = 0; round < rounds; round++) {
    const raw: Record<string, string | undefined> = {};
    for (const field of compiled!.fields) {
      const pool = POOL[field]!;
      // Mostly valid values, so that every rule is reached.
      raw[field] = next() < 0.8 ? pool[0] : pool[Math.floor(next() * pool.length)];
    }
    const fast = compiled!.check(compiled!.fields.map((field) => raw[field]));
    const slow = schema.safeParse(raw);
    expect(fast === undefined, JSON.stringify(raw)).toBe(!slow.success);
    if (fast) {
      accepted++;
      expect(fast).toEqual(slow.data);
    }
  }
  expect(accepted).toBeGreaterThan(rounds / 20);
}

describe('the fast path of row schemas', () => {
  it('accepts exactly the session rows zod accepts, with the same values', () => {
    check(sessionRowSchema({ timezone: 'Europe/Oslo' }), 3_000, 7);
  });

  it('accepts exactly the course rows zod accepts, with the same values', () => {
    check(coursesMapping.row({ timezone: 'UTC' }), 1_000, 11);
  });

  it('is not used for schemas with refinements it does not know', () => {
    expect(compileRow(z.object({ a: z.string() }))).toBeUndefined();
    expect(compileRow(z.string())).toBeUndefined();
  });
});
