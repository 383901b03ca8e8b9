import {
  findUnstorableText,
  type ImpactEvent,
  ImpactEventSchema,
  type ImportItem,
  type InboundRecord,
  PermanentError,
  type z,
} from '@impact-in/core';
import {
  type CampaignMatch,
  type CompiledCampaignRule,
  compileCampaignRules,
  matchCampaign,
} from './campaigns.js';
import { readCsvStart } from './csv-text.js';
import { type CsvRecord, type CsvRecordProblem, createCsvTokenizer } from './csv-tokenizer.js';
import { resolvePeople } from './identity.js';
import type {
  CsvHeaderInfo,
  IdentityDirectory,
  IdentityFallback,
  KintellImportOptions,
  PersonRef,
  ResolvedPerson,
} from './types.js';
import { compileRow, isTimeZone, looseKey } from './values.js';

/** One canonical column of a mapping. */
export interface CsvColumn {
  /**
   * Other headers that mean this column. Headers are compared by their letters and digits only,
   * case-insensitively: `Session ID`, `session-id`, `sessionId` and `SESSION_ID` are one header.
   */
  aliases?: readonly string[];
  /** The header row must have this column (its cells may still be empty where the schema allows). */
  required?: boolean;
}

export type CsvColumns = Record<string, CsvColumn>;

/** A row as the row schema receives it: trimmed cell text per canonical column, empty cells absent. */
export type CsvRawRow<TColumns extends CsvColumns = CsvColumns> = {
  [K in keyof TColumns]: string | undefined;
};

/** What a row schema may depend on. */
export interface CsvRowSettings {
  /** IANA zone of date-times without an offset. */
  timezone: string;
}

/** Columns that name a person to resolve against the identity directory. */
export interface CsvPerson<TName extends string = string> {
  role: PersonRef['role'];
  email?: TName;
  externalId?: TName;
  name?: TName;
}

/** What `toRecord` gets besides the row. One object is reused for every row: read it, do not keep it. */
export interface CsvRecordContext {
  /** The physical line the row starts on. */
  line: number;
  companyId: string | undefined;
  timezone: string;
  /** The resolved people of the row, by role; a role the row names nobody for is absent. */
  people: Partial<Record<PersonRef['role'], ResolvedPerson>>;
  /** Some person of the row matched no platform user. */
  unmatched: boolean;
  /** The first campaign rule the session matches (`at`: epoch ms of its scheduled time). */
  campaign(session: {
    program?: string | undefined;
    companyRef?: string | undefined;
    at: number;
  }): CampaignMatch | null;
}

/** What a mapping makes of a row; `provider`, `kind` and `companyId` are added for it. */
export type CsvRecordOutput = Omit<InboundRecord, 'provider' | 'kind' | 'companyId'>;

/** How one CSV export maps to inbound records. Build it with {@link defineCsvMapping}. */
export interface CsvMapping<TColumns extends CsvColumns = CsvColumns, TRow = unknown> {
  /** What `options.mapping` selects it by, e.g. `sessions`. */
  name: string;
  /** The records' `provider`, and the provider of the external ids sent to the directory. */
  provider: string;
  /** The records' `kind`. */
  kind: string;
  columns: TColumns;
  /** The zod schema of one row (built once per import): validates and converts the cell text. */
  row: (settings: CsvRowSettings) => z.ZodType<TRow>;
  /** Groups of columns of which the header row must have at least one, e.g. an email or an id. */
  requireOneOf?: ReadonlyArray<ReadonlyArray<keyof TColumns & string>>;
  /** The people a row names, resolved in batches before `toRecord`. */
  people?: ReadonlyArray<CsvPerson<keyof TColumns & string>>;
  /** Turns a valid row into a record (and its impact event, if it implies one). */
  toRecord(row: TRow, context: CsvRecordContext): CsvRecordOutput;
}

/** Any mapping, whatever its columns and row type. */
// biome-ignore lint/suspicious/noExplicitAny: a registry holds mappings of every column set and row type
export type AnyCsvMapping = CsvMapping<any, any>;

const headerKeys = new WeakMap<AnyCsvMapping, Map<string, string>>();

function headerKeysOf(mapping: AnyCsvMapping): Map<string, string> {
  let keys = headerKeys.get(mapping);
  if (!keys) {
    keys = new Map();
    for (const [name, column] of Object.entries(mapping.columns as CsvColumns)) {
      for (const header of [name, ...(column.aliases ?? [])]) {
        const key = looseKey(header);
        const taken = keys.get(key);
        if (taken !== undefined && taken !== name) {
          throw new Error(
            `[impact-in] [${mapping.provider}] mapping "${mapping.name}": header "${header}" would mean both ${taken} and ${name}`,
          );
        }
        keys.set(key, name);
      }
    }
    headerKeys.set(mapping, keys);
  }
  return keys;
}

/**
 * Defines a CSV mapping: canonical columns with their aliases, a zod row schema and the record a
 * row becomes. Checks that no two columns share a header.
 *
 * @example
 * const badges = defineCsvMapping({
 *   name: 'badges', provider: 'kintell', kind: 'badge',
 *   columns: { badge_id: { required: true, aliases: ['Badge'] }, email: { required: true } },
 *   row: () => z.object({ badge_id: text(100), email: email() }),
 *   people: [{ role: 'volunteer', email: 'email' }],
 *   toRecord: (row, { people }) => ({ sourceId: row.badge_id, data: { ...row, volunteer: people.volunteer } }),
 * });
 */
export function defineCsvMapping<const TColumns extends CsvColumns, TRow>(
  mapping: CsvMapping<TColumns, TRow>,
): CsvMapping<TColumns, TRow> {
  headerKeysOf(mapping);
  return mapping;
}

/** Options of {@link importCsv}: the Kintell import options without the mapping name. */
export type ImportCsvOptions = Omit<KintellImportOptions, 'mapping'>;

interface Settings {
  strict: boolean;
  batchSize: number;
  timezone: string;
  companyId: string | undefined;
  identity: IdentityDirectory | undefined;
  fallback: IdentityFallback;
  campaigns: CompiledCampaignRule[];
  maxRowChars: number;
}

function settingsOf(provider: string, options: ImportCsvOptions): Settings {
  const invalid = (message: string) =>
    new PermanentError(`[impact-in] [${provider}] invalid import options: ${message}`, {
      code: 'validation',
    });
  const timezone = options.timezone ?? 'UTC';
  if (!isTimeZone(timezone)) throw invalid(`timezone: unknown time zone "${timezone}"`);
  const batchSize = options.batchSize ?? 1_000;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 100_000)
    throw invalid('batchSize: must be a whole number from 1 to 100000');
  const maxRowChars = options.maxRowChars ?? 1_048_576;
  if (!Number.isInteger(maxRowChars) || maxRowChars < 1_024)
    throw invalid('maxRowChars: must be at least 1024');
  const fallback = options.identityFallback ?? 'unmatched';
  if (!['unmatched', 'email', 'reject'].includes(fallback))
    throw invalid('identityFallback: must be unmatched, email or reject');
  const identity = options.identity;
  if (identity && (typeof identity.byEmails !== 'function' || typeof identity.byExternalIds !== 'function'))
    throw invalid('identity: must have byExternalIds and byEmails methods');
  let campaigns: CompiledCampaignRule[];
  try {
    campaigns = compileCampaignRules(options.campaigns ?? [], timezone);
  } catch (error) {
    throw invalid((error as Error).message);
  }
  return {
    strict: options.strict ?? false,
    batchSize,
    timezone,
    companyId: options.companyId,
    identity,
    fallback,
    campaigns,
    maxRowChars,
  };
}

/** How the header row maps to canonical columns. */
interface HeaderPlan {
  names: string[];
  /** Field index of each canonical column, -1 when the file has no such column. */
  indexes: number[];
  /** Canonical column → the header as written. */
  written: Map<string, string>;
  /** Number of header fields. */
  width: number;
}

type Failure = { error: string };

const LOOKS_LIKE_DATA = /@|^\d{4}-\d{2}-\d{2}/;

function planHeader(
  mapping: AnyCsvMapping,
  fields: string[],
): (HeaderPlan & { info: CsvHeaderInfo }) | Failure {
  const keys = headerKeysOf(mapping);
  const columnsOf = mapping.columns as CsvColumns;
  const names = Object.keys(columnsOf);
  const found = new Map<string, number>();
  const ignored: string[] = [];
  const columns: CsvHeaderInfo['columns'] = [];
  for (const [index, raw] of fields.entries()) {
    const header = raw.trim();
    if (header === '') continue;
    const name = keys.get(looseKey(header));
    if (name === undefined) {
      ignored.push(header);
      continue;
    }
    const earlier = found.get(name);
    if (earlier !== undefined) {
      return {
        error: `columns "${fields[earlier]!.trim()}" and "${header}" both mean ${name}: keep one of them`,
      };
    }
    found.set(name, index);
    columns.push({ header, field: name });
  }
  const listed = fields
    .map((field) => field.trim())
    .filter(Boolean)
    .map((field) => `"${field}"`)
    .join(', ');
  if (found.size === 0) {
    return {
      error: `the first line is not a ${mapping.name} header row: none of its columns is known (found ${listed || 'nothing'})`,
    };
  }
  const missing = names.filter((name) => columnsOf[name]!.required && !found.has(name));
  for (const group of (mapping.requireOneOf ?? []) as string[][]) {
    if (!group.some((name) => found.has(name))) missing.push(group.join(' or '));
  }
  if (missing.length > 0) {
    const missingText = `missing required column${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`;
    // Emails and dates in the first line: the export lost its header row.
    if (fields.some((field) => LOOKS_LIKE_DATA.test(field.trim()))) {
      return {
        error: `the first line looks like data, not a ${mapping.name} header row: ${missingText} (found ${listed})`,
      };
    }
    return { error: `${missingText} (found ${listed})` };
  }
  const written = new Map<string, string>();
  for (const { header, field } of columns) written.set(field, header);
  return {
    names,
    indexes: names.map((name) => found.get(name) ?? -1),
    written,
    width: fields.length,
    info: {
      mapping: mapping.name,
      columns,
      ignored,
      delimiter: ',',
      absent: names.filter((name) => !found.has(name)),
    },
  };
}

type RowError = Extract<ImportItem, { ok: false }>;

interface PendingRow {
  line: number;
  row: unknown;
  /** The people of the row, in the mapping's `people` order (`undefined`: the row names nobody). */
  people: Array<ResolvedPerson | undefined>;
}

type Pending = PendingRow | RowError;

/**
 * A cell trimmed (as `String.prototype.trim`), `undefined` when empty. Most cells start and end
 * with a printable ASCII character and need no trimming, which this checks first.
 */
function cleanCell(value: string): string | undefined {
  const length = value.length;
  if (length === 0) return undefined;
  const first = value.charCodeAt(0);
  const last = value.charCodeAt(length - 1);
  if (first > 32 && first < 127 && last > 32 && last < 127) return value;
  const trimmed = value.trim();
  return trimmed === '' ? undefined : trimmed;
}

const isBlank = (fields: string[]) => {
  for (const field of fields) if (field.trim() !== '') return false;
  return true;
};

const textOf = (row: Record<string, unknown>, column: string | undefined) => {
  const cell = column === undefined ? undefined : row[column];
  return typeof cell === 'string' && cell !== '' ? cell : undefined;
};

/**
 * The person a mapping's columns name in a valid row, still unresolved; `undefined` when the row
 * has neither an email nor an id for them.
 */
function personOf(spec: CsvPerson, row: Record<string, unknown>): ResolvedPerson | undefined {
  const email = textOf(row, spec.email);
  const externalId = textOf(row, spec.externalId);
  if (email === undefined && externalId === undefined) return undefined;
  return {
    role: spec.role,
    email,
    name: textOf(row, spec.name),
    externalId,
    userId: null,
    matchedBy: 'unmatched',
  };
}

/**
 * Imports a CSV export, streaming: reads `source` chunk by chunk (any chunk size, with
 * backpressure through the iterator), never holds more than a batch of rows, and yields one item
 * per data row in file order: `{ ok: true, line, record }` or `{ ok: false, line, column?, message }`.
 * `line` is the physical line the row starts on; `column` is the header as written in the file.
 * A file that cannot be read (empty, binary, not UTF-8, wrong header) yields one error and no row.
 * Throws `PermanentError` for invalid options, and whatever the identity directory throws.
 *
 * @example
 * for await (const item of importCsv(createReadStream('sessions.csv'), sessionsMapping, { timezone: 'Europe/Oslo' })) {
 *   if (item.ok) await save(item.record);
 *   else console.warn(`line ${item.line} ${item.column ?? ''}: ${item.message}`);
 * }
 */
export function importCsv(
  source: AsyncIterable<Uint8Array>,
  mapping: AnyCsvMapping,
  options: ImportCsvOptions = {},
): AsyncIterableIterator<ImportItem> {
  return flatten(importBatches(source, mapping, options));
}

/**
 * Items one by one from a generator of batches. An async generator pays a promise and a resumption
 * per item it yields; this hands out the items of a ready batch with an already-settled promise,
 * which a million-row import notices.
 */
function flatten<T>(batches: AsyncGenerator<T[], void, undefined>): AsyncIterableIterator<T> {
  let batch: T[] = [];
  let index = 0;
  let finished = false;
  const pull = async (): Promise<IteratorResult<T, undefined>> => {
    while (!finished) {
      const next = await batches.next();
      if (next.done) break;
      batch = next.value;
      index = 0;
      if (batch.length > 0) return { done: false, value: batch[index++]! };
    }
    finished = true;
    return { done: true, value: undefined };
  };
  const iterator: AsyncIterableIterator<T> = {
    [Symbol.asyncIterator]: () => iterator,
    next: () => (index < batch.length ? Promise.resolve({ done: false, value: batch[index++]! }) : pull()),
    async return() {
      // Stops the batches, whose `finally` closes the source.
      finished = true;
      batch = [];
      await batches.return(undefined);
      return { done: true, value: undefined };
    },
  };
  return iterator;
}

/** The import, a batch of items at a time (see {@link importCsv}). */
async function* importBatches(
  source: AsyncIterable<Uint8Array>,
  mapping: AnyCsvMapping,
  options: ImportCsvOptions,
): AsyncGenerator<ImportItem[], void, undefined> {
  const settings = settingsOf(mapping.provider, options);
  const signal = options.signal;
  signal?.throwIfAborted();
  const start = await readCsvStart(source, options.delimiter);
  if ('error' in start) {
    yield [{ ok: false, line: start.line, message: start.error }];
    return;
  }
  const schema = mapping.row({ timezone: settings.timezone });
  const tokenizer = createCsvTokenizer(options.engine ?? 'fast', {
    delimiter: start.delimiter,
    newline: start.newline,
    firstLine: start.headerLine,
    maxRowChars: settings.maxRowChars,
  });
  const people = mapping.people ?? [];
  const tokens: Array<CsvRecord | CsvRecordProblem> = [];
  let header: HeaderPlan | undefined;
  let suspect = false;
  let pending: Pending[] = [];
  let canary = true;

  const rowError = (line: number, column: string | undefined, message: string): RowError => {
    const written = column === undefined ? undefined : header?.written.get(column);
    if (written !== undefined) return { ok: false, line, column: written, message };
    return { ok: false, line, message: column === undefined ? message : `${column}: ${message}` };
  };

  // Good rows skip zod: the row schema's own cell parsers run directly (see `compileRow`).
  const fast = compileRow(schema);
  let fastIndexes: number[] = [];
  const cells: Array<string | undefined> = [];

  const readRow = (plan: HeaderPlan, record: CsvRecord): Pending | undefined => {
    const { fields, line } = record;
    if (isBlank(fields)) return undefined;
    if (fields.length !== plan.width) {
      if (fields.length < plan.width) {
        return rowError(
          line,
          undefined,
          `has ${fields.length} field${fields.length === 1 ? '' : 's'} but the header has ${plan.width}: a truncated row or a missing delimiter`,
        );
      }
      if (!isBlank(fields.slice(plan.width))) {
        return rowError(
          line,
          undefined,
          `has ${fields.length} fields but the header has ${plan.width}: quote values that contain "${start.delimiter === '\t' ? '\\t' : start.delimiter}"`,
        );
      }
    }
    let row: Record<string, unknown> | undefined;
    if (fast && !suspect) {
      for (let index = 0; index < fastIndexes.length; index++) {
        const at = fastIndexes[index]!;
        cells[index] = at === -1 ? undefined : cleanCell(fields[at]!);
      }
      row = fast.check(cells);
    }
    if (!row) {
      const { names, indexes } = plan;
      const raw: Record<string, string | undefined> = {};
      for (let column = 0; column < names.length; column++) {
        const index = indexes[column]!;
        const value = index === -1 ? undefined : cleanCell(fields[index]!);
        if (value !== undefined && suspect && findUnstorableText(value) !== undefined) {
          return rowError(
            line,
            names[column],
            value.includes('\u0000')
              ? 'contains a NUL character'
              : 'contains bytes that are not valid UTF-8 (is the file UTF-8?)',
          );
        }
        raw[names[column]!] = value;
      }
      const parsed = schema.safeParse(raw);
      if (!parsed.success) {
        const [first, ...rest] = parsed.error.issues;
        const column = first!.path[0] === undefined ? undefined : String(first!.path[0]);
        const also = rest.map((issue) => {
          const name = issue.path[0] === undefined ? '(row)' : String(issue.path[0]);
          return `${header?.written.get(name) ?? name}: ${issue.message}`;
        });
        return rowError(
          line,
          column,
          also.length > 0 ? `${first!.message}; also ${also.join('; ')}` : first!.message,
        );
      }
      row = parsed.data as Record<string, unknown>;
    }
    const persons: Array<ResolvedPerson | undefined> = [];
    for (const spec of people) persons.push(personOf(spec, row));
    return { line, row, people: persons };
  };

  const campaignOf: CsvRecordContext['campaign'] = (session) =>
    settings.campaigns.length === 0 ? null : matchCampaign(settings.campaigns, session);

  /**
   * Resolves the people of the pending rows (one batch) and builds their items, in file order. A
   * strict import's items end at the first bad row.
   */
  async function settle(): Promise<{ items: ImportItem[]; stop: boolean }> {
    const batch = pending;
    pending = [];
    canary = true;
    const everyone: ResolvedPerson[] = [];
    for (const item of batch) {
      if ('ok' in item) continue;
      for (const person of item.people) if (person) everyone.push(person);
    }
    const rejected = await resolvePeople(everyone, {
      provider: mapping.provider,
      directory: settings.identity,
      fallback: settings.fallback,
    });
    const items: ImportItem[] = [];
    for (const item of batch) {
      const built = 'ok' in item ? item : buildRecord(item, rejected);
      items.push(built);
      if (!built.ok && settings.strict) return { items, stop: true };
    }
    return { items, stop: false };
  }

  // One context for every row (an object per row is garbage the collector pays for): `toRecord`
  // reads it, and must not keep it.
  const byRole: CsvRecordContext['people'] = { participant: undefined, volunteer: undefined };
  const context: CsvRecordContext = {
    line: 0,
    companyId: settings.companyId,
    timezone: settings.timezone,
    people: byRole,
    unmatched: false,
    campaign: campaignOf,
  };

  const buildRecord = (item: PendingRow, rejected: ReadonlySet<ResolvedPerson>): ImportItem => {
    byRole.participant = undefined;
    byRole.volunteer = undefined;
    let unmatched = false;
    const persons = item.people;
    for (let index = 0; index < persons.length; index++) {
      const person = persons[index];
      if (!person) continue;
      if (rejected.size > 0 && rejected.has(person)) {
        const spec = people[index]!;
        const column = person.email !== undefined ? spec.email : spec.externalId;
        return rowError(
          item.line,
          column,
          `${person.role} matches no platform user (by ${mapping.provider} id or email) and identityFallback is "reject"`,
        );
      }
      if (person.userId === null) unmatched = true;
      byRole[person.role] = person;
    }
    context.line = item.line;
    context.unmatched = unmatched;
    const output = mapping.toRecord(item.row, context);
    // Written out: spreading `output` with extra keys would be slow in V8.
    const record: InboundRecord = {
      provider: mapping.provider,
      kind: mapping.kind,
      sourceId: output.sourceId,
      data: output.data,
    };
    if (settings.companyId) record.companyId = settings.companyId;
    if (output.occurredAt !== undefined) record.occurredAt = output.occurredAt;
    if (output.event !== undefined) record.event = output.event;
    if (record.event) {
      const problem = eventProblem(record.event, canary);
      canary = false;
      if (problem) return rowError(item.line, undefined, problem);
    }
    return { ok: true, line: item.line, record };
  };

  const texts = textsOf(start);
  try {
    for (;;) {
      signal?.throwIfAborted();
      const next = await texts.next();
      if (next.done) tokenizer.end(tokens);
      else {
        if (!suspect && (next.value.includes('\u0000') || start.decoder.invalid)) suspect = true;
        tokenizer.push(next.value, tokens);
      }
      let stop = false;
      for (const token of tokens) {
        if (!header) {
          const plan =
            'fields' in token ? planHeader(mapping, token.fields) : { error: `header row: ${token.message}` };
          if ('error' in plan) {
            yield [{ ok: false, line: token.line, message: plan.error }];
            return;
          }
          header = plan;
          if (fast) fastIndexes = fast.fields.map((name) => plan.indexes[plan.names.indexOf(name)] ?? -1);
          options.onHeader?.({ ...plan.info, delimiter: start.delimiter });
          continue;
        }
        const item =
          'fields' in token ? readRow(header, token) : rowError(token.line, undefined, token.message);
        if (!item) continue;
        pending.push(item);
        // A bad row stops a strict import; an unreadable one (unclosed quote mid-file) stops any.
        if ('ok' in item && (settings.strict || ('fatal' in token && token.fatal))) {
          stop = true;
          break;
        }
        // Bad rows count too: a file of nothing but bad rows must not pile up in memory.
        if (pending.length >= settings.batchSize) {
          signal?.throwIfAborted();
          const settled = await settle();
          yield settled.items;
          if (settled.stop) {
            stop = true;
            break;
          }
        }
      }
      tokens.length = 0;
      if (stop || next.done) break;
    }
    signal?.throwIfAborted();
    yield (await settle()).items;
  } finally {
    // Closes the source (a file stream, say) when the import ends early.
    await texts.return(undefined);
  }
}

/** The decoded text of a source: the sniffed start, then every further chunk. */
async function* textsOf(start: Exclude<Awaited<ReturnType<typeof readCsvStart>>, Failure>) {
  try {
    yield start.text;
    if (start.done) return;
    for (;;) {
      const next = await start.rest.next();
      if (next.done) break;
      if (next.value.length > 0) yield start.decoder.decode(next.value);
    }
    const tail = start.decoder.decode(new Uint8Array(0), true);
    if (tail) yield tail;
  } finally {
    await start.rest.return?.();
  }
}

/**
 * Why an event built from a valid row could still be refused. The first event of each batch is
 * parsed with core's ImpactEventSchema; the rest are built the same way from validated fields and
 * checked user ids (a full parse costs as much as reading the whole row).
 */
function eventProblem(event: ImpactEvent, full: boolean): string | undefined {
  if (event.eventId.length > 200) return 'the impact event id would be longer than 200 characters';
  if (!full) return undefined;
  const parsed = ImpactEventSchema.safeParse(event);
  if (parsed.success) return undefined;
  const issue = parsed.error.issues[0]!;
  return `the impact event built from this row is invalid: ${issue.path.join('.')}: ${issue.message}`;
}
