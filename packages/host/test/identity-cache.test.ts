import type { IdentityDirectory } from '@impact-in/core';
import { describe, expect, it } from 'vitest';
import { CachedIdentityDirectory } from '../src/imports/identity.js';

/** A directory that answers from fixed maps and records every question. */
function countingDirectory() {
  const calls: Array<{ method: string; keys: string[] }> = [];
  const directory: IdentityDirectory = {
    async byExternalIds(provider, ids) {
      calls.push({ method: `byExternalIds:${provider}`, keys: [...ids] });
      return new Map(ids.filter((id) => id.startsWith(`${provider}-`)).map((id) => [id, `user-of-${id}`]));
    },
    async byEmails(emails) {
      calls.push({ method: 'byEmails', keys: [...emails] });
      return new Map(
        emails.filter((email) => email.endsWith('@known.example')).map((email) => [email, `user-${email}`]),
      );
    },
  };
  return { directory, calls };
}

describe('CachedIdentityDirectory', () => {
  it('asks only for keys it has no answer for, and remembers misses too', async () => {
    const { directory, calls } = countingDirectory();
    const cached = new CachedIdentityDirectory(directory);
    const first = await cached.byEmails(['a@known.example', 'stranger@elsewhere.example']);
    expect([...first]).toEqual([['a@known.example', 'user-a@known.example']]);
    const second = await cached.byEmails([
      'stranger@elsewhere.example',
      'a@known.example',
      'b@known.example',
    ]);
    expect(Object.fromEntries(second)).toEqual({
      'a@known.example': 'user-a@known.example',
      'b@known.example': 'user-b@known.example',
    });
    // The miss was not asked again; only b was new.
    expect(calls).toEqual([
      { method: 'byEmails', keys: ['a@known.example', 'stranger@elsewhere.example'] },
      { method: 'byEmails', keys: ['b@known.example'] },
    ]);
    await cached.byEmails(['a@known.example', 'b@known.example', 'stranger@elsewhere.example']);
    expect(calls).toHaveLength(2);
  });

  it('keeps external ids of different providers apart', async () => {
    const { directory, calls } = countingDirectory();
    const cached = new CachedIdentityDirectory(directory);
    expect(Object.fromEntries(await cached.byExternalIds('kintell', ['kintell-1']))).toEqual({
      'kintell-1': 'user-of-kintell-1',
    });
    // The same id under another provider is another question, with another answer.
    expect(Object.fromEntries(await cached.byExternalIds('other', ['kintell-1']))).toEqual({});
    expect(Object.fromEntries(await cached.byExternalIds('kintell', ['kintell-1']))).toEqual({
      'kintell-1': 'user-of-kintell-1',
    });
    expect(calls.map((call) => call.method)).toEqual(['byExternalIds:kintell', 'byExternalIds:other']);
  });

  it('stops remembering past maxEntries, and still answers right', async () => {
    const { directory, calls } = countingDirectory();
    const cached = new CachedIdentityDirectory(directory, { maxEntries: 2 });
    const emails = ['a@known.example', 'b@known.example', 'c@known.example'];
    await cached.byEmails(emails);
    const again = await cached.byEmails(emails);
    expect(again.get('c@known.example')).toBe('user-c@known.example');
    expect(calls[1]).toEqual({ method: 'byEmails', keys: ['c@known.example'] });
  });
});
