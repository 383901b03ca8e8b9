import { describe, expect, it } from 'vitest';
import { importKintellCsv } from '../src/index.js';
import { HEADER, sessionRow } from './helpers.js';

/** A 2 000-row export made on demand in 1 KiB chunks, counting the chunks pulled from it. */
function lazyExport(row: (index: number) => string) {
  const state = { pulled: 0, total: 0 };
  async function* source() {
    const encoder = new TextEncoder();
    let text = `${HEADER}\n`;
    for (let index = 1; index <= 2_000; index++) {
      text += `${row(index)}\n`;
      while (text.length >= 1_024) {
        state.pulled++;
        yield encoder.encode(text.slice(0, 1_024));
        text = text.slice(1_024);
      }
    }
    state.pulled++;
    yield encoder.encode(text);
  }
  return { state, source };
}

describe('streaming', () => {
  it('reads no further than the sniffed start plus one batch before the first item', async () => {
    const { state, source } = lazyExport((index) => sessionRow({}, index));
    const items = importKintellCsv(source(), { batchSize: 100 });
    const first = await items.next();
    expect(first.value).toMatchObject({ ok: true, line: 2 });
    // 64 KiB are sniffed; 100 rows are about 18 KiB more. The whole export is about 360 chunks.
    expect(state.pulled).toBeLessThan(100);
    let count = 1;
    for await (const _item of items) count++;
    expect(count).toBe(2_000);
    expect(state.pulled).toBeGreaterThan(300);
  });

  it('does not pile up bad rows either', async () => {
    const { state, source } = lazyExport((index) => sessionRow({ rating: 'bad' }, index));
    const items = importKintellCsv(source(), { batchSize: 100 });
    expect((await items.next()).value).toMatchObject({ ok: false, line: 2, column: 'rating' });
    expect(state.pulled).toBeLessThan(100);
    await items.return?.();
  });
});
