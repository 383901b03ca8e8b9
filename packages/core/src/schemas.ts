import { z } from 'zod';

/** Provider ids are lower-case slugs: `benevity`, `goodera`, `my-crm`. */
export const ProviderId = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z][a-z0-9-]*$/, 'must be a lower-case slug such as "goodera"');

// NUL (no database text type stores it) and lone surrogates (not valid UTF-8).
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding NUL is the point
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const UNSTORABLE_ALL = new RegExp(UNSTORABLE.source, 'g');

/**
 * The path of the first string (value or key) that no database can store: a NUL character or
 * a lone UTF-16 surrogate. `undefined` when there is none.
 */
export function findUnstorableText(value: unknown, path = ''): string | undefined {
  if (typeof value === 'string') return UNSTORABLE.test(value) ? path || '(value)' : undefined;
  if (value === null || typeof value !== 'object') return undefined;
  if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) {
      const found = findUnstorableText(item, `${path}[${index}]`);
      if (found) return found;
    }
    return undefined;
  }
  for (const [key, item] of Object.entries(value)) {
    const here = path ? `${path}.${key}` : key;
    if (UNSTORABLE.test(key)) return here;
    const found = findUnstorableText(item, here);
    if (found) return found;
  }
  return undefined;
}

/** Replaces NULs and lone surrogates with U+FFFD, so provider text can always be stored. */
export function storableText(text: string): string {
  return text.replace(UNSTORABLE_ALL, '\ufffd');
}

/** ISO 8601 date-time with an offset or `Z`, in years 0001–9999 (one issue per bad value: the range is checked only on a valid date-time). */
const IsoDateTime = z.iso.datetime({ offset: true, abort: true }).refine((value) => {
  const year = new Date(value).getUTCFullYear();
  return year >= 1 && year <= 9999;
}, 'must be between years 0001 and 9999');

/**
 * The canonical impact event: the `event` object of seed 002's deliver body.
 *
 * @example
 * ImpactEventSchema.parse({ eventId: 'evt_1', userId: 'u_1', eventType: 'volunteer_hours',
 *   timestamp: '2025-11-14T10:00:00Z', value: 5, unit: 'hours' });
 */
export const ImpactEventSchema = z
  .object({
    eventId: z.string().min(1).max(200),
    userId: z.string().min(1).max(200),
    eventType: z
      .string()
      .min(1)
      .max(100)
      .regex(/^[a-z][a-z0-9_]*$/, 'must be snake_case, e.g. "volunteer_hours"'),
    timestamp: IsoDateTime,
    value: z.number().finite(),
    unit: z.string().min(1).max(50),
    outcomeScores: z.record(z.string().min(1), z.number().finite()).optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
  })
  .superRefine((event, context) => {
    const path = findUnstorableText(event);
    if (path) {
      context.addIssue({
        code: 'custom',
        path: path.split(/\.|\[|\]/).filter(Boolean),
        message: 'must not contain NUL characters or lone surrogates',
      });
    }
  });
export type ImpactEvent = z.infer<typeof ImpactEventSchema>;

/** Body of `POST /v1/impact-in/deliver` (seed 002). */
export const DeliverRequestSchema = z.object({
  companyId: z.string().min(1).max(200),
  provider: ProviderId,
  event: ImpactEventSchema,
});
export type DeliverRequest = z.infer<typeof DeliverRequestSchema>;

export const DeliveryStatusSchema = z.enum(['pending', 'retrying', 'success', 'failed']);
export type DeliveryStatus = z.infer<typeof DeliveryStatusSchema>;

/** A provider's answer, as recorded on the delivery. The body is text, truncated to 64 KiB. */
export const ProviderResponseSchema = z.object({
  status: z.number().int(),
  headers: z.record(z.string(), z.string()).optional(),
  body: z.string().optional(),
});
export type ProviderResponse = z.infer<typeof ProviderResponseSchema>;

/** One durable delivery of one event to one provider (DESIGN section 3). */
export const DeliverySchema = z.object({
  id: z.string(),
  companyId: z.string(),
  provider: z.string(),
  /** The idempotency key: stable for the life of the delivery, replays included. */
  deliveryId: z.string(),
  eventId: z.string(),
  event: ImpactEventSchema,
  /** Exactly what was last sent to the provider (JSON value, or the XML text). */
  payload: z.unknown().nullable(),
  status: DeliveryStatusSchema,
  attemptCount: z.number().int().nonnegative(),
  replayCount: z.number().int().nonnegative(),
  lastError: z.string().nullable(),
  providerResponse: ProviderResponseSchema.nullable(),
  nextAttemptAt: z.date().nullable(),
  deliveredAt: z.date().nullable(),
  createdAt: z.date(),
  updatedAt: z.date(),
});
export type Delivery = z.infer<typeof DeliverySchema>;

/**
 * A record that came in from a provider: a webhook, an ingest payload or an import row.
 * `sourceId` is the provider's own id; `(companyId, provider, kind, sourceId)` dedupes.
 */
export const InboundRecordSchema = z.object({
  provider: z.string(),
  kind: z.string().min(1),
  sourceId: z.string().min(1),
  companyId: z.string().optional(),
  occurredAt: IsoDateTime.optional(),
  data: z.record(z.string(), z.unknown()),
  /** An impact event the record implies, ready to deliver (e.g. a completed session). */
  event: ImpactEventSchema.optional(),
});
export type InboundRecord = z.infer<typeof InboundRecordSchema>;

/** Statistics shaped like seed 002's `GET /stats` `data`. */
export interface DeliveryStats {
  overall: { total: number; successful: number; failed: number; pending: number; retrying: number };
  byProvider: Array<{ provider: string; status: DeliveryStatus; count: number; avgAttempts: number }>;
}
