import { describe, expect, it } from 'vitest';
import type { CsvHeaderInfo } from '../src/index.js';
import {
  CHUNK_SIZES,
  ENGINES,
  errors,
  HEADER,
  importText,
  records,
  sessionRow,
  sessionsCsv,
} from './helpers.js';

const MODES = ENGINES.flatMap((engine) => CHUNK_SIZES.map((chunkSize) => ({ engine, chunkSize })));

describe.each(MODES)('CSV format ($engine engine, $chunkSize-byte chunks)', ({ engine, chunkSize }) => {
  const run = (csv: string | Uint8Array, options = {}) => importText(csv, { engine, chunkSize, ...options });

  it('drops a UTF-8 byte order mark before the header', async () => {
    const items = await run(`\ufeff${sessionsCsv(sessionRow())}`);
    expect(records(items).map((record) => record.sourceId)).toEqual(['s-1']);
  });

  it('reads CRLF line endings, and counts lines the same', async () => {
    const csv = sessionsCsv(sessionRow({}, 1), sessionRow({ rating: 'x' }, 2), sessionRow({}, 3)).replaceAll(
      '\n',
      '\r\n',
    );
    const items = await run(csv);
    expect(items.map((item) => [item.line, item.ok])).toEqual([
      [2, true],
      [3, false],
      [4, true],
    ]);
    const record = items[0]!.ok ? items[0]!.record : undefined;
    expect(record?.data.company_ref).toBe('ACME');
  });

  it('keeps commas inside quoted values', async () => {
    const items = await run(sessionsCsv(sessionRow({ feedback: '"Patient, kind, clear"' })));
    expect(records(items)[0]!.data.feedback).toBe('Patient, kind, clear');
  });

  it('keeps line breaks inside quoted values, and numbers later rows by physical line', async () => {
    const csv = sessionsCsv(
      sessionRow({ feedback: '"First line\nsecond line\r\nthird line"' }, 1),
      sessionRow({ rating: '9' }, 2),
    );
    const items = await run(csv);
    expect(items[0]).toMatchObject({ ok: true, line: 2 });
    expect(items[0]!.ok && items[0]!.record.data.feedback).toBe('First line\nsecond line\r\nthird line');
    // Row 2 starts after the three physical lines of row 1.
    expect(items[1]).toMatchObject({ ok: false, line: 5, column: 'rating' });
  });

  it('unescapes doubled quotes', async () => {
    const items = await run(sessionsCsv(sessionRow({ feedback: '"She said ""merci"" twice"' })));
    expect(records(items)[0]!.data.feedback).toBe('She said "merci" twice');
  });

  it('treats empty fields as absent', async () => {
    const csv = sessionsCsv(
      sessionRow({ language: '', rating: '', feedback: '""', company_ref: '  ', participant_id: '' }),
    );
    const data = records(await run(csv))[0]!.data;
    expect(data).toMatchObject({
      language: null,
      rating: null,
      feedback: null,
      company_ref: null,
      participant_id: null,
    });
  });

  it('keeps non-ASCII names intact, across chunk boundaries', async () => {
    const csv = sessionsCsv(
      sessionRow({ participant_name: 'Zoë Ångström-Łukasiewicz', volunteer_name: '"محمد, 李小龍 😀"' }),
    );
    const data = records(await run(csv))[0]!.data;
    expect(data.participant_name).toBe('Zoë Ångström-Łukasiewicz');
    expect(data.volunteer_name).toBe('محمد, 李小龍 😀');
  });

  it('sniffs ";" from the header and then treats "," as text', async () => {
    let header: CsvHeaderInfo | undefined;
    const csv = `${HEADER.replaceAll(',', ';')}\n${sessionRow({ feedback: 'Good, really' }).replaceAll(',', ';').replace('Good; really', 'Good, really')}\n`;
    const items = await run(csv, { onHeader: (info: CsvHeaderInfo) => (header = info) });
    expect(header?.delimiter).toBe(';');
    expect(records(items)[0]!.data.feedback).toBe('Good, really');
  });

  it('reports a last row cut inside a quoted value, and keeps the rows before it', async () => {
    const csv = `${sessionsCsv(sessionRow({}, 1))}${sessionRow({ feedback: '"Cut off here' }, 2)}`;
    const items = await run(csv);
    expect(items).toHaveLength(2);
    expect(items[0]).toMatchObject({ ok: true, line: 2 });
    expect(items[1]).toMatchObject({ ok: false, line: 3 });
    expect(!items[1]!.ok && items[1]!.message).toMatch(/unclosed quote/);
  });

  it('reports a last row with missing columns, and keeps the rows before it', async () => {
    const csv = `${sessionsCsv(sessionRow({}, 1))}s-2,mentorship,2025-03-05T10:00:00Z`;
    const items = await run(csv);
    expect(items[0]).toMatchObject({ ok: true, line: 2 });
    expect(items[1]).toMatchObject({ ok: false, line: 3 });
    expect(!items[1]!.ok && items[1]!.message).toMatch(/has 3 fields but the header has 16/);
  });

  it('refuses a wrong header with the missing columns and what it found, and yields no rows', async () => {
    const items = await run(
      'Session ID,Program,Booked By,Start\ns-1,mentorship,ana@example.org,2025-03-04\n',
    );
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ ok: false, line: 1 });
    const message = !items[0]!.ok ? items[0]!.message : '';
    expect(message).toContain('missing required columns status, participant_email or participant_id');
    expect(message).toContain('found "Session ID", "Program", "Booked By", "Start"');
  });

  it('says so when the first line is data, not a header', async () => {
    const items = await run(`${sessionRow()}\n${sessionRow({}, 2)}\n`);
    expect(items).toEqual([
      expect.objectContaining({
        ok: false,
        line: 1,
        message: expect.stringMatching(/^the first line looks like data, not a sessions header row: missing/),
      }),
    ]);
  });

  it('ignores extra columns and reports them through onHeader', async () => {
    let header: CsvHeaderInfo | undefined;
    const csv = `${HEADER},Internal Notes,Export Batch\n${sessionRow()},private,42\n`;
    const items = await run(csv, { onHeader: (info: CsvHeaderInfo) => (header = info) });
    expect(header).toMatchObject({
      mapping: 'sessions',
      ignored: ['Internal Notes', 'Export Batch'],
      delimiter: ',',
    });
    expect(header?.absent).toEqual([]);
    expect(records(items)[0]!.data).not.toHaveProperty('Internal Notes');
  });

  it('says an empty file has no header row', async () => {
    expect(await run('')).toEqual([{ ok: false, line: 1, message: 'the file is empty: no header row' }]);
    expect(await run('\ufeff')).toEqual([
      { ok: false, line: 1, message: 'the file is empty: no header row' },
    ]);
    expect(await run('\n\r\n  \n')).toEqual([
      { ok: false, line: 1, message: 'the file has no header row (only blank lines)' },
    ]);
  });

  it('refuses a binary file with one error and no rows', async () => {
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48]);
    const [item, ...rest] = await run(png);
    expect(rest).toEqual([]);
    expect(item).toMatchObject({ ok: false, line: 1 });
    expect(!item!.ok && item!.message).toMatch(/not UTF-8|binary/);

    const nul = new Uint8Array([0x73, 0x65, 0x73, 0x00, 0x00, 0x01, 0x02, 0x0a, 0x41]);
    expect(await run(nul)).toEqual([
      { ok: false, line: 1, message: 'the file is binary (NUL bytes in its header line), not CSV text' },
    ]);

    const xlsx = new Uint8Array([0x50, 0x4b, 0x03, 0x04, 0x14, 0x00, 0x06, 0x00]);
    expect(await run(xlsx)).toEqual([
      {
        ok: false,
        line: 1,
        message:
          'the file is a ZIP archive (an Excel .xlsx workbook?), not CSV text: export the sheet as "CSV UTF-8"',
      },
    ]);
  });

  it('refuses a file that is not UTF-8, naming the line of the first bad byte', async () => {
    const latin1 = Buffer.from(sessionsCsv(sessionRow({ participant_name: 'José' })), 'latin1');
    const items = await run(latin1);
    expect(items).toEqual([
      {
        ok: false,
        line: 2,
        message:
          'the file is not UTF-8 text: byte 0xE9 on line 2 is not valid UTF-8 (Latin-1 or Windows-1252?); export it as "CSV UTF-8"',
      },
    ]);
    const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(HEADER, 'utf16le')]);
    expect(await run(utf16)).toEqual([
      { ok: false, line: 1, message: 'the file is UTF-16 text, not UTF-8: export it as "CSV UTF-8"' },
    ]);
  });

  it('reports rows with a NUL or invalid UTF-8 after the first 64 KiB as row errors, naming the column', async () => {
    const filler = Array.from({ length: 400 }, (_, index) => sessionRow({}, index + 1));
    const bad = Buffer.from(`${sessionRow({ volunteer_name: 'Jos\u00e9' }, 401)}\n`, 'latin1');
    const nul = `${sessionRow({ feedback: 'nul\u0000here' }, 402)}\n`;
    const csv = Buffer.concat([
      Buffer.from(sessionsCsv(...filler)),
      bad,
      Buffer.from(nul),
      Buffer.from(`${sessionRow({}, 403)}\n`),
    ]);
    expect(csv.length).toBeGreaterThan(64 * 1024);
    const items = await run(csv, { chunkSize: Math.max(chunkSize, 1024) });
    expect(items).toHaveLength(403);
    expect(errors(items)).toEqual([
      {
        ok: false,
        line: 402,
        column: 'volunteer_name',
        message: 'contains bytes that are not valid UTF-8 (is the file UTF-8?)',
      },
      { ok: false, line: 403, column: 'feedback', message: 'contains a NUL character' },
    ]);
    expect(items.at(-1)).toMatchObject({ ok: true, line: 404 });
  });

  it('names the line a row starts on and the header as written, also after quoted line breaks', async () => {
    const csv = [
      'Session ID,Program,Start Time,Completed At,Duration (minutes),Status,Mentee Email,Mentor Email,Feedback',
      's-1,LC,2025-03-04 10:00,2025-03-04 11:00,60,Completed,ana@example.org,vol@acme.example,"multi',
      'line',
      'feedback"',
      '',
      's-2,MFU,2025-03-04 10:00,2025-03-04 09:00,60,Completed,ana@example.org,vol@acme.example,ok',
      's-3,MFU,2025-03-04 10:00,,,Scheduled,not-an-email,vol@acme.example,"ok"',
    ].join('\n');
    const items = await run(csv);
    expect(items.map((item) => (item.ok ? [item.line] : [item.line, item.column, item.message]))).toEqual([
      [2],
      [6, 'Completed At', 'is before scheduled_at'],
      [7, 'Mentee Email', 'is not an email address'],
    ]);
  });

  it('skips blank lines and rows of empty cells, and still counts their lines', async () => {
    const csv = `${HEADER}\n\n${sessionRow({}, 1)}\n,,,,,,,,,,,,,,,\n   \n${sessionRow({ rating: '0' }, 2)}\n\n`;
    const items = await run(csv);
    expect(items.map((item) => [item.line, item.ok])).toEqual([
      [3, true],
      [6, false],
    ]);
  });

  it('reads files whose lines end in a lone CR', async () => {
    const csv = sessionsCsv(
      sessionRow({}, 1),
      sessionRow({ feedback: '"a\rb"' }, 2),
      sessionRow({ rating: '7' }, 3),
    );
    const items = await run(csv.replaceAll('\n', '\r'));
    expect(items.map((item) => [item.line, item.ok])).toEqual([
      [2, true],
      [3, true],
      [5, false],
    ]);
  });

  it('keeps text after a closing quote, like csv-parse with relax_quotes', async () => {
    const items = await run(
      sessionsCsv(sessionRow({ feedback: '"5" tall', volunteer_name: 'Bo "the" Mentor' })),
    );
    const data = records(items)[0]!.data;
    expect(data.feedback).toBe('"5" tall');
    expect(data.volunteer_name).toBe('Bo "the" Mentor');
  });

  it('refuses a row that runs past maxRowChars (an unclosed quote mid-file) and stops there', async () => {
    const rows = [sessionRow({}, 1), sessionRow({ feedback: '"never closed' }, 2)];
    for (let index = 3; index < 80; index++) rows.push(sessionRow({}, index));
    const items = await run(sessionsCsv(...rows), { maxRowChars: 2_048 });
    expect(items).toEqual([
      expect.objectContaining({ ok: true, line: 2 }),
      {
        ok: false,
        line: 3,
        message: 'row is longer than 2048 characters: an unclosed quote? The import stops here',
      },
    ]);
  });
});
