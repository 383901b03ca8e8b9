import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getResponse, type RequestHandler } from 'msw';

/** One request the provider server received, exactly as it arrived. */
export interface RecordedCall {
  method: string;
  /** Full URL, e.g. `http://127.0.0.1:4123/api/v1/impact-events?x=1`. */
  url: string;
  /** Path and query, e.g. `/api/v1/impact-events?x=1`. */
  path: string;
  /** Lower-case header names. */
  headers: Record<string, string>;
  /** The exact body bytes. */
  body: Buffer;
  /** The status the handlers answered with (0 for a dropped connection). */
  status: number;
  at: number;
  text(): string;
  json<T = unknown>(): T;
}

export type HandlersInput = RequestHandler[] | ((baseUrl: string) => RequestHandler[]);

export interface ProviderServerOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (a free port). */
  port?: number;
  /** Cap on recorded calls kept in memory (oldest dropped). Default 100 000. */
  maxRecordedCalls?: number;
}

/**
 * msw request handlers served over a real loopback HTTP server. Connectors talk to it with
 * their real HTTP client (undici), and every call is recorded with its exact bytes.
 */
export interface ProviderServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly calls: RecordedCall[];
  /** Calls whose path (without query) equals `path`. */
  callsTo(path: string): RecordedCall[];
  /** Prepends handlers (e.g. a one-time 503) until `resetHandlers()`. */
  use(...handlers: RequestHandler[]): void;
  resetHandlers(): void;
  /** Forgets recorded calls and runtime handlers. */
  reset(): void;
  close(): Promise<void>;
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function headersOf(request: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value !== undefined) out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/**
 * Starts a provider server.
 *
 * @example
 * const provider = await startProviderServer((url) => [
 *   http.post(`${url}/events`, () => HttpResponse.json({ ok: true })),
 * ]);
 * // … deliver to provider.url …
 * expect(provider.calls[0].headers['x-signature']).toBe(hmacSha256(secret, provider.calls[0].body));
 * await provider.close();
 */
export async function startProviderServer(
  handlers: HandlersInput,
  options: ProviderServerOptions = {},
): Promise<ProviderServer> {
  const host = options.host ?? '127.0.0.1';
  const maxCalls = options.maxRecordedCalls ?? 100_000;
  let baseHandlers: RequestHandler[] = [];
  let runtimeHandlers: RequestHandler[] = [];
  const calls: RecordedCall[] = [];

  const handle = async (request: IncomingMessage, response: ServerResponse, url: string) => {
    const body = await readBody(request);
    const headers = headersOf(request);
    const fullUrl = `${url}${request.url ?? '/'}`;
    let text: string | undefined;
    const call: RecordedCall = {
      method: request.method ?? 'GET',
      url: fullUrl,
      path: request.url ?? '/',
      headers,
      body,
      status: 0,
      at: Date.now(),
      text: () => {
        text ??= body.toString('utf8');
        return text;
      },
      json: <T>() => JSON.parse(body.toString('utf8')) as T,
    };
    calls.push(call);
    if (calls.length > maxCalls) calls.shift();

    const method = call.method.toUpperCase();
    const fetchRequest = new Request(fullUrl, {
      method,
      headers: Object.entries(headers).filter(([name]) => name !== 'host' && name !== 'connection'),
      body: method === 'GET' || method === 'HEAD' ? undefined : body,
    });
    let mocked: Response | undefined;
    try {
      mocked = await getResponse([...runtimeHandlers, ...baseHandlers], fetchRequest);
    } catch (error) {
      call.status = 500;
      response.writeHead(500, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ error: 'handler_threw', message: String(error) }));
      return;
    }
    if (!mocked) {
      call.status = 404;
      response.writeHead(404, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ error: 'not_found', message: `no handler for ${method} ${call.path}` }));
      return;
    }
    if (mocked.type === 'error') {
      // HttpResponse.error(): a network failure, as the client sees a reset connection.
      request.socket.destroy();
      return;
    }
    call.status = mocked.status;
    const outHeaders: Record<string, string> = {};
    mocked.headers.forEach((value, name) => {
      outHeaders[name] = value;
    });
    response.writeHead(mocked.status, outHeaders);
    if (!mocked.body) {
      response.end();
      return;
    }
    const reader = mocked.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        response.write(value);
      }
      response.end();
    } catch {
      request.socket.destroy();
    }
  };

  let baseUrl = '';
  const server: Server = createServer((request, response) => {
    handle(request, response, baseUrl).catch(() => request.socket.destroy());
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  baseUrl = `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
  baseHandlers = typeof handlers === 'function' ? handlers(baseUrl) : handlers;

  return {
    url: baseUrl,
    calls,
    callsTo: (path) => calls.filter((call) => call.path.split('?')[0] === path),
    use: (...more) => {
      runtimeHandlers = [...more, ...runtimeHandlers];
    },
    resetHandlers: () => {
      runtimeHandlers = [];
      for (const handler of baseHandlers) handler.isUsed = false;
    },
    reset: () => {
      runtimeHandlers = [];
      calls.length = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
