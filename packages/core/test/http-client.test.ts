import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyError, createHttpClient } from '../src/index.js';

interface Recorded {
  method: string | undefined;
  url: string | undefined;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
}

const recorded: Recorded[] = [];
const hits = new Map<string, number>();
const pending = new Set<ServerResponse>();
let server: Server;
let base: string;

function hit(path: string): number {
  return hits.get(path) ?? 0;
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    hits.set(path, hit(path) + 1);
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      switch (path) {
        case '/echo': {
          recorded.push({
            method: req.method,
            url: req.url,
            headers: req.headers,
            rawHeaders: req.rawHeaders,
            body,
          });
          res.setHeader('X-Custom-Header', 'Custom-Value');
          res.setHeader('X-Multi', ['one', 'two']);
          res.setHeader('Content-Type', 'application/json; charset=utf-8');
          res.end(JSON.stringify({ ok: true, received: body.length, greeting: 'héllo ✓' }));
          return;
        }
        case '/text':
          res.writeHead(201, { 'Content-Type': 'text/plain' });
          res.end('plain body ✓');
          return;
        case '/empty':
          res.writeHead(204);
          res.end();
          return;
        case '/redirect':
          res.writeHead(302, { Location: '/target' });
          res.end('moved');
          return;
        case '/target':
          res.end('you should not be here');
          return;
        case '/hang':
          // Never answers.
          pending.add(res);
          return;
        case '/stall-body':
          res.writeHead(200, { 'Content-Type': 'text/plain' });
          res.write('first chunk, then silence');
          pending.add(res);
          return;
        case '/big': {
          const size = Number(new URL(req.url ?? '/', 'http://localhost').searchParams.get('size'));
          res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
          // Several chunks so the limit is crossed mid-stream.
          const chunk = Buffer.alloc(Math.min(size, 4_096), 0x61);
          let sent = 0;
          while (sent < size) {
            const part = chunk.subarray(0, Math.min(chunk.length, size - sent));
            res.write(part);
            sent += part.length;
          }
          res.end();
          return;
        }
        default:
          res.writeHead(404);
          res.end('not found');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const res of pending) res.destroy();
  server.closeAllConnections();
  await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
});

describe('createHttpClient', () => {
  it('POSTs the exact body bytes and headers', async () => {
    const client = createHttpClient({ userAgent: 'impact-in-test/1.0' });
    try {
      const bytes = new Uint8Array([0x7b, 0x00, 0xff, 0xfe, 0x0a, 0x22, 0xc3, 0x28, 0x7d]);
      const before = recorded.length;
      const response = await client.request({
        method: 'POST',
        url: `${base}/echo?x=1`,
        headers: { 'Content-Type': 'application/octet-stream', 'X-Signature': 'sha256=abc123' },
        body: bytes,
      });
      expect(response.status).toBe(200);
      expect(recorded).toHaveLength(before + 1);
      const seen = recorded.at(-1)!;
      expect(seen.method).toBe('POST');
      expect(seen.url).toBe('/echo?x=1');
      expect(Buffer.compare(seen.body, Buffer.from(bytes))).toBe(0);
      expect(seen.headers['content-type']).toBe('application/octet-stream');
      expect(seen.headers['x-signature']).toBe('sha256=abc123');
      expect(seen.headers['content-length']).toBe(String(bytes.length));
      expect(seen.headers['user-agent']).toBe('impact-in-test/1.0');
    } finally {
      await client.close();
    }
  });

  it('sends a string body as UTF-8 and defaults to POST when a body is given', async () => {
    const client = createHttpClient();
    try {
      const body = '{"name":"Zoë","emoji":"🌱","amount":12.5}';
      await client.request({ url: `${base}/echo`, body, headers: { 'content-type': 'application/json' } });
      const seen = recorded.at(-1)!;
      expect(seen.method).toBe('POST');
      expect(seen.body.toString('utf8')).toBe(body);
      expect(seen.body.equals(Buffer.from(body, 'utf8'))).toBe(true);
      expect(seen.headers['content-length']).toBe(String(Buffer.byteLength(body)));
    } finally {
      await client.close();
    }
  });

  it('defaults to GET without a body and keeps a caller-provided User-Agent', async () => {
    const client = createHttpClient({ userAgent: 'default-agent' });
    try {
      await client.request({ url: `${base}/echo`, headers: { 'User-Agent': 'caller-agent' } });
      const seen = recorded.at(-1)!;
      expect(seen.method).toBe('GET');
      expect(seen.body).toHaveLength(0);
      expect(seen.headers['user-agent']).toBe('caller-agent');
      const userAgentLines = seen.rawHeaders.filter(
        (_, index, all) => index % 2 === 0 && all[index]!.toLowerCase() === 'user-agent',
      );
      expect(userAgentLines).toHaveLength(1);
    } finally {
      await client.close();
    }
  });

  it('lower-cases response headers and reads text() and json()', async () => {
    const client = createHttpClient();
    try {
      const response = await client.request({ method: 'POST', url: `${base}/echo`, body: 'abc' });
      expect(response.status).toBe(200);
      expect(response.headers['x-custom-header']).toBe('Custom-Value');
      expect(response.headers['X-Custom-Header']).toBeUndefined();
      expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(response.headers['x-multi']).toBe('one, two');
      for (const name of Object.keys(response.headers)) expect(name).toBe(name.toLowerCase());
      const expected = { ok: true, received: 3, greeting: 'héllo ✓' };
      expect(response.body).toBeInstanceOf(Uint8Array);
      expect(response.text()).toBe(JSON.stringify(expected));
      expect(response.json()).toEqual(expected);
      // json() works before text() as well, and repeatedly.
      const again = await client.request({ method: 'POST', url: `${base}/echo`, body: 'abcd' });
      expect(again.json<{ received: number }>().received).toBe(4);
      expect(again.json<{ received: number }>().received).toBe(4);
      expect(again.text()).toContain('"received":4');

      const text = await client.request({ url: `${base}/text` });
      expect(text.status).toBe(201);
      expect(text.text()).toBe('plain body ✓');

      const empty = await client.request({ url: `${base}/empty` });
      expect(empty.status).toBe(204);
      expect(empty.body).toHaveLength(0);
      expect(empty.text()).toBe('');
    } finally {
      await client.close();
    }
  });

  it('does not follow redirects', async () => {
    const client = createHttpClient();
    try {
      const targetHitsBefore = hit('/target');
      const response = await client.request({ url: `${base}/redirect` });
      expect(response.status).toBe(302);
      expect(response.headers.location).toBe('/target');
      expect(response.text()).toBe('moved');
      // Give a (wrongly) followed redirect a moment to land.
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(hit('/target')).toBe(targetHitsBefore);
      expect(hit('/target')).toBe(0);
    } finally {
      await client.close();
    }
  });

  it('rejects with UND_ERR_HEADERS_TIMEOUT when the server never answers', async () => {
    const client = createHttpClient({ headersTimeoutMs: 200 });
    try {
      const started = Date.now();
      const error = await client.request({ url: `${base}/hang` }).then(
        () => undefined,
        (reason: unknown) => reason,
      );
      const elapsed = Date.now() - started;
      expect(error).toBeInstanceOf(Error);
      expect((error as { code?: string }).code).toBe('UND_ERR_HEADERS_TIMEOUT');
      // undici runs headers/body timeouts on its "fast timers", which tick every ~500 ms: a 200 ms
      // timeout fires after 0.5-1 s. Well below the 30 s default either way.
      expect(elapsed).toBeGreaterThanOrEqual(150);
      expect(elapsed).toBeLessThan(2_000);
      expect(classifyError(error).kind).toBe('retryable');
    } finally {
      await client.close();
    }
  });

  it('rejects with UND_ERR_BODY_TIMEOUT when the body stalls', async () => {
    const client = createHttpClient({ bodyTimeoutMs: 200 });
    try {
      const started = Date.now();
      const error = await client.request({ url: `${base}/stall-body` }).then(
        () => undefined,
        (reason: unknown) => reason,
      );
      const elapsed = Date.now() - started;
      expect(error).toBeInstanceOf(Error);
      expect((error as { code?: string }).code).toBe('UND_ERR_BODY_TIMEOUT');
      expect(elapsed).toBeGreaterThanOrEqual(150);
      expect(elapsed).toBeLessThan(2_000);
      expect(classifyError(error).code).toBe('UND_ERR_BODY_TIMEOUT');
    } finally {
      await client.close();
    }
  });

  it('aborts a request when the signal fires', async () => {
    const client = createHttpClient();
    try {
      const controller = new AbortController();
      const started = Date.now();
      setTimeout(() => controller.abort(), 100);
      const error = await client.request({ url: `${base}/hang`, signal: controller.signal }).then(
        () => undefined,
        (reason: unknown) => reason,
      );
      const elapsed = Date.now() - started;
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).name).toBe('AbortError');
      expect(elapsed).toBeLessThan(1_000);
    } finally {
      await client.close();
    }
  });

  it('rejects immediately with an already-aborted signal', async () => {
    const client = createHttpClient();
    try {
      const hangsBefore = hit('/hang');
      const controller = new AbortController();
      controller.abort();
      await expect(client.request({ url: `${base}/hang`, signal: controller.signal })).rejects.toThrow();
      expect(hit('/hang')).toBe(hangsBefore);
    } finally {
      await client.close();
    }
  });

  it('rejects a response larger than maxResponseBytes', async () => {
    const client = createHttpClient({ maxResponseBytes: 1_024 });
    try {
      const error = await client.request({ url: `${base}/big?size=65536` }).then(
        () => undefined,
        (reason: unknown) => reason,
      );
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).toBe('response body exceeds 1024 bytes');
      expect((error as { code?: string }).code).toBe('UND_ERR_RES_EXCEEDED_MAX_SIZE');
      // An oversized answer will be oversized again: not worth a retry.
      expect(classifyError(error, 'acme').kind).toBe('permanent');

      // Exactly at the limit is fine.
      const atLimit = await client.request({ url: `${base}/big?size=1024` });
      expect(atLimit.status).toBe(200);
      expect(atLimit.body).toHaveLength(1_024);
      expect(atLimit.text()).toBe('a'.repeat(1_024));
    } finally {
      await client.close();
    }
  });

  it('reads large multi-chunk bodies under the default limit intact', async () => {
    const client = createHttpClient();
    try {
      const response = await client.request({ url: `${base}/big?size=200000` });
      expect(response.body).toHaveLength(200_000);
      expect(response.body.every((byte) => byte === 0x61)).toBe(true);
    } finally {
      await client.close();
    }
  });

  it('rejects with ECONNREFUSED for a closed port', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));

    const client = createHttpClient();
    try {
      const error = await client.request({ url: `http://127.0.0.1:${port}/` }).then(
        () => undefined,
        (reason: unknown) => reason,
      );
      expect(error).toBeInstanceOf(Error);
      const classified = classifyError(error, 'test');
      expect(classified.code).toBe('ECONNREFUSED');
      expect(classified.kind).toBe('retryable');
    } finally {
      await client.close();
    }
  });
});
