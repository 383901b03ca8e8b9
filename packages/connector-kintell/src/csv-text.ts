import type { CsvDelimiter } from './types.js';

/** How many bytes are read before the first row: the header is sniffed and checked in them. */
export const SNIFF_BYTES = 64 * 1024;

/**
 * Stands in for bytes that are not valid UTF-8 after the sniffed start of a file. Decoding valid
 * UTF-8 never yields a lone surrogate, so a row that holds one had invalid bytes.
 */
export const INVALID_BYTES_MARK = '\udfff';

const fatalDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Length of the valid UTF-8 sequence at `index` (its first byte is ≥ 0x80), or 0 when invalid. */
function sequenceLength(bytes: Uint8Array, index: number): number {
  const first = bytes[index]!;
  const at = (offset: number) => (index + offset < bytes.length ? bytes[index + offset]! : -1);
  const continuation = (value: number) => value >= 0x80 && value <= 0xbf;
  if (first >= 0xc2 && first <= 0xdf) return continuation(at(1)) ? 2 : 0;
  if (first >= 0xe0 && first <= 0xef) {
    const second = at(1);
    const low = first === 0xe0 ? 0xa0 : 0x80;
    const high = first === 0xed ? 0x9f : 0xbf;
    return second >= low && second <= high && continuation(at(2)) ? 3 : 0;
  }
  if (first >= 0xf0 && first <= 0xf4) {
    const second = at(1);
    const low = first === 0xf0 ? 0x90 : 0x80;
    const high = first === 0xf4 ? 0x8f : 0xbf;
    return second >= low && second <= high && continuation(at(2)) && continuation(at(3)) ? 4 : 0;
  }
  return 0;
}

/** Offset of the first byte that is not valid UTF-8, or -1. Runs only after the fast decoder failed. */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  for (let index = 0; index < bytes.length; ) {
    if (bytes[index]! < 0x80) {
      index++;
      continue;
    }
    const length = sequenceLength(bytes, index);
    if (length === 0) return index;
    index += length;
  }
  return -1;
}

/** Where a multi-byte sequence cut off by the end of the chunk starts (`bytes.length` when none is). */
function incompleteTail(bytes: Uint8Array): number {
  const stop = Math.max(0, bytes.length - 4);
  for (let index = bytes.length - 1; index >= stop; index--) {
    const byte = bytes[index]!;
    if (byte < 0x80) return bytes.length;
    if (byte >= 0xc0) {
      const needed = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : 2;
      return bytes.length - index < needed ? index : bytes.length;
    }
  }
  return bytes.length;
}

/**
 * Decodes a byte stream as UTF-8, chunk by chunk: a character split across two chunks is carried
 * over. Invalid bytes become {@link INVALID_BYTES_MARK} (one per invalid byte) and set `invalid`,
 * so the rows holding them can be reported.
 */
export class Utf8ChunkDecoder {
  private carry: Uint8Array | undefined;
  /** True once any invalid byte was seen. */
  invalid = false;

  decode(chunk: Uint8Array, final = false): string {
    let bytes = chunk;
    if (this.carry) {
      bytes = new Uint8Array(this.carry.length + chunk.length);
      bytes.set(this.carry);
      bytes.set(chunk, this.carry.length);
      this.carry = undefined;
    }
    const cut = final ? bytes.length : incompleteTail(bytes);
    // A copy: the source may reuse its chunk buffer.
    if (cut < bytes.length) this.carry = bytes.slice(cut);
    const body = cut === bytes.length ? bytes : bytes.subarray(0, cut);
    try {
      return fatalDecoder.decode(body);
    } catch {
      return this.decodeMarkingInvalid(body);
    }
  }

  private decodeMarkingInvalid(bytes: Uint8Array): string {
    this.invalid = true;
    let text = '';
    let start = 0;
    for (let index = 0; index < bytes.length; ) {
      if (bytes[index]! < 0x80) {
        index++;
        continue;
      }
      const length = sequenceLength(bytes, index);
      if (length > 0) {
        index += length;
        continue;
      }
      text += fatalDecoder.decode(bytes.subarray(start, index)) + INVALID_BYTES_MARK;
      index++;
      start = index;
    }
    return text + fatalDecoder.decode(bytes.subarray(start));
  }
}

/** The start of a CSV file, read and checked before any row is parsed. */
export interface CsvStart {
  /** The decoded sniffed bytes (BOM removed): the header line and what follows it. */
  text: string;
  delimiter: CsvDelimiter;
  /** `\r` for files whose lines end in a lone CR (classic Mac); `\n` for LF and CRLF. */
  newline: '\n' | '\r';
  /** The physical line of the header (blank lines before it are skipped). */
  headerLine: number;
  /** Decodes the rest of the source, carrying on from the sniffed bytes. */
  decoder: Utf8ChunkDecoder;
  /** The rest of the source. */
  rest: AsyncIterator<Uint8Array>;
  /** True when the source has nothing after `text`. */
  done: boolean;
}

/** A file-level failure found before any row: one clear message, no rows. */
export interface CsvStartFailure {
  error: string;
  line: number;
}

const startsWith = (bytes: Uint8Array, signature: readonly number[]) =>
  signature.every((byte, index) => bytes[index] === byte);

/** Names what a file that is not CSV text probably is. */
function binaryKind(bytes: Uint8Array): string | undefined {
  if (startsWith(bytes, [0x50, 0x4b, 0x03, 0x04]))
    return 'a ZIP archive (an Excel .xlsx workbook?), not CSV text: export the sheet as "CSV UTF-8"';
  if (startsWith(bytes, [0xd0, 0xcf, 0x11, 0xe0]))
    return 'an Excel 97-2003 (.xls) workbook, not CSV text: export the sheet as "CSV UTF-8"';
  if (startsWith(bytes, [0x25, 0x50, 0x44, 0x46])) return 'a PDF document, not CSV text';
  if (startsWith(bytes, [0x1f, 0x8b])) return 'gzip-compressed, not CSV text: decompress it first';
  return undefined;
}

/** Counts `char` outside double quotes in `line`. */
function countOutsideQuotes(line: string, char: string): number {
  let count = 0;
  let quoted = false;
  for (let index = 0; index < line.length; index++) {
    const current = line[index];
    if (current === '"') quoted = !quoted;
    else if (current === char && !quoted) count++;
  }
  return count;
}

/**
 * Picks the delimiter the header line uses most (outside quotes): `,`, `;` or tab, in that order
 * on a tie, `,` when there is none. Only one delimiter is used for the whole file.
 *
 * @example sniffDelimiter('Session ID;Program;Start Time') // ';'
 */
export function sniffDelimiter(headerLine: string): CsvDelimiter {
  let best: CsvDelimiter = ',';
  let bestCount = 0;
  for (const candidate of [',', ';', '\t'] as const) {
    const count = countOutsideQuotes(headerLine, candidate);
    if (count > bestCount) {
      best = candidate;
      bestCount = count;
    }
  }
  return best;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what binary data holds
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f]/;

/**
 * Reads the first {@link SNIFF_BYTES} of a CSV source and checks them: not empty, not binary,
 * UTF-8 (a UTF-8 BOM is dropped), a header line; then sniffs the delimiter and the line ending.
 * Reads at most 64 KiB more than one chunk: nothing is buffered beyond that.
 */
export async function readCsvStart(
  source: AsyncIterable<Uint8Array>,
  forcedDelimiter?: CsvDelimiter,
): Promise<CsvStart | CsvStartFailure> {
  if (typeof source?.[Symbol.asyncIterator] !== 'function') {
    throw new TypeError(
      '[impact-in] [kintell] the import source must be an AsyncIterable of Uint8Array chunks (a file stream, an async generator)',
    );
  }
  const rest = source[Symbol.asyncIterator]();
  const start = await sniff(rest, forcedDelimiter);
  // Nothing more will be read: let the source close (a file stream, say).
  if ('error' in start) await rest.return?.();
  return start;
}

async function sniff(
  rest: AsyncIterator<Uint8Array>,
  forcedDelimiter: CsvDelimiter | undefined,
): Promise<CsvStart | CsvStartFailure> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  let done = false;
  while (size < SNIFF_BYTES) {
    const next = await rest.next();
    if (next.done) {
      done = true;
      break;
    }
    if (next.value.length === 0) continue;
    chunks.push(next.value);
    size += next.value.length;
  }
  let bytes = chunks.length === 1 ? chunks[0]! : new Uint8Array(size);
  if (chunks.length > 1) {
    let offset = 0;
    for (const chunk of chunks) {
      bytes.set(chunk, offset);
      offset += chunk.length;
    }
  }

  if (startsWith(bytes, [0xef, 0xbb, 0xbf])) bytes = bytes.subarray(3);
  if (bytes.length === 0) return { error: 'the file is empty: no header row', line: 1 };
  if (startsWith(bytes, [0xff, 0xfe]) || startsWith(bytes, [0xfe, 0xff])) {
    return { error: 'the file is UTF-16 text, not UTF-8: export it as "CSV UTF-8"', line: 1 };
  }
  const kind = binaryKind(bytes);
  if (kind) return { error: `the file is ${kind}`, line: 1 };

  const decoder = new Utf8ChunkDecoder();
  // Decode the sniffed bytes strictly: an invalid byte this early means the file is not UTF-8.
  const cut = done ? bytes.length : bytes.length - Math.min(3, bytes.length);
  const invalidAt = firstInvalidUtf8(bytes.subarray(0, cut));
  if (invalidAt !== -1) {
    const line = countLines(bytes, invalidAt);
    const firstLineEnd = bytes.indexOf(0x0a);
    if (bytes.indexOf(0) !== -1 && (firstLineEnd === -1 || bytes.indexOf(0) < firstLineEnd)) {
      return { error: 'the file is binary (NUL bytes in its header line), not CSV text', line: 1 };
    }
    const byte = bytes[invalidAt]!.toString(16).toUpperCase().padStart(2, '0');
    return {
      error: `the file is not UTF-8 text: byte 0x${byte} on line ${line} is not valid UTF-8 (Latin-1 or Windows-1252?); export it as "CSV UTF-8"`,
      line,
    };
  }
  const text = decoder.decode(bytes, done);

  // The header is the first line that is not blank.
  let offset = 0;
  let line = 1;
  while (offset < text.length) {
    const end = lineEnd(text, offset);
    if (end === -1 || text.slice(offset, end).trim() !== '') break;
    offset = skipNewline(text, end);
    line++;
  }
  if (offset >= text.length) return { error: 'the file has no header row (only blank lines)', line: 1 };
  let end = lineEnd(text, offset);
  if (end === -1) {
    if (!done) {
      return {
        error: `no line break in the first ${SNIFF_BYTES / 1024} KiB: this is not a CSV file, or its header is too long`,
        line,
      };
    }
    end = text.length;
  }
  const header = text.slice(offset, end);
  if (CONTROL.test(header)) {
    return {
      error: `the file is binary (${header.includes('\u0000') ? 'NUL' : 'control'} bytes in its header line), not CSV text`,
      line,
    };
  }
  const newline = text[end] === '\r' && text[end + 1] !== '\n' && end + 1 < text.length ? '\r' : '\n';
  return {
    text: text.slice(offset),
    delimiter: forcedDelimiter ?? sniffDelimiter(header),
    newline,
    decoder,
    rest,
    done,
    headerLine: line,
  };
}

/** The 1-based line of byte `offset`. */
function countLines(bytes: Uint8Array, offset: number): number {
  let line = 1;
  for (
    let index = bytes.indexOf(0x0a);
    index !== -1 && index < offset;
    index = bytes.indexOf(0x0a, index + 1)
  )
    line++;
  return line;
}

/** Index of the line break (`\n`, or `\r` of `\r\n`/lone `\r`) at or after `from`, or -1. */
function lineEnd(text: string, from: number): number {
  const lf = text.indexOf('\n', from);
  const cr = text.indexOf('\r', from);
  if (cr !== -1 && (lf === -1 || cr < lf)) return cr;
  return lf;
}

function skipNewline(text: string, end: number): number {
  return text[end] === '\r' && text[end + 1] === '\n' ? end + 2 : end + 1;
}
