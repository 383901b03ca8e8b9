import { randomBytes } from 'node:crypto';
import { BENEVITY_TEST_CREDENTIALS, createBenevitySimulator } from '@impact-in/testing/providers/benevity';
import {
  createGooderaSimulator,
  GOODERA_SIMULATOR_PATHS,
  GOODERA_TEST_CREDENTIALS,
} from '@impact-in/testing/providers/goodera';
import { createWorkdaySimulator, WORKDAY_TEST_CREDENTIALS } from '@impact-in/testing/providers/workday';
import { startProviderServer } from '@impact-in/testing/server';

/** The three provider simulators, each on a loopback port of its own. */
export interface RunningSimulators {
  benevity: ReturnType<typeof createBenevitySimulator>;
  goodera: ReturnType<typeof createGooderaSimulator>;
  workday: ReturnType<typeof createWorkdaySimulator>;
  urls: { benevity: string; goodera: string; workday: string };
  /**
   * The simulators' addresses and test credentials as the host's provider variables
   * (`BENEVITY_API_URL`, `GOODERA_CLIENT_SECRET`, …), plus a Kintell webhook secret.
   */
  env: Record<string, string>;
  close(): Promise<void>;
}

/**
 * Starts the Benevity, Goodera and Workday simulators of `@impact-in/testing` on loopback: what
 * `impact-in demo` delivers to, and what `impact-in simulators` serves for a host of your own.
 */
export async function startSimulators(): Promise<RunningSimulators> {
  const benevity = createBenevitySimulator();
  const goodera = createGooderaSimulator();
  const workday = createWorkdaySimulator();
  const [benevityServer, gooderaServer, workdayServer] = await Promise.all([
    startProviderServer(benevity.handlers),
    startProviderServer(goodera.handlers),
    startProviderServer(workday.handlers),
  ]);
  const env: Record<string, string> = {
    BENEVITY_API_URL: benevityServer.url,
    BENEVITY_API_KEY: BENEVITY_TEST_CREDENTIALS.apiKey,
    BENEVITY_SIGNATURE_SECRET: BENEVITY_TEST_CREDENTIALS.signatureSecret,
    GOODERA_API_URL: gooderaServer.url,
    GOODERA_TOKEN_URL: `${gooderaServer.url}${GOODERA_SIMULATOR_PATHS.token}`,
    GOODERA_CLIENT_ID: GOODERA_TEST_CREDENTIALS.clientId,
    GOODERA_CLIENT_SECRET: GOODERA_TEST_CREDENTIALS.clientSecret,
    WORKDAY_API_URL: workdayServer.url,
    WORKDAY_PROTOCOL: 'soap',
    WORKDAY_TENANT_ID: WORKDAY_TEST_CREDENTIALS.tenant,
    WORKDAY_USERNAME: WORKDAY_TEST_CREDENTIALS.username,
    WORKDAY_PASSWORD: WORKDAY_TEST_CREDENTIALS.password,
    WORKDAY_WEBHOOK_USERNAME: WORKDAY_TEST_CREDENTIALS.webhookUsername,
    WORKDAY_WEBHOOK_PASSWORD: WORKDAY_TEST_CREDENTIALS.webhookPassword,
    // Kintell has no simulator; a secret of this run's own for signing test webhooks.
    KINTELL_WEBHOOK_SECRET: randomBytes(24).toString('base64url'),
  };
  return {
    benevity,
    goodera,
    workday,
    urls: { benevity: benevityServer.url, goodera: gooderaServer.url, workday: workdayServer.url },
    env,
    close: async () => {
      await Promise.all([benevityServer.close(), gooderaServer.close(), workdayServer.close()]);
    },
  };
}

/** `export NAME='value'` lines a POSIX shell reads back (single quotes escaped). */
export function shellExports(env: Record<string, string>): string {
  return Object.entries(env)
    .map(([name, value]) => `export ${name}='${value.replaceAll("'", `'\\''`)}'`)
    .join('\n');
}
