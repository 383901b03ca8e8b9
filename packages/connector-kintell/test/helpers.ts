import { type ImpactEvent, ImpactEventSchema, type ImportItem, InboundRecordSchema } from '@impact-in/core';
import { expect } from 'vitest';
import type { CsvEngineName, IdentityDirectory, KintellImportOptions } from '../src/index.js';
import { importKintellCsv } from '../src/index.js';

/** Feeds `input` as an async iterable of `size`-byte chunks (1 proves chunk boundaries do not matter). */
export async function* chunked(input: string | Uint8Array, size = 64 * 1024): AsyncGenerator<Uint8Array> {
  const bytes = typeof input === 'string' ? new TextEncoder().encode(input) : input;
  for (let offset = 0; offset < bytes.length; offset += size) {
    // A fresh copy each time, like a stream's chunks.
    yield bytes.slice(offset, offset + size);
  }
}

export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/** The chunk sizes every format test runs with. */
export const CHUNK_SIZES = [1, 3, 7, 64 * 1024] as const;
export const ENGINES: CsvEngineName[] = ['fast', 'csv-parse'];

/** Imports `csv` with the Kintell importer and checks every good record against core's schemas. */
export async function importText(
  csv: string | Uint8Array,
  options: KintellImportOptions & { chunkSize?: number } = {},
): Promise<ImportItem[]> {
  const { chunkSize, ...rest } = options;
  const items = await collect(importKintellCsv(chunked(csv, chunkSize), rest));
  for (const item of items) {
    if (!item.ok) continue;
    const record = InboundRecordSchema.safeParse(item.record);
    expect(record.success, JSON.stringify(record.error?.issues)).toBe(true);
    if (item.record.event) expectValidEvent(item.record.event);
  }
  return items;
}

export function expectValidEvent(event: ImpactEvent): void {
  const parsed = ImpactEventSchema.safeParse(event);
  expect(parsed.success, JSON.stringify(parsed.error?.issues)).toBe(true);
}

/** Good items only, failing the test on a bad one. */
export function records(items: ImportItem[]) {
  const bad = items.filter((item) => !item.ok);
  expect(bad, 'no bad rows').toEqual([]);
  return items.flatMap((item) => (item.ok ? [item.record] : []));
}

export const errors = (items: ImportItem[]) =>
  items.filter((item): item is Extract<ImportItem, { ok: false }> => !item.ok);

/** The header of a session export with every canonical column. */
export const HEADER =
  'session_id,program,scheduled_at,completed_at,duration_minutes,status,participant_email,participant_name,volunteer_email,volunteer_name,participant_id,volunteer_id,language,rating,feedback,company_ref';

const COLUMNS = HEADER.split(',');

/** One canonical CSV row: a completed Language Connect session unless overridden. */
export function sessionRow(overrides: Record<string, string> = {}, index = 1): string {
  const row: Record<string, string> = {
    session_id: `s-${index}`,
    program: 'language_connect',
    scheduled_at: '2025-03-04T10:00:00Z',
    completed_at: '2025-03-04T10:45:00Z',
    duration_minutes: '45',
    status: 'completed',
    participant_email: `learner${index}@example.org`,
    participant_name: `Learner ${index}`,
    volunteer_email: `volunteer${index}@acme.example`,
    volunteer_name: `Volunteer ${index}`,
    participant_id: `kp-${index}`,
    volunteer_id: `kv-${index}`,
    language: 'ar',
    rating: '5',
    feedback: 'Great',
    company_ref: 'ACME',
    ...overrides,
  };
  return COLUMNS.map((column) => row[column] ?? '').join(',');
}

/** A CSV of `rows` (each a row line), with the canonical header. */
export const sessionsCsv = (...rows: string[]) => `${HEADER}\n${rows.join('\n')}\n`;

/** An identity directory over fixed maps that records every call. */
export function fakeDirectory(
  users: { byExternalId?: Record<string, string>; byEmail?: Record<string, string> } = {},
): IdentityDirectory & { calls: Array<{ method: string; keys: readonly string[]; provider?: string }> } {
  const calls: Array<{ method: string; keys: readonly string[]; provider?: string }> = [];
  return {
    calls,
    async byExternalIds(provider, externalIds) {
      calls.push({ method: 'byExternalIds', keys: externalIds, provider });
      const found = new Map<string, string>();
      for (const id of externalIds) {
        const userId = users.byExternalId?.[id];
        if (userId) found.set(id, userId);
      }
      return found;
    },
    async byEmails(emails) {
      calls.push({ method: 'byEmails', keys: emails });
      const found = new Map<string, string>();
      for (const email of emails) {
        const userId = users.byEmail?.[email];
        if (userId) found.set(email, userId);
      }
      return found;
    },
  };
}
