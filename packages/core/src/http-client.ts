import { Agent, type Dispatcher } from 'undici';

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

/**
 * In-flight requests per caller signal. One 'abort' listener per signal (not per request):
 * callers such as the dispatcher share one signal across hundreds of concurrent requests, and
 * EventTarget walks its whole listener list on every add and remove.
 */
const inflightBySignal = new WeakMap<AbortSignal, Set<Dispatcher.DispatchController>>();

function track(signal: AbortSignal, controller: Dispatcher.DispatchController): void {
  let set = inflightBySignal.get(signal);
  if (!set) {
    const created = new Set<Dispatcher.DispatchController>();
    set = created;
    inflightBySignal.set(signal, created);
    signal.addEventListener(
      'abort',
      () => {
        for (const inflight of created) inflight.abort(abortReason(signal));
        created.clear();
      },
      { once: true },
    );
  }
  set.add(controller);
}

function abortReason(signal: AbortSignal): Error {
  const reason = signal.reason;
  if (reason instanceof Error) return reason;
  return Object.assign(new Error('request aborted'), { name: 'AbortError', code: 'ABORT_ERR' });
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
    request(request) {
      const headers: Record<string, string> = { ...request.headers };
      if (options.userAgent && !Object.keys(headers).some((name) => name.toLowerCase() === 'user-agent')) {
        headers['user-agent'] = options.userAgent;
      }
      const signal = request.signal;
      if (signal?.aborted) return Promise.reject(abortReason(signal));
      const url = new URL(request.url);
      // The handler API rather than `undici.request`: no Readable per response and no abort
      // listener per request on the hot path.
      return new Promise<HttpResponse>((resolve, reject) => {
        const chunks: Buffer[] = [];
        let size = 0;
        let status = 0;
        let responseHeaders: Record<string, string> = {};
        let settled = false;
        const finish = (controller: Dispatcher.DispatchController | undefined, error?: Error) => {
          if (settled) return;
          settled = true;
          if (signal && controller) inflightBySignal.get(signal)?.delete(controller);
          if (error) reject(error);
          else
            resolve(
              toResponse(
                status,
                responseHeaders,
                chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size),
              ),
            );
        };
        try {
          dispatcher.dispatch(
            {
              origin: url.origin,
              path: `${url.pathname}${url.search}`,
              method: request.method ?? (request.body === undefined ? 'GET' : 'POST'),
              headers,
              body: request.body ?? null,
            },
            {
              onRequestStart(controller) {
                if (!signal) return;
                if (signal.aborted) controller.abort(abortReason(signal));
                else track(signal, controller);
              },
              onResponseStart(_controller, statusCode, rawHeaders) {
                status = statusCode;
                responseHeaders = flattenHeaders(rawHeaders as Record<string, string | string[] | undefined>);
              },
              onResponseData(controller, chunk) {
                size += chunk.byteLength;
                if (size > maxBytes) {
                  const error = Object.assign(new Error(`response body exceeds ${maxBytes} bytes`), {
                    code: 'UND_ERR_RES_EXCEEDED_MAX_SIZE',
                  });
                  finish(controller, error);
                  controller.abort(error);
                  return;
                }
                chunks.push(chunk);
              },
              onResponseEnd(controller) {
                finish(controller);
              },
              onResponseError(controller, error) {
                finish(controller, error);
              },
            },
          );
        } catch (error) {
          finish(undefined, error as Error);
        }
      });
    },
    async close() {
      if (ownsDispatcher) await dispatcher.close();
    },
  };
}
