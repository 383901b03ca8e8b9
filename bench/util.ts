import { type ChildProcess, fork, spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

/** Starts `bench/local-server.ts` in a child process and resolves with its URL. */
export async function startLocalServer(): Promise<{ url: string; child: ChildProcess; stop: () => void }> {
  const child = fork(fileURLToPath(new URL('./local-server.ts', import.meta.url)), [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (message: { port: number }) => resolve(message.port));
    child.once('exit', (code) => reject(new Error(`local server exited with ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}`, child, stop: () => child.kill() };
}

/** Runs `worker` `concurrency` times in parallel over `count` items. */
export async function pool(
  count: number,
  concurrency: number,
  worker: (index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await worker(next++);
    }),
  );
}

/** The median of a non-empty list (benchmarks report the median of their rounds). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export function printResult(result: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

/** The built CLI: benchmarks run the host as self-hosters do, `impact-in serve` in its own process. */
export const CLI = fileURLToPath(new URL('../packages/host/dist/cli.js', import.meta.url));

/** Runs an `impact-in` command to completion and returns its stdout. */
export function cli(args: string[], env: Record<string, string>): string {
  const result = spawnSync(process.execPath, [CLI, ...args], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`impact-in ${args.join(' ')}: ${result.stderr}`);
  return result.stdout.trim();
}

/** Starts `impact-in serve` on a free port; BENCH_PROFILE_DIR writes a CPU profile of it. */
export async function startServe(env: Record<string, string>): Promise<{ url: string; child: ChildProcess }> {
  const profile = process.env.BENCH_PROFILE_DIR
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`]
    : [];
  const child = spawn(process.execPath, [...profile, CLI, 'serve'], {
    env: { ...process.env, PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let buffer = '';
    const onData = (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      const line = buffer.split('\n').find((candidate) => candidate.includes('"impact-in listening"'));
      if (!line) return;
      // From here on the logs are only drained: re-reading a growing buffer on every chunk
      // would spend the load generator's CPU on the host's log lines.
      child.stdout?.off('data', onData);
      child.stdout?.resume();
      buffer = '';
      resolve(JSON.parse(line).url);
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`serve exited with ${code}`)));
  });
  return { url, child };
}

/** A fresh database on the benchmark's PostgreSQL server; `drop()` removes it. */
export async function scratchDatabase(adminUrl: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `impact_bench_${randomUUID().replaceAll('-', '').slice(0, 10)}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      await admin.query(`drop database if exists ${name} with (force)`);
      await admin.end();
    },
  };
}
