import { createHmac } from 'node:crypto';
import type { ImpactEvent } from '@impact-in/core';
import { BENEVITY_TEST_CREDENTIALS } from '@impact-in/testing/providers/benevity';

/** API key mode, pointed at a simulator. */
export const apiKeyConfig = (apiUrl: string) => ({
  auth: 'api_key' as const,
  apiUrl,
  apiKey: BENEVITY_TEST_CREDENTIALS.apiKey,
  signatureSecret: BENEVITY_TEST_CREDENTIALS.signatureSecret,
});

/** OAuth mode, pointed at a simulator (token endpoint included). */
export const oauthConfig = (apiUrl: string, extra: Record<string, unknown> = {}) => ({
  auth: 'oauth' as const,
  apiUrl,
  tokenUrl: `${apiUrl}/oauth/token`,
  clientId: BENEVITY_TEST_CREDENTIALS.clientId,
  clientSecret: BENEVITY_TEST_CREDENTIALS.clientSecret,
  signatureSecret: BENEVITY_TEST_CREDENTIALS.signatureSecret,
  ...extra,
});

/** Seed 002's example event. */
export const seedEvent = (overrides: Partial<ImpactEvent> = {}): ImpactEvent => ({
  eventId: 'evt_123',
  userId: 'user_456',
  eventType: 'volunteer_hours',
  timestamp: '2025-11-14T10:00:00Z',
  value: 5,
  unit: 'hours',
  metadata: { program: 'buddy_mentoring' },
  ...overrides,
});

/** HMAC-SHA256 hex computed with node:crypto directly, not with the code under test. */
export const expectedSignature = (secret: string, body: string | Uint8Array) =>
  createHmac('sha256', secret).update(body).digest('hex');

let counter = 0;
/** A unique event id per call. */
export const uniqueId = (prefix = 'evt') => `${prefix}_${Date.now().toString(36)}_${++counter}`;
