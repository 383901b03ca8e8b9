import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

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

export function printResult(result: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
