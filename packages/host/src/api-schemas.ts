import { DeliverRequestSchema, DeliveryStatusSchema, z } from '@impact-in/core';

export const dateParam = z
  .string()
  .refine(
    (value) => /^\d{4}-\d{2}-\d{2}(T.+)?$/.test(value) && !Number.isNaN(Date.parse(value)),
    'must be a date (YYYY-MM-DD) or an ISO 8601 date-time',
  )
  .refine((value) => {
    const year = new Date(value).getUTCFullYear();
    return Number.isNaN(year) || (year >= 1 && year <= 9999);
  }, 'must be between years 0001 and 9999');

export const intParam = (min: number, max: number, fallback: number) =>
  z
    .string()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max))
    .optional()
    .transform((value) => value ?? fallback);

export const DeliverBody = DeliverRequestSchema;

export const ListDeliveriesQuery = z.strictObject({
  companyId: z.string().min(1).optional(),
  provider: z.string().min(1).optional(),
  status: DeliveryStatusSchema.optional(),
  startDate: dateParam.optional(),
  endDate: dateParam.optional(),
  page: intParam(1, 1_000_000, 1),
  limit: intParam(1, 100, 20),
});

export const StatsQuery = z.strictObject({
  companyId: z.string().min(1).optional(),
  startDate: dateParam.optional(),
  endDate: dateParam.optional(),
});

export const BulkReplayBody = z.strictObject({
  ids: z.array(z.string().min(1)).min(1).max(1_000),
});

export const RetryAllFailedBody = z.strictObject({
  companyId: z.string().min(1),
  provider: z.string().min(1).optional(),
});

const isoString = z.string().describe('ISO 8601 date-time');

export const DeliverySummarySchema = z.object({
  id: z.string(),
  companyId: z.string(),
  provider: z.string(),
  deliveryId: z.string(),
  eventId: z.string(),
  status: DeliveryStatusSchema,
  attemptCount: z.number().int(),
  lastError: z.string().nullable(),
  nextAttemptAt: isoString.nullable(),
  deliveredAt: isoString.nullable(),
  createdAt: isoString,
});

export const DeliveryDetailSchema = DeliverySummarySchema.extend({
  payload: z.unknown(),
  providerResponse: z.unknown(),
  replayCount: z.number().int(),
  updatedAt: isoString,
});

export const PaginationSchema = z.object({
  page: z.number().int(),
  limit: z.number().int(),
  total: z.number().int(),
  totalPages: z.number().int(),
  hasNext: z.boolean(),
  hasPrev: z.boolean(),
});

/** The pagination block of a list answer (seed 002's shape). */
export function pagination(query: { page: number; limit: number }, total: number) {
  const totalPages = Math.ceil(total / query.limit);
  return {
    page: query.page,
    limit: query.limit,
    total,
    totalPages,
    hasNext: query.page < totalPages,
    hasPrev: query.page > 1,
  };
}

export const ListResponse = z.object({ data: z.array(DeliverySummarySchema), pagination: PaginationSchema });
export const DetailResponse = z.object({ data: DeliveryDetailSchema });
export const DeliverResponse = z.object({ data: DeliveryDetailSchema, created: z.boolean() });
export const StatsResponse = z.object({
  data: z.object({
    overall: z.object({
      total: z.number(),
      successful: z.number(),
      failed: z.number(),
      pending: z.number(),
      retrying: z.number(),
    }),
    byProvider: z.array(
      z.object({
        provider: z.string(),
        status: DeliveryStatusSchema,
        count: z.number(),
        avgAttempts: z.number(),
      }),
    ),
  }),
});
export const ReplayResponse = z.object({
  success: z.boolean(),
  message: z.string(),
  newStatus: DeliveryStatusSchema,
});
export const BulkResponse = z.object({
  summary: z.object({
    total: z.number(),
    successful: z.number(),
    failed: z.number(),
    queued: z
      .number()
      .optional()
      .describe(
        'retry-all-failed: requeued for the workers past the first 100, not attempted in the request',
      ),
  }),
  results: z.array(
    z.object({
      id: z.string(),
      success: z.boolean(),
      newStatus: DeliveryStatusSchema.optional(),
      error: z.string().optional(),
    }),
  ),
});
export const ErrorResponse = z.object({
  error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() }),
});
export const InboundResponse = z.object({
  received: z.number().int(),
  duplicates: z.number().int(),
  records: z.array(
    z.object({ provider: z.string(), kind: z.string(), sourceId: z.string(), duplicate: z.boolean() }),
  ),
});
