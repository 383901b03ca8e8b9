import {
  type Connector,
  type ConnectorContext,
  createDispatcher,
  createHttpClient,
  type DeliverResult,
  type Dispatcher,
  type HttpClient,
  type ImpactEvent,
  MemoryDeliveryStore,
  MemoryTokenStore,
  type RetryPolicy,
  type TokenStore,
} from '@impact-in/core';
import { type CapturingLogger, createCapturingLogger } from './capturing-logger.js';
import { createFakeClock, type FakeClock } from './fake-clock.js';

export interface ConnectorHarnessOptions<TConfig> {
  connector: Connector<TConfig>;
  /** Raw config; validated with the connector's schema. */
  config: unknown;
  companyId?: string;
  clock?: FakeClock;
  tokens?: TokenStore;
  retryPolicy?: Partial<RetryPolicy>;
  /** Short timeouts by default (2 s) so a stalled simulator fails a test fast. */
  http?: HttpClient;
}

/** A connector wired to real HTTP, an in-memory store and token store, a fake clock and a capturing logger. */
export interface ConnectorHarness<TConfig> {
  readonly config: TConfig;
  readonly companyId: string;
  readonly clock: FakeClock;
  readonly logger: CapturingLogger;
  readonly tokens: TokenStore;
  readonly store: MemoryDeliveryStore;
  readonly dispatcher: Dispatcher;
  /** The context capabilities receive. */
  context(): ConnectorContext<TConfig>;
  /** Calls the connector's `deliver` capability directly, once. */
  deliver(event: ImpactEvent, options?: { deliveryId?: string; attempt?: number }): Promise<DeliverResult>;
  /**
   * Submits through the dispatcher and runs what is due now (one attempt, unless already final).
   * Advance `clock` and call `runDue()` to run the retries.
   */
  submit(event: ImpactEvent): Promise<Awaited<ReturnType<Dispatcher['get']>>>;
  /** Runs every delivery due at the fake clock's time. */
  runDue(): Promise<number>;
  close(): Promise<void>;
}

/**
 * Wires a connector for tests.
 *
 * @example
 * const provider = await startProviderServer(benevityHandlers);
 * const harness = createConnectorHarness({ connector: benevity, config: { apiUrl: provider.url, … } });
 * const delivery = await harness.submit(sampleEvent());
 * expect(provider.calls[0].headers['x-idempotency-key']).toBe(delivery.deliveryId);
 */
export function createConnectorHarness<TConfig>(
  options: ConnectorHarnessOptions<TConfig>,
): ConnectorHarness<TConfig> {
  const parsed = options.connector.config.safeParse(options.config);
  if (!parsed.success) {
    throw new Error(
      `[impact-in] [testing] invalid ${options.connector.id} config: ${parsed.error.issues
        .map((issue) => `${issue.path.join('.')}: ${issue.message}`)
        .join('; ')}`,
    );
  }
  const config = parsed.data;
  const companyId = options.companyId ?? 'company_789';
  const clock = options.clock ?? createFakeClock(Date.now());
  const logger = createCapturingLogger();
  const tokens = options.tokens ?? new MemoryTokenStore();
  const http =
    options.http ??
    createHttpClient({ connectTimeoutMs: 2_000, headersTimeoutMs: 2_000, bodyTimeoutMs: 2_000 });
  const store = new MemoryDeliveryStore({ now: clock.now });
  const dispatcher = createDispatcher({
    store,
    connectors: [{ connector: options.connector, config }],
    http,
    tokens,
    clock,
    logger,
    random: () => 0.5,
    concurrency: 8,
    ...(options.retryPolicy ? { retryPolicy: options.retryPolicy } : {}),
  });
  const controller = new AbortController();
  const context = (): ConnectorContext<TConfig> => ({
    config,
    companyId,
    http,
    tokens,
    logger,
    clock,
    signal: controller.signal,
  });
  return {
    config,
    companyId,
    clock,
    logger,
    tokens,
    store,
    dispatcher,
    context,
    deliver(event, deliverOptions = {}) {
      if (!options.connector.deliver)
        throw new Error(`[impact-in] [testing] ${options.connector.id} cannot deliver`);
      return options.connector.deliver(
        {
          event,
          deliveryId: deliverOptions.deliveryId ?? crypto.randomUUID(),
          attempt: deliverOptions.attempt ?? 1,
        },
        context(),
      );
    },
    async submit(event) {
      const { delivery } = await dispatcher.submit({ companyId, provider: options.connector.id, event });
      await dispatcher.runOnce();
      return store.get(delivery.id);
    },
    runDue: () => dispatcher.runOnce(),
    async close() {
      if (controller.signal.aborted) return;
      controller.abort();
      await dispatcher.close();
      if (!options.http) await http.close();
    },
  };
}
