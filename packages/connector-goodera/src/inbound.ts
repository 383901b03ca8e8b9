import {
  type ImpactEvent,
  type InboundRecord,
  InboundValidationError,
  PermanentError,
  z,
} from '@impact-in/core';

const id = z.string().min(1).max(150);

/** One volunteering participation as Goodera reports it. */
export const GooderaVolunteerSchema = z.object({
  participation_id: id,
  /** The employee id the platform knows the volunteer by. */
  external_user_id: id,
  email: z.email().optional(),
  project_id: id,
  project_name: z.string().min(1).max(300),
  cause: z.string().min(1).max(100).optional(),
  hours: z.number().finite().min(0).max(1_000),
  /** `YYYY-MM-DD`. */
  activity_date: z.iso.date(),
  status: z.enum(['registered', 'attended', 'approved', 'rejected', 'cancelled']),
});
export type GooderaVolunteer = z.infer<typeof GooderaVolunteerSchema>;

/** One donation as Goodera reports it. */
export const GooderaDonationSchema = z.object({
  donation_id: id,
  external_user_id: id,
  amount: z.number().finite().positive(),
  /** ISO 4217, upper case. */
  currency: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as "USD"'),
  donated_at: z.iso.datetime({ offset: true }),
  nonprofit_id: id.optional(),
  nonprofit_name: z.string().min(1).max(300).optional(),
  matched_amount: z.number().finite().min(0).optional(),
  status: z.enum(['completed', 'pending', 'refunded']),
});
export type GooderaDonation = z.infer<typeof GooderaDonationSchema>;

/** `POST /v1/ingest/goodera/volunteers` body. */
export const GooderaVolunteersBatchSchema = z.object({ volunteers: z.array(GooderaVolunteerSchema) });
/** `POST /v1/ingest/goodera/donations` body. */
export const GooderaDonationsBatchSchema = z.object({ donations: z.array(GooderaDonationSchema) });

/** A webhook notification: one volunteering or donation change. */
export const GooderaWebhookSchema = z.object({
  id,
  type: z.string().min(1).max(100),
  created_at: z.iso.datetime({ offset: true }),
  data: z.unknown(),
});

/** The ingest kinds `ingest` understands. */
export const GOODERA_INGEST_KINDS = ['volunteers', 'donations'] as const;
export type GooderaIngestKind = (typeof GOODERA_INGEST_KINDS)[number];

function volunteerRecord(volunteer: GooderaVolunteer, companyId: string | undefined): InboundRecord {
  const occurredAt = `${volunteer.activity_date}T00:00:00Z`;
  // Hours count once Goodera approved them; other states are facts, not impact.
  const event: ImpactEvent | undefined =
    volunteer.status === 'approved' && volunteer.hours > 0
      ? {
          eventId: `goodera-volunteer-${volunteer.participation_id}`,
          userId: volunteer.external_user_id,
          eventType: 'volunteer_hours',
          timestamp: occurredAt,
          value: volunteer.hours,
          unit: 'hours',
          metadata: { source: 'goodera', projectId: volunteer.project_id, project: volunteer.project_name },
        }
      : undefined;
  return {
    provider: 'goodera',
    kind: 'volunteer',
    sourceId: volunteer.participation_id,
    ...(companyId ? { companyId } : {}),
    occurredAt,
    data: {
      participationId: volunteer.participation_id,
      userId: volunteer.external_user_id,
      ...(volunteer.email ? { email: volunteer.email } : {}),
      projectId: volunteer.project_id,
      projectName: volunteer.project_name,
      ...(volunteer.cause ? { cause: volunteer.cause } : {}),
      hours: volunteer.hours,
      activityDate: volunteer.activity_date,
      status: volunteer.status,
    },
    ...(event ? { event } : {}),
  };
}

function donationRecord(donation: GooderaDonation, companyId: string | undefined): InboundRecord {
  const event: ImpactEvent | undefined =
    donation.status === 'completed'
      ? {
          eventId: `goodera-donation-${donation.donation_id}`,
          userId: donation.external_user_id,
          eventType: 'donation',
          timestamp: donation.donated_at,
          value: donation.amount,
          unit: donation.currency,
          metadata: {
            source: 'goodera',
            ...(donation.nonprofit_name ? { nonprofit: donation.nonprofit_name } : {}),
            ...(donation.matched_amount !== undefined ? { matchedAmount: donation.matched_amount } : {}),
          },
        }
      : undefined;
  return {
    provider: 'goodera',
    kind: 'donation',
    sourceId: donation.donation_id,
    ...(companyId ? { companyId } : {}),
    occurredAt: donation.donated_at,
    data: {
      donationId: donation.donation_id,
      userId: donation.external_user_id,
      amount: donation.amount,
      currency: donation.currency,
      donatedAt: donation.donated_at,
      ...(donation.nonprofit_id ? { nonprofitId: donation.nonprofit_id } : {}),
      ...(donation.nonprofit_name ? { nonprofitName: donation.nonprofit_name } : {}),
      ...(donation.matched_amount !== undefined ? { matchedAmount: donation.matched_amount } : {}),
      status: donation.status,
    },
    ...(event ? { event } : {}),
  };
}

/** Accepts a parsed JSON value, or the raw text/bytes of one. */
function jsonBody(body: unknown): unknown {
  if (typeof body !== 'string' && !(body instanceof Uint8Array)) return body;
  const text = typeof body === 'string' ? body : Buffer.from(body).toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    throw new InboundValidationError('goodera', [{ path: '(body)', message: 'is not valid JSON' }]);
  }
}

function parseWith<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(jsonBody(body));
  if (!parsed.success) throw InboundValidationError.fromZod('goodera', parsed.error);
  return parsed.data;
}

/**
 * Parses a volunteers batch (`{ volunteers: [...] }`) into records. Every bad field is reported
 * by name in `InboundValidationError.issues`, e.g. `volunteers[1].hours`.
 *
 * @example
 * parseVolunteers({ volunteers: [{ participation_id: 'gp_1', external_user_id: 'user_456',
 *   project_id: 'proj_7', project_name: 'Buddy mentoring', hours: 5,
 *   activity_date: '2025-11-14', status: 'approved' }] }, 'company_789');
 */
export function parseVolunteers(body: unknown, companyId?: string): InboundRecord[] {
  return parseWith(GooderaVolunteersBatchSchema, body).volunteers.map((volunteer) =>
    volunteerRecord(volunteer, companyId),
  );
}

/**
 * Parses a donations batch (`{ donations: [...] }`) into records; bad fields are named, e.g.
 * `donations[0].currency`.
 *
 * @example
 * parseDonations({ donations: [{ donation_id: 'gd_1', external_user_id: 'user_456', amount: 50,
 *   currency: 'USD', donated_at: '2025-11-14T10:00:00Z', status: 'completed' }] });
 */
export function parseDonations(body: unknown, companyId?: string): InboundRecord[] {
  return parseWith(GooderaDonationsBatchSchema, body).donations.map((donation) =>
    donationRecord(donation, companyId),
  );
}

/**
 * Parses an ingest payload of `kind` (`volunteers` or `donations`).
 *
 * @example parseIngest('donations', body, 'company_789')
 */
export function parseIngest(kind: string, body: unknown, companyId?: string): InboundRecord[] {
  if (kind === 'volunteers') return parseVolunteers(body, companyId);
  if (kind === 'donations') return parseDonations(body, companyId);
  throw new PermanentError(
    `[impact-in] [goodera] unknown ingest kind "${kind}" (expected ${GOODERA_INGEST_KINDS.join(' or ')})`,
    { code: 'unsupported_kind' },
  );
}

/**
 * Parses a verified webhook body. `volunteer.*` notifications carry one volunteering
 * participation, `donation.*` one donation; other types are acknowledged and yield no record, so
 * a notification type Goodera adds later does not make it retry forever.
 *
 * @example parseWebhookBody('{"id":"whe_1","type":"volunteer.participation.approved",…}')
 */
export function parseWebhookBody(body: unknown, companyId?: string): InboundRecord[] {
  const notification = parseWith(GooderaWebhookSchema, body);
  const family = notification.type.split('.')[0];
  const schema =
    family === 'volunteer'
      ? GooderaVolunteerSchema
      : family === 'donation'
        ? GooderaDonationSchema
        : undefined;
  if (!schema) return [];
  const parsed = schema.safeParse(notification.data);
  if (!parsed.success) {
    throw InboundValidationError.fromZod('goodera', {
      issues: parsed.error.issues.map((issue) => ({ ...issue, path: ['data', ...issue.path] })),
    });
  }
  const record =
    family === 'volunteer'
      ? volunteerRecord(parsed.data as GooderaVolunteer, companyId)
      : donationRecord(parsed.data as GooderaDonation, companyId);
  return [
    {
      ...record,
      data: { ...record.data, webhookEventId: notification.id, webhookType: notification.type },
    },
  ];
}
