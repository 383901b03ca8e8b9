// `host_e2e`: deliveries per second through POST /v1/impact-in/deliver → PostgreSQL → the
// dispatcher → a local provider answering 200, against raw undici posting to that provider.
// The host runs as `impact-in serve` in its own process, as self-hosters run it.
import { randomBytes, randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { cli, pool, printResult, scratchDatabase, startLocalServer, startServe } from './util.js';

const COUNT = Number(process.env.BENCH_HOST_COUNT ?? 5_000);
const CONCURRENCY = 64;
const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const PLUGIN = fileURLToPath(new URL('./bench-plugin.mjs', import.meta.url));

const event = (index: number) => ({
  eventId: `evt_bench_${index}`,
  userId: `user_${index % 500}`,
  eventType: 'volunteer_hours',
  timestamp: '2025-11-14T10:00:00Z',
  value: 5,
  unit: 'hours',
});

export async function benchHostE2e(): Promise<void> {
  const provider = await startLocalServer();
  const database = await scratchDatabase(ADMIN_URL);
  const env = {
    DATABASE_URL: database.url,
    IMPACT_IN_PLUGINS: PLUGIN,
    BENCH_URL: provider.url,
    IMPACT_IN_WORKER_CONCURRENCY: '64',
    IMPACT_IN_POLL_INTERVAL_MS: '20',
    IMPACT_IN_MASTER_KEY: randomBytes(32).toString('base64'),
  };
  cli(['migrate'], env);
  const tenant = cli(['tenants', 'create', '--name', 'bench'], env);
  const key = cli(['keys', 'create', '--tenant', tenant, '--role', 'operator'], env);
  const host = await startServe(env);
  const agent = new Agent({ keepAliveTimeout: 4_000, connections: 128 });
  const successful = async () => {
    const response = await request(`${host.url}/v1/impact-in/stats`, {
      dispatcher: agent,
      headers: { authorization: `Bearer ${key}` },
    });
    return ((await response.body.json()) as { data: { overall: { successful: number } } }).data.overall
      .successful;
  };

  try {
    const post = (target: string, body: string, headers: Record<string, string>) =>
      request(target, {
        method: 'POST',
        dispatcher: agent,
        body,
        headers: { 'content-type': 'application/json', ...headers },
      });
    // Warm-up of both paths.
    await pool(500, CONCURRENCY, async (index) => {
      await (await post(`${provider.url}/events`, JSON.stringify(event(index)), {})).body.text();
      const response = await post(
        `${host.url}/v1/impact-in/deliver`,
        JSON.stringify({ companyId: tenant, provider: 'bench', event: event(1_000_000 + index) }),
        { authorization: `Bearer ${key}` },
      );
      await response.body.text();
    });
    while ((await successful()) < 500) await new Promise((resolve) => setTimeout(resolve, 50));

    const baselineStarted = performance.now();
    await pool(COUNT, CONCURRENCY, async (index) => {
      const response = await post(
        `${provider.url}/events`,
        JSON.stringify({ id: `evt_${index}`, user: 'u', value: 5 }),
        {
          'x-idempotency-key': randomUUID(),
        },
      );
      await response.body.text();
    });
    const baseline = COUNT / ((performance.now() - baselineStarted) / 1000);

    const started = performance.now();
    await pool(COUNT, CONCURRENCY, async (index) => {
      const response = await post(
        `${host.url}/v1/impact-in/deliver`,
        JSON.stringify({ companyId: tenant, provider: 'bench', event: event(index) }),
        { authorization: `Bearer ${key}` },
      );
      await response.body.text();
      if (response.statusCode !== 202) throw new Error(`deliver answered ${response.statusCode}`);
    });
    const accepted = COUNT / ((performance.now() - started) / 1000);
    while ((await successful()) < COUNT + 500) await new Promise((resolve) => setTimeout(resolve, 20));
    const ours = COUNT / ((performance.now() - started) / 1000);
    printResult({
      bench: 'host_e2e',
      count: COUNT,
      concurrency: CONCURRENCY,
      ours_per_s: Math.round(ours),
      accepted_per_s: Math.round(accepted),
      baseline_per_s: Math.round(baseline),
      ratio: Math.round((ours / baseline) * 100) / 100,
    });
  } finally {
    await agent.close();
    host.child.kill('SIGTERM');
    await new Promise((resolve) => host.child.once('exit', resolve));
    await database.drop();
    provider.stop();
  }
}
