import { createCapturingLogger } from '@impact-in/testing';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { loadHostEnv } from '../src/config.js';
import { createHost } from '../src/host.js';
import { migrateToLatest, openDatabase } from '../src/postgres/index.js';
import { acme, SIGNING_SECRET, TEST_MASTER_KEY } from './helpers.js';

describe('deliveries for a provider the host does not serve', () => {
  it('are named at start-up, with how many wait, and nothing is said of served providers', async () => {
    const db = await openDatabase({ dataDir: 'memory://' });
    await migrateToLatest(db);
    // Waiting deliveries: two for a removed plugin ("ghost"), one for acme (served), and a
    // finished one for "ghost" that is not waiting. Not due yet, so nothing is attempted.
    await sql`insert into impact_deliveries
        (id, company_id, provider, delivery_id, event_id, event, status, next_attempt_at, created_at, updated_at)
      select gen_random_uuid(), 'c1', p, gen_random_uuid(), e, '{}', s, now() + interval '1 hour', now(), now()
      from (values ('ghost', 'e1', 'pending'), ('ghost', 'e2', 'retrying'), ('acme', 'e3', 'pending'),
                   ('ghost', 'e4', 'success')) as v(p, e, s)`.execute(db);
    const logger = createCapturingLogger();
    const host = await createHost({
      env: loadHostEnv({ IMPACT_IN_MASTER_KEY: TEST_MASTER_KEY }),
      connectors: [{ connector: acme, config: { url: 'http://127.0.0.1:9', signingSecret: SIGNING_SECRET } }],
      logger,
      database: db,
    });
    try {
      await host.start();
      const warnings = logger.entries.filter((entry) =>
        entry.msg?.startsWith('deliveries are waiting for a provider'),
      );
      expect(warnings.map((entry) => entry.fields)).toEqual([{ provider: 'ghost', waiting: 2 }]);
      expect(warnings[0]!.level).toBe('warn');
    } finally {
      await host.close();
    }
  });
});
