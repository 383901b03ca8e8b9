import { describe, expect, it } from 'vitest';
import { subjectMatches } from '../src/index.js';

describe('subjectMatches', () => {
  it.each([
    ['a.*.c', 'a.b.c', true],
    ['a.>', 'a.b.c', true],
    ['a.>', 'a.b', true],
    ['a.>', 'a', false],
    ['a.*', 'a.b.c', false],
    ['a.*', 'a.b', true],
    ['a.*', 'a', false],
    ['a.b.c', 'a.b.c', true],
    ['a.b.c', 'a.b.d', false],
    ['a.b', 'a.b.c', false],
    ['a.b.c', 'a.b', false],
    ['*', 'a', true],
    ['*', 'a.b', false],
    ['>', 'a', true],
    ['>', 'a.b.c', true],
    ['*.b.>', 'x.b.c.d', true],
    ['*.b.>', 'x.c.c.d', false],
    ['a.*.c', 'a.b.d', false],
  ])('%s vs %s → %s', (pattern, subject, expected) => {
    expect(subjectMatches(pattern, subject)).toBe(expected);
  });
});
