import {
  type ImpactEvent,
  type InboundRecord,
  InboundValidationError,
  type Logger,
  PermanentError,
  type RawRequest,
  verifyHmacSha256,
  WebhookVerificationError,
  z,
} from '@impact-in/core';
import { PROVIDER } from './config.js';
import { SIGNATURE_HEADER } from './payload.js';

const IsoDateTime = z.iso.datetime({
  offset: true,
  error: 'must be an ISO 8601 date-time, e.g. 2025-11-14T10:00:00Z',
});
const IsoDate = z.iso.date({ error: 'must be an ISO 8601 date, e.g. 2025-11-14' });
// Short enough that `benevity-volunteer-<id>` still fits an ImpactEvent's 200-character eventId.
const Id = z.string({ error: 'must be a string id' }).trim().min(1, 'must not be empty').max(150);
const Text = z.string().trim().min(1, 'must not be empty').max(500);

/** One volunteer time entry, as Benevity sends it in webhooks and volunteer ingest batches. */
export const BenevityVolunteerSchema = z.object({
  id: Id,
  /** The employee id the company gave Benevity (usually the SSO id): our `userId`. */
  user_external_id: Id,
  email: z.email({ error: 'must be an email address' }).optional(),
  hours: z
    .number({ error: 'must be a number of hours' })
    .positive('must be greater than 0')
    .max(10_000, 'must be at most 10000'),
  activity_date: IsoDate,
  cause: Text.optional(),
  cause_id: Id.optional(),
  program: Text.optional(),
  /** Only `completed` hours carry an impact event; the others are recorded as they are. */
  status: z.enum(['completed', 'pending', 'cancelled']).default('completed'),
});
export type BenevityVolunteer = z.output<typeof BenevityVolunteerSchema>;

/** One donation, as Benevity sends it in webhooks and donation ingest batches. */
export const BenevityDonationSchema = z.object({
  id: Id,
  user_external_id: Id,
  email: z.email({ error: 'must be an email address' }).optional(),
  amount: z
    .number({ error: 'must be a number' })
    .positive('must be greater than 0')
    .max(10_000_000, 'must be at most 10000000'),
  currency: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as "USD"'),
  donated_at: IsoDateTime,
  /** The company's matching top-up, when there is one. */
  match_amount: z.number().nonnegative('must be 0 or more').optional(),
  cause: Text.optional(),
  cause_id: Id.optional(),
  program: Text.optional(),
  status: z.enum(['completed', 'pending', 'refunded']).default('completed'),
});
export type BenevityDonation = z.output<typeof BenevityDonationSchema>;

/** Reports every repeated `id` in a batch by its place, e.g. `volunteers[3].id`. */
function reportDuplicateIds(
  list: 'volunteers' | 'donations',
  items: ReadonlyArray<{ id: string }>,
  context: z.RefinementCtx,
): void {
  const seen = new Map<string, number>();
  items.forEach((item, index) => {
    const first = seen.get(item.id);
    if (first === undefined) seen.set(item.id, index);
    else
      context.addIssue({
        code: 'custom',
        path: [list, index, 'id'],
        message: `duplicates ${list}[${first}].id`,
      });
  });
}

const MAX_BATCH = 10_000;

/** `POST /v1/ingest/benevity/volunteers` */
export const BenevityVolunteerBatchSchema = z
  .object({
    /** Benevity's id of the company; kept on each record, the tenant comes from the caller. */
    company_id: Id.optional(),
    volunteers: z.array(BenevityVolunteerSchema).max(MAX_BATCH, `must hold at most ${MAX_BATCH} entries`),
  })
  .superRefine((batch, context) => reportDuplicateIds('volunteers', batch.volunteers, context));

/** `POST /v1/ingest/benevity/donations` */
export const BenevityDonationBatchSchema = z
  .object({
    company_id: Id.optional(),
    donations: z.array(BenevityDonationSchema).max(MAX_BATCH, `must hold at most ${MAX_BATCH} entries`),
  })
  .superRefine((batch, context) => reportDuplicateIds('donations', batch.donations, context));

/** Webhook types this connector turns into records. Others are acknowledged and ignored. */
export const BENEVITY_WEBHOOK_TYPES = ['volunteer.recorded', 'donation.completed'] as const;

const Envelope = {
  /** Benevity's event id: the record's `sourceId`, which the host dedupes on. */
  id: Id,
  occurred_at: IsoDateTime,
  company_id: Id.optional(),
};

const WebhookEnvelopeSchema = z.object({ ...Envelope, type: z.string().min(1, 'must not be empty') });

/** The body of a `POST /webhooks/benevity` call, by type. */
export const BenevityWebhookSchema = z.discriminatedUnion('type', [
  z.object({ ...Envelope, type: z.literal('volunteer.recorded'), data: BenevityVolunteerSchema }),
  z.object({ ...Envelope, type: z.literal('donation.completed'), data: BenevityDonationSchema }),
]);
export type BenevityWebhook = z.output<typeof BenevityWebhookSchema>;

const startOfDay = (date: string) => `${date}T00:00:00Z`;

const definedOnly = (fields: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined));

function volunteerRecord(
  volunteer: BenevityVolunteer,
  meta: { sourceId: string; companyId: string; occurredAt: string; benevityCompanyId?: string | undefined },
): InboundRecord {
  const data = definedOnly({
    recordId: volunteer.id,
    userExternalId: volunteer.user_external_id,
    email: volunteer.email,
    hours: volunteer.hours,
    activityDate: volunteer.activity_date,
    cause: volunteer.cause,
    causeId: volunteer.cause_id,
    program: volunteer.program,
    status: volunteer.status,
    benevityCompanyId: meta.benevityCompanyId,
  });
  const record: InboundRecord = {
    provider: PROVIDER,
    kind: 'volunteer',
    sourceId: meta.sourceId,
    companyId: meta.companyId,
    occurredAt: meta.occurredAt,
    data,
  };
  if (volunteer.status === 'completed') {
    const event: ImpactEvent = {
      // Derived from Benevity's own entry id, so the same hours arriving by webhook and by ingest
      // are one event (the dispatcher dedupes on eventId).
      eventId: `benevity-volunteer-${volunteer.id}`,
      userId: volunteer.user_external_id,
      eventType: 'volunteer_hours',
      timestamp: startOfDay(volunteer.activity_date),
      value: volunteer.hours,
      unit: 'hours',
      metadata: definedOnly({
        source: PROVIDER,
        program: volunteer.program,
        cause: volunteer.cause,
        causeId: volunteer.cause_id,
      }),
    };
    record.event = event;
  }
  return record;
}

function donationRecord(
  donation: BenevityDonation,
  meta: { sourceId: string; companyId: string; occurredAt: string; benevityCompanyId?: string | undefined },
): InboundRecord {
  const data = definedOnly({
    recordId: donation.id,
    userExternalId: donation.user_external_id,
    email: donation.email,
    amount: donation.amount,
    currency: donation.currency,
    donatedAt: donation.donated_at,
    matchAmount: donation.match_amount,
    cause: donation.cause,
    causeId: donation.cause_id,
    program: donation.program,
    status: donation.status,
    benevityCompanyId: meta.benevityCompanyId,
  });
  const record: InboundRecord = {
    provider: PROVIDER,
    kind: 'donation',
    sourceId: meta.sourceId,
    companyId: meta.companyId,
    occurredAt: meta.occurredAt,
    data,
  };
  if (donation.status === 'completed') {
    record.event = {
      eventId: `benevity-donation-${donation.id}`,
      userId: donation.user_external_id,
      eventType: 'donation',
      timestamp: donation.donated_at,
      value: donation.amount,
      unit: donation.currency,
      metadata: definedOnly({
        source: PROVIDER,
        program: donation.program,
        cause: donation.cause,
        causeId: donation.cause_id,
        matchAmount: donation.match_amount,
      }),
    };
  }
  return record;
}

/** Reads a JSON body given as bytes, text or an already parsed value. */
function readJson(body: unknown): unknown {
  if (typeof body !== 'string' && !(body instanceof Uint8Array)) return body;
  let text: string;
  try {
    text = typeof body === 'string' ? body : new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    throw new InboundValidationError(PROVIDER, [{ path: '(body)', message: 'is not valid UTF-8' }]);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new InboundValidationError(PROVIDER, [{ path: '(body)', message: 'is not valid JSON' }]);
  }
}

/**
 * Checks `X-Benevity-Signature` (hex HMAC-SHA256 of the raw body, optionally `sha256=`-prefixed)
 * in constant time. Throws {@link WebhookVerificationError} when it is missing or wrong.
 *
 * @example
 * verifyBenevityWebhook(request, config.signatureSecret); // throws unless signed with that secret
 */
export function verifyBenevityWebhook(
  request: Pick<RawRequest, 'headers' | 'body'>,
  signatureSecret: string,
): void {
  const signature = request.headers[SIGNATURE_HEADER];
  if (signature === undefined || signature.trim() === '') {
    throw new WebhookVerificationError(PROVIDER, 'missing X-Benevity-Signature header');
  }
  if (!/^(sha256=)?[0-9a-f]{64}$/i.test(signature.trim())) {
    throw new WebhookVerificationError(PROVIDER, 'malformed X-Benevity-Signature header');
  }
  if (!verifyHmacSha256(signatureSecret, request.body, signature)) {
    throw new WebhookVerificationError(PROVIDER, 'X-Benevity-Signature does not match the body');
  }
}

/**
 * Parses a verified webhook body into records: `volunteer.recorded` → a `volunteer` record,
 * `donation.completed` → a `donation` record, each with `sourceId` = Benevity's event id and an
 * impact event when the hours or the donation are completed. Other types yield no records (a new
 * Benevity event type must not make the webhook fail and be resent forever). Bad fields throw
 * {@link InboundValidationError} with paths like `data.hours`.
 *
 * @example
 * const [record] = parseBenevityWebhook(request.body, 'company_789');
 */
export function parseBenevityWebhook(
  body: unknown,
  companyId: string,
  options: { logger?: Logger } = {},
): InboundRecord[] {
  const json = readJson(body);
  const type = typeof json === 'object' && json !== null ? (json as { type?: unknown }).type : undefined;
  if (!(BENEVITY_WEBHOOK_TYPES as readonly unknown[]).includes(type)) {
    // Not one of ours: a sound envelope is acknowledged, a broken one is still reported.
    const envelope = WebhookEnvelopeSchema.safeParse(json);
    if (!envelope.success) throw InboundValidationError.fromZod(PROVIDER, envelope.error);
    options.logger?.info(
      { webhookType: envelope.data.type, sourceId: envelope.data.id },
      'benevity webhook type ignored',
    );
    return [];
  }
  // Envelope and data in one pass, so every bad field is reported at once.
  const parsed = BenevityWebhookSchema.safeParse(json);
  if (!parsed.success) throw InboundValidationError.fromZod(PROVIDER, parsed.error);
  const webhook = parsed.data;
  const meta = {
    sourceId: webhook.id,
    companyId,
    occurredAt: webhook.occurred_at,
    benevityCompanyId: webhook.company_id,
  };
  return webhook.type === 'volunteer.recorded'
    ? [volunteerRecord(webhook.data, meta)]
    : [donationRecord(webhook.data, meta)];
}

/** Ingest kinds this connector parses. */
export const BENEVITY_INGEST_KINDS = ['volunteers', 'donations'] as const;
export type BenevityIngestKind = (typeof BENEVITY_INGEST_KINDS)[number];

/**
 * Parses an ingest batch (`volunteers` or `donations`) into records, one per entry, with
 * `sourceId` = the entry's id. Every bad field is reported at once, by its place
 * (`volunteers[2].hours`), in an {@link InboundValidationError}; an unknown kind is a
 * {@link PermanentError}.
 *
 * @example
 * parseBenevityIngest('volunteers', { volunteers: [{ id: 'vol_1', user_external_id: 'user_456',
 *   hours: 2.5, activity_date: '2025-11-10' }] }, 'company_789');
 */
export function parseBenevityIngest(kind: string, body: unknown, companyId: string): InboundRecord[] {
  const json = readJson(body);
  if (kind === 'volunteers') {
    const parsed = BenevityVolunteerBatchSchema.safeParse(json);
    if (!parsed.success) throw InboundValidationError.fromZod(PROVIDER, parsed.error);
    return parsed.data.volunteers.map((volunteer) =>
      volunteerRecord(volunteer, {
        sourceId: volunteer.id,
        companyId,
        occurredAt: startOfDay(volunteer.activity_date),
        benevityCompanyId: parsed.data.company_id,
      }),
    );
  }
  if (kind === 'donations') {
    const parsed = BenevityDonationBatchSchema.safeParse(json);
    if (!parsed.success) throw InboundValidationError.fromZod(PROVIDER, parsed.error);
    return parsed.data.donations.map((donation) =>
      donationRecord(donation, {
        sourceId: donation.id,
        companyId,
        occurredAt: donation.donated_at,
        benevityCompanyId: parsed.data.company_id,
      }),
    );
  }
  throw new PermanentError(
    `[impact-in] [${PROVIDER}] unknown ingest kind "${kind}" (known: ${BENEVITY_INGEST_KINDS.join(', ')})`,
    { code: 'unsupported' },
  );
}
