import { z } from '@impact-in/core';

/**
 * Email addresses as exports write them: a local part without spaces, `@`, and a domain of at
 * least two labels. Unicode letters are allowed on both sides (`jörg@müller.example`).
 */
export const EMAIL_PATTERN =
  /^[^\s@"<>(),;:\\[\]]{1,64}@(?=.{1,255}$)(?:[\p{L}\p{N}](?:[\p{L}\p{N}-]*[\p{L}\p{N}])?\.)+[\p{L}]{2,63}$/u;

/**
 * Normalises an email for matching: trims, lower-cases (Unicode, locale-independent) and puts it
 * in Unicode NFC. Nothing else: `+tags`, dots in the local part and IDN/punycode forms are kept,
 * because whether they are the same mailbox depends on the mail provider.
 *
 * @example normaliseEmail('  Ana.Lopez@ACME.example ') // 'ana.lopez@acme.example'
 */
export function normaliseEmail(email: string): string {
  // Most addresses are already lower-case ASCII without spaces: nothing to do.
  for (let index = 0; index < email.length; index++) {
    const code = email.charCodeAt(index);
    if (code <= 32 || code >= 127 || (code >= 65 && code <= 90))
      return email.trim().toLowerCase().normalize('NFC');
  }
  return email;
}

/** Lower-case letters and digits only: how enum-like values and headers are compared. */
export const looseKey = (value: string): string => value.toLowerCase().replace(/[^\p{L}\p{N}]+/gu, '');

const PROGRAMS = new Map<string, 'language_connect' | 'mentorship'>([
  ['languageconnect', 'language_connect'],
  ['lc', 'language_connect'],
  ['language', 'language_connect'],
  ['mentorship', 'mentorship'],
  ['mentoring', 'mentorship'],
  ['mfu', 'mentorship'],
  ['mentorsforukraine', 'mentorship'],
  ['mentorshipforukraine', 'mentorship'],
]);

/** The Kintell programs: Language Connect and mentorship (MFU). */
export const KINTELL_PROGRAMS = ['language_connect', 'mentorship'] as const;
export type KintellProgram = (typeof KINTELL_PROGRAMS)[number];

/**
 * The program a free-text value names, or `undefined`. Case, spaces, hyphens and underscores do
 * not matter: `Language Connect`, `language-connect`, `LC` → `language_connect`; `MFU`,
 * `Mentorship`, `Mentoring`, `Mentors for Ukraine` → `mentorship`.
 *
 * @example normaliseProgram('Language Connect') // 'language_connect'
 */
export function normaliseProgram(value: string): KintellProgram | undefined {
  if (value === 'language_connect' || value === 'mentorship') return value;
  return PROGRAMS.get(looseKey(value));
}

const STATUSES = new Map<string, 'scheduled' | 'completed' | 'cancelled' | 'no_show'>([
  ['scheduled', 'scheduled'],
  ['booked', 'scheduled'],
  ['completed', 'completed'],
  ['complete', 'completed'],
  ['cancelled', 'cancelled'],
  ['canceled', 'cancelled'],
  ['noshow', 'no_show'],
]);

/** Session statuses. */
export const SESSION_STATUSES = ['scheduled', 'completed', 'cancelled', 'no_show'] as const;
export type SessionStatus = (typeof SESSION_STATUSES)[number];

/**
 * The status a free-text value names, or `undefined`: `Completed`/`complete`, `Scheduled`/`booked`,
 * `Cancelled`/`canceled`, `No show`/`no-show`/`noshow`.
 *
 * @example normaliseStatus('No-Show') // 'no_show'
 */
export function normaliseStatus(value: string): SessionStatus | undefined {
  if (value === 'completed' || value === 'scheduled' || value === 'cancelled' || value === 'no_show')
    return value;
  return STATUSES.get(looseKey(value));
}

// --- Dates -------------------------------------------------------------------------------

const DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Whether `zone` is an IANA time zone this runtime knows (`UTC`, `Europe/Oslo`, …). */
export function isTimeZone(zone: string): boolean {
  try {
    formatterFor(zone);
    return true;
  } catch {
    return false;
  }
}

function formatterFor(zone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(zone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(zone, formatter);
  }
  return formatter;
}

/** Offset of `zone` from UTC at instant `at`, in ms (Oslo in winter: +3 600 000). */
function offsetAt(zone: string, at: number): number {
  const parts = formatterFor(zone).formatToParts(at);
  const part = (type: string) => Number(parts.find((item) => item.type === type)?.value);
  const wall =
    daysFromCivil(part('year'), part('month'), part('day')) * DAY +
    part('hour') * 3_600_000 +
    part('minute') * 60_000 +
    part('second') * 1_000;
  return wall - Math.floor(at / 1000) * 1000;
}

/**
 * Offsets to subtract from a wall-clock time (as if UTC), per zone and quarter hour (every real
 * offset and DST change falls on one): an export repeats the same hours over and over.
 */
const wallOffsets = new Map<string, Map<number, number>>();
const QUARTER_HOUR = 900_000;
const DAY = 86_400_000;

/**
 * The UTC instant of a wall-clock time in `zone`. A time skipped by a DST change moves forward
 * by the change; a time that happens twice is the earlier one (Temporal's `compatible`).
 */
function wallToUtc(zone: string, wall: number): number {
  let cache = wallOffsets.get(zone);
  if (!cache) {
    cache = new Map();
    wallOffsets.set(zone, cache);
  }
  const slot = Math.floor(wall / QUARTER_HOUR);
  let offset = cache.get(slot);
  if (offset === undefined) {
    const before = offsetAt(zone, wall - DAY);
    const after = offsetAt(zone, wall + DAY);
    if (before === after) offset = before;
    else {
      const earlier = wall - before;
      const later = wall - after;
      const earlierFits = offsetAt(zone, earlier) === before;
      const laterFits = offsetAt(zone, later) === after;
      // Both fit: the wall time repeats; take the earlier instant. Neither: it was skipped.
      offset = earlierFits && laterFits ? Math.max(before, after) : laterFits ? after : before;
    }
    if (cache.size > 50_000) cache.clear();
    cache.set(slot, offset);
  }
  return wall - offset;
}

const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

const NOT_A_DATE = 'must be a date-time: ISO 8601 (2025-03-04T09:30:00Z) or YYYY-MM-DD HH:MM[:SS]';

/** The digit at `index` of `value` as a number, or NaN. */
const digit = (value: string, index: number) => {
  const code = value.charCodeAt(index) - 48;
  return code >= 0 && code <= 9 ? code : Number.NaN;
};

/**
 * Parses ISO 8601 (`2025-03-04T09:30:00Z`, `…+01:00`) and `YYYY-MM-DD HH:MM[:SS]`. A value without
 * an offset is a wall-clock time in `zone`; a date alone is midnight there. Returns epoch ms, or a
 * message saying what is wrong.
 *
 * @example parseDateTime('2025-03-04 10:30', 'Europe/Oslo') // Date.UTC(2025, 2, 4, 9, 30)
 */
export function parseDateTime(value: string, zone: string): number | string {
  // The common shapes, YYYY-MM-DD[T ]HH:MM[:SS][Z], are read without a regex.
  const length = value.length;
  if (
    (length === 16 || length === 17 || length === 19 || length === 20) &&
    value.charCodeAt(4) === 45 &&
    value.charCodeAt(7) === 45 &&
    (value.charCodeAt(10) === 84 || value.charCodeAt(10) === 32) &&
    value.charCodeAt(13) === 58 &&
    (length < 19 || value.charCodeAt(16) === 58) &&
    ((length !== 17 && length !== 20) || value.charCodeAt(length - 1) === 90)
  ) {
    const year = digit(value, 0) * 1000 + digit(value, 1) * 100 + digit(value, 2) * 10 + digit(value, 3);
    const month = digit(value, 5) * 10 + digit(value, 6);
    const day = digit(value, 8) * 10 + digit(value, 9);
    const hour = digit(value, 11) * 10 + digit(value, 12);
    const minute = digit(value, 14) * 10 + digit(value, 15);
    const second = length >= 19 ? digit(value, 17) * 10 + digit(value, 18) : 0;
    if (Number.isNaN(year + month + day + hour + minute + second)) return NOT_A_DATE;
    return instant(
      value,
      zone,
      year,
      month,
      day,
      hour,
      minute,
      second,
      0,
      length === 17 || length === 20 ? 0 : undefined,
    );
  }
  const match = DATE_TIME.exec(value);
  if (!match) return NOT_A_DATE;
  const offset = match[8];
  let offsetMinutes: number | undefined;
  if (offset === 'Z' || offset === 'z') offsetMinutes = 0;
  else if (offset !== undefined) {
    const digits = offset.slice(1).replace(':', '');
    offsetMinutes =
      (offset[0] === '-' ? -1 : 1) * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || 0));
    if (Math.abs(offsetMinutes) > 18 * 60) return `has an offset out of range: ${value}`;
  }
  return instant(
    value,
    zone,
    Number(match[1]),
    Number(match[2]),
    Number(match[3]),
    Number(match[4] ?? 0),
    Number(match[5] ?? 0),
    Number(match[6] ?? 0),
    match[7] ? Math.floor(Number(`0.${match[7]}`) * 1000) : 0,
    offsetMinutes,
  );
}

/**
 * Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's `days_from_civil`): plain
 * arithmetic, quicker than Date.UTC, and right for years 0-99 too.
 */
function daysFromCivil(year: number, month: number, day: number): number {
  const shifted = month <= 2 ? year - 1 : year;
  const era = Math.floor(shifted / 400);
  const yearOfEra = shifted - era * 400;
  const dayOfYear = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}

/** Epoch ms of checked date-time parts; no offset: a wall-clock time in `zone`. */
function instant(
  value: string,
  zone: string,
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
  millisecond: number,
  offsetMinutes: number | undefined,
): number | string {
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  if (
    !(year >= 1 && month >= 1 && month <= 12 && day >= 1 && hour <= 23 && minute <= 59 && second <= 59) ||
    day > (month === 2 && !leap ? 28 : DAYS_IN_MONTH[month - 1]!)
  ) {
    return `is not a valid date-time: ${value}`;
  }
  const wall =
    daysFromCivil(year, month, day) * DAY + hour * 3_600_000 + minute * 60_000 + second * 1_000 + millisecond;
  const at =
    offsetMinutes !== undefined
      ? wall - offsetMinutes * 60_000
      : zone === 'UTC'
        ? wall
        : wallToUtc(zone, wall);
  return at < EARLIEST || at > LATEST ? `is outside the years 0001-9999: ${value}` : at;
}

/** 0001-01-01T00:00:00Z (Date.UTC would read year 1 as 1901). */
const EARLIEST = -62_135_596_800_000;
const LATEST = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/** `YYYY-MM-DDT` per day since the epoch: an export has few distinct days and many rows. */
const dayPrefixes = new Map<number, string>();
/** `00` to `59`. */
const TWO_DIGITS = Array.from({ length: 60 }, (_, value) => String(value).padStart(2, '0'));

/**
 * An instant as ISO 8601 UTC, without milliseconds when they are zero.
 *
 * @example isoUtc(Date.UTC(2025, 2, 4, 9, 30)) // '2025-03-04T09:30:00Z'
 */
export function isoUtc(at: number): string {
  const day = Math.floor(at / DAY);
  let prefix = dayPrefixes.get(day);
  if (prefix === undefined) {
    prefix = new Date(day * DAY).toISOString().slice(0, 11);
    if (dayPrefixes.size > 20_000) dayPrefixes.clear();
    dayPrefixes.set(day, prefix);
  }
  let rest = at - day * DAY;
  const hours = Math.floor(rest / 3_600_000);
  rest -= hours * 3_600_000;
  const minutes = Math.floor(rest / 60_000);
  rest -= minutes * 60_000;
  const seconds = Math.floor(rest / 1_000);
  const millis = rest - seconds * 1_000;
  const time = `${TWO_DIGITS[hours]}:${TWO_DIGITS[minutes]}:${TWO_DIGITS[seconds]}`;
  return millis === 0 ? `${prefix}${time}Z` : `${prefix}${time}.${String(millis).padStart(3, '0')}Z`;
}

// --- zod building blocks for CSV cells ---------------------------------------------------

/** What a cell parser returns for a bad value. */
export class Invalid {
  constructor(readonly message: string) {}
}

/** Parses one non-empty, trimmed cell. */
export type CellParser<T> = (value: string) => T | Invalid;

/** Cell parsers of the zod schemas built with {@link cell}, so an import can run them without zod. */
const cellParsers = new WeakMap<object, CellParser<unknown>>();

/** Cross-field rules of the row schemas built with {@link csvRow}. */
const rowRules = new WeakMap<object, RowRule<never>>();

/** Reports a cross-field problem on `column`. */
export type RowRule<TRow> = (row: TRow, report: (column: string, message: string) => void) => void;

const requiredText = {
  error: (issue: { input: unknown }) => (issue.input === undefined ? 'required' : 'must be text'),
};

/**
 * A zod schema of one cell from a parser function: zod reports its messages, and an import runs
 * the very same function directly on the fast path (a zod parse of every row costs more than
 * everything else an import does). Empty cells never reach it: they are absent.
 *
 * @example const platform = cell((value) => (value.length <= 50 ? value.toLowerCase() : new Invalid('too long')));
 */
export function cell<T>(parse: CellParser<T>): z.ZodType<T, string> {
  const schema = z.string(requiredText).transform((value, context) => {
    const parsed = parse(value);
    if (!(parsed instanceof Invalid)) return parsed;
    context.issues.push({ code: 'custom', message: parsed.message, input: value });
    return z.NEVER;
  });
  cellParsers.set(schema, parse as CellParser<unknown>);
  return schema;
}

/**
 * A row schema: a zod object of cells plus cross-field rules. Built with {@link cell} fields (and
 * their `.optional()`), an import validates good rows without zod and asks zod only for the
 * messages of bad ones; any other zod schema works too, through zod alone.
 *
 * @example csvRow({ id: text(50), ends: dateTime('UTC').optional() }, (row, report) => { … })
 */
export function csvRow<TShape extends z.ZodRawShape>(
  shape: TShape,
  rule?: RowRule<z.output<z.ZodObject<TShape>>>,
): z.ZodObject<TShape> {
  const object = z.object(shape);
  if (!rule) return object;
  const refined = object.superRefine((row, context) =>
    rule(row, (column, message) => context.addIssue({ code: 'custom', path: [column], message })),
  );
  rowRules.set(refined, rule as RowRule<never>);
  return refined;
}

/** A compiled row check: the typed row, or `undefined` when zod must say what is wrong. */
export type FastRow = (cells: ReadonlyArray<string | undefined>) => Record<string, unknown> | undefined;

/**
 * Compiles `schema` for the fast path when it is a {@link csvRow} of {@link cell} fields: returns
 * the field names (the order `cells` must follow) and the check. `undefined` when it is not.
 */
export function compileRow(schema: z.ZodType): { fields: string[]; check: FastRow } | undefined {
  if (!(schema instanceof z.ZodObject)) return undefined;
  const rule = rowRules.get(schema) as RowRule<Record<string, unknown>> | undefined;
  // Refinements we did not register are zod's business.
  if ((schema._zod.def.checks?.length ?? 0) > (rule ? 1 : 0)) return undefined;
  const fields: string[] = [];
  const parsers: Array<CellParser<unknown>> = [];
  const optional: boolean[] = [];
  for (const [name, field] of Object.entries(schema.shape as Record<string, z.ZodType>)) {
    const isOptional = field instanceof z.ZodOptional;
    const parser = cellParsers.get(isOptional ? (field as z.ZodOptional<z.ZodType>).unwrap() : field);
    if (!parser) return undefined;
    fields.push(name);
    parsers.push(parser);
    optional.push(isOptional);
  }
  const build = objectBuilder(fields);
  const values: unknown[] = new Array(fields.length);
  let failed = false;
  const report = () => {
    failed = true;
  };
  const check: FastRow = (cells) => {
    for (let index = 0; index < fields.length; index++) {
      const value = cells[index];
      if (value === undefined) {
        if (!optional[index]) return undefined;
        values[index] = undefined;
        continue;
      }
      const parsed = parsers[index]!(value);
      if (parsed instanceof Invalid) return undefined;
      values[index] = parsed;
    }
    const row = build(values);
    if (rule) {
      failed = false;
      rule(row, report);
      if (failed) return undefined;
    }
    return row;
  };
  return { fields, check };
}

/**
 * Makes objects with `fields` as keys from arrays of values. A generated object literal, like zod's
 * own compiled parsers: filling an object key by key costs about ten times more. Where code
 * generation is not allowed (a strict CSP) it falls back to the loop.
 */
function objectBuilder(fields: readonly string[]): (values: readonly unknown[]) => Record<string, unknown> {
  try {
    const literal = fields.map((field, index) => `${JSON.stringify(field)}: values[${index}]`).join(', ');
    return new Function('values', `return { ${literal} };`) as (
      values: readonly unknown[],
    ) => Record<string, unknown>;
  } catch {
    return (values) => {
      const row: Record<string, unknown> = {};
      for (const [index, field] of fields.entries()) row[field] = values[index];
      return row;
    };
  }
}

/** Text of at most `max` characters. */
export const text = (max: number) =>
  cell((value) => (value.length <= max ? value : new Invalid(`must be at most ${max} characters`)));

const ASCII_EMAIL = /^[A-Za-z0-9._%+'-]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$/;

/** Whether `value` is an email address (see {@link EMAIL_PATTERN}). */
export function isEmail(value: string): boolean {
  if (value.length > 254) return false;
  // Most addresses are ASCII: a plain regex is several times quicker than the Unicode one.
  return ASCII_EMAIL.test(value) || EMAIL_PATTERN.test(value);
}

/** An email address (see {@link EMAIL_PATTERN}), at most 254 characters. */
export const email = () => cell((value) => (isEmail(value) ? value : new Invalid('is not an email address')));

/** A date-time (see {@link parseDateTime}), as epoch ms. */
export const dateTime = (zone: string) =>
  cell((value) => {
    const parsed = parseDateTime(value, zone);
    return typeof parsed === 'number' ? parsed : new Invalid(parsed);
  });

const DECIMAL = /^\d{1,9}(?:[.,]\d{1,9})?$/;

/** A decimal number in `min..max`; a decimal comma is accepted (`1,5`). */
export const decimal = (min: number, max: number) => {
  const invalid = new Invalid(`must be a number from ${min} to ${max}`);
  return cell((value) => {
    if (!DECIMAL.test(value)) return invalid;
    const number = Number(value.replace(',', '.'));
    return number < min || number > max ? invalid : number;
  });
};

/** A whole number in `min..max`. */
export const integer = (min: number, max: number) => {
  const invalid = new Invalid(`must be a whole number from ${min} to ${max}`);
  return cell((value) => {
    const number = /^\d{1,9}$/.test(value) ? Number(value) : Number.NaN;
    return number >= min && number <= max ? number : invalid;
  });
};

/** A value looked up in a table of accepted spellings. */
export const oneOf = <T extends string>(
  lookup: (value: string) => T | undefined,
  accepted: readonly string[],
) => {
  const invalid = new Invalid(`must be one of ${accepted.join(', ')}`);
  return cell((value) => lookup(value) ?? invalid);
};
