import type { Connector, ImpactEvent } from '@impact-in/core';
import { HttpResponse, http } from 'msw';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type ConnectorHarness, createConnectorHarness } from './connector-harness.js';
import { type HandlersInput, type ProviderServer, startProviderServer } from './provider-server.js';
import { sampleEvent as defaultSampleEvent } from './sample-event.js';

export interface ConnectorContractOptions<TConfig> {
  connector: Connector<TConfig>;
  /** The connector's config, pointed at the simulator's base URL. */
  config: (providerUrl: string) => unknown;
  /** Handlers of a provider simulator that accepts correct requests. */
  provider: HandlersInput;
  /** The request that carries a delivery, e.g. `{ method: 'POST', path: '/v2/events/impact' }`. */
  deliveryRoute: { method: 'POST' | 'PUT'; path: string };
  /** Header carrying the idempotency key (lower-case); `null` when the provider takes none. Default `x-idempotency-key`. */
  idempotencyHeader?: string | null;
  /** An event the connector can deliver. Default: a volunteer_hours event. */
  sampleEvent?: () => ImpactEvent;
}

/**
 * The generic contract every outbound connector passes, ours or a third party's. It runs the
 * connector through the real dispatcher and real HTTP against your provider simulator, and checks
 * config and secrets, success, idempotency across retries and replays, status classification
 * (429/503/504 and network errors retryable; 400/401/403/404 permanent), Retry-After, and that
 * no secret reaches the logs or the delivery record.
 *
 * @example
 * describeConnector({
 *   connector: benevity,
 *   config: (url) => ({ apiUrl: url, apiKey: 'k', signatureSecret: 's' }),
 *   provider: benevitySimulator().handlers,
 *   deliveryRoute: { method: 'POST', path: '/api/v1/impact-events' },
 * });
 */
export function describeConnector<TConfig>(options: ConnectorContractOptions<TConfig>): void {
  const { connector } = options;
  const idempotencyHeader =
    options.idempotencyHeader === undefined ? 'x-idempotency-key' : options.idempotencyHeader;
  const makeEvent = options.sampleEvent ?? (() => defaultSampleEvent());

  describe(`Connector contract: ${connector.id}`, () => {
    let provider: ProviderServer;
    let harness: ConnectorHarness<TConfig>;
    const routeUrl = () => `${provider.url}${options.deliveryRoute.path}`;
    const route = (
      status: number,
      init: { once?: boolean; headers?: Record<string, string>; body?: string } = {},
    ) => {
      const method = options.deliveryRoute.method === 'PUT' ? http.put : http.post;
      return method(
        routeUrl(),
        () =>
          new HttpResponse(init.body ?? JSON.stringify({ error: `simulated ${status}` }), {
            status,
            headers: init.headers,
          }),
        { once: init.once ?? false },
      );
    };
    const deliveryCalls = () => provider.callsTo(options.deliveryRoute.path);
    const secretValues = () => {
      const config = harness.config as Record<string, unknown>;
      return connector.secrets
        .map((field) => config[field])
        .filter((value): value is string => typeof value === 'string' && value.length >= 4);
    };

    beforeAll(async () => {
      provider = await startProviderServer(options.provider);
    });
    afterAll(async () => {
      await provider.close();
    });
    afterEach(async () => {
      provider.reset();
      provider.resetHandlers();
      await harness?.close();
    });
    const open = () => {
      harness = createConnectorHarness({ connector, config: options.config(provider.url) });
      return harness;
    };

    it('has a slug id, a config schema that accepts the config, and declared secrets that exist', () => {
      expect(connector.id).toMatch(/^[a-z][a-z0-9-]*$/);
      const parsed = connector.config.safeParse(options.config(provider.url));
      expect(parsed.success, parsed.success ? '' : JSON.stringify(parsed.error?.issues)).toBe(true);
      // A secret must be a field the schema knows (optional ones may be absent from the sample
      // config): a misspelled name would leave the real field unmasked, unencrypted and unchecked.
      // A schema whose fields cannot be read (a custom type) is not checked here.
      const known = configKeys(connector.config);
      if (known) {
        for (const field of connector.secrets) {
          expect(
            known.has(field),
            `secret "${field}" is not a config field (known: ${[...known].join(', ')})`,
          ).toBe(true);
        }
      }
      expect(typeof connector.deliver).toBe('function');
    });

    it('rejects an empty config with errors that name fields', () => {
      const parsed = connector.config.safeParse({});
      expect(parsed.success).toBe(false);
      expect(parsed.error?.issues.some((issue) => issue.path.length > 0)).toBe(true);
    });

    it('delivers an event once, records the payload, and sends the deliveryId as idempotency key', async () => {
      open();
      const delivery = await harness.submit(makeEvent());
      expect(delivery?.lastError ?? null).toBeNull();
      expect(delivery).toMatchObject({ status: 'success', attemptCount: 1 });
      expect(delivery?.payload).not.toBeNull();
      expect(deliveryCalls()).toHaveLength(1);
      if (idempotencyHeader)
        expect(deliveryCalls()[0]!.headers[idempotencyHeader]).toBe(delivery?.deliveryId);
    });

    for (const status of [429, 503, 504]) {
      it(`treats HTTP ${status} as retryable and keeps the idempotency key on the retry`, async () => {
        open();
        provider.use(route(status, { once: true }));
        const first = await harness.submit(makeEvent());
        expect(first).toMatchObject({ status: 'retrying', attemptCount: 1 });
        expect(first?.lastError).toContain(String(status));
        expect(first?.nextAttemptAt?.getTime()).toBeGreaterThan(harness.clock.now());
        await harness.clock.set(first!.nextAttemptAt!.getTime());
        await harness.runDue();
        const second = await harness.store.get(first!.id);
        expect(second).toMatchObject({ status: 'success', attemptCount: 2 });
        const calls = deliveryCalls();
        expect(calls).toHaveLength(2);
        if (idempotencyHeader) {
          expect(calls[0]!.headers[idempotencyHeader]).toBe(first?.deliveryId);
          expect(calls[1]!.headers[idempotencyHeader]).toBe(first?.deliveryId);
        }
      });
    }

    it('waits exactly as long as Retry-After says', async () => {
      open();
      provider.use(route(429, { once: true, headers: { 'retry-after': '7' } }));
      const before = harness.clock.now();
      const first = await harness.submit(makeEvent());
      expect(first?.status).toBe('retrying');
      expect(first!.nextAttemptAt!.getTime() - before).toBe(7_000);
    });

    it('treats a dropped connection as retryable', async () => {
      open();
      const method = options.deliveryRoute.method === 'PUT' ? http.put : http.post;
      provider.use(method(routeUrl(), () => HttpResponse.error(), { once: true }));
      const first = await harness.submit(makeEvent());
      expect(first?.status).toBe('retrying');
    });

    for (const status of [400, 401, 403, 404]) {
      it(`treats HTTP ${status} as permanent: failed, without using up retries`, async () => {
        open();
        provider.use(route(status));
        const delivery = await harness.submit(makeEvent());
        expect(delivery?.status).toBe('failed');
        expect(delivery?.lastError).toContain(String(status));
        expect(delivery?.nextAttemptAt).toBeNull();
      });
    }

    it('fails after the maximum attempts, then a replay succeeds with the same deliveryId', async () => {
      open();
      provider.use(route(503));
      let delivery = await harness.submit(makeEvent());
      for (let round = 0; round < 5 && delivery?.status === 'retrying'; round++) {
        await harness.clock.set(delivery.nextAttemptAt!.getTime());
        await harness.runDue();
        delivery = await harness.store.get(delivery.id);
      }
      expect(delivery).toMatchObject({ status: 'failed', attemptCount: 3 });
      expect(deliveryCalls()).toHaveLength(3);
      provider.resetHandlers();
      const replayed = await harness.dispatcher.replay(delivery!.id);
      expect(replayed).toMatchObject({ status: 'success', deliveryId: delivery!.deliveryId, replayCount: 1 });
      if (idempotencyHeader) {
        const keys = new Set(deliveryCalls().map((call) => call.headers[idempotencyHeader]));
        expect([...keys]).toEqual([delivery!.deliveryId]);
      }
    });

    it('never puts a secret in logs, errors or the recorded delivery', async () => {
      open();
      provider.use(route(400, { once: true }));
      const failed = await harness.submit(makeEvent());
      const ok = await harness.submit(makeEvent());
      const recorded = JSON.stringify([failed, ok]);
      for (const secret of secretValues()) {
        expect(harness.logger.text()).not.toContain(secret);
        expect(recorded).not.toContain(secret);
      }
    });
  });
}

/**
 * The field names a zod 4 config schema accepts: an object's keys, through unions, intersections,
 * pipes and wrappers (optional, default, …); `undefined` when the schema's shape cannot be read.
 */
export function configKeys(schema: unknown): Set<string> | undefined {
  const keys = new Set<string>();
  const visit = (node: unknown, depth: number): boolean => {
    const def = (node as { _zod?: { def?: Record<string, unknown> } } | undefined)?._zod?.def;
    if (!def || depth > 20) return false;
    switch (def.type) {
      case 'object':
        for (const key of Object.keys(def.shape as object)) keys.add(key);
        return true;
      case 'union':
        return (def.options as unknown[]).every((option) => visit(option, depth + 1));
      case 'intersection':
        return visit(def.left, depth + 1) && visit(def.right, depth + 1);
      case 'pipe':
        // `z.preprocess(fn, object)` is a pipe from a transform into the object.
        return visit(def.in, depth + 1) || visit(def.out, depth + 1);
      case 'lazy':
        return typeof def.getter === 'function' && visit((def.getter as () => unknown)(), depth + 1);
      default:
        return def.innerType !== undefined && visit(def.innerType, depth + 1);
    }
  };
  return visit(schema, 0) ? keys : undefined;
}
