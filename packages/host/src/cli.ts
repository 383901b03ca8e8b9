#!/usr/bin/env node
import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { appendAudit } from './audit.js';
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
  impact-in keys create --tenant ID --role ROLE [--name NAME]
                                                    create an API key (admin|operator|viewer); prints it once
  impact-in keys rotate [--prune]                   re-encrypt every secret under a new master key
  impact-in demo                                    the host plus provider simulators and sample traffic
  impact-in simulators                              only the Benevity, Goodera and Workday simulators, on
                                                    loopback; prints their variables for \`serve\` to use

Configuration comes from the environment: DATABASE_URL (default: embedded PGlite in
./.impact-in/), NATS_URL (default: in-process bus), REDIS_URL, PORT (3007), HOST,
IMPACT_IN_MASTER_KEY (default: a generated key file in the data dir),
IMPACT_IN_PREVIOUS_MASTER_KEYS, IMPACT_IN_OIDC_*, IMPACT_IN_WORKER_CONCURRENCY, LOG_LEVEL,
and the providers' BENEVITY_*, GOODERA_*, WORKDAY_*, KINTELL_* variables.
See docs/self-hosting.md.`;

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
    case 'simulators': {
      const { shellExports, startSimulators } = await import('./simulators.js');
      const simulators = await startSimulators();
      process.stdout.write(
        [
          '# Provider simulators on loopback (Ctrl-C stops them). Run these in the shell that starts',
          '# `impact-in serve`. The credentials are the published test ones of @impact-in/testing: a',
          '# host using them accepts webhooks anyone can sign. Keep it on loopback (HOST=127.0.0.1).',
          shellExports(simulators.env),
          '',
        ].join('\n'),
      );
      await new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
      await simulators.close();
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
      if (sub === 'rotate') {
        const { values } = parseArgs({ args: rest, options: { prune: { type: 'boolean' } }, strict: true });
        const { rotateKeys } = await import('./rotate.js');
        const db = await openDatabase({ url: env.DATABASE_URL, dataDir: `${env.IMPACT_IN_DATA_DIR}/pgdata` });
        try {
          await migrateToLatest(db);
          const result = await guard(() => rotateKeys(db, env, { prune: values.prune === true }));
          process.stderr.write(`${result.message}\n`);
        } finally {
          await db.destroy();
        }
        return;
      }
      if (sub !== 'create') fail(`unknown command "keys ${sub ?? ''}"\n\n${USAGE}`, 2);
      const { values } = parseArgs({
        args: rest,
        options: { tenant: { type: 'string' }, role: { type: 'string' }, name: { type: 'string' } },
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
        const tenant = values.tenant.toLowerCase();
        if (!(await tenantExists(db, tenant))) fail(`no tenant with id ${values.tenant}`, 2);
        const created = await createApiKey(db, tenant, role, values.name);
        await appendAudit(db, {
          tenantId: tenant,
          actor: { id: `cli:${userInfo().username}`, type: 'cli' },
          action: 'key.create',
          target: created.id,
          after: { id: created.id, role, prefix: created.prefix, name: values.name ?? null },
        });
        process.stdout.write(`${created.key}\n`);
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
