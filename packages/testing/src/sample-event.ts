import type { ImpactEvent } from '@impact-in/core';

let eventCounter = 0;
/** A valid event with a unique id. */
export function sampleEvent(overrides: Partial<ImpactEvent> = {}): ImpactEvent {
  eventCounter++;
  return {
    eventId: `evt_${Date.now().toString(36)}_${eventCounter}`,
    userId: 'user_456',
    eventType: 'volunteer_hours',
    timestamp: '2025-11-14T10:00:00Z',
    value: 5,
    unit: 'hours',
    metadata: { program: 'buddy_mentoring' },
    ...overrides,
  };
}
