import { hmacSha256, type ImpactEvent, PermanentError } from '@impact-in/core';
import { PROVIDER } from './config.js';

/** The outbound schema this connector speaks (seed 002). */
export const BENEVITY_SCHEMA_VERSION = 'v1.0';

/** Where impact events go, below `apiUrl`. */
export const IMPACT_EVENTS_PATH = '/api/v1/impact-events';

/** The credential probe `health` calls, below `apiUrl`. */
export const PING_PATH = '/api/v1/ping';

/** Header carrying the hex HMAC-SHA256 of the body, outbound and on webhooks. */
export const SIGNATURE_HEADER = 'x-benevity-signature';

/** A flat metadata value: what Benevity's `impact.metadata` map holds. */
export type BenevityMetadataValue = string | number | boolean;

/** The body of `POST /api/v1/impact-events`, schema v1.0. */
export interface BenevityImpactEventV1 {
  schema_version: typeof BENEVITY_SCHEMA_VERSION;
  event: {
    id: string;
    type: string;
    timestamp: string;
    user: { external_id: string; company_id: string };
    impact: {
      value: number;
      unit: string;
      metadata: Record<string, BenevityMetadataValue>;
    };
  };
}

const isFlatValue = (value: unknown): value is BenevityMetadataValue =>
  typeof value === 'string' ||
  typeof value === 'boolean' ||
  (typeof value === 'number' && Number.isFinite(value));

/**
 * Maps an impact event to Benevity's v1.0 body, exactly as seed 002 shows it. `company_id` is the
 * tenant the event belongs to. `impact.metadata` carries `program` first, then every other
 * metadata key whose value is a string, finite number or boolean; nested objects, arrays and
 * nulls are left out because Benevity's metadata is a flat map. `outcomeScores` have no place in
 * v1.0 and are not sent.
 *
 * @example
 * toBenevityPayload(
 *   { eventId: 'evt_123', userId: 'user_456', eventType: 'volunteer_hours',
 *     timestamp: '2025-11-14T10:00:00Z', value: 5, unit: 'hours',
 *     metadata: { program: 'buddy_mentoring' } },
 *   'company_789',
 * );
 * // { schema_version: 'v1.0', event: { id: 'evt_123', type: 'volunteer_hours', … } }
 */
export function toBenevityPayload(event: ImpactEvent, companyId: string): BenevityImpactEventV1 {
  const source = event.metadata ?? {};
  const metadata: Record<string, BenevityMetadataValue> = {};
  if (source.program !== undefined) {
    if (typeof source.program !== 'string' || source.program.trim() === '') {
      // A program Benevity cannot file the hours under will not improve on a retry.
      throw new PermanentError(
        `[impact-in] [${PROVIDER}] event.metadata.program must be a non-empty string (event ${event.eventId})`,
        { code: 'validation' },
      );
    }
    metadata.program = source.program;
  }
  for (const [key, value] of Object.entries(source)) {
    if (key !== 'program' && isFlatValue(value)) metadata[key] = value;
  }
  return {
    schema_version: BENEVITY_SCHEMA_VERSION,
    event: {
      id: event.eventId,
      type: event.eventType,
      timestamp: event.timestamp,
      user: { external_id: event.userId, company_id: companyId },
      impact: { value: event.value, unit: event.unit, metadata },
    },
  };
}

/**
 * The `X-Benevity-Signature` value: hex HMAC-SHA256 of the exact body bytes.
 *
 * @example
 * const body = JSON.stringify(toBenevityPayload(event, companyId));
 * headers['x-benevity-signature'] = signBenevityBody(signatureSecret, body);
 */
export function signBenevityBody(signatureSecret: string, body: string | Uint8Array): string {
  return hmacSha256(signatureSecret, body, 'hex');
}
