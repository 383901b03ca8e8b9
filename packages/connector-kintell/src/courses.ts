import { createHash } from 'node:crypto';
import { defineCsvMapping } from './csv-import.js';
import { personMatch } from './identity.js';
import {
  cell,
  csvRow,
  dateTime,
  decimal,
  email,
  Invalid,
  isoUtc,
  looseKey,
  normaliseEmail,
  text,
} from './values.js';

/**
 * Upskilling course completions (eCornell, itslearning): one `course` record per row, and a
 * `course_completed` event for the learner when they resolved. The whole mapping is this file.
 */
export const coursesMapping = defineCsvMapping({
  name: 'courses',
  provider: 'upskilling',
  kind: 'course',
  columns: {
    learner_email: { aliases: ['Email', 'User Email', 'Student Email'] },
    learner_id: { aliases: ['User ID', 'Student ID', 'Employee ID'] },
    learner_name: { aliases: ['Learner', 'Name', 'User Name', 'Student Name'] },
    course_id: { required: true, aliases: ['Course Code', 'Course'] },
    course_name: { aliases: ['Course Title', 'Title'] },
    platform: { required: true, aliases: ['Provider', 'Source'] },
    completed_at: { required: true, aliases: ['Completion Date', 'Completed', 'Completed On', 'Date'] },
    hours: { aliases: ['Credit Hours', 'Duration (hours)', 'Learning Hours'] },
    score: { aliases: ['Grade', 'Result', 'Score (%)'] },
  },
  requireOneOf: [['learner_email', 'learner_id']],
  row: ({ timezone }) =>
    csvRow(
      {
        learner_email: email().optional(),
        learner_id: text(150).optional(),
        learner_name: text(300).optional(),
        course_id: text(100),
        course_name: text(300).optional(),
        platform: cell((value) =>
          value.length <= 50 ? looseKey(value) : new Invalid('must be at most 50 characters'),
        ),
        completed_at: dateTime(timezone),
        hours: decimal(0, 1_000).optional(),
        score: decimal(0, 100).optional(),
      },
      (row, report) => {
        if (row.learner_email === undefined && row.learner_id === undefined)
          report('learner_email', 'required (or learner_id)');
      },
    ),
  people: [{ role: 'participant', email: 'learner_email', externalId: 'learner_id', name: 'learner_name' }],
  toRecord(row, { people }) {
    const learner = people.participant ?? null;
    const completedAt = isoUtc(row.completed_at);
    const sourceId = `${row.platform}:${row.course_id}:${row.learner_id ?? normaliseEmail(row.learner_email!)}`;
    // Event ids are at most 200 characters: a long key is hashed (still deterministic).
    const key = sourceId.length <= 180 ? sourceId : createHash('sha256').update(sourceId).digest('hex');
    return {
      sourceId,
      occurredAt: completedAt,
      data: {
        ...row,
        completed_at: completedAt,
        learner: personMatch(learner),
        unmatched: learner?.userId == null,
      },
      ...(learner?.userId
        ? {
            event: {
              eventId: `upskilling-course-${key}`,
              userId: learner.userId,
              eventType: 'course_completed',
              timestamp: completedAt,
              value: row.hours ?? 0,
              unit: 'hours',
              metadata: {
                source: row.platform,
                courseId: row.course_id,
                courseName: row.course_name,
                score: row.score,
              },
            },
          }
        : {}),
    };
  },
});
