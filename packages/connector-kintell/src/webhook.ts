import {
  type Clock,
  findUnstorableText,
  type ImpactEvent,
  ImpactEventSchema,
  type InboundRecord,
  InboundValidationError,
  type RawRequest,
  safeEqual,
  signTimestamped,
  systemClock,
  WebhookVerificationError,
  z,
} from '@impact-in/core';
import { compileCampaignRules, matchCampaign } from './campaigns.js';
import type { KintellConfig } from './config.js';
import { resolvePeople, useEmailAsUserId } from './identity.js';
import { type SessionRow, sessionCompletedEvent, sessionData, sessionRowSchema } from './sessions.js';
import type { IdentityDirectory, ResolvedPerson } from './types.js';
import { isoUtc } from './values.js';

/** The header carrying the signature: `t=<unix seconds>,v1=<hex HMAC-SHA256>`. */
export const KINTELL_SIGNATURE_HEADER = 'x-kintell-signature';

/** The webhook types, and the path each is posted to. */
export const KINTELL_WEBHOOK_TYPES = {
  'session.scheduled': 'session-scheduled',
  'session.completed': 'session-completed',
} as const;
export type KintellWebhookType = keyof typeof KINTELL_WEBHOOK_TYPES;

/**
 * Signs a webhook body the way Kintell does: the value of `x-kintell-signature` for `body` at
 * `timestampSeconds`, i.e. `t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
 * For tests, and for senders that relay Kintell events.
 *
 * @example
 * const body = JSON.stringify({ id: 'evt_1', type: 'session.completed', created_at, data });
 * headers['x-kintell-signature'] = signKintellWebhook(secret, body, Math.floor(Date.now() / 1000));
 */
export function signKintellWebhook(
  secret: string,
  body: string | Uint8Array,
  timestampSeconds: number,
): string {
  return `t=${timestampSeconds},v1=${signTimestamped(secret, body, timestampSeconds)}`;
}

const reject = (reason: string) => new WebhookVerificationError('kintell', reason);

/**
 * Verifies `x-kintell-signature` over the exact raw body, in constant time, against the current
 * and the previous secret (rotation); several `v1=` signatures may be sent. Throws
 * `WebhookVerificationError` when no secret is configured, the header is missing or malformed,
 * the timestamp is further than `toleranceSeconds` from now (past or future), or no signature
 * matches.
 *
 * @example verifyKintellWebhook(request, config, context.clock)
 */
export function verifyKintellWebhook(
  request: RawRequest,
  config: Pick<KintellConfig, 'webhookSecret' | 'previousWebhookSecret' | 'toleranceSeconds'>,
  clock: Clock = systemClock,
): void {
  const secrets = [config.webhookSecret, config.previousWebhookSecret].filter(
    (secret): secret is string => typeof secret === 'string' && secret !== '',
  );
  if (secrets.length === 0) throw reject('no webhook secret is configured (webhookSecret)');
  const header = request.headers[KINTELL_SIGNATURE_HEADER];
  if (!header) throw reject(`missing ${KINTELL_SIGNATURE_HEADER} header`);
  let timestamp: string | undefined;
  const signatures: string[] = [];
  for (const part of header.split(',')) {
    const separator = part.indexOf('=');
    if (separator === -1) continue;
    const key = part.slice(0, separator).trim();
    const value = part.slice(separator + 1).trim();
    if (key === 't') timestamp = value;
    // A handful is plenty for a rotation; more would only cost HMAC comparisons.
    else if (key === 'v1' && signatures.length < 8) signatures.push(value.toLowerCase());
  }
  if (timestamp === undefined || !/^\d{1,12}$/.test(timestamp) || signatures.length === 0) {
    throw reject(`malformed ${KINTELL_SIGNATURE_HEADER} header (expected t=<unix seconds>,v1=<hex>)`);
  }
  const age = Math.floor(clock.now() / 1000) - Number(timestamp);
  if (age > config.toleranceSeconds)
    throw reject(
      `timestamp is ${age} s old (tolerance ${config.toleranceSeconds} s): a replay or a stuck clock`,
    );
  if (-age > config.toleranceSeconds)
    throw reject(`timestamp is ${-age} s in the future (tolerance ${config.toleranceSeconds} s)`);
  let matched = false;
  for (const secret of secrets) {
    // Sign the timestamp exactly as sent; compare every candidate so timing does not tell which matched.
    const expected = signTimestamped(secret, request.body, timestamp);
    for (const signature of signatures) if (safeEqual(expected, signature)) matched = true;
  }
  if (!matched) throw reject('signature does not match');
}

/** The JSON body of a Kintell webhook. `data` holds session fields named like the CSV columns. */
export const KintellWebhookSchema = z.object({
  id: z.string({ error: 'required: the webhook event id' }).min(1).max(200),
  type: z.enum(['session.scheduled', 'session.completed'], {
    error: 'must be session.scheduled or session.completed',
  }),
  created_at: z.iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time with offset' }),
  data: z.record(z.string(), z.unknown(), { error: 'must be an object of session fields' }),
});

/** The type a request's path names (`…/session-completed`), or undefined for any other path. */
function typeOfPath(url: string): KintellWebhookType | undefined {
  let path: string;
  try {
    path = new URL(url, 'http://localhost').pathname.replace(/\/+$/, '');
  } catch {
    return undefined;
  }
  for (const [type, suffix] of Object.entries(KINTELL_WEBHOOK_TYPES)) {
    if (path.endsWith(`/${suffix}`) || path === suffix) return type as KintellWebhookType;
  }
  return undefined;
}

/** Webhook data values as cell text, so the CSV row schema validates them. */
function cellsOf(data: Record<string, unknown>, issues: Array<{ path: string; message: string }>) {
  const cells: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(data)) {
    if (value === null || value === undefined) continue;
    if (typeof value === 'number' && Number.isFinite(value)) cells[name] = String(value);
    else if (typeof value === 'string') {
      const trimmed = value.trim();
      if (trimmed !== '') cells[name] = trimmed;
    } else issues.push({ path: `data.${name}`, message: 'must be a string or a number' });
  }
  return cells;
}

/** A verified webhook's validated session, before its people are resolved. */
interface ParsedWebhook {
  body: z.output<typeof KintellWebhookSchema>;
  session: SessionRow;
  status: 'scheduled' | 'completed';
}

function parseWebhookSession(
  request: Pick<RawRequest, 'url' | 'body'>,
  config: Pick<KintellConfig, 'timezone'>,
): ParsedWebhook {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(request.body).toString('utf8'));
  } catch {
    throw new InboundValidationError('kintell', [{ path: '(body)', message: 'is not valid JSON' }]);
  }
  const parsed = KintellWebhookSchema.safeParse(json);
  if (!parsed.success) throw InboundValidationError.fromZod('kintell', parsed.error);
  const body = parsed.data;
  const unstorable = findUnstorableText(body);
  if (unstorable) {
    throw new InboundValidationError('kintell', [
      { path: unstorable, message: 'must not contain NUL characters or lone surrogates' },
    ]);
  }
  const expected = typeOfPath(request.url);
  if (expected && expected !== body.type) {
    throw new InboundValidationError('kintell', [
      {
        path: 'type',
        message: `is ${body.type} but the request was posted to …/${KINTELL_WEBHOOK_TYPES[expected]} (expects ${expected})`,
      },
    ]);
  }
  const status = body.type === 'session.completed' ? 'completed' : 'scheduled';
  const issues: Array<{ path: string; message: string }> = [];
  const cells = { status, ...cellsOf(body.data, issues) };
  if (issues.length > 0) throw new InboundValidationError('kintell', issues);
  const row = sessionRowSchema({ timezone: config.timezone }).safeParse(cells);
  if (!row.success) {
    throw InboundValidationError.fromZod('kintell', {
      issues: row.error.issues.map((issue) => ({ ...issue, path: ['data', ...issue.path] })),
    });
  }
  const session = row.data;
  if (session.status !== status) {
    throw new InboundValidationError('kintell', [
      { path: 'data.status', message: `is ${session.status} but the webhook type is ${body.type}` },
    ]);
  }
  return { body, session, status };
}

/** The people a webhook names, unresolved (`userId: null`, `matchedBy: 'unmatched'`). */
function webhookPeople(session: SessionRow): { participant: ResolvedPerson; volunteer: ResolvedPerson } {
  return {
    participant: {
      role: 'participant',
      email: session.participant_email,
      name: session.participant_name,
      externalId: session.participant_id,
      userId: null,
      matchedBy: 'unmatched',
    },
    volunteer: {
      role: 'volunteer',
      email: session.volunteer_email,
      name: session.volunteer_name,
      externalId: session.volunteer_id,
      userId: null,
      matchedBy: 'unmatched',
    },
  };
}

function webhookRecord(
  { body, session, status }: ParsedWebhook,
  people: { participant: ResolvedPerson; volunteer: ResolvedPerson },
  config: Pick<KintellConfig, 'campaigns' | 'timezone'>,
  companyId: string | undefined,
): InboundRecord[] {
  const { participant, volunteer } = people;
  const campaign = matchCampaign(compileCampaignRules(config.campaigns, config.timezone), {
    program: session.program,
    companyRef: session.company_ref,
    at: session.scheduled_at,
  });
  const campaignId = campaign?.campaignId ?? null;
  let event: ImpactEvent | undefined;
  if (status === 'completed' && volunteer.userId) {
    const built = ImpactEventSchema.safeParse(
      sessionCompletedEvent(session, volunteer.userId, { campaignId, participantUserId: participant.userId }),
    );
    if (!built.success) {
      throw InboundValidationError.fromZod('kintell', {
        issues: built.error.issues.map((issue) => ({ ...issue, path: ['event', ...issue.path] })),
      });
    }
    event = built.data;
  }
  return [
    {
      provider: 'kintell',
      kind: body.type,
      sourceId: body.id,
      ...(companyId ? { companyId } : {}),
      occurredAt: isoUtc(Date.parse(body.created_at)),
      data: {
        ...sessionData(session, {
          participant,
          volunteer,
          campaignId,
          campaignRule: campaign?.rule ?? null,
          unmatched: participant.userId === null || volunteer.userId === null,
        }),
        webhookEventId: body.id,
        webhookType: body.type,
      },
      ...(event ? { event } : {}),
    },
  ];
}

/**
 * Parses a verified webhook into one record: kind `session.scheduled` or `session.completed`,
 * `sourceId` = the webhook event `id` (replays of it are refused by the host), `data` = the session
 * fields as in a CSV import plus `webhookEventId` and `webhookType`. The type must agree with the
 * path the request was posted to (`…/session-completed`); any other path accepts both. Without a
 * directory, each person's normalised email serves as their user id, and a `session.completed`
 * webhook carries a `session_completed` event when the volunteer has an email (the same event
 * id as the CSV import's). {@link resolveKintellWebhook} resolves people through a directory.
 *
 * @example parseKintellWebhook(request, config, 'company_789')
 */
export function parseKintellWebhook(
  request: Pick<RawRequest, 'url' | 'body'>,
  config: Pick<KintellConfig, 'campaigns' | 'timezone'>,
  companyId?: string,
): InboundRecord[] {
  const parsed = parseWebhookSession(request, config);
  const people = webhookPeople(parsed.session);
  // Without a directory, the normalised email is the user id (the CSV `email` fallback).
  useEmailAsUserId(people.participant);
  useEmailAsUserId(people.volunteer);
  return webhookRecord(parsed, people, config, companyId);
}

/**
 * Parses a verified webhook like {@link parseKintellWebhook}, resolving its people through the
 * tenant's directory as a CSV import does: Kintell id first, then normalised email, then the
 * config's `identityFallback`. A webhook is never refused for a person it cannot match (Kintell
 * would retry it forever): with `reject`, as with `unmatched`, the record is stored unmatched and
 * carries no event.
 *
 * @example await resolveKintellWebhook(request, config, directory, 'company_789')
 */
export async function resolveKintellWebhook(
  request: Pick<RawRequest, 'url' | 'body'>,
  config: Pick<KintellConfig, 'campaigns' | 'timezone' | 'identityFallback'>,
  directory: IdentityDirectory,
  companyId?: string,
): Promise<InboundRecord[]> {
  const parsed = parseWebhookSession(request, config);
  const people = webhookPeople(parsed.session);
  await resolvePeople([people.participant, people.volunteer], {
    provider: 'kintell',
    directory,
    fallback: config.identityFallback === 'email' ? 'email' : 'unmatched',
  });
  return webhookRecord(parsed, people, config, companyId);
}
