import { randomUUID } from 'node:crypto';
import {
  type AnyConnector,
  type BlobStore,
  bindConnector,
  createDispatcher,
  createHttpClient,
  createRateLimiter,
  DeliverRequestSchema,
  type Dispatcher,
  type EventBus,
  ImpactInError,
  type Logger,
  MemoryEventBus,
  type RateLimiter,
  type Subscription,
  z,
} from '@impact-in/core';
import type { Hono } from 'hono';
import { type Kysely, sql } from 'kysely';
import { createApp, type HostedConnector, type RouteDefinition } from './app.js';
import { type HostEnv, objectStoreOptions } from './config.js';
import { LocalBlobStore } from './imports/blob-store.js';
import { failInterruptedImports, IMPORT_STALE_AFTER_MS } from './imports/import-service.js';
import { settleInboundWrites } from './inbound.js';
import { TenantIntegrations } from './integrations.js';
import { keyRingBox, loadKeyRing } from './keyring.js';
import { createMetrics } from './metrics.js';
import { OidcVerifier, oidcOptionsFromEnv } from './oidc.js';
import { openDatabase } from './postgres/database.js';
import { PostgresDeliveryStore } from './postgres/delivery-store.js';
import { pendingMigrations } from './postgres/migrations.js';
import type { Database } from './postgres/schema.js';
import { PostgresTokenStore } from './postgres/token-store.js';
import { ApiKeyAuthenticator, tenantExists } from './tenants.js';

/** The database has migrations that were not applied; `serve` refuses to start. */
export class NotMigratedError extends Error {
  constructor(readonly pending: string[]) {
    super(
      `[impact-in] the database is not migrated (pending: ${pending.join(', ')}). Run \`impact-in migrate\` with the same DATABASE_URL first.`,
    );
    this.name = 'NotMigratedError';
  }
}

export interface HostOptions {
  env: HostEnv;
  /** Every connector the host knows, with the config the environment gave it (if any). */
  connectors: readonly HostedConnector[];
  logger: Logger;
  /** Lease owner id of this process's workers. */
  workerId?: string;
  /** An open, migrated database (tests); by default the host opens one from `env`. */
  database?: Kysely<Database>;
  /** Dispatcher tuning, mostly for tests. */
  pollIntervalMs?: number;
  leaseMs?: number;
}

export interface Host {
  app: Hono;
  /** Per-tenant integration config. */
  integrations: TenantIntegrations;
  routes: RouteDefinition[];
  db: Kysely<Database>;
  dispatcher: Dispatcher;
  bus: EventBus;
  /** Starts the dispatcher workers and the bus intake consumer. */
  start(): Promise<void>;
  /**
   * Stops intake and workers (in-flight attempts finish, for up to `IMPACT_IN_SHUTDOWN_TIMEOUT_MS`;
   * the rest are aborted and due again at once), closes the bus and the database.
   */
  close(): Promise<void>;
}

/** Subject of the event intake: `impact.events.<companyId>.<eventType>`. */
export const INTAKE_SUBJECT = 'impact.events.>';

const IntakeMessage = z.object({
  /** One provider, or every provider the host can deliver to when absent. */
  provider: z.string().optional(),
  event: DeliverRequestSchema.shape.event,
});

/**
 * Wires the host from its configuration: database (real or embedded), bus (NATS or in-process),
 * rate limits (Redis-shared or local), connectors, dispatcher and the HTTP app.
 */
export async function createHost(options: HostOptions): Promise<Host> {
  const { env, logger } = options;
  const db =
    options.database ??
    (await openDatabase({
      url: env.DATABASE_URL,
      dataDir: `${env.IMPACT_IN_DATA_DIR}/pgdata`,
      maxConnections: env.IMPACT_IN_DB_POOL_SIZE,
      onIdleError: (error) => logger.warn({ err: error.message }, 'an idle database connection failed'),
    }));
  const pending = await pendingMigrations(db);
  if (pending.length > 0) {
    await db.destroy();
    throw new NotMigratedError(pending);
  }
  const box = keyRingBox(loadKeyRing(env, logger));
  // OAuth tokens are sealed under their tenant's key (the key starts with the tenant id).
  const tokens = new PostgresTokenStore(db, {
    seal: (text, key) => box.encrypt(key.split(':')[0] ?? '', text),
    // Tokens stored before sealing existed are plain JSON; `keys rotate` seals them.
    open: (sealed, key) =>
      sealed.startsWith('ib1:') ? box.decrypt(key.split(':')[0] ?? '', sealed) : sealed,
  });
  const connectorIds = options.connectors.map((hosted) => hosted.connector.id);
  let bus: EventBus;
  if (env.NATS_URL) {
    const { JetStreamEventBus } = await import('./nats/event-bus.js');
    bus = await JetStreamEventBus.connect({
      url: env.NATS_URL,
      subjects: ['impact.>', ...connectorIds.map((id) => `${id}.>`)],
      logger,
    });
  } else {
    bus = new MemoryEventBus();
  }
  let rateLimiter: RateLimiter;
  if (env.REDIS_URL) {
    const { Redis } = await import('ioredis');
    rateLimiter = createRateLimiter({
      redis: { client: new Redis(env.REDIS_URL, { maxRetriesPerRequest: 2 }) },
    });
  } else {
    rateLimiter = createRateLimiter();
  }
  // Uploads: an S3/R2 bucket when configured (the SDK loaded only then), else a local folder.
  const blobDir = env.IMPACT_IN_BLOB_DIR ?? `${env.IMPACT_IN_DATA_DIR}/blobs`;
  const objectStore = objectStoreOptions(env);
  const s3 = objectStore
    ? new (await import('./imports/s3-blob-store.js')).S3BlobStore(objectStore)
    : undefined;
  const blobs: BlobStore = s3 ?? new LocalBlobStore(blobDir);
  const http = createHttpClient();
  const metrics = createMetrics();
  const store = new PostgresDeliveryStore(db);
  const connectors = new Map<string, HostedConnector>(
    options.connectors.map((hosted) => [hosted.connector.id, hosted]),
  );
  const tenantIntegrations = new TenantIntegrations({ db, box, connectors });
  // Every connector that can deliver is bound; one without an environment config delivers only
  // for tenants that configured it (others' deliveries are refused at intake).
  const dispatcher = createDispatcher({
    store,
    connectors: options.connectors
      .filter((hosted) => hosted.connector.deliver !== undefined)
      .map((hosted) =>
        hosted.config === undefined
          ? { connector: hosted.connector, config: undefined }
          : bindConnector(hosted.connector as AnyConnector, hosted.config as never),
      ),
    resolveConfig: async (companyId, provider) =>
      (await tenantIntegrations.resolve(companyId, provider)).config,
    isEnabled: async (companyId, provider) => (await tenantIntegrations.resolve(companyId, provider)).enabled,
    tokens,
    http,
    rateLimiter,
    logger,
    concurrency: env.IMPACT_IN_WORKER_CONCURRENCY,
    claimCoalesceMs: 5,
    workerId: options.workerId ?? randomUUID(),
    ...(options.pollIntervalMs ? { pollIntervalMs: options.pollIntervalMs } : {}),
    ...(options.leaseMs ? { leaseMs: options.leaseMs } : {}),
    onAttempt: ({ delivery, durationMs }) => metrics.observeAttempt(delivery, durationMs),
  });
  const auth = new ApiKeyAuthenticator(db);
  const knownTenants = new Set<string>();
  const oidcOptions = oidcOptionsFromEnv(env, async (id) => {
    if (knownTenants.has(id)) return true;
    const exists = await tenantExists(db, id);
    if (exists) knownTenants.add(id);
    return exists;
  });
  const readiness = async () => {
    const checks: Record<string, boolean> = {};
    try {
      await sql`select 1`.execute(db);
      checks.database = true;
    } catch {
      checks.database = false;
    }
    checks.bus = 'isClosed' in bus ? !(bus as { isClosed(): boolean }).isClosed() : true;
    if (s3) {
      checks.blobs = await s3.check({
        onError: (reason) =>
          logger.warn({ bucket: s3.bucket, err: reason }, 'the upload bucket is not reachable'),
      });
    }
    return checks;
  };
  const { app, routes } = createApp({
    db,
    dispatcher,
    bus,
    auth,
    connectors,
    http,
    tokens,
    logger,
    metrics,
    bodyLimitBytes: env.IMPACT_IN_BODY_LIMIT_BYTES,
    importLimitBytes: env.IMPACT_IN_IMPORT_LIMIT_BYTES,
    blobs,
    tenantIntegrations,
    oidc: oidcOptions ? new OidcVerifier(oidcOptions) : undefined,
    adminRateLimit: env.IMPACT_IN_ADMIN_RATE_LIMIT,
    readiness,
  });

  let intake: Subscription | undefined;
  let importSweep: ReturnType<typeof setInterval> | undefined;
  const sweepInterruptedImports = async () => {
    try {
      for (const importId of await failInterruptedImports(db)) {
        logger.warn({ importId }, 'an import interrupted by a stopped host was marked failed');
      }
      // The partial upload of an interrupted import: not written to for ten minutes. (In a
      // bucket, its lifecycle rule aborts incomplete multipart uploads.)
      if (blobs instanceof LocalBlobStore) {
        const removed = await blobs.removeStaleParts(10 * IMPORT_STALE_AFTER_MS);
        if (removed > 0) logger.warn({ removed }, 'removed partial uploads of interrupted imports');
      }
    } catch (error) {
      logger.warn({ err: String(error) }, 'interrupted imports could not be checked');
    }
  };
  // Deliveries for a provider no connector here serves (a removed plugin, a replica without it)
  // wait (claims do not read them, migration 0009): say so at start-up, once, so an operator can act.
  const warnAboutUnservedProviders = async () => {
    try {
      const { rows } = await sql<{ provider: string; waiting: string | number }>`
        select provider, count(*) as waiting from impact_deliveries
        where status in ('pending', 'retrying') and provider <> all(${[...connectors.keys()]}::text[])
        group by provider order by provider`.execute(db);
      for (const row of rows) {
        logger.warn(
          { provider: row.provider, waiting: Number(row.waiting) },
          'deliveries are waiting for a provider this host has no connector for: they are attempted only by a replica that has it (install the connector or plugin there)',
        );
      }
    } catch (error) {
      logger.warn({ err: String(error) }, 'waiting deliveries could not be checked');
    }
  };
  return {
    app,
    integrations: tenantIntegrations,
    routes,
    db,
    dispatcher,
    bus,
    async start() {
      dispatcher.start();
      await warnAboutUnservedProviders();
      // Imports left running by a host that died are failed by whichever replica sees them first.
      await sweepInterruptedImports();
      importSweep = setInterval(sweepInterruptedImports, IMPORT_STALE_AFTER_MS / 2);
      importSweep.unref();
      // Events published on the bus are stored like API submissions; the message is acked only
      // after the store has them (the handler resolves after submit).
      intake = await bus.subscribe<unknown>(
        INTAKE_SUBJECT,
        async (message) => {
          const [, , companyId, eventType] = message.subject.split('.');
          const parsed = IntakeMessage.safeParse(message.data);
          if (!companyId || !parsed.success || parsed.data.event.eventType !== eventType) {
            logger.error({ subject: message.subject }, 'dropping an intake message that does not validate');
            return;
          }
          const providers = parsed.data.provider
            ? [parsed.data.provider]
            : await tenantIntegrations.deliveryTargets(companyId);
          for (const provider of providers) {
            if (!(await tenantIntegrations.resolve(companyId, provider)).enabled) {
              logger.warn(
                { subject: message.subject, provider },
                'dropping an intake message for an integration the tenant has not enabled',
              );
              continue;
            }
            try {
              await dispatcher.submit({ companyId, provider, event: parsed.data.event });
            } catch (error) {
              // A message that can never be stored is dropped (acked), not redelivered forever.
              if (
                error instanceof z.ZodError ||
                (error instanceof ImpactInError && error.kind === 'permanent')
              ) {
                logger.error(
                  { subject: message.subject, provider, err: String(error) },
                  'dropping an intake message',
                );
                continue;
              }
              throw error;
            }
          }
        },
        { durable: 'impact-in-intake' },
      );
    },
    async close() {
      clearInterval(importSweep);
      await intake?.close();
      await dispatcher.close({ timeoutMs: options.env.IMPACT_IN_SHUTDOWN_TIMEOUT_MS });
      await http.close();
      await rateLimiter.close();
      await bus.close();
      try {
        await settleInboundWrites(db);
        await db.destroy();
      } finally {
        s3?.close();
      }
    },
  };
}
