import { defineConnector, type ImportItem, type ImportOptions, PermanentError } from '@impact-in/core';
import { KintellConfigSchema } from './config.js';
import { coursesMapping } from './courses.js';
import { type AnyCsvMapping, importCsv } from './csv-import.js';
import { sessionsMapping } from './sessions.js';
import type { KintellImportOptions } from './types.js';
import { parseKintellWebhook, resolveKintellWebhook, verifyKintellWebhook } from './webhook.js';

/** The mappings `options.mapping` selects: `sessions` (the default) and `courses`. */
export const KINTELL_MAPPINGS: Readonly<Record<string, AnyCsvMapping>> = Object.freeze({
  sessions: sessionsMapping,
  courses: coursesMapping,
});

/** An import that fails when iterated, like every other invalid option. */
// biome-ignore lint/correctness/useYield: it only ever throws, on the first next()
async function* failing(error: Error): AsyncGenerator<ImportItem, void, undefined> {
  throw error;
}

/**
 * Imports a Kintell session export (or, with `mapping: 'courses'`, upskilling course
 * completions) without the connector: see `importCsv` for what it yields.
 *
 * @example
 * for await (const item of importKintellCsv(createReadStream('sessions.csv'), { identity, companyId: 'company_789' })) {
 *   if (!item.ok) console.warn(`line ${item.line}: ${item.message}`);
 * }
 */
export function importKintellCsv(
  source: AsyncIterable<Uint8Array>,
  options: KintellImportOptions = {},
): AsyncIterableIterator<ImportItem> {
  const name = options.mapping ?? 'sessions';
  const mapping = Object.hasOwn(KINTELL_MAPPINGS, name) ? KINTELL_MAPPINGS[name] : undefined;
  if (!mapping) {
    return failing(
      new PermanentError(
        `[impact-in] [kintell] invalid import options: mapping: unknown mapping "${name}" (expected ${Object.keys(KINTELL_MAPPINGS).join(' or ')})`,
        { code: 'validation' },
      ),
    );
  }
  // Returned, not delegated with yield*: every generator level costs a promise per row.
  return importCsv(source, mapping, options);
}

/**
 * The Kintell connector. Kintell has no API: admins export CSVs, which `import` streams into
 * records (validated row by row, people resolved in batches, sessions tied to campaigns), and
 * Kintell posts signed `session-scheduled` / `session-completed` webhooks, which `webhook` verifies
 * and parses. No `deliver`: nothing is sent to Kintell.
 *
 * @example
 * const binding = bindConnector(kintell, { webhookSecret: process.env.KINTELL_WEBHOOK_SECRET });
 * for await (const item of kintell.import!(createReadStream('sessions.csv'), {}, context)) save(item);
 */
export const kintell = defineConnector({
  id: 'kintell',
  displayName: 'Kintell',
  config: KintellConfigSchema,
  secrets: ['webhookSecret', 'previousWebhookSecret'],

  import(source, options: ImportOptions, context) {
    const given = options as KintellImportOptions;
    const { config } = context;
    return importKintellCsv(source, {
      ...given,
      strict: given.strict === true,
      campaigns: given.campaigns ?? config.campaigns,
      identityFallback: given.identityFallback ?? config.identityFallback,
      timezone: given.timezone ?? config.timezone,
      companyId: given.companyId ?? context.companyId,
      signal: given.signal ?? context.signal,
    });
  },

  async webhook(request, context) {
    verifyKintellWebhook(request, context.config, context.clock);
    // With the tenant's directory (the host gives one), people resolve as in a CSV import.
    return context.identity
      ? resolveKintellWebhook(request, context.config, context.identity, context.companyId)
      : parseKintellWebhook(request, context.config, context.companyId);
  },
});
