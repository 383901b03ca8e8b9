import { describe, expect, it } from 'vitest';
import { type CsvRecord, type CsvRecordProblem, createCsvTokenizer } from '../src/csv-tokenizer.js';
import type { CsvEngineName } from '../src/index.js';

/** A small seeded PRNG (mulberry32), so a failure can be replayed. */
function random(seed: number) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const PIECES = ['a', 'Zoë', '李', '😀', ' ', ',', ';', '"', '""', '\n', '\r\n', '\r', 'x"y', '1.5', ''];

/** A random CSV document: well-formed quoting mostly, relaxed quotes and stray CRs sometimes. */
function document(next: () => number, delimiter: string): string {
  const pick = <T>(items: readonly T[]) => items[Math.floor(next() * items.length)]!;
  const lines: string[] = [];
  const rows = 1 + Math.floor(next() * 8);
  for (let row = 0; row < rows; row++) {
    if (next() < 0.1) {
      lines.push('');
      continue;
    }
    const fields: string[] = [];
    const width = 1 + Math.floor(next() * 5);
    for (let column = 0; column < width; column++) {
      let text = '';
      for (let count = Math.floor(next() * 4); count > 0; count--) text += pick(PIECES);
      const roll = next();
      if (roll < 0.45) fields.push(`"${text.replaceAll('"', '""')}"`);
      else if (roll < 0.5) fields.push(`"${text.replaceAll('"', '""')}"tail`);
      else fields.push(text.replace(/[\r\n",;]/g, '').replaceAll(delimiter, ''));
    }
    lines.push(fields.join(delimiter));
  }
  const newline = next() < 0.3 ? '\r\n' : '\n';
  return lines.join(newline) + (next() < 0.5 ? newline : '');
}

function tokenize(engine: CsvEngineName, text: string, sizes: number[], delimiter: ',' | ';') {
  const tokenizer = createCsvTokenizer(engine, {
    delimiter,
    newline: '\n',
    firstLine: 1,
    maxRowChars: 1 << 20,
  });
  const out: Array<CsvRecord | CsvRecordProblem> = [];
  let offset = 0;
  for (let index = 0; offset < text.length; index++) {
    let end = offset + sizes[index % sizes.length]!;
    // Decoded chunks never split a surrogate pair (the decoder carries the bytes over).
    const code = text.charCodeAt(end - 1);
    if (code >= 0xd800 && code <= 0xdbff) end++;
    tokenizer.push(text.slice(offset, end), out);
    offset = end;
  }
  tokenizer.end(out);
  return out.map((token) => ('fields' in token ? { line: token.line, fields: token.fields } : { ...token }));
}

describe('the built-in tokenizer', () => {
  it('reads every document exactly as csv-parse does: fields and line numbers, whatever the chunking', () => {
    const next = random(20_251_126);
    for (let round = 0; round < 400; round++) {
      const delimiter = next() < 0.5 ? ',' : ';';
      const text = document(next, delimiter);
      const reference = tokenize('csv-parse', text, [text.length || 1], delimiter);
      const sizes = [1 + Math.floor(next() * 9), 1 + Math.floor(next() * 40), 1];
      expect(tokenize('fast', text, sizes, delimiter), JSON.stringify(text)).toEqual(reference);
      expect(tokenize('csv-parse', text, sizes, delimiter), JSON.stringify(text)).toEqual(reference);
    }
  });

  it('counts a quoted CRLF as one line, where csv-parse alone would count two', () => {
    const text = 'a,"x\r\ny"\r\nb,c\r\n';
    expect(tokenize('fast', text, [3], ',')).toEqual([
      { line: 1, fields: ['a', 'x\r\ny'] },
      { line: 3, fields: ['b', 'c'] },
    ]);
    expect(tokenize('csv-parse', text, [3], ',')).toEqual(tokenize('fast', text, [3], ','));
  });
});
