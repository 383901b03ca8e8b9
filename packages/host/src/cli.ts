#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { BUILTIN_CONNECTORS } from './builtins.js';
import { ConfigError, loadHostEnv } from './config.js';
import { openDatabase } from './postgres/database.js';
import { migrateToLatest } from './postgres/migrations.js';
import { configureFromEnv, loadPlugins } from './registry.js';
import { createApiKey, createTenant, type Role, tenantExists } from './tenants.js';

const USAGE = `impact-in — the impact-in reference host

Usage:
  impact-in serve                                   HTTP API and delivery workers
  impact-in migrate                                 apply database migrations
  impact-in tenants create --name NAME              create a tenant; prints its id
  impact-in keys create --tenant ID --role ROLE     create an API key (admin|operator|viewer); prints it once
  impact-in demo                                    the host plus provider simulators and sample traffic

Configuration comes from the environment: DATABASE_URL (default: embedded PGlite in
./.impact-in/), NATS_URL (default: in-process bus), REDIS_URL, PORT (3007), HOST,
IMPACT_IN_MASTER_KEY, IMPACT_IN_WORKER_CONCURRENCY, LOG_LEVEL, and the providers'
BENEVITY_*, GOODERA_*, WORKDAY_* variables.`;

function fail(message: string, code = 1): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

async function main(argv: string[]): Promise<void> {
  const [command, sub, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  let env: ReturnType<typeof loadHostEnv>;
  try {
    env = loadHostEnv(process.env);
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message, 2);
    throw error;
  }
  const guard = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      if (error instanceof ConfigError) fail(error.message, 2);
      throw error;
    }
  };
  switch (command) {
    case 'serve': {
      const { serve } = await import('./serve.js');
      const modules = [
        ...BUILTIN_CONNECTORS,
        ...(await guard(() => loadPlugins(process.env.IMPACT_IN_PLUGINS))),
      ];
      const connectors = await guard(async () => configureFromEnv(modules, process.env));
      await serve({ env, connectors });
      return;
    }
    case 'demo': {
      const { runDemo } = await import('./demo.js');
      await runDemo({ env });
      return;
    }
    case 'migrate': {
      const db = await openDatabase({ url: env.DATABASE_URL, dataDir: `${env.IMPACT_IN_DATA_DIR}/pgdata` });
      try {
        const applied = await migrateToLatest(db);
        process.stderr.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'already up to date\n');
      } finally {
        await db.destroy();
      }
      return;
    }
    case 'tenants': {
      if (sub !== 'create') fail(`unknown command "tenants ${sub ?? ''}"\n\n${USAGE}`, 2);
      const { values } = parseArgs({ args: rest, options: { name: { type: 'string' } }, strict: true });
      if (!values.name?.trim()) fail('--name is required: impact-in tenants create --name NAME', 2);
      const db = await openDatabase({ url: env.DATABASE_URL, dataDir: `${env.IMPACT_IN_DATA_DIR}/pgdata` });
      try {
        await migrateToLatest(db);
        process.stdout.write(`${await createTenant(db, values.name.trim())}\n`);
      } finally {
        await db.destroy();
      }
      return;
    }
    case 'keys': {
      if (sub !== 'create') fail(`unknown command "keys ${sub ?? ''}"\n\n${USAGE}`, 2);
      const { values } = parseArgs({
        args: rest,
        options: { tenant: { type: 'string' }, role: { type: 'string' } },
        strict: true,
      });
      const role = values.role as Role | undefined;
      if (!values.tenant)
        fail('--tenant is required: impact-in keys create --tenant ID --role admin|operator|viewer', 2);
      if (!role || !['admin', 'operator', 'viewer'].includes(role))
        fail('--role must be admin, operator or viewer', 2);
      const db = await openDatabase({ url: env.DATABASE_URL, dataDir: `${env.IMPACT_IN_DATA_DIR}/pgdata` });
      try {
        await migrateToLatest(db);
        if (!(await tenantExists(db, values.tenant))) fail(`no tenant with id ${values.tenant}`, 2);
        const { key } = await createApiKey(db, values.tenant, role);
        process.stdout.write(`${key}\n`);
      } finally {
        await db.destroy();
      }
      return;
    }
    default:
      fail(`unknown command "${command}"\n\n${USAGE}`, 2);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  fail(error instanceof Error ? error.message : String(error));
});
