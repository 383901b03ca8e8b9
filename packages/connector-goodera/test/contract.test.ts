import { describeConnector } from '@impact-in/testing';
import { createGooderaSimulator } from '@impact-in/testing/providers/goodera';
import { goodera } from '../src/index.js';
import { gooderaConfig, seedEvent } from './helpers.js';

// The generic suite every connector passes, run against the Goodera simulator: OAuth, schema
// v2.1 validation and rate limiting are all live while it runs.
describeConnector({
  connector: goodera,
  // A one-second rate-limit window instead of Goodera's minute: after a 429, core's limiter
  // empties the bucket until its next real-time refill, and the suite retries on a fake clock, so
  // a 60 s window would stall its 429 test for up to a minute (reported to core).
  config: (url) => gooderaConfig(url, { rateLimit: { maxRequests: 100, windowMs: 1_000 } }),
  provider: createGooderaSimulator().handlers,
  deliveryRoute: { method: 'POST', path: '/v2/events/impact' },
  idempotencyHeader: 'x-idempotency-key',
  sampleEvent: () => seedEvent({ eventId: `evt_${crypto.randomUUID()}` }),
});
