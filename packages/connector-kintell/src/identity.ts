import { findUnstorableText, PermanentError } from '@impact-in/core';
import type { IdentityDirectory, IdentityFallback, ResolvedPerson } from './types.js';
import { normaliseEmail } from './values.js';

/**
 * How a person resolved, as records carry it: `{ userId, matchedBy }`. The person's email, name
 * and external id are the row's own columns already; repeating them would double what every
 * stored record weighs.
 */
export function personMatch(
  person: ResolvedPerson | null | undefined,
): Pick<ResolvedPerson, 'userId' | 'matchedBy'> | null {
  return person ? { userId: person.userId, matchedBy: person.matchedBy } : null;
}

/**
 * Resolves a batch of people in place, with at most two directory calls: one `byExternalIds` for
 * every distinct external id, then one `byEmails` for the distinct normalised emails of the people
 * the ids did not match. The rest get the fallback: `unmatched` leaves `userId: null`, `email`
 * makes the normalised email the user id, `reject` returns them (their rows are reported). Each
 * person comes in with `userId: null` and `matchedBy: 'unmatched'`.
 *
 * @example
 * const volunteer: ResolvedPerson = { role: 'volunteer', email: 'Ana@Acme.example', userId: null, matchedBy: 'unmatched' };
 * const rejected = await resolvePeople([volunteer], { provider: 'kintell', directory, fallback: 'reject' });
 */
/**
 * The `email` fallback: a person's normalised email becomes their user id. A user id is at most
 * 200 characters (ImpactEvent), so a longer address leaves the person as they were.
 */
export function useEmailAsUserId(
  person: ResolvedPerson,
  email = person.email ? normaliseEmail(person.email) : undefined,
): void {
  if (email !== undefined && email.length <= 200) {
    person.userId = email;
    person.matchedBy = 'fallback_email';
  }
}

export async function resolvePeople(
  people: readonly ResolvedPerson[],
  options: { provider: string; directory?: IdentityDirectory | undefined; fallback: IdentityFallback },
): Promise<ReadonlySet<ResolvedPerson>> {
  const { directory, fallback } = options;
  // Normalised once per person: both the directory query and the match use it.
  const emails = people.map((person) => (person.email ? normaliseEmail(person.email) : undefined));
  let byId: Map<string, string> | undefined;
  let byEmail: Map<string, string> | undefined;
  if (directory) {
    const ids = new Set<string>();
    for (const person of people) if (person.externalId) ids.add(person.externalId);
    if (ids.size > 0)
      byId = checked(await directory.byExternalIds(options.provider, [...ids]), 'byExternalIds');
    const wanted = new Set<string>();
    for (let index = 0; index < people.length; index++) {
      const email = emails[index];
      const id = people[index]!.externalId;
      if (email !== undefined && !(id && byId?.has(id))) wanted.add(email);
    }
    if (wanted.size > 0) byEmail = checked(await directory.byEmails([...wanted]), 'byEmails');
  }
  const rejected = new Set<ResolvedPerson>();
  // Index loops: this runs for every person of a million-row import.
  for (let index = 0; index < people.length; index++) {
    const person = people[index]!;
    const fromId = person.externalId ? byId?.get(person.externalId) : undefined;
    if (fromId !== undefined) {
      person.userId = fromId;
      person.matchedBy = 'external_id';
      continue;
    }
    const email = emails[index];
    const fromEmail = email === undefined ? undefined : byEmail?.get(email);
    if (fromEmail !== undefined) {
      person.userId = fromEmail;
      person.matchedBy = 'email';
    } else if (fallback === 'reject') rejected.add(person);
    else if (fallback === 'email') useEmailAsUserId(person, email);
  }
  return rejected;
}

/**
 * A directory answer, checked once per batch: user ids become ImpactEvent `userId`s, 1-200
 * characters of storable text. Anything else is a bug in the directory, and stops the import.
 */
function checked(answer: Map<string, string>, method: string): Map<string, string> {
  if (!(answer instanceof Map)) {
    throw new PermanentError(`[impact-in] [kintell] identity directory ${method} must return a Map`, {
      code: 'invalid_directory',
    });
  }
  for (const userId of answer.values()) {
    if (
      typeof userId !== 'string' ||
      userId.length < 1 ||
      userId.length > 200 ||
      findUnstorableText(userId)
    ) {
      throw new PermanentError(
        `[impact-in] [kintell] identity directory ${method} returned a user id that is not 1-200 characters of text`,
        { code: 'invalid_directory' },
      );
    }
  }
  return answer;
}
