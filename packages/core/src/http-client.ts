import { Agent, type Dispatcher, request as undiciRequest } from 'undici';

export interface HttpRequest {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD';
  url: string;
  headers?: Record<string, string>;
  /** Sent as given: sign these exact bytes, then send them. */
  body?: string | Uint8Array;
  signal?: AbortSignal | undefined;
}

export interface HttpResponse {
  status: number;
  /** Lower-case header names; repeated headers joined with `, `. */
  headers: Record<string, string>;
  /** The whole body, already read (never left unconsumed). */
  body: Uint8Array;
  text(): string;
  json<T = unknown>(): T;
}

/** The HTTP client connectors receive in their context. */
export interface HttpClient {
  request(request: HttpRequest): Promise<HttpResponse>;
  close(): Promise<void>;
}

export interface HttpClientOptions {
  /** TCP/TLS connect timeout. Default 30 s. */
  connectTimeoutMs?: number;
  /** Time to receive the response headers. Default 30 s. */
  headersTimeoutMs?: number;
  /** Max idle time between body chunks. Default 30 s. */
  bodyTimeoutMs?: number;
  /** Idle keep-alive; shorter than common server idle timeouts (5 s on Node, 60 s on nginx). Default 4 s. */
  keepAliveTimeoutMs?: number;
  /** Responses above this size are cut off with an error. Default 5 MiB. */
  maxResponseBytes?: number;
  /** Sockets per origin. Default 128. */
  connections?: number;
  /** Use your own undici dispatcher (proxy, MockAgent). Timeouts above then are yours to set. */
  dispatcher?: Dispatcher;
  /** Added to every request. */
  userAgent?: string;
}

const DEFAULT_TIMEOUT_MS = 30_000;

/** Reads a whole response body, failing (and destroying the stream) past `maxBytes`. */
function readBody(stream: Dispatcher.ResponseData['body'], maxBytes: number): Promise<Buffer> {
  // Plain 'data' events: an async iterator costs several promises per chunk on the hot path.
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size > maxBytes) {
        stream.destroy();
        reject(
          Object.assign(new Error(`response body exceeds ${maxBytes} bytes`), {
            code: 'UND_ERR_RES_EXCEEDED_MAX_SIZE',
          }),
        );
        return;
      }
      chunks.push(chunk);
    });
    stream.once('error', reject);
    stream.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)));
  });
}

function flattenHeaders(raw: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

function toResponse(status: number, headers: Record<string, string>, body: Uint8Array): HttpResponse {
  let text: string | undefined;
  return {
    status,
    headers,
    body,
    text: () => {
      text ??= Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
      return text;
    },
    json: <T>() => JSON.parse(text ?? Buffer.from(body).toString('utf8')) as T,
  };
}

/**
 * An undici-based HTTP client with explicit timeouts, no redirects, bounded bodies and
 * short keep-alive.
 *
 * @example
 * const http = createHttpClient({ headersTimeoutMs: 10_000 });
 * const response = await http.request({ method: 'POST', url, headers, body });
 * await http.close();
 */
export function createHttpClient(options: HttpClientOptions = {}): HttpClient {
  const maxBytes = options.maxResponseBytes ?? 5 * 1024 * 1024;
  const ownsDispatcher = options.dispatcher === undefined;
  const dispatcher =
    options.dispatcher ??
    new Agent({
      connect: { timeout: options.connectTimeoutMs ?? DEFAULT_TIMEOUT_MS },
      headersTimeout: options.headersTimeoutMs ?? DEFAULT_TIMEOUT_MS,
      bodyTimeout: options.bodyTimeoutMs ?? DEFAULT_TIMEOUT_MS,
      keepAliveTimeout: options.keepAliveTimeoutMs ?? 4_000,
      keepAliveMaxTimeout: Math.max(options.keepAliveTimeoutMs ?? 4_000, 10_000),
      connections: options.connections ?? 128,
    });

  return {
    async request(request) {
      const headers: Record<string, string> = { ...request.headers };
      if (options.userAgent && !Object.keys(headers).some((name) => name.toLowerCase() === 'user-agent')) {
        headers['user-agent'] = options.userAgent;
      }
      const response = await undiciRequest(request.url, {
        method: request.method ?? (request.body === undefined ? 'GET' : 'POST'),
        headers,
        body: request.body,
        signal: request.signal,
        dispatcher,
      });
      const body = await readBody(response.body, maxBytes);
      return toResponse(response.statusCode, flattenHeaders(response.headers), body);
    },
    async close() {
      if (ownsDispatcher) await dispatcher.close();
    },
  };
}
