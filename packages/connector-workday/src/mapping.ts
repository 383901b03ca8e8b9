import type { ImpactEvent } from '@impact-in/core';

/** Schema version of the CSR Impact Report format (seed 002). */
export const WORKDAY_SCHEMA_VERSION = 'v3.0';

/** Workday's Unit_of_Measure for impact-in's units; others are title-cased. */
const UNITS: Readonly<Record<string, string>> = {
  hour: 'Hours',
  hours: 'Hours',
  h: 'Hours',
  minute: 'Minutes',
  minutes: 'Minutes',
  min: 'Minutes',
  day: 'Days',
  days: 'Days',
  session: 'Sessions',
  sessions: 'Sessions',
  course: 'Courses',
  courses: 'Courses',
  people: 'People',
  participants: 'Participants',
};

// Currency amounts keep their ISO 4217 code, upper-cased.
const CURRENCIES = new Set([
  'usd',
  'eur',
  'gbp',
  'cad',
  'aud',
  'nzd',
  'chf',
  'jpy',
  'inr',
  'nok',
  'sek',
  'dkk',
]);

function titleCase(value: string): string {
  return value
    .split(/[_\s-]+/)
    .filter(Boolean)
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join(' ');
}

/**
 * Workday's Unit_of_Measure for an impact-in unit.
 *
 * @example unitOfMeasure('hours') // 'Hours'
 * @example unitOfMeasure('usd') // 'USD'
 */
export function unitOfMeasure(unit: string): string {
  const key = unit.trim().toLowerCase();
  if (UNITS[key]) return UNITS[key];
  if (CURRENCIES.has(key)) return key.toUpperCase();
  return titleCase(unit.trim());
}

/**
 * The SOAP Activity_Type of an eventType: the tenant's mapping when it has one, else the
 * eventType title-cased.
 *
 * @example activityType('volunteer_hours') // 'Volunteer Hours'
 * @example activityType('donation', { donation: 'Charitable Giving' }) // 'Charitable Giving'
 */
export function activityType(eventType: string, mapping?: Readonly<Record<string, string>>): string {
  return mapping?.[eventType] ?? titleCase(eventType);
}

/**
 * The date part of an ISO 8601 timestamp, as written: `2025-11-14T23:30:00-05:00` reports on the
 * 14th, the day the activity happened where it happened.
 *
 * @example reportDate('2025-11-14T10:00:00Z') // '2025-11-14'
 */
export function reportDate(timestamp: string): string {
  return timestamp.slice(0, 10);
}

/**
 * An xsd:decimal lexical form: never exponent notation, and at least one fractional digit as in
 * seed 002 (`5.0`).
 *
 * @example formatDecimal(5) // '5.0'
 * @example formatDecimal(1e-7) // '0.0000001'
 */
export function formatDecimal(value: number): string {
  if (!Number.isFinite(value)) throw new RangeError(`not a finite number: ${value}`);
  let text = String(value);
  if (/e/i.test(text)) {
    text =
      Math.abs(value) >= 1
        ? BigInt(Math.round(value)).toString()
        : value.toFixed(20).replace(/0+$/, '').replace(/\.$/, '.0');
  }
  if (!text.includes('.')) text += '.0';
  return text === '-0.0' ? '0.0' : text;
}

/** Seed 002's REST body. */
export interface WorkdayRestReport {
  schema_version: typeof WORKDAY_SCHEMA_VERSION;
  impact_report: {
    external_reference_id: string;
    report_date: string;
    worker: { worker_id: string };
    csr_activity: { activity_type: string; value: number; unit_of_measure: string };
  };
}

/**
 * Maps an event to seed 002's REST body. `report_date` keeps the full timestamp and
 * `activity_type` the eventType, as the seed shows.
 *
 * @example toRestReport(event).impact_report.worker.worker_id // event.userId
 */
export function toRestReport(event: ImpactEvent): WorkdayRestReport {
  return {
    schema_version: WORKDAY_SCHEMA_VERSION,
    impact_report: {
      external_reference_id: event.eventId,
      report_date: event.timestamp,
      worker: { worker_id: event.userId },
      csr_activity: {
        activity_type: event.eventType,
        value: event.value,
        unit_of_measure: unitOfMeasure(event.unit),
      },
    },
  };
}

/** The fields of seed 002's SOAP `wd:CSR_Impact_Report`. */
export interface WorkdaySoapReport {
  externalReferenceId: string;
  reportDate: string;
  employeeId: string;
  activityType: string;
  value: string;
  unitOfMeasure: string;
}

/**
 * Maps an event to the fields of the SOAP report (before XML).
 *
 * @example toSoapReport(event).activityType // 'Volunteer Hours'
 */
export function toSoapReport(
  event: ImpactEvent,
  activityTypes?: Readonly<Record<string, string>>,
): WorkdaySoapReport {
  return {
    externalReferenceId: event.eventId,
    reportDate: reportDate(event.timestamp),
    employeeId: event.userId,
    activityType: activityType(event.eventType, activityTypes),
    value: formatDecimal(event.value),
    unitOfMeasure: unitOfMeasure(event.unit),
  };
}
