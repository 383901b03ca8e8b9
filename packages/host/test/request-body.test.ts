// Multipart bodies cut short: the file stream errors while nobody reads it yet (the import is
// still setting up), or in a field the host skips. Either must become a 400, never an unhandled
// 'error' event that takes the process down.

import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { HttpError } from '../src/http-error.js';
import { type BodyStream, multipartFile } from '../src/imports/request-body.js';

function bodyOf(text: string): BodyStream {
  const bytes = new TextEncoder().encode(text);
  return {
    bytes: bytes.length,
    error: undefined,
    complete: true,
    discard() {},
    async *[Symbol.asyncIterator]() {
      yield bytes;
    },
  };
}

const CUT = (field: string) =>
  `--XYZ\r\nContent-Disposition: form-data; name="${field}"; filename="a.csv"\r\n\r\nSession ID,Program\r\n`;

async function readAll(chunks: AsyncIterable<Uint8Array>): Promise<number> {
  let bytes = 0;
  for await (const chunk of chunks) bytes += chunk.length;
  return bytes;
}

describe('multipartFile on a body cut short', () => {
  it('answers 400 invalid_multipart when the file is read only after the form broke off', async () => {
    const file = await multipartFile(bodyOf(CUT('file')), 'multipart/form-data; boundary=XYZ', 'file');
    // The route does database work before it reads the file: the parser reaches the end meanwhile.
    await sleep(50);
    const error = await readAll(file.chunks).then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(HttpError);
    expect((error as HttpError).status).toBe(400);
    expect((error as HttpError).code).toBe('invalid_multipart');
    expect((error as HttpError).message).toMatch(/unexpected end of form/i);
    await file.settled;
  });

  it('answers 400 invalid_multipart when a skipped field is the one cut short', async () => {
    const error = await multipartFile(bodyOf(CUT('other')), 'multipart/form-data; boundary=XYZ', 'file').then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    await sleep(50);
    expect(error).toBeInstanceOf(HttpError);
    expect((error as HttpError).code).toBe('invalid_multipart');
  });
});
