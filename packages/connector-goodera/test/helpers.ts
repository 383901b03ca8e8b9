import type { ImpactEvent } from '@impact-in/core';
import { sampleEvent } from '@impact-in/testing';
import { GOODERA_TEST_CREDENTIALS } from '@impact-in/testing/providers/goodera';

/** A config pointed at a simulator served at `url`, with the credentials it accepts. */
export const gooderaConfig = (url: string, overrides: Record<string, unknown> = {}) => ({
  apiUrl: url,
  tokenUrl: `${url}/oauth/token`,
  ...GOODERA_TEST_CREDENTIALS,
  ...overrides,
});

/** Seed 002's example event: volunteer_hours with two outcome scores. */
export const seedEvent = (overrides: Partial<ImpactEvent> = {}): ImpactEvent =>
  sampleEvent({
    eventId: 'evt_123',
    outcomeScores: { community_engagement: 0.85, skill_development: 0.72 },
    ...overrides,
  });

/** Seed 002's Goodera payload, exactly as the seed prints it. */
export const SEED_PAYLOAD = {
  schema_version: 'v2.1',
  event: {
    external_id: 'evt_123',
    event_type: 'volunteer_hours',
    timestamp: '2025-11-14T10:00:00Z',
    participant: {
      external_user_id: 'user_456',
    },
    impact: {
      dimensions: [
        {
          dimension_name: 'community_engagement',
          score: 0.85,
          scale: 'normalized_0_1',
        },
        {
          dimension_name: 'skill_development',
          score: 0.72,
          scale: 'normalized_0_1',
        },
      ],
      metadata: {
        program: 'buddy_mentoring',
      },
    },
  },
};

/** Polls `check` until it holds (real time), failing after `timeoutMs`. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
