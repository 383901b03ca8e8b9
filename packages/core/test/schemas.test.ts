import { describe, expect, it } from 'vitest';
import { ImpactEventSchema } from '../src/index.js';

const event = (timestamp: string) => ({
  eventId: 'evt_1',
  userId: 'u_1',
  eventType: 'volunteer_hours',
  timestamp,
  value: 5,
  unit: 'hours',
});

describe('ImpactEventSchema timestamp', () => {
  it('reports one issue for a value that is no date-time at all', () => {
    const issues = ImpactEventSchema.safeParse(event('yesterday')).error?.issues ?? [];
    expect(issues.map((issue) => [issue.path.join('.'), issue.message])).toEqual([
      ['timestamp', 'Invalid ISO datetime'],
    ]);
  });

  it('refuses year 0000, and accepts an offset or Z', () => {
    const issues = ImpactEventSchema.safeParse(event('0000-06-01T00:00:00Z')).error?.issues ?? [];
    expect(issues.map((issue) => issue.message)).toEqual(['must be between years 0001 and 9999']);
    expect(ImpactEventSchema.safeParse(event('2025-11-14T10:00:00+01:00')).success).toBe(true);
    expect(ImpactEventSchema.safeParse(event('2025-11-14T10:00:00Z')).success).toBe(true);
  });
});
