import { serve as serveNode } from '@hono/node-server';
import type { HostedConnector } from './app.js';
import type { HostEnv } from './config.js';
import { createHost } from './host.js';
import { createLogger } from './logger.js';

/**
 * `impact-in serve`: the HTTP API and the delivery workers in one process. SIGTERM and SIGINT
 * stop it gracefully: no new requests, in-flight attempts finish (for up to
 * `IMPACT_IN_SHUTDOWN_TIMEOUT_MS`; attempts still running then are aborted and due again at once),
 * leases end, then exit.
 */
export async function serve(options: {
  env: HostEnv;
  connectors: readonly HostedConnector[];
  onListening?: (url: string) => void;
}): Promise<{ url: string; stop: () => Promise<void> }> {
  const logger = createLogger({ level: options.env.LOG_LEVEL });
  const host = await createHost({
    env: options.env,
    connectors: options.connectors,
    logger,
    leaseMs: options.env.IMPACT_IN_LEASE_MS,
    pollIntervalMs: options.env.IMPACT_IN_POLL_INTERVAL_MS,
  });
  await host.start();
  const server = serveNode({ fetch: host.app.fetch, port: options.env.PORT, hostname: options.env.HOST });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', () => resolve());
    server.once('error', (error: NodeJS.ErrnoException) => {
      void host.close();
      reject(
        error.code === 'EADDRINUSE'
          ? new Error(
              `[impact-in] port ${options.env.PORT} on ${options.env.HOST} is in use: set PORT to another port`,
            )
          : error,
      );
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.env.PORT;
  const url = `http://${options.env.HOST.includes(':') ? `[${options.env.HOST}]` : options.env.HOST}:${port}`;
  logger.info({ url, providers: host.dispatcher.providers }, 'impact-in listening');
  logger.flush();
  options.onListening?.(url);
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      logger.info({}, 'shutting down');
      // Stop claiming at once, while the HTTP requests in flight finish: the drain of attempts
      // (IMPACT_IN_SHUTDOWN_TIMEOUT_MS) runs alongside, not after, the drain of requests.
      await Promise.all([
        new Promise<void>((resolve) => server.close(() => resolve())),
        host.dispatcher.stop({ timeoutMs: options.env.IMPACT_IN_SHUTDOWN_TIMEOUT_MS }),
      ]);
      await host.close();
      logger.info({}, 'stopped');
      logger.flush();
    })();
    return stopping;
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      stop().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    });
  }
  return { url, stop };
}
