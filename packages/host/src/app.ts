import type { IncomingMessage } from 'node:http';
import {
  type AnyConnector,
  type BlobStore,
  type ConnectorContext,
  type Delivery,
  DeliveryValidationError,
  type Dispatcher,
  type EventBus,
  type HttpClient,
  ImpactInError,
  type InboundRecord,
  InboundValidationError,
  type Logger,
  type RawRequest,
  systemClock,
  type TokenStore,
  UnknownProviderError,
  WebhookVerificationError,
  z,
} from '@impact-in/core';
import { type Context, Hono } from 'hono';
import type { Kysely } from 'kysely';
import { KeyRateLimiter } from './admin-rate-limit.js';
import {
  BulkReplayBody,
  BulkResponse,
  DeliverBody,
  DeliverResponse,
  DetailResponse,
  ErrorResponse,
  InboundResponse,
  ListDeliveriesQuery,
  ListResponse,
  pagination,
  ReplayResponse,
  RetryAllFailedBody,
  StatsQuery,
  StatsResponse,
} from './api-schemas.js';
import { appendAudit } from './audit.js';
import { fieldDetails, HttpError } from './http-error.js';
import { defineImportRoutes } from './imports/routes.js';
import { acceptInbound } from './inbound.js';
import type { TenantIntegrations } from './integrations.js';
import type { Metrics } from './metrics.js';
import { looksLikeJwt, OidcError, OidcUnavailableError, type OidcVerifier } from './oidc.js';
import { buildOpenApi, renderDocsPage } from './openapi.js';
import type { Database } from './postgres/schema.js';
import { actorOf, defineTenantRoutes } from './tenant-routes.js';
import { type ApiKeyAuthenticator, type Principal, type Role, roleAllows, tenantExists } from './tenants.js';

/** A connector the host serves, with its env-default config (if the environment configured one). */
export interface HostedConnector {
  connector: AnyConnector;
  config?: unknown;
}

export interface AppDependencies {
  db: Kysely<Database>;
  dispatcher: Dispatcher;
  bus: EventBus;
  auth: ApiKeyAuthenticator;
  connectors: ReadonlyMap<string, HostedConnector>;
  http: HttpClient;
  tokens: TokenStore;
  logger: Logger;
  metrics: Metrics;
  /** JSON body limit. Default 1 MiB. */
  bodyLimitBytes?: number;
  /** CSV upload limit. Default 100 MiB. */
  importLimitBytes?: number;
  /** Where uploads are kept. Default: a `LocalBlobStore` in `blobDir`. */
  blobs?: BlobStore;
  /** The local folder uploads are kept in when `blobs` is not given. Default `./.impact-in/blobs`. */
  blobDir?: string;
  /** Per-tenant integration config (seed 003): enablement, the config to use, delivery targets. */
  tenantIntegrations: TenantIntegrations;
  /** Bearer JWTs from an OIDC issuer, when configured. */
  oidc?: OidcVerifier | undefined;
  /** Requests a minute per caller on the admin API (`/v1/tenants/…`). Default 120. */
  adminRateLimit?: number;
  /** Readiness probes: the database and the bus. */
  readiness: () => Promise<Record<string, boolean>>;
}

export type Access = 'public' | 'webhook' | Role;

/** One API route: its schemas feed validation and the OpenAPI document alike. */
export interface RouteDefinition {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** OpenAPI-style path: `/v1/impact-in/deliveries/{id}`. */
  path: string;
  summary: string;
  tag: string;
  access: Access;
  query?: z.ZodType;
  body?: z.ZodType;
  /** Raw bodies (webhooks, ingest) are read by the handler itself. */
  rawBody?: boolean;
  /** The media types a raw body may have (for the OpenAPI document). Default JSON. */
  rawBodyTypes?: readonly string[];
  responses: Record<number, { description: string; schema?: z.ZodType }>;
  handle(input: {
    c: Context;
    params: Record<string, string>;
    query: unknown;
    body: unknown;
    principal: Principal | undefined;
  }): Promise<Response> | Response;
}

/** 9999-12-31T23:59:59.999Z: the latest instant every supported database stores. */
const MAX_TIME = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

const iso = (date: Date | null) => (date ? date.toISOString() : null);

function summary(delivery: Delivery) {
  return {
    id: delivery.id,
    companyId: delivery.companyId,
    provider: delivery.provider,
    deliveryId: delivery.deliveryId,
    eventId: delivery.eventId,
    status: delivery.status,
    attemptCount: delivery.attemptCount,
    lastError: delivery.lastError,
    nextAttemptAt: iso(delivery.nextAttemptAt),
    deliveredAt: iso(delivery.deliveredAt),
    createdAt: delivery.createdAt.toISOString(),
  };
}

function detail(delivery: Delivery) {
  return {
    ...summary(delivery),
    payload: delivery.payload,
    providerResponse: delivery.providerResponse,
    replayCount: delivery.replayCount,
    updatedAt: delivery.updatedAt.toISOString(),
  };
}

/** `startDate`/`endDate` as a half-open range; a date-only end includes that whole day. */
export function dateRange(query: { startDate?: string | undefined; endDate?: string | undefined }) {
  const from = query.startDate ? new Date(query.startDate) : undefined;
  let to: Date | undefined;
  if (query.endDate) {
    to = new Date(query.endDate);
    // A date-only end includes that day (up to the last instant Postgres stores).
    if (/^\d{4}-\d{2}-\d{2}$/.test(query.endDate))
      to = new Date(Math.min(to.getTime() + 86_400_000, MAX_TIME));
  }
  if (from && to && from >= to) {
    throw new HttpError(400, 'invalid_date_range', 'startDate must be before endDate', [
      { field: 'query.startDate', message: 'must be before endDate' },
    ]);
  }
  return { from, to };
}

/** The caller's tenant; a `companyId` naming another tenant is refused without data. */
function tenantOf(principal: Principal | undefined, companyId: string | undefined, field: string): string {
  if (!principal) throw new HttpError(401, 'unauthorized', 'missing credentials');
  if (companyId !== undefined && companyId !== principal.tenantId) {
    throw new HttpError(403, 'tenant_mismatch', `${field} does not match the API key's tenant`, [
      { field, message: "must be the API key's tenant" },
    ]);
  }
  return principal.tenantId;
}

function knownProvider(deps: AppDependencies, provider: string | undefined, field: string): void {
  if (provider !== undefined && !deps.connectors.has(provider)) {
    throw new HttpError(400, 'unknown_provider', `unknown provider "${provider}"`, [
      { field, message: `must be one of: ${[...deps.connectors.keys()].join(', ')}` },
    ]);
  }
}

// One child logger per (logger, connector): a pino child per request costs a bindings
// serialisation each time for the same `{ provider }`.
const connectorLoggers = new WeakMap<object, Map<string, ConnectorContext<unknown>['logger']>>();

function connectorLogger(deps: AppDependencies, connectorId: string): ConnectorContext<unknown>['logger'] {
  let byConnector = connectorLoggers.get(deps.logger);
  if (!byConnector) {
    byConnector = new Map();
    connectorLoggers.set(deps.logger, byConnector);
  }
  let logger = byConnector.get(connectorId);
  if (!logger) {
    logger = deps.logger.child({ provider: connectorId });
    byConnector.set(connectorId, logger);
  }
  return logger;
}

/**
 * A capability's context for one tenant: its config (default: the environment's). `signal` may
 * be a function, called the first time a capability reads it: a request's abort signal costs an
 * `AbortController` on @hono/node-server, and most capabilities (a webhook's verification, say)
 * never read it.
 */
export function connectorContext(
  deps: AppDependencies,
  hosted: HostedConnector,
  companyId: string,
  signal: AbortSignal | (() => AbortSignal),
  config: unknown = hosted.config,
) {
  let resolved = typeof signal === 'function' ? undefined : signal;
  const context: ConnectorContext<unknown> = {
    config,
    companyId,
    http: deps.http,
    tokens: deps.tokens,
    logger: connectorLogger(deps, hosted.connector.id),
    clock: systemClock,
    get signal() {
      resolved ??= (signal as () => AbortSignal)();
      return resolved;
    },
  };
  return context;
}

/** The Node.js request under a Hono context, when the app runs on @hono/node-server. */
function incomingOf(c: Context): IncomingMessage | undefined {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  return incoming && typeof incoming.on === 'function' ? incoming : undefined;
}

/**
 * A request header, by its lower-case name. On Node it is read from the IncomingMessage's
 * `headersDistinct` (names lower-cased, every occurrence kept): `c.req.header()` there builds the
 * web `Request` and its `Headers` first. Repeated headers are joined with ", " as `Headers` joins
 * them, so two `Authorization` headers still fail to parse (Node's plain `headers` would keep
 * only the first).
 */
export function headerOf(c: Context, name: string): string | undefined {
  const incoming = incomingOf(c);
  if (!incoming) return c.req.header(name);
  const key = name.toLowerCase();
  const distinct = incoming.headersDistinct;
  return Object.hasOwn(distinct, key) ? distinct[key]!.join(', ') : undefined;
}

/**
 * A tenant's config of a provider for inbound work: 404 when neither the tenant nor the
 * environment configured it, 409 when the tenant disabled it.
 */
export async function integrationConfig(
  deps: AppDependencies,
  tenantId: string,
  provider: string,
): Promise<unknown> {
  const resolved = await deps.tenantIntegrations.resolve(tenantId, provider);
  if (resolved.config === undefined) {
    throw new HttpError(404, 'not_configured', `provider "${provider}" is not configured for this tenant`);
  }
  if (!resolved.enabled) {
    throw new HttpError(409, 'integration_disabled', `${provider} is disabled for this tenant`);
  }
  return resolved.config;
}

/**
 * Reads the request body, refusing more than `limit` bytes with a 413. On Node it reads the
 * IncomingMessage directly: building a web Request body stream per request is the single most
 * expensive step of a small webhook.
 */
export async function readBody(c: Context, limit: number): Promise<Buffer> {
  const declared = Number(headerOf(c, 'content-length') ?? Number.NaN);
  const tooLarge = () => new HttpError(413, 'payload_too_large', `request body exceeds ${limit} bytes`);
  if (declared > limit) throw tooLarge();
  const incoming = incomingOf(c);
  if (incoming && !incoming.readableEnded) {
    return new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      incoming.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > limit) {
          incoming.removeAllListeners('data');
          incoming.resume();
          reject(tooLarge());
          return;
        }
        chunks.push(chunk);
      });
      incoming.once('end', () => resolve(Buffer.concat(chunks, size)));
      incoming.once('error', reject);
    });
  }
  const body = Buffer.from(await c.req.arrayBuffer());
  if (body.length > limit) throw tooLarge();
  return body;
}

/** A webhook as the connector's `webhook` capability takes it: lower-case headers, raw body. */
export async function webhookRequest(c: Context, limit: number): Promise<RawRequest> {
  const headers: Record<string, string> = {};
  const incoming = incomingOf(c);
  if (incoming) {
    // Lower-case names, repeated headers joined with ", " as `Headers` joins them; HTTP/2
    // pseudo-headers (`:path`) are not headers.
    for (const [name, values] of Object.entries(incoming.headersDistinct)) {
      if (values !== undefined && !name.startsWith(':')) headers[name] = values.join(', ');
    }
  } else {
    c.req.raw.headers.forEach((value, name) => {
      headers[name.toLowerCase()] = value;
    });
  }
  return { method: c.req.method, url: c.req.url, headers, body: await readBody(c, limit) };
}

/** The route table: every API route, its access rule and schemas. */
export function defineRoutes(deps: AppDependencies): RouteDefinition[] {
  const { dispatcher } = deps;
  const limit = deps.bodyLimitBytes ?? 1024 * 1024;
  const inboundResponses = {
    200: {
      description: 'Records accepted (duplicates are reported, not processed twice)',
      schema: InboundResponse,
    },
    400: { description: 'The payload does not validate; details name each field', schema: ErrorResponse },
    404: { description: 'Unknown provider or kind', schema: ErrorResponse },
  };
  return [
    {
      method: 'POST',
      path: '/v1/impact-in/deliver',
      summary: 'Submit an impact event for delivery to one provider',
      tag: 'deliveries',
      access: 'operator',
      body: DeliverBody,
      responses: {
        202: { description: 'Stored; it will be delivered', schema: DeliverResponse },
        200: {
          description: 'This event was already submitted: the existing delivery',
          schema: DeliverResponse,
        },
        400: { description: 'Invalid body or unknown provider', schema: ErrorResponse },
        403: { description: 'companyId is not the caller’s tenant', schema: ErrorResponse },
        409: {
          description: 'The integration is disabled or not configured for the tenant',
          schema: ErrorResponse,
        },
      },
      async handle({ body, principal, c }) {
        const request = body as z.infer<typeof DeliverBody>;
        tenantOf(principal, request.companyId, 'companyId');
        knownProvider(deps, request.provider, 'provider');
        const integration = await deps.tenantIntegrations.resolve(request.companyId, request.provider);
        if (!integration.enabled) {
          throw new HttpError(
            409,
            integration.config === undefined ? 'not_configured' : 'integration_disabled',
            integration.config === undefined
              ? `${request.provider} is not configured for this tenant: PUT /v1/tenants/${request.companyId}/integrations/${request.provider}/config`
              : `${request.provider} is disabled for this tenant; enable it to deliver (pending deliveries wait)`,
            [{ field: 'provider', message: 'must be an enabled integration' }],
          );
        }
        const { delivery, created } = await dispatcher.submit(request);
        return c.json({ data: detail(delivery), created }, created ? 202 : 200);
      },
    },
    {
      method: 'GET',
      path: '/v1/impact-in/deliveries',
      summary: 'List deliveries, filtered and paginated',
      tag: 'deliveries',
      access: 'viewer',
      query: ListDeliveriesQuery,
      responses: { 200: { description: 'A page of deliveries', schema: ListResponse } },
      async handle({ query, principal, c }) {
        const q = query as z.infer<typeof ListDeliveriesQuery>;
        const companyId = tenantOf(principal, q.companyId, 'query.companyId');
        knownProvider(deps, q.provider, 'query.provider');
        const { from, to } = dateRange(q);
        const { data, total } = await dispatcher.list({
          companyId,
          provider: q.provider,
          status: q.status,
          from,
          to,
          page: q.page,
          limit: q.limit,
        });
        return c.json({ data: data.map(summary), pagination: pagination(q, total) });
      },
    },
    {
      method: 'GET',
      path: '/v1/impact-in/deliveries/{id}',
      summary: 'Get one delivery, with its payload and the provider’s response',
      tag: 'deliveries',
      access: 'viewer',
      responses: {
        200: { description: 'The delivery', schema: DetailResponse },
        404: { description: 'No such delivery for this tenant', schema: ErrorResponse },
      },
      async handle({ params, principal, c }) {
        const delivery = await dispatcher.get(params.id!, tenantOf(principal, undefined, ''));
        if (!delivery) throw new HttpError(404, 'not_found', `delivery ${params.id} not found`);
        return c.json({ data: detail(delivery) });
      },
    },
    {
      method: 'GET',
      path: '/v1/impact-in/stats',
      summary: 'Delivery statistics by provider and status',
      tag: 'deliveries',
      access: 'viewer',
      query: StatsQuery,
      responses: { 200: { description: 'Counts and average attempts', schema: StatsResponse } },
      async handle({ query, principal, c }) {
        const q = query as z.infer<typeof StatsQuery>;
        const companyId = tenantOf(principal, q.companyId, 'query.companyId');
        const { from, to } = dateRange(q);
        return c.json({
          data: await dispatcher.stats({ companyId, ...(from ? { from } : {}), ...(to ? { to } : {}) }),
        });
      },
    },
    {
      method: 'POST',
      path: '/v1/impact-in/deliveries/{id}/replay',
      summary: 'Replay one delivery now, with the same deliveryId',
      tag: 'deliveries',
      access: 'operator',
      responses: {
        200: { description: 'The outcome of the replay', schema: ReplayResponse },
        404: { description: 'No such delivery for this tenant', schema: ErrorResponse },
      },
      async handle({ params, principal, c }) {
        const companyId = tenantOf(principal, undefined, '');
        const existing = await dispatcher.get(params.id!, companyId);
        if (!existing) throw new HttpError(404, 'not_found', `delivery ${params.id} not found`);
        const delivery = (await dispatcher.replay(existing.id, { companyId })) ?? existing;
        await appendAudit(deps.db, {
          tenantId: companyId,
          actor: actorOf(principal!, c),
          action: 'delivery.replay',
          target: existing.id,
          before: { status: existing.status, attemptCount: existing.attemptCount },
          after: { status: delivery.status, attemptCount: delivery.attemptCount },
        });
        const success = delivery.status === 'success';
        return c.json({
          success,
          message: success
            ? 'Delivery replayed successfully'
            : delivery.status === 'failed'
              ? `Replay failed: ${delivery.lastError ?? 'unknown error'}`
              : `Replay queued (${delivery.status})${delivery.lastError ? `: ${delivery.lastError}` : ''}`,
          newStatus: delivery.status,
        });
      },
    },
    {
      method: 'POST',
      path: '/v1/impact-in/deliveries/bulk-replay',
      summary: 'Replay several deliveries',
      tag: 'deliveries',
      access: 'operator',
      body: BulkReplayBody,
      responses: { 200: { description: 'Per-delivery results and a summary', schema: BulkResponse } },
      async handle({ body, principal, c }) {
        const { ids } = body as z.infer<typeof BulkReplayBody>;
        const companyId = tenantOf(principal, undefined, '');
        const result = await dispatcher.bulkReplay(ids, { companyId });
        await appendAudit(deps.db, {
          tenantId: companyId,
          actor: actorOf(principal!, c),
          action: 'delivery.bulk_replay',
          target: `${ids.length} deliveries`,
          after: {
            summary: result.summary,
            ids: result.results.filter((r) => r.success || r.newStatus).map((r) => r.id),
          },
        });
        return c.json(result);
      },
    },
    {
      method: 'POST',
      path: '/v1/impact-in/deliveries/retry-all-failed',
      summary: 'Replay every failed delivery of the tenant (optionally one provider)',
      tag: 'deliveries',
      access: 'operator',
      body: RetryAllFailedBody,
      responses: { 200: { description: 'Per-delivery results and a summary', schema: BulkResponse } },
      async handle({ body, principal, c }) {
        const request = body as z.infer<typeof RetryAllFailedBody>;
        const companyId = tenantOf(principal, request.companyId, 'companyId');
        knownProvider(deps, request.provider, 'provider');
        const result = await dispatcher.retryAllFailed({
          companyId,
          ...(request.provider ? { provider: request.provider } : {}),
        });
        await appendAudit(deps.db, {
          tenantId: companyId,
          actor: actorOf(principal!, c),
          action: 'delivery.retry_all_failed',
          target: request.provider ?? 'all providers',
          after: { summary: result.summary },
        });
        return c.json(result);
      },
    },
    {
      method: 'POST',
      path: '/v1/ingest/{provider}/{kind}',
      summary: 'Ingest a provider payload (e.g. benevity/volunteers, workday/directory)',
      tag: 'inbound',
      access: 'operator',
      rawBody: true,
      responses: inboundResponses,
      async handle({ params, principal, c }) {
        const companyId = tenantOf(principal, undefined, '');
        const hosted = deps.connectors.get(params.provider!);
        if (!hosted?.connector.ingest) {
          throw new HttpError(404, 'unknown_provider', `no ingest for provider "${params.provider}"`);
        }
        // The caller's tenant's own config of the provider, else the environment default.
        const config = await integrationConfig(deps, companyId, params.provider!);
        const raw = await readBody(c, limit);
        let body: unknown;
        try {
          body = JSON.parse(Buffer.from(raw).toString('utf8'));
        } catch (error) {
          throw new HttpError(400, 'invalid_json', `body is not valid JSON: ${(error as Error).message}`);
        }
        const records = await hosted.connector.ingest(
          params.kind!,
          body,
          connectorContext(deps, hosted, companyId, () => c.req.raw.signal, config),
        );
        for (const record of records) {
          if (record.companyId !== undefined && record.companyId !== companyId) {
            throw new HttpError(403, 'tenant_mismatch', "a record names another tenant than the API key's", [
              { field: 'company_id', message: "must be the API key's tenant" },
            ]);
          }
        }
        return c.json(await acceptInbound(deps, hosted.connector.id, records, companyId));
      },
    },
    {
      method: 'POST',
      path: '/webhooks/{provider}',
      summary: 'Receive a provider webhook (authenticated by the provider’s signature)',
      tag: 'inbound',
      access: 'webhook',
      rawBody: true,
      responses: {
        ...inboundResponses,
        401: { description: 'Signature missing or wrong', schema: ErrorResponse },
      },
      async handle({ params, c }) {
        const hosted = deps.connectors.get(params.provider!);
        if (!hosted?.connector.webhook) {
          throw new HttpError(404, 'unknown_provider', `no webhook for provider "${params.provider}"`);
        }
        // A multi-tenant host gives each tenant its own webhook URL: `?tenant=<id>`.
        const tenant = c.req.query('tenant')?.toLowerCase();
        if (tenant !== undefined && !(await tenantExists(deps.db, tenant))) {
          throw new HttpError(404, 'unknown_tenant', 'no such tenant');
        }
        // A tenant's URL verifies with that tenant's config (its own webhook secret, say).
        const config =
          tenant === undefined ? hosted.config : await integrationConfig(deps, tenant, params.provider!);
        if (config === undefined) {
          throw new HttpError(
            404,
            'not_configured',
            tenant === undefined
              ? `provider "${params.provider}" has no host-wide config here: give the tenant in the webhook URL (?tenant=<tenant id>), or set the provider's variables for the whole host`
              : `provider "${params.provider}" is not configured for this tenant`,
          );
        }
        const records = await hosted.connector.webhook(
          await webhookRequest(c, limit),
          connectorContext(deps, hosted, tenant ?? '', () => c.req.raw.signal, config),
        );
        return c.json(await acceptInbound(deps, hosted.connector.id, records, tenant));
      },
    },
    ...defineTenantRoutes(deps),
    ...defineImportRoutes(deps),
  ];
}

/**
 * Zod's message for a missing field reads "Invalid input: expected string, received undefined":
 * say "required". Messages a schema sets itself take precedence over this one.
 */
const readableIssue = (issue: { code?: string; input?: unknown }) =>
  issue.code === 'invalid_type' && issue.input === undefined ? 'required' : undefined;

function errorBody(code: string, message: string, details?: unknown) {
  return { error: { code, message, ...(details === undefined ? {} : { details }) } };
}

/**
 * Builds the Hono app. Tests drive it with `app.request()`; `serve` puts it on a socket.
 *
 * @example
 * const app = createApp(deps);
 * const response = await app.request('/health');
 */
export function createApp(deps: AppDependencies): { app: Hono; routes: RouteDefinition[] } {
  const app = new Hono();
  const routes = defineRoutes(deps);
  const limit = deps.bodyLimitBytes ?? 1024 * 1024;
  const adminLimiter = new KeyRateLimiter(deps.adminRateLimit ?? 120);

  app.onError((error, c) => {
    if (error instanceof HttpError) {
      return c.json(errorBody(error.code, error.message, error.details), error.status, error.headers);
    }
    if (error instanceof InboundValidationError || error instanceof DeliveryValidationError) {
      return c.json(
        errorBody(
          'validation_error',
          error.message,
          error.issues.map((issue) => ({ field: issue.path, message: issue.message })),
        ),
        400,
      );
    }
    if (error instanceof WebhookVerificationError) {
      return c.json(errorBody('invalid_signature', error.message), 401);
    }
    if (error instanceof UnknownProviderError)
      return c.json(errorBody('unknown_provider', error.message), 400);
    if (error instanceof z.ZodError) {
      return c.json(
        errorBody('validation_error', 'request does not validate', fieldDetails(error.issues)),
        400,
      );
    }
    if (error instanceof ImpactInError && error.kind === 'permanent') {
      return c.json(errorBody(error.code, error.message), 400);
    }
    deps.logger.error(
      { err: error instanceof Error ? { message: error.message, stack: error.stack } : String(error) },
      'unhandled error',
    );
    return c.json(errorBody('internal_error', 'internal error'), 500);
  });
  app.notFound((c) => c.json(errorBody('not_found', `no route for ${c.req.method} ${c.req.path}`), 404));

  app.get('/health', async (c) => {
    const checks = await deps.readiness();
    const ok = Object.values(checks).every(Boolean);
    return c.json({ status: ok ? 'ok' : 'degraded', checks }, ok ? 200 : 503);
  });
  app.get('/health/liveness', (c) => c.json({ status: 'ok' }));
  app.get('/health/readiness', async (c) => {
    const checks = await deps.readiness();
    const ok = Object.values(checks).every(Boolean);
    return c.json({ status: ok ? 'ready' : 'not_ready', checks }, ok ? 200 : 503);
  });
  app.get('/metrics', async (c) =>
    c.body(await deps.metrics.render(), 200, { 'content-type': deps.metrics.contentType }),
  );
  const openapi = buildOpenApi(routes);
  app.get('/openapi.json', (c) => c.json(openapi));
  app.get('/docs', (c) => c.html(renderDocsPage(openapi)));

  for (const route of routes) {
    const honoPath = route.path.replace(/\{(\w+)\}/g, ':$1');
    const handler = async (c: Context) => {
      let principal: Principal | undefined;
      if (route.access !== 'public' && route.access !== 'webhook') {
        const header = headerOf(c, 'authorization') ?? '';
        const match = /^Bearer\s+(\S+)$/i.exec(header);
        if (!match) throw new HttpError(401, 'unauthorized', 'send Authorization: Bearer <api key>');
        const token = match[1]!;
        if (deps.oidc && looksLikeJwt(token)) {
          try {
            principal = await deps.oidc.verify(token);
          } catch (error) {
            if (error instanceof OidcError) throw new HttpError(401, 'invalid_token', error.message);
            if (error instanceof OidcUnavailableError) {
              throw new HttpError(503, 'oidc_unavailable', `${error.message}; try again shortly`, undefined, {
                'retry-after': '5',
              });
            }
            throw error;
          }
        } else {
          principal = await deps.auth.authenticate(token);
        }
        if (!principal) throw new HttpError(401, 'unauthorized', 'unknown or revoked API key');
        if (!roleAllows(principal.role, route.access)) {
          throw new HttpError(
            403,
            'forbidden',
            `this needs the ${route.access} role; the key is ${principal.role}`,
          );
        }
        if (route.path.startsWith('/v1/tenants/')) {
          const taken = adminLimiter.take(`${principal.via}:${principal.keyId}`);
          if (!taken.ok) {
            throw new HttpError(
              429,
              'rate_limited',
              `too many admin requests; retry in ${taken.retryAfterSeconds} s`,
              undefined,
              { 'retry-after': String(taken.retryAfterSeconds) },
            );
          }
        }
      }
      let query: unknown = {};
      if (route.query) {
        const parsed = route.query.safeParse(c.req.query(), { error: readableIssue });
        if (!parsed.success) {
          throw new HttpError(
            400,
            'invalid_query',
            'query parameters do not validate',
            fieldDetails(parsed.error.issues, 'query'),
          );
        }
        query = parsed.data;
      }
      let body: unknown;
      if (route.body) {
        const text = (await readBody(c, limit)).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch (error) {
          throw new HttpError(400, 'invalid_json', `body is not valid JSON: ${(error as Error).message}`);
        }
        const parsed = route.body.safeParse(json, { error: readableIssue });
        if (!parsed.success) {
          throw new HttpError(
            400,
            'validation_error',
            'body does not validate',
            fieldDetails(parsed.error.issues),
          );
        }
        body = parsed.data;
      }
      return route.handle({ c, params: c.req.param() as Record<string, string>, query, body, principal });
    };
    app.on(route.method, honoPath, handler);
  }
  return { app, routes };
}

export type { InboundRecord };
