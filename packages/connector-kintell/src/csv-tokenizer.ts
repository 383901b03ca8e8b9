import { Parser } from 'csv-parse';
import { INVALID_BYTES_MARK } from './csv-text.js';
import type { CsvDelimiter, CsvEngineName } from './types.js';

const STAND_IN = '\uffff';

/** One CSV record: its fields as written (unquoted) and the physical line it starts on. */
export interface CsvRecord {
  line: number;
  fields: string[];
}

/** A record that could not be read. `fatal`: nothing after it can be trusted, the import stops. */
export interface CsvRecordProblem {
  line: number;
  message: string;
  fatal: boolean;
}

/**
 * Splits decoded CSV text into records, chunk by chunk. Both engines follow csv-parse's rules with
 * `relax_quotes`: RFC 4180 quoting (`""` is a quote, quoted values may hold delimiters and line
 * breaks); a quote inside an unquoted value is a plain character; text after a closing quote is
 * kept, quotes included. Blank lines are skipped. `line` counts physical lines (`\n`, `\r\n`, or
 * lone `\r` in a CR-only file), also inside quoted values.
 */
export interface CsvTokenizer {
  push(text: string, out: Array<CsvRecord | CsvRecordProblem>): void;
  end(out: Array<CsvRecord | CsvRecordProblem>): void;
}

export interface CsvTokenizerOptions {
  delimiter: CsvDelimiter;
  newline: '\n' | '\r';
  /** The physical line of the first record (the header). */
  firstLine: number;
  /** A record still open after this many characters stops the import. */
  maxRowChars: number;
}

const QUOTE = 34;
const CR = 13;

const unclosedQuote = (line: number): CsvRecordProblem => ({
  line,
  message: 'unclosed quote: the file ends inside a quoted value (truncated file?)',
  fatal: false,
});

const tooLong = (line: number, max: number): CsvRecordProblem => ({
  line,
  message: `row is longer than ${max} characters: an unclosed quote? The import stops here`,
  fatal: true,
});

/** Line breaks in `text[from, to)`. */
function countBreaks(text: string, newline: string, from: number, to: number): number {
  let count = 0;
  for (
    let index = text.indexOf(newline, from);
    index !== -1 && index < to;
    index = text.indexOf(newline, index + 1)
  )
    count++;
  return count;
}

/**
 * The built-in tokenizer. Lines without a quote character, the common case, are cut with one
 * `indexOf` and one `split`; lines with one are read field by field, jumping from quote to quote.
 */
class FastCsvTokenizer implements CsvTokenizer {
  private rest = '';
  private line: number;
  private stopped = false;
  private readonly delimiter: string;
  private readonly delimiterCode: number;
  private readonly newline: string;
  private readonly maxRowChars: number;

  constructor(options: CsvTokenizerOptions) {
    this.delimiter = options.delimiter;
    this.delimiterCode = options.delimiter.charCodeAt(0);
    this.newline = options.newline;
    this.line = options.firstLine;
    this.maxRowChars = options.maxRowChars;
  }

  push(text: string, out: Array<CsvRecord | CsvRecordProblem>): void {
    if (this.stopped) return;
    this.run(this.rest === '' ? text : this.rest + text, false, out);
  }

  end(out: Array<CsvRecord | CsvRecordProblem>): void {
    if (this.stopped) return;
    this.run(this.rest, true, out);
    this.rest = '';
  }

  private run(text: string, final: boolean, out: Array<CsvRecord | CsvRecordProblem>): void {
    const { newline, delimiter } = this;
    const length = text.length;
    let position = 0;
    let nextQuote = text.indexOf('"');
    if (nextQuote === -1) nextQuote = Number.POSITIVE_INFINITY;
    while (position < length) {
      let lineBreak = text.indexOf(newline, position);
      if (lineBreak === -1) {
        if (!final) break;
        lineBreak = length;
      }
      if (nextQuote < position) {
        nextQuote = text.indexOf('"', position);
        if (nextQuote === -1) nextQuote = Number.POSITIVE_INFINITY;
      }
      if (nextQuote > lineBreak) {
        let end = lineBreak;
        if (end > position && newline === '\n' && text.charCodeAt(end - 1) === CR) end--;
        if (end > position) out.push({ line: this.line, fields: text.slice(position, end).split(delimiter) });
        this.line++;
        position = lineBreak + 1;
        continue;
      }
      const next = this.quotedRecord(text, position, final, out);
      if (next === -1) break;
      position = next;
    }
    this.rest = position < length ? text.slice(position) : '';
    if (!final && this.rest.length > this.maxRowChars) {
      out.push(tooLong(this.line, this.maxRowChars));
      this.stopped = true;
      this.rest = '';
    }
  }

  /** Whether a line break starts at `index`; `undefined` when the chunk ends before we can tell. */
  private breakAt(text: string, index: number, final: boolean): number | undefined {
    const code = text.charCodeAt(index);
    if (this.newline === '\r') return code === CR ? 1 : 0;
    if (code === 10) return 1;
    if (code !== CR) return 0;
    if (index + 1 >= text.length) return final ? 0 : undefined;
    return text.charCodeAt(index + 1) === 10 ? 2 : 0;
  }

  /** End of an unquoted value starting at `from`: the next delimiter or line break (-1: not in this chunk). */
  private valueEnd(text: string, from: number, final: boolean): number {
    const delimiterAt = text.indexOf(this.delimiter, from);
    let breakAt = text.indexOf(this.newline, from);
    if (breakAt !== -1 && this.newline === '\n' && breakAt > from && text.charCodeAt(breakAt - 1) === CR)
      breakAt--;
    if (delimiterAt === -1 && breakAt === -1) return final ? text.length : -1;
    if (delimiterAt === -1) return breakAt;
    if (breakAt === -1) return delimiterAt;
    return Math.min(delimiterAt, breakAt);
  }

  /**
   * Reads one record that holds a quote, from `start`. Returns where the next record starts, or -1
   * when the record does not end in this chunk.
   */
  private quotedRecord(
    text: string,
    start: number,
    final: boolean,
    out: Array<CsvRecord | CsvRecordProblem>,
  ): number {
    const length = text.length;
    const fields: string[] = [];
    let position = start;
    let breaks = 0;
    for (;;) {
      if (text.charCodeAt(position) === QUOTE) {
        let value = '';
        let from = position + 1;
        for (;;) {
          const quote = text.indexOf('"', from);
          if (quote === -1) {
            if (!final) return -1;
            out.push(unclosedQuote(this.line));
            this.line += breaks + countBreaks(text, this.newline, from, length);
            return length;
          }
          if (quote + 1 >= length && !final) return -1;
          breaks += countBreaks(text, this.newline, from, quote);
          value += text.slice(from, quote);
          if (text.charCodeAt(quote + 1) === QUOTE) {
            value += '"';
            from = quote + 2;
            continue;
          }
          position = quote + 1;
          if (position < length && text.charCodeAt(position) !== this.delimiterCode) {
            const lineBreak = this.breakAt(text, position, final);
            if (lineBreak === undefined) return -1;
            if (lineBreak === 0) {
              // Text after the closing quote: kept with both quotes, as csv-parse's relax_quotes does.
              const end = this.valueEnd(text, position, final);
              if (end === -1) return -1;
              value = `"${value}"${text.slice(position, end)}`;
              position = end;
            }
          }
          fields.push(value);
          break;
        }
      } else {
        const end = this.valueEnd(text, position, final);
        if (end === -1) return -1;
        fields.push(text.slice(position, end));
        position = end;
      }
      if (position >= length) {
        if (!final) return -1;
        out.push({ line: this.line, fields });
        this.line += 1 + breaks;
        return length;
      }
      if (text.charCodeAt(position) === this.delimiterCode) {
        position++;
        continue;
      }
      const lineBreak = this.breakAt(text, position, final);
      if (lineBreak === undefined) return -1;
      out.push({ line: this.line, fields });
      this.line += 1 + breaks;
      return position + (lineBreak || 1);
    }
  }
}

/**
 * csv-parse 6's stream parser behind the same interface, about 25 times slower than the built-in
 * tokenizer (it runs several function calls per byte). Its own line count is wrong after a
 * quoted CRLF (it counts two), so lines are counted here: a record starts on the line after the
 * previous one ends, plus the blank lines csv-parse skipped between them.
 */
class CsvParseTokenizer implements CsvTokenizer {
  private readonly parser: Parser;
  private readonly newline: string;
  private readonly maxRowChars: number;
  /** The physical line the previous record ended on. */
  private lastLine: number;
  /** csv-parse's counters at the previous record. */
  private parserLines = 0;
  private parserEmptyLines = 0;
  private stopped = false;
  private marked = false;

  constructor(options: CsvTokenizerOptions) {
    this.newline = options.newline;
    this.maxRowChars = options.maxRowChars;
    this.lastLine = options.firstLine - 1;
    this.parser = new Parser({
      delimiter: options.delimiter,
      record_delimiter: options.newline === '\r' ? ['\r'] : ['\r\n', '\n'],
      relax_quotes: true,
      relax_column_count: true,
      skip_empty_lines: true,
      max_record_size: options.maxRowChars,
      info: true,
    });
    // Errors are read synchronously from `errored`; the event would otherwise be unhandled.
    this.parser.on('error', () => {});
  }

  push(text: string, out: Array<CsvRecord | CsvRecordProblem>): void {
    if (this.stopped) return;
    // csv-parse reads UTF-8 bytes, where the lone surrogate marking invalid input cannot live: it
    // travels as U+FFFF (a noncharacter) and is put back in the fields.
    if (text.includes(INVALID_BYTES_MARK)) {
      this.marked = true;
      this.parser.write(text.replaceAll(INVALID_BYTES_MARK, STAND_IN));
    } else this.parser.write(text);
    this.drain(out);
  }

  end(out: Array<CsvRecord | CsvRecordProblem>): void {
    if (this.stopped) return;
    this.parser.end();
    this.drain(out);
  }

  private drain(out: Array<CsvRecord | CsvRecordProblem>): void {
    for (;;) {
      const item = this.parser.read() as {
        record: string[];
        info: { lines: number; empty_lines: number };
      } | null;
      if (item === null) break;
      const { record, info } = item;
      const skipped = info.empty_lines - this.parserEmptyLines;
      const span = info.lines - this.parserLines - skipped;
      const line = this.lastLine + 1 + skipped;
      let breaks = 0;
      if (span > 1) for (const field of record) breaks += countBreaks(field, this.newline, 0, field.length);
      const fields = this.marked
        ? record.map((field) => field.replaceAll(STAND_IN, INVALID_BYTES_MARK))
        : record;
      out.push({ line, fields });
      this.lastLine = line + breaks;
      this.parserLines = info.lines;
      this.parserEmptyLines = info.empty_lines;
    }
    const error = this.parser.errored as (Error & { code?: string }) | null;
    if (!error) return;
    this.stopped = true;
    const line = this.lastLine + 1 + (this.parser.info.empty_lines - this.parserEmptyLines);
    if (error.code === 'CSV_QUOTE_NOT_CLOSED') out.push(unclosedQuote(line));
    else if (error.code === 'CSV_MAX_RECORD_SIZE') out.push(tooLong(line, this.maxRowChars));
    else out.push({ line, message: `unreadable CSV: ${error.message}`, fatal: true });
  }
}

/**
 * A tokenizer of the given engine.
 *
 * @example
 * const tokenizer = createCsvTokenizer('fast', { delimiter: ',', newline: '\n', firstLine: 1, maxRowChars: 1 << 20 });
 */
export function createCsvTokenizer(engine: CsvEngineName, options: CsvTokenizerOptions): CsvTokenizer {
  return engine === 'csv-parse' ? new CsvParseTokenizer(options) : new FastCsvTokenizer(options);
}
