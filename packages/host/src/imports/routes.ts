import type { z } from '@impact-in/core';
import type { Context } from 'hono';
import { ErrorResponse, InboundResponse, pagination } from '../api-schemas.js';
import {
  type AppDependencies,
  connectorContext,
  integrationConfig,
  type RouteDefinition,
  webhookRequest,
} from '../app.js';
import { HttpError } from '../http-error.js';
import { acceptInbound } from '../inbound.js';
import { type Principal, tenantExists } from '../tenants.js';
import { LocalBlobStore } from './blob-store.js';
import {
  hasDirectory,
  IdentityConflictError,
  listUsers,
  PostgresIdentityDirectory,
  upsertUsers,
} from './identity.js';
import { emptyReport, type ImportReport, runImport } from './import-service.js';
import { type BodyStream, multipartFile, parseContentType, streamBody } from './request-body.js';
import {
  ImportListResponse,
  ImportQuery,
  ImportReportSchema,
  PageQuery,
  UserListResponse,
  UsersBody,
  UsersResponse,
} from './schemas.js';

/** The connector behind `/v1/import/sessions` and the session webhooks (seed 000). */
const PROVIDER = 'kintell';
/** Raw CSV media types; anything else but multipart/form-data is a 415. */
const CSV_TYPES = new Set(['text/csv', 'application/csv', 'text/plain', 'application/octet-stream']);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const MiB = 1024 * 1024;

function tenantOf(principal: Principal | undefined): string {
  if (!principal) throw new HttpError(401, 'unauthorized', 'missing credentials');
  return principal.tenantId;
}

/** The connector, enabled and configured for the tenant, or the 4xx saying why not. */
/** The Kintell connector and this tenant's config of it (404 when missing, 409 when disabled). */
async function kintellFor(deps: AppDependencies, companyId: string, capability: 'import' | 'webhook') {
  const hosted = deps.connectors.get(PROVIDER);
  if (!hosted?.connector[capability]) {
    throw new HttpError(404, 'unknown_provider', `this host has no ${PROVIDER} connector with ${capability}`);
  }
  return { connector: hosted.connector, hosted, config: await integrationConfig(deps, companyId, PROVIDER) };
}

/** The uploaded file: the raw body, or the `file` field of a multipart form. */
async function uploadOf(c: Context, limit: number) {
  const { type, params } = parseContentType(c.req.header('content-type'));
  if (type === 'multipart/form-data') {
    const body = streamBody(c, limit);
    const file = await multipartFile(body, c.req.header('content-type')!, 'file');
    let error: unknown;
    return {
      chunks: (async function* () {
        try {
          yield* file.chunks;
        } catch (caught) {
          error = caught;
          throw caught;
        }
      })(),
      filename: file.filename,
      error: () => body.error ?? error,
      discard: () => file.discard(),
    };
  }
  if (!CSV_TYPES.has(type)) {
    throw new HttpError(
      415,
      'unsupported_media_type',
      `send the CSV as text/csv (raw body) or multipart/form-data (field "file"), not ${type || 'no content type'}`,
    );
  }
  const charset = params.charset?.toLowerCase();
  if (charset && !['utf-8', 'utf8', 'us-ascii'].includes(charset)) {
    throw new HttpError(415, 'unsupported_charset', `CSV must be UTF-8, not ${charset}`);
  }
  const body: BodyStream = streamBody(c, limit);
  return {
    chunks: body,
    filename: undefined,
    error: () => body.error,
    discard: () => body.discard(),
  };
}

function importRoutes(deps: AppDependencies): RouteDefinition[] {
  const limit = deps.importLimitBytes ?? 100 * MiB;
  const blobs = deps.blobs ?? new LocalBlobStore(deps.blobDir ?? './.impact-in/blobs');
  const deliveryTargets = (companyId: string) => deps.tenantIntegrations.deliveryTargets(companyId);
  const errors = {
    400: { description: 'Bad query, malformed multipart body or no `file` field', schema: ErrorResponse },
    409: { description: 'The Kintell integration is not enabled for the tenant', schema: ErrorResponse },
    413: { description: 'The upload is larger than IMPACT_IN_IMPORT_LIMIT_BYTES', schema: ErrorResponse },
    415: { description: 'Neither text/csv nor multipart/form-data', schema: ErrorResponse },
  };
  return [
    {
      method: 'POST',
      path: '/v1/import/sessions',
      summary: 'Import a Kintell sessions CSV export (raw text/csv body or multipart field "file")',
      tag: 'imports',
      access: 'operator',
      query: ImportQuery,
      rawBody: true,
      rawBodyTypes: ['text/csv', 'multipart/form-data'],
      responses: {
        200: { description: 'Imported; bad rows are listed in the report', schema: ImportReportSchema },
        422: {
          description:
            'The file was refused as a whole (empty, binary, wrong header; a strict import with a bad row)',
          schema: ImportReportSchema,
        },
        ...errors,
      },
      async handle({ c, query, principal }) {
        const companyId = tenantOf(principal);
        const options = query as z.output<typeof ImportQuery>;
        const { connector, config } = await kintellFor(deps, companyId, 'import');
        const upload = await uploadOf(c, limit);
        try {
          const { status, report } = await runImport(
            {
              db: deps.db,
              blobs,
              dispatcher: deps.dispatcher,
              http: deps.http,
              tokens: deps.tokens,
              logger: deps.logger,
              deliveryTargets,
            },
            {
              companyId,
              createdBy: principal?.keyId,
              connector,
              config,
              mapping: options.mapping,
              dryRun: options.dryRun,
              strict: options.strict,
              deliver: options.deliver,
              source: upload.chunks,
              sourceError: upload.error,
              discardSource: upload.discard,
              filename: upload.filename,
              signal: c.req.raw.signal,
            },
          );
          return c.json(report, status);
        } finally {
          upload.discard();
        }
      },
    },
    {
      method: 'GET',
      path: '/v1/import/sessions',
      summary: 'List the tenant’s imports, newest first',
      tag: 'imports',
      access: 'viewer',
      query: PageQuery(100, 20),
      responses: { 200: { description: 'A page of imports', schema: ImportListResponse } },
      async handle({ c, query, principal }) {
        const companyId = tenantOf(principal);
        const page = query as { page: number; limit: number };
        const [rows, count] = await Promise.all([
          deps.db
            .selectFrom('imports')
            .select(['id', 'provider', 'mapping', 'status', 'dry_run', 'report', 'created_at', 'finished_at'])
            .where('company_id', '=', companyId)
            .orderBy('created_at', 'desc')
            .orderBy('id')
            .limit(page.limit)
            .offset((page.page - 1) * page.limit)
            .execute(),
          deps.db
            .selectFrom('imports')
            .select((eb) => eb.fn.countAll<string>().as('total'))
            .where('company_id', '=', companyId)
            .executeTakeFirst(),
        ]);
        return c.json({
          data: rows.map((row) => {
            const report = row.report as Partial<ImportReport> | null;
            return {
              importId: row.id,
              provider: row.provider,
              mapping: row.mapping,
              status: row.status,
              dryRun: row.dry_run,
              rows: report?.rows ?? null,
              errorCount: report?.errorCount ?? null,
              createdAt: new Date(row.created_at).toISOString(),
              finishedAt: row.finished_at ? new Date(row.finished_at).toISOString() : null,
            };
          }),
          pagination: pagination(page, Number(count?.total ?? 0)),
        });
      },
    },
    {
      method: 'GET',
      path: '/v1/import/sessions/{importId}',
      summary: 'One import: its status and report',
      tag: 'imports',
      access: 'viewer',
      responses: {
        200: { description: 'The import (a running one has no counts yet)', schema: ImportReportSchema },
        404: { description: 'No such import for this tenant', schema: ErrorResponse },
      },
      async handle({ c, params, principal }) {
        const companyId = tenantOf(principal);
        const id = params.importId ?? '';
        const row = UUID.test(id)
          ? await deps.db
              .selectFrom('imports')
              .selectAll()
              .where('id', '=', id)
              .where('company_id', '=', companyId)
              .executeTakeFirst()
          : undefined;
        if (!row) throw new HttpError(404, 'not_found', `import ${id.slice(0, 100)} not found`);
        if (row.report) return c.json(row.report as ImportReport);
        const running = emptyReport({
          importId: row.id,
          provider: row.provider,
          mapping: row.mapping,
          status: row.status,
          dryRun: row.dry_run,
          strict: row.strict,
          filename: null,
          startedAt: new Date(row.created_at).toISOString(),
        });
        return c.json(running);
      },
    },
  ];
}

function identityRoutes(deps: AppDependencies): RouteDefinition[] {
  return [
    {
      method: 'PUT',
      path: '/v1/identity/users',
      summary: 'Create or update platform users (email, provider ids) that imports match people against',
      tag: 'identity',
      access: 'operator',
      body: UsersBody,
      responses: {
        200: { description: 'Stored', schema: UsersResponse },
        400: { description: 'The body does not validate', schema: ErrorResponse },
        409: {
          description: 'An email or provider id repeats, or belongs to another user; nothing was stored',
          schema: ErrorResponse,
        },
      },
      async handle({ c, body, principal }) {
        const companyId = tenantOf(principal);
        const { users } = body as z.output<typeof UsersBody>;
        try {
          const { created, updated } = await upsertUsers(deps.db, companyId, users);
          return c.json({ data: { received: users.length, created, updated } });
        } catch (error) {
          if (error instanceof IdentityConflictError) {
            throw new HttpError(409, 'identity_conflict', error.message, error.details);
          }
          // Two requests raced for the same email or id: the unique index refused the second.
          if ((error as { code?: string }).code === '23505') {
            throw new HttpError(
              409,
              'identity_conflict',
              'an email or external id was taken meanwhile; retry',
            );
          }
          throw error;
        }
      },
    },
    {
      method: 'GET',
      path: '/v1/identity/users',
      summary: 'List platform users with their provider ids, by user id',
      tag: 'identity',
      access: 'viewer',
      query: PageQuery(1_000, 100),
      responses: { 200: { description: 'A page of users', schema: UserListResponse } },
      async handle({ c, query, principal }) {
        const page = query as { page: number; limit: number };
        const { data, total } = await listUsers(deps.db, tenantOf(principal), page);
        return c.json({ data, pagination: pagination(page, total) });
      },
    },
  ];
}

function webhookRoutes(deps: AppDependencies): RouteDefinition[] {
  const limit = deps.bodyLimitBytes ?? MiB;
  return (['session-scheduled', 'session-completed'] as const).map(
    (name): RouteDefinition => ({
      method: 'POST',
      path: `/v1/webhooks/${name}`,
      summary: `Receive Kintell’s signed ${name.replace('-', '.')} webhook for the tenant in ?tenant=`,
      tag: 'inbound',
      access: 'webhook',
      rawBody: true,
      responses: {
        200: { description: 'Stored and published on the bus', schema: InboundResponse },
        400: { description: 'No ?tenant=, or the payload does not validate', schema: ErrorResponse },
        401: { description: 'Signature missing, wrong or stale', schema: ErrorResponse },
        404: { description: 'Unknown tenant', schema: ErrorResponse },
        409: { description: 'This webhook event was received before (a replay)', schema: ErrorResponse },
      },
      async handle({ c }) {
        const tenant = c.req.query('tenant')?.toLowerCase();
        if (!tenant) {
          throw new HttpError(
            400,
            'missing_tenant',
            'give the tenant in the webhook URL: ?tenant=<tenant id>',
          );
        }
        if (!(await tenantExists(deps.db, tenant)))
          throw new HttpError(404, 'unknown_tenant', 'no such tenant');
        const { hosted, config } = await kintellFor(deps, tenant, 'webhook');
        const records = await hosted.connector.webhook!(await webhookRequest(c, limit), {
          ...connectorContext(deps, hosted, tenant, c.req.raw.signal, config),
          // Once the tenant has loaded its users, people resolve through them as in a CSV import.
          // Before that, the connector's directory-less behaviour stands (the email is the user
          // id), so a tenant that never loaded a directory keeps getting its session events.
          identity: (await hasDirectory(deps.db, tenant))
            ? new PostgresIdentityDirectory(deps.db, tenant)
            : undefined,
        });
        if (records.some((record) => record.companyId !== undefined && record.companyId !== tenant)) {
          throw new HttpError(400, 'tenant_mismatch', 'the webhook names another tenant than its URL');
        }
        const accepted = await acceptInbound(deps, PROVIDER, records, tenant);
        if (accepted.received === 0 && accepted.duplicates > 0) {
          throw new HttpError(
            409,
            'replayed_event',
            'this webhook event was received before; it is not processed again',
          );
        }
        return c.json(accepted);
      },
    }),
  );
}

/**
 * Routes of CSV imports (`/v1/import/sessions`), the identity directory imports match people
 * against (`/v1/identity/users`) and the Kintell session webhooks
 * (`/v1/webhooks/session-scheduled`, `/v1/webhooks/session-completed`).
 */
export function defineImportRoutes(deps: AppDependencies): RouteDefinition[] {
  return [...importRoutes(deps), ...identityRoutes(deps), ...webhookRoutes(deps)];
}
