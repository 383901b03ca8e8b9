import { findUnstorableText, ProviderId, z } from '@impact-in/core';
import { PaginationSchema } from '../api-schemas.js';

/** `true`/`false` (or `1`/`0`, or the bare name: `?dryRun`) in a query string. */
const flag = z
  .enum(['true', 'false', '1', '0', ''])
  .optional()
  .transform((value) => value === 'true' || value === '1' || value === '');

const page = (max: number, fallback: number) =>
  z
    .string()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(1).max(max))
    .optional()
    .transform((value) => value ?? fallback);

export const ImportQuery = z.strictObject({
  dryRun: flag.describe('Validate and count, store nothing'),
  strict: flag.describe('Refuse the whole file (store nothing) when any row is bad'),
  mapping: z
    .enum(['sessions', 'courses'])
    .optional()
    .transform((value) => value ?? 'sessions')
    .describe('Which export: Kintell sessions (default) or upskilling course completions'),
  deliver: flag.describe("Submit the imported impact events to the tenant's delivery targets"),
});

export const PageQuery = (maxLimit: number, defaultLimit: number) =>
  z.strictObject({ page: page(1_000_000, 1), limit: page(maxLimit, defaultLimit) });

const isoString = z.string().describe('ISO 8601 date-time');

export const ImportReportSchema = z.object({
  importId: z.string(),
  provider: z.string(),
  mapping: z.string(),
  status: z.enum(['running', 'completed', 'failed']),
  dryRun: z.boolean(),
  strict: z.boolean(),
  rows: z.number().int().describe('Data rows read, good and bad'),
  imported: z.number().int().describe('Rows stored for the first time'),
  updated: z.number().int().describe('Rows stored before whose content changed'),
  unchanged: z.number().int().describe('Rows stored before, identical'),
  skipped: z.number().int().describe('Bad rows, not stored'),
  unmatched: z.number().int().describe('Stored rows naming a person no platform user matched'),
  errorCount: z.number().int(),
  errors: z.array(z.object({ line: z.number().int(), column: z.string().optional(), message: z.string() })),
  errorsTruncated: z.boolean(),
  ignoredColumns: z.array(z.string()),
  failure: z.object({ code: z.string(), message: z.string() }).nullable(),
  deliveries: z
    .object({
      targets: z.array(z.string()),
      submitted: z.number().int(),
      created: z.number().int(),
      failed: z.number().int(),
    })
    .nullable(),
  bytes: z.number().int(),
  filename: z.string().nullable(),
  startedAt: isoString,
  finishedAt: isoString.nullable(),
});

export const ImportListResponse = z.object({
  data: z.array(
    z.object({
      importId: z.string(),
      provider: z.string(),
      mapping: z.string(),
      status: z.enum(['running', 'completed', 'failed']),
      dryRun: z.boolean(),
      rows: z.number().int().nullable(),
      errorCount: z.number().int().nullable(),
      createdAt: isoString,
      finishedAt: isoString.nullable(),
    }),
  ),
  pagination: PaginationSchema,
});

const storable = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .refine(
      (value) => findUnstorableText(value) === undefined,
      'must not contain NUL characters or lone surrogates',
    );

export const UsersBody = z.strictObject({
  users: z
    .array(
      z.strictObject({
        userId: storable(200),
        email: storable(320)
          .regex(/^[^\s@]+@[^\s@]+$/, 'must be an email address')
          .nullable()
          .optional()
          .describe('Matched case-insensitively; null clears it, absent keeps it'),
        externalIds: z
          .record(ProviderId, storable(200))
          .optional()
          .describe('Provider → its id of the user, e.g. { "kintell": "K-1042" }'),
      }),
    )
    .min(1)
    .max(10_000),
});

export const UsersResponse = z.object({
  data: z.object({ received: z.number().int(), created: z.number().int(), updated: z.number().int() }),
});

export const UserListResponse = z.object({
  data: z.array(
    z.object({
      userId: z.string(),
      email: z.string().nullable(),
      externalIds: z.record(z.string(), z.string()),
      createdAt: isoString,
      updatedAt: isoString,
    }),
  ),
  pagination: PaginationSchema,
});
