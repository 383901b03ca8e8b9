import { userInfo } from 'node:os';
import type { Kysely } from 'kysely';
import { appendAudit } from './audit.js';
import type { HostEnv } from './config.js';
import { rotateSecrets } from './integrations.js';
import { addKeyToFile, keyRingBox, loadKeyRing, writeKeyRingFile } from './keyring.js';
import type { Database } from './postgres/schema.js';

/**
 * `impact-in keys rotate`. Embedded mode: adds a new key to the key file (the old ones stay
 * readable), re-encrypts every secret under it, and with `prune` drops the old keys afterwards.
 * Environment mode: the new key must already be `IMPACT_IN_MASTER_KEY`, with the old one in
 * `IMPACT_IN_PREVIOUS_MASTER_KEYS`; it re-encrypts everything under the new one.
 */
export async function rotateKeys(
  db: Kysely<Database>,
  env: HostEnv,
  options: { prune?: boolean } = {},
): Promise<{ message: string; keyId: string; integrations: number; tokens: number }> {
  let ring = loadKeyRing(env);
  if (ring.source === 'file') {
    ring = addKeyToFile(ring.file!);
  } else if (ring.keys.size < 2) {
    throw new Error(
      '[impact-in] to rotate, set IMPACT_IN_MASTER_KEY to the new key and IMPACT_IN_PREVIOUS_MASTER_KEYS to the old one (on every replica), then run `impact-in keys rotate`',
    );
  }
  const box = keyRingBox(ring);
  const result = await rotateSecrets(db, box);
  const actor = { id: `cli:${userInfo().username}`, type: 'cli' as const };
  for (const [tenantId, count] of result.tenants) {
    await appendAudit(db, {
      tenantId,
      actor,
      action: 'secrets.rotate',
      target: box.currentKeyId,
      after: { keyId: box.currentKeyId, reencrypted: count },
    });
  }
  let pruned = '';
  if (options.prune && ring.source === 'file') {
    const current = `ib1:${box.currentKeyId}:%`;
    const left =
      Number(
        (
          await db
            .selectFrom('tenant_integrations')
            .select((eb) => eb.fn.countAll<string>().as('n'))
            .where('config_sealed', 'is not', null)
            .where('config_sealed', 'not like', current)
            .executeTakeFirstOrThrow()
        ).n,
      ) +
      Number(
        (
          await db
            .selectFrom('impact_provider_tokens')
            .select((eb) => eb.fn.countAll<string>().as('n'))
            .where('token', 'not like', current)
            .executeTakeFirstOrThrow()
        ).n,
      );
    if (left > 0) {
      throw new Error(
        '[impact-in] secrets were written under an old key while rotating (is a server running on this data dir?); run `impact-in keys rotate` again without --prune',
      );
    }
    writeKeyRingFile(ring.file!, [ring.keys.get(ring.currentKeyId)!]);
    pruned = `; removed ${ring.keys.size - 1} old key(s) from ${ring.file}`;
  }
  return {
    keyId: box.currentKeyId,
    integrations: result.integrations,
    tokens: result.tokens,
    message: `re-encrypted ${result.integrations} integration config(s) and ${result.tokens} token(s) under key ${box.currentKeyId}${pruned}`,
  };
}
