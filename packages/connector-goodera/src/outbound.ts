import {
  classifyStatus,
  type HttpResponse,
  type ImpactEvent,
  type ImpactInError,
  PermanentError,
  parseRetryAfter,
  RetryableError,
} from '@impact-in/core';

/** The outbound schema version this connector speaks. */
export const GOODERA_SCHEMA_VERSION = 'v2.1';
/** Where impact events go, under `apiUrl`. */
export const GOODERA_EVENTS_PATH = '/v2/events/impact';
/** The cheap authenticated probe `health` calls, under `apiUrl`. */
export const GOODERA_PING_PATH = '/v2/ping';

/** One impact dimension: an outcome score on Goodera's normalised 0..1 scale. */
export interface GooderaDimension {
  dimension_name: string;
  score: number;
  scale: 'normalized_0_1';
}

/** The body of `POST /v2/events/impact`, schema v2.1 (seed 002). */
export interface GooderaImpactPayload {
  schema_version: typeof GOODERA_SCHEMA_VERSION;
  event: {
    external_id: string;
    event_type: string;
    timestamp: string;
    participant: { external_user_id: string };
    impact: {
      dimensions: GooderaDimension[];
      metadata: Record<string, unknown>;
    };
  };
}

/**
 * Maps an impact event to Goodera's v2.1 payload. Outcome scores become `impact.dimensions[]` in
 * the order they were given. A score outside 0..1 is a `PermanentError` with code `validation`:
 * Goodera would refuse it, so it is never sent.
 *
 * @example
 * toGooderaPayload({ eventId: 'evt_123', userId: 'user_456', eventType: 'volunteer_hours',
 *   timestamp: '2025-11-14T10:00:00Z', value: 5, unit: 'hours',
 *   outcomeScores: { community_engagement: 0.85 }, metadata: { program: 'buddy_mentoring' } });
 * // { schema_version: 'v2.1', event: { external_id: 'evt_123', …, impact: { dimensions: [
 * //   { dimension_name: 'community_engagement', score: 0.85, scale: 'normalized_0_1' }], … } } }
 */
export function toGooderaPayload(event: ImpactEvent): GooderaImpactPayload {
  const dimensions: GooderaDimension[] = [];
  const bad: string[] = [];
  for (const [name, score] of Object.entries(event.outcomeScores ?? {})) {
    if (!Number.isFinite(score) || score < 0 || score > 1) {
      bad.push(`outcomeScores.${name}: ${score} is outside 0..1`);
      continue;
    }
    dimensions.push({ dimension_name: name, score, scale: 'normalized_0_1' });
  }
  if (bad.length > 0) {
    throw new PermanentError(
      `[impact-in] [goodera] event ${event.eventId} not sent: ${bad.join('; ')} (Goodera scores are normalized_0_1)`,
      { code: 'validation' },
    );
  }
  return {
    schema_version: GOODERA_SCHEMA_VERSION,
    event: {
      external_id: event.eventId,
      event_type: event.eventType,
      timestamp: event.timestamp,
      participant: { external_user_id: event.userId },
      impact: { dimensions, metadata: event.metadata ?? {} },
    },
  };
}

/** Goodera's error body: `{ error: { code, message, details? }, request_id }`. */
interface GooderaErrorBody {
  error?: {
    code?: unknown;
    message?: unknown;
    details?: Array<{ field?: unknown; message?: unknown }>;
  };
  request_id?: unknown;
}

/**
 * Reads a Goodera error answer into an error whose message carries Goodera's code, message and
 * field details (they end up in the delivery's `lastError`). Returns `undefined` for successes and
 * for bodies that are not Goodera's error shape, so the default classification applies.
 *
 * @example
 * classifyGooderaResponse(response) // PermanentError "[impact-in] [goodera] HTTP 422 validation_failed: …"
 */
export function classifyGooderaResponse(
  response: HttpResponse,
  now: number = Date.now(),
): ImpactInError | undefined {
  if (response.status < 400) return undefined;
  let body: GooderaErrorBody;
  try {
    body = response.json<GooderaErrorBody>();
  } catch {
    return undefined;
  }
  const error = body?.error;
  if (!error || typeof error !== 'object' || typeof error.code !== 'string') return undefined;
  const details = Array.isArray(error.details)
    ? error.details
        .filter((detail) => typeof detail?.field === 'string')
        .map((detail) => `${String(detail.field)}: ${String(detail.message ?? 'invalid')}`)
    : [];
  const parts = [typeof error.message === 'string' ? error.message : undefined, ...details].filter(Boolean);
  const requestId = typeof body.request_id === 'string' ? ` (request ${body.request_id})` : '';
  const message = `[impact-in] [goodera] HTTP ${response.status} ${error.code}${
    parts.length > 0 ? `: ${parts.join('; ')}` : ''
  }${requestId}`;
  const options = {
    code: error.code,
    status: response.status,
    retryAfterMs: parseRetryAfter(response.headers['retry-after'], now),
    authRejected: response.status === 401,
  };
  return classifyStatus(response.status) === 'retryable'
    ? new RetryableError(message, options)
    : new PermanentError(message, options);
}
