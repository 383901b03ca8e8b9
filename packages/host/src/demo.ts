import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { ImpactEvent } from '@impact-in/core';
import { BUILTIN_CONNECTORS } from './builtins.js';
import type { HostEnv } from './config.js';
import { openDatabase } from './postgres/database.js';
import { migrateToLatest } from './postgres/migrations.js';
import { configureFromEnv } from './registry.js';
import { serve } from './serve.js';
import { startSimulators } from './simulators.js';
import { createApiKey, createTenant } from './tenants.js';

const PROGRAMS = ['buddy_mentoring', 'language_connect', 'upskilling'];

/**
 * `impact-in demo`: the host on embedded defaults, the three provider simulators on loopback,
 * a demo tenant with every connector enabled, and a steady stream of sample events, some of
 * which fail, retry and recover. Ctrl-C stops it all.
 */
export async function runDemo(options: { env: HostEnv }): Promise<void> {
  const dataDir = `${options.env.IMPACT_IN_DATA_DIR}/demo`;
  mkdirSync(dataDir, { recursive: true });
  const simulators = await startSimulators();
  const { benevity: benevitySim, goodera: gooderaSim, workday: workdaySim } = simulators;
  const connectors = configureFromEnv(BUILTIN_CONNECTORS, simulators.env);
  const env: HostEnv = {
    ...options.env,
    IMPACT_IN_DATA_DIR: dataDir,
    LOG_LEVEL: options.env.LOG_LEVEL === 'info' ? 'warn' : options.env.LOG_LEVEL,
  };

  const db = await openDatabase({ dataDir: `${dataDir}/pgdata` });
  await migrateToLatest(db);
  const tenant = await createTenant(db, 'Demo Company');
  const { key } = await createApiKey(db, tenant, 'admin');
  await db.destroy();

  const { url, stop } = await serve({ env, connectors });
  // The sample export ships with the Kintell connector package.
  const sampleCsv = join(
    dirname(createRequire(import.meta.url).resolve('@impact-in/connector-kintell/package.json')),
    'examples/sessions.csv',
  );
  const curl = `curl -s -H "Authorization: Bearer ${key}" "${url}/v1/impact-in/deliveries?limit=5"`;
  process.stdout.write(
    [
      '',
      'impact-in demo is running',
      '',
      `  API         ${url}/v1/impact-in`,
      `  API docs    ${url}/docs   (OpenAPI: ${url}/openapi.json)`,
      `  Health      ${url}/health    Metrics: ${url}/metrics`,
      `  Tenant      ${tenant}`,
      `  API key     ${key}   (admin; shown once)`,
      '',
      'Simulated providers on loopback:',
      `  Benevity    ${simulators.urls.benevity}`,
      `  Goodera     ${simulators.urls.goodera}`,
      `  Workday     ${simulators.urls.workday}`,
      '',
      'Try it:',
      `  ${curl}`,
      `  curl -s -H "Authorization: Bearer ${key}" "${url}/v1/impact-in/stats"`,
      `  curl -s -H "Authorization: Bearer ${key}" "${url}/v1/tenants/${tenant}/integrations"`,
      '',
      'Import the sample Kintell session export (CSV):',
      `  curl -s -H "Authorization: Bearer ${key}" -H 'content-type: text/csv' --data-binary @${sampleCsv} "${url}/v1/import/sessions"`,
      '',
      'Sample events are submitted every second; some fail and retry on purpose. Ctrl-C stops everything.',
      '',
    ].join('\n'),
  );

  let sequence = 0;
  const providers = ['benevity', 'goodera', 'workday'] as const;
  const submit = async () => {
    sequence++;
    const provider = providers[sequence % providers.length]!;
    // Every few events, make the provider stumble so retries and recovery show up.
    if (sequence % 7 === 0) benevitySim.failNext({ kind: 'status', status: 503 });
    if (sequence % 11 === 0) gooderaSim.failNext({ kind: 'status', status: 429, retryAfter: '2' });
    if (sequence % 13 === 0) workdaySim.failNext({ kind: 'reset' });
    const event: ImpactEvent = {
      eventId: `demo_${Date.now().toString(36)}_${sequence}`,
      userId: `employee_${100 + (sequence % 40)}`,
      eventType: sequence % 5 === 0 ? 'donation' : 'volunteer_hours',
      timestamp: new Date().toISOString(),
      value: sequence % 5 === 0 ? 25 : 1 + (sequence % 4),
      unit: sequence % 5 === 0 ? 'USD' : 'hours',
      // Goodera refuses scores outside 0..1: every 17th event fails for good, to show `failed`.
      outcomeScores: { community_engagement: sequence % 17 === 0 ? 1.4 : 0.5 + (sequence % 5) / 10 },
      metadata: { program: PROGRAMS[sequence % PROGRAMS.length] },
    };
    await fetch(`${url}/v1/impact-in/deliver`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ companyId: tenant, provider, event }),
    }).then(async (response) => {
      const text = await response.text();
      if (response.status >= 300)
        process.stderr.write(`demo: deliver answered ${response.status}: ${text}\n`);
    });
  };
  const timer = setInterval(() => {
    submit().catch((error: unknown) => process.stderr.write(`demo: submit failed: ${String(error)}\n`));
  }, 1_000);

  const shutdown = async () => {
    clearInterval(timer);
    await stop();
    await simulators.close();
  };
  process.once('SIGINT', () => void shutdown().then(() => process.exit(0)));
  process.once('SIGTERM', () => void shutdown().then(() => process.exit(0)));
}
