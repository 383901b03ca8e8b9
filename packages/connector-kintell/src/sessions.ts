import type { ImpactEvent, z } from '@impact-in/core';
import { defineCsvMapping } from './csv-import.js';
import { personMatch } from './identity.js';
import type { ResolvedPerson } from './types.js';
import {
  csvRow,
  dateTime,
  decimal,
  email,
  integer,
  isoUtc,
  KINTELL_PROGRAMS,
  normaliseProgram,
  normaliseStatus,
  oneOf,
  SESSION_STATUSES,
  text,
} from './values.js';

/** The canonical columns of a Kintell session export, with the headers also accepted for each. */
export const SESSION_COLUMNS = {
  session_id: { required: true, aliases: ['Session', 'ID', 'Session Ref', 'Booking ID'] },
  program: { required: true, aliases: ['Programme', 'Program Name', 'Session Type'] },
  scheduled_at: {
    required: true,
    aliases: ['Scheduled', 'Scheduled For', 'Start Time', 'Start', 'Starts At', 'Session Date', 'Date'],
  },
  completed_at: { aliases: ['Completed', 'End Time', 'End', 'Ended At', 'Completion Date', 'Finished At'] },
  duration_minutes: { aliases: ['Duration', 'Minutes', 'Duration (min)', 'Length (minutes)'] },
  status: { required: true, aliases: ['Session Status', 'State'] },
  participant_email: { aliases: ['Mentee Email', 'Learner Email', 'Student Email'] },
  participant_name: { aliases: ['Participant', 'Mentee', 'Mentee Name', 'Learner', 'Learner Name'] },
  participant_id: { aliases: ['Mentee ID', 'Learner ID', 'Kintell Participant ID'] },
  volunteer_email: { aliases: ['Mentor Email', 'Employee Email', 'Host Email'] },
  volunteer_name: { aliases: ['Volunteer', 'Mentor', 'Mentor Name', 'Employee Name'] },
  volunteer_id: { aliases: ['Mentor ID', 'Kintell Volunteer ID'] },
  language: { aliases: ['Session Language', 'Target Language'] },
  rating: { aliases: ['Session Rating', 'Stars'] },
  feedback: { aliases: ['Comment', 'Comments', 'Review'] },
  company_ref: {
    aliases: [
      'Company',
      'Campaign',
      'Company Reference',
      'Campaign Ref',
      'Organisation',
      'Organization',
      'Employer',
    ],
  },
} as const;

/**
 * The zod schema of one session row (cell text in, typed values out), for date-times without an
 * offset in `timezone`. Webhook `data` is validated with it too.
 */
export const sessionRowSchema = ({ timezone }: { timezone: string }) =>
  csvRow(
    {
      session_id: text(150),
      program: oneOf(normaliseProgram, KINTELL_PROGRAMS),
      scheduled_at: dateTime(timezone),
      completed_at: dateTime(timezone).optional(),
      duration_minutes: decimal(0, 1440).optional(),
      status: oneOf(normaliseStatus, SESSION_STATUSES),
      participant_email: email().optional(),
      participant_name: text(300).optional(),
      participant_id: text(150).optional(),
      volunteer_email: email().optional(),
      volunteer_name: text(300).optional(),
      volunteer_id: text(150).optional(),
      language: text(100).optional(),
      rating: integer(1, 5).optional(),
      feedback: text(10_000).optional(),
      company_ref: text(200).optional(),
    },
    (row, report) => {
      if (row.participant_email === undefined && row.participant_id === undefined)
        report('participant_email', 'required (or participant_id)');
      if (row.volunteer_email === undefined && row.volunteer_id === undefined)
        report('volunteer_email', 'required (or volunteer_id)');
      if (row.status === 'completed') {
        if (row.completed_at === undefined) report('completed_at', 'required when status is completed');
        if (row.duration_minutes === undefined)
          report('duration_minutes', 'required when status is completed');
      }
      if (row.completed_at !== undefined && row.completed_at < row.scheduled_at)
        report('completed_at', 'is before scheduled_at');
    },
  );

/** A valid session row: date-times in epoch ms. */
export type SessionRow = z.output<ReturnType<typeof sessionRowSchema>>;

/** Hours of a duration in minutes, to 2 decimals: 50 → 0.83. */
export const minutesToHours = (minutes: number): number => Math.round((minutes / 60) * 100) / 100;

/**
 * The `session_completed` impact event of a completed session, credited to the volunteer. Its id
 * is `kintell-session-<session_id>`, the same from a CSV import and from a webhook, so a session
 * is never delivered twice.
 */
export function sessionCompletedEvent(
  row: SessionRow,
  volunteerUserId: string,
  extra: { campaignId: string | null; participantUserId: string | null; completedAt?: string },
): ImpactEvent {
  // Built property by property: object spreads with extra keys are slow in V8, and this runs per row.
  const metadata: Record<string, unknown> = {
    source: 'kintell',
    sessionId: row.session_id,
    program: row.program,
    campaignId: extra.campaignId,
    participantUserId: extra.participantUserId,
  };
  if (row.language !== undefined) metadata.language = row.language;
  if (row.rating !== undefined) metadata.rating = row.rating;
  return {
    eventId: `kintell-session-${row.session_id}`,
    userId: volunteerUserId,
    eventType: 'session_completed',
    timestamp: extra.completedAt ?? isoUtc(row.completed_at!),
    value: minutesToHours(row.duration_minutes!),
    unit: 'hours',
    metadata,
  };
}

/** What a session record's `data` holds besides the session's own fields. */
export interface SessionExtras {
  participant: ResolvedPerson | null;
  volunteer: ResolvedPerson | null;
  campaignId: string | null;
  campaignRule: number | null;
  unmatched: boolean;
}

/**
 * A session record's `data`: every canonical column (`null` when empty; date-times as ISO 8601
 * UTC), then how each person resolved (`{ userId, matchedBy }`), the campaign and `unmatched`.
 */
export function sessionData(row: SessionRow, extras: SessionExtras): Record<string, unknown> {
  return {
    session_id: row.session_id,
    program: row.program,
    status: row.status,
    scheduled_at: isoUtc(row.scheduled_at),
    completed_at: row.completed_at === undefined ? null : isoUtc(row.completed_at),
    duration_minutes: row.duration_minutes ?? null,
    participant_email: row.participant_email ?? null,
    participant_name: row.participant_name ?? null,
    participant_id: row.participant_id ?? null,
    volunteer_email: row.volunteer_email ?? null,
    volunteer_name: row.volunteer_name ?? null,
    volunteer_id: row.volunteer_id ?? null,
    language: row.language ?? null,
    rating: row.rating ?? null,
    feedback: row.feedback ?? null,
    company_ref: row.company_ref ?? null,
    participant: personMatch(extras.participant),
    volunteer: personMatch(extras.volunteer),
    campaignId: extras.campaignId,
    campaignRule: extras.campaignRule,
    unmatched: extras.unmatched,
  };
}

/** A person's userId, or null. */
const userIdOf = (person: ResolvedPerson | undefined) => person?.userId ?? null;

/**
 * Kintell session exports (Language Connect and mentorship/MFU): one `session` record per row,
 * `sourceId` = `session_id`; completed sessions whose volunteer resolved carry a
 * `session_completed` event.
 */
export const sessionsMapping = defineCsvMapping({
  name: 'sessions',
  provider: 'kintell',
  kind: 'session',
  columns: SESSION_COLUMNS,
  requireOneOf: [
    ['participant_email', 'participant_id'],
    ['volunteer_email', 'volunteer_id'],
  ],
  row: sessionRowSchema,
  people: [
    {
      role: 'participant',
      email: 'participant_email',
      externalId: 'participant_id',
      name: 'participant_name',
    },
    { role: 'volunteer', email: 'volunteer_email', externalId: 'volunteer_id', name: 'volunteer_name' },
  ],
  toRecord(row, context) {
    const { participant, volunteer } = context.people;
    const campaign = context.campaign({
      program: row.program,
      companyRef: row.company_ref,
      at: row.scheduled_at,
    });
    const campaignId = campaign?.campaignId ?? null;
    const data = sessionData(row, {
      participant: participant ?? null,
      volunteer: volunteer ?? null,
      campaignId,
      campaignRule: campaign?.rule ?? null,
      unmatched: context.unmatched,
    });
    const volunteerUserId = userIdOf(volunteer);
    const event =
      row.status === 'completed' && volunteerUserId !== null
        ? sessionCompletedEvent(row, volunteerUserId, {
            campaignId,
            participantUserId: userIdOf(participant),
            completedAt: data.completed_at as string,
          })
        : undefined;
    return {
      sourceId: row.session_id,
      occurredAt: (data.completed_at ?? data.scheduled_at) as string,
      data,
      event,
    };
  },
});
