import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import busboy from 'busboy';
import type { Context } from 'hono';
import { HttpError } from '../http-error.js';

/**
 * A request body as a stream of chunks, read with backpressure (the socket is paused while the
 * consumer is busy) and capped at a byte limit. The reading error is kept (`error`), so it
 * survives a consumer that wraps or swallows it.
 */
export interface BodyStream extends AsyncIterable<Uint8Array> {
  /** Bytes read so far. */
  readonly bytes: number;
  /** What ended the read early: a 413, a client that went away. */
  readonly error: unknown;
  /** True once the body was read to its end. */
  readonly complete: boolean;
  /** Stops reading; the rest of the body is discarded as it arrives, never buffered. */
  discard(): void;
}

const tooLarge = (limit: number) =>
  new HttpError(413, 'payload_too_large', `request body exceeds ${limit} bytes`);

/** The Node request behind a Hono context, when the host runs on `@hono/node-server`. */
function incomingOf(c: Context): IncomingMessage | undefined {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  return incoming && typeof incoming.on === 'function' && !incoming.readableEnded ? incoming : undefined;
}

/**
 * Streams the request body, refusing more than `limit` bytes with a 413 (at once when
 * Content-Length says so, otherwise when the limit is crossed).
 *
 * @example
 * const body = streamBody(c, 100 * 1024 * 1024);
 * for await (const chunk of body) parser.write(chunk);
 */
export function streamBody(c: Context, limit: number): BodyStream {
  const declared = Number(c.req.header('content-length') ?? Number.NaN);
  if (declared > limit) throw tooLarge(limit);
  const incoming = incomingOf(c);
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  let bytes = 0;
  let error: unknown;
  let complete = false;
  let reading = false;
  let abandoned = false;
  let started = false;

  const drain = () => {
    if (incoming) {
      if (!incoming.readableEnded) incoming.resume();
    } else if (reader) {
      reader.cancel().catch(() => undefined);
    } else {
      c.req.raw.body?.cancel().catch(() => undefined);
    }
  };

  async function* chunks(): AsyncGenerator<Uint8Array> {
    if (incoming) {
      // Not destroyed on an early stop: the response still has to go out on this socket.
      yield* incoming.iterator({ destroyOnReturn: false }) as AsyncIterable<Uint8Array>;
      return;
    }
    const body = c.req.raw.body;
    if (!body) return;
    reader = body.getReader();
    for (;;) {
      const next = await reader.read();
      if (next.done) return;
      yield next.value;
    }
  }

  async function* read(): AsyncGenerator<Uint8Array> {
    if (started) throw new Error('[impact-in] [imports] a request body can be read once');
    started = true;
    reading = true;
    try {
      for await (const chunk of chunks()) {
        if (abandoned) return;
        bytes += chunk.length;
        if (bytes > limit) throw tooLarge(limit);
        yield chunk;
      }
      complete = true;
    } catch (caught) {
      error =
        caught instanceof HttpError
          ? caught
          : new HttpError(400, 'upload_aborted', `the upload broke off: ${(caught as Error).message}`);
      throw error;
    } finally {
      reading = false;
      if (!complete) drain();
    }
  }

  return {
    get bytes() {
      return bytes;
    },
    get error() {
      return error;
    },
    get complete() {
      return complete;
    },
    discard() {
      abandoned = true;
      if (!reading && !complete) drain();
    },
    [Symbol.asyncIterator]: () => read(),
  };
}

/** A Content-Type split into its media type (lower-case) and parameters. */
export function parseContentType(header: string | undefined): {
  type: string;
  params: Record<string, string>;
} {
  const [type = '', ...rest] = (header ?? '').split(';');
  const params: Record<string, string> = {};
  for (const part of rest) {
    const at = part.indexOf('=');
    if (at === -1) continue;
    params[part.slice(0, at).trim().toLowerCase()] = part
      .slice(at + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1');
  }
  return { type: type.trim().toLowerCase(), params };
}

/** One file out of a multipart body, streamed. */
export interface MultipartFile {
  chunks: AsyncIterable<Uint8Array>;
  filename: string | undefined;
  mimeType: string;
  /** Stops reading the form: the rest of the request body is discarded. */
  discard(): void;
  /** Resolves once the whole form has been read (or discarded). */
  settled: Promise<void>;
}

const invalidMultipart = (message: string) =>
  new HttpError(400, 'invalid_multipart', `malformed multipart/form-data body: ${message}`);

/**
 * Finds the file field `field` in a `multipart/form-data` body and streams it, with busboy,
 * without buffering the upload: the request is written into the parser only as fast as the file
 * is consumed. Other fields and files are skipped. A form without the field is a 400
 * `missing_file`; a malformed one (no boundary, cut short) a 400 `invalid_multipart`.
 *
 * @example
 * const file = await multipartFile(streamBody(c, limit), c.req.header('content-type')!, 'file');
 * for await (const chunk of file.chunks) …
 */
export async function multipartFile(
  body: BodyStream,
  contentType: string,
  field: string,
): Promise<MultipartFile> {
  let parser: busboy.Busboy;
  try {
    parser = busboy({ headers: { 'content-type': contentType }, limits: { fields: 100, parts: 200 } });
  } catch (error) {
    body.discard();
    throw invalidMultipart((error as Error).message);
  }
  let found = false;
  const file = new Promise<{ stream: Readable; info: busboy.FileInfo }>((resolve, reject) => {
    parser.on('file', (name, stream, info) => {
      // busboy errors a file stream when the form breaks off inside it ("Unexpected end of
      // form"), whether or not anyone reads it yet: without a listener that error would be
      // unhandled and end the process. The parser reports the same error; the stream being read
      // throws it to its reader (see `chunks`).
      stream.on('error', () => undefined);
      if (name === field && !found) {
        found = true;
        resolve({ stream, info });
      } else {
        stream.resume();
      }
    });
    parser.on('error', (error) =>
      reject(error instanceof HttpError ? error : invalidMultipart((error as Error).message)),
    );
    parser.on('close', () =>
      reject(new HttpError(400, 'missing_file', `the multipart body has no file field "${field}"`)),
    );
  });
  // The rejection is read through `await file` below; this keeps it from being reported unhandled.
  file.catch(() => undefined);

  const writable = () =>
    new Promise<void>((resolve) => {
      const done = () => {
        parser.off('drain', done);
        parser.off('close', done);
        resolve();
      };
      parser.on('drain', done);
      parser.on('close', done);
    });
  const settled = (async () => {
    try {
      for await (const chunk of body) {
        if (parser.destroyed) break;
        if (!parser.write(chunk)) await writable();
      }
      if (!parser.destroyed) parser.end();
    } catch (error) {
      parser.destroy(error as Error);
    }
  })();

  const { stream, info } = await file;
  const discard = () => {
    body.discard();
    if (!parser.destroyed) parser.destroy();
    stream.destroy();
  };
  async function* chunks(): AsyncGenerator<Uint8Array> {
    try {
      for await (const chunk of stream) yield chunk as Uint8Array;
    } catch (error) {
      if (body.error) throw body.error;
      throw error instanceof HttpError ? error : invalidMultipart((error as Error).message);
    }
  }
  return { chunks: chunks(), filename: info.filename, mimeType: info.mimeType, discard, settled };
}
