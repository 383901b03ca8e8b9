import { formatFieldPath } from '@impact-in/core';
import { delay, HttpResponse, type RequestHandler } from 'msw';

/** A failure a simulator can be told to produce, for tests and the demo. */
export type InjectedFailure =
  | { kind: 'status'; status: number; retryAfter?: string; body?: string }
  /** Accepts the request and never answers (client timeouts fire). */
  | { kind: 'timeout' }
  /** Drops the connection (the client sees a socket reset). */
  | { kind: 'reset' };

/** What a simulator accepted, deduplicated by idempotency key. */
export interface AcceptedDelivery {
  idempotencyKey: string;
  /** Parsed JSON, or the XML text. */
  body: unknown;
  /** How many times this key was sent (1 = no duplicates). */
  times: number;
}

/**
 * A provider simulator: msw handlers that behave like the provider (auth checked, its own
 * error shapes, expiring tokens, rate limits), plus controls for tests and the demo.
 * Serve it with `startProviderServer(simulator.handlers)`.
 */
export interface ProviderSimulator {
  readonly provider: string;
  handlers: (baseUrl: string) => RequestHandler[];
  /** Accepted deliveries, one per idempotency key, in arrival order. */
  accepted(): AcceptedDelivery[];
  /** The next `count` delivery requests fail this way (after auth is checked). */
  failNext(failure: InjectedFailure, count?: number): void;
  /** Forgets accepted deliveries, issued tokens and queued failures. */
  reset(): void;
}

/** Shared bookkeeping for simulators: failure queue and idempotent acceptance. */
export class SimulatorState {
  readonly #failures: InjectedFailure[] = [];
  readonly #accepted = new Map<string, AcceptedDelivery>();

  failNext(failure: InjectedFailure, count = 1): void {
    for (let index = 0; index < count; index++) this.#failures.push(failure);
  }

  /** The response for the next queued failure, or `undefined` when none is queued. */
  async nextFailure(): Promise<Response | undefined> {
    const failure = this.#failures.shift();
    if (!failure) return undefined;
    if (failure.kind === 'reset') return HttpResponse.error();
    if (failure.kind === 'timeout') {
      await delay('infinite');
      return undefined;
    }
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (failure.retryAfter !== undefined) headers['retry-after'] = failure.retryAfter;
    return new HttpResponse(failure.body ?? JSON.stringify({ error: `simulated ${failure.status}` }), {
      status: failure.status,
      headers,
    });
  }

  /** Records a delivery; returns whether the key was new. */
  accept(idempotencyKey: string, body: unknown): boolean {
    const existing = this.#accepted.get(idempotencyKey);
    if (existing) {
      existing.times++;
      return false;
    }
    this.#accepted.set(idempotencyKey, { idempotencyKey, body, times: 1 });
    return true;
  }

  accepted(): AcceptedDelivery[] {
    return [...this.#accepted.values()].map((entry) => ({ ...entry }));
  }

  reset(): void {
    this.#failures.length = 0;
    this.#accepted.clear();
  }
}

/** A field path as providers report it (`volunteers[2].hours`), `(body)` for the root. */
export const bodyFieldPath = (path: ReadonlyArray<PropertyKey>): string => formatFieldPath(path) || '(body)';

/** An RFC 6749 token-endpoint error (`{ error, error_description }`, never cached). */
export function oauthErrorResponse(
  status: number,
  error: string,
  description: string,
  headers: Record<string, string> = {},
): Response {
  return HttpResponse.json(
    { error, error_description: description },
    { status, headers: { 'cache-control': 'no-store', ...headers } },
  );
}
