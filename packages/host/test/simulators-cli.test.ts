// `impact-in simulators`: the demo's provider simulators on their own, for a host of your own.
// The variables it prints are the ones `serve` reads, and they work against the simulators.

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url));

describe('impact-in simulators', { timeout: 60_000 }, () => {
  it('prints export lines whose credentials the simulators accept, and stops on SIGINT', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'simulators'], {
      cwd: ROOT,
      env: process.env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const env = await new Promise<Record<string, string>>((resolve, reject) => {
        let out = '';
        child.stdout!.on('data', (chunk: Buffer) => {
          out += chunk.toString('utf8');
          if (!out.includes('KINTELL_WEBHOOK_SECRET=')) return;
          const vars: Record<string, string> = {};
          for (const line of out.split('\n')) {
            const match = /^export ([A-Z_]+)='(.*)'$/.exec(line);
            if (match) vars[match[1]!] = match[2]!;
          }
          resolve(vars);
        });
        child.once('exit', (code) => reject(new Error(`simulators exited with ${code}`)));
      });
      expect(Object.keys(env)).toEqual(
        expect.arrayContaining([
          'BENEVITY_API_URL',
          'BENEVITY_API_KEY',
          'BENEVITY_SIGNATURE_SECRET',
          'GOODERA_API_URL',
          'GOODERA_TOKEN_URL',
          'GOODERA_CLIENT_ID',
          'GOODERA_CLIENT_SECRET',
          'WORKDAY_API_URL',
          'WORKDAY_USERNAME',
          'WORKDAY_PASSWORD',
        ]),
      );
      for (const name of ['BENEVITY_API_URL', 'GOODERA_API_URL', 'WORKDAY_API_URL']) {
        expect(env[name]).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      }
      // The printed Goodera credentials get a token from the printed token URL; wrong ones do not.
      const token = (secret: string) =>
        fetch(env.GOODERA_TOKEN_URL!, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            grant_type: 'client_credentials',
            client_id: env.GOODERA_CLIENT_ID!,
            client_secret: secret,
          }),
        });
      const granted = await token(env.GOODERA_CLIENT_SECRET!);
      expect(granted.status).toBe(200);
      expect(((await granted.json()) as { access_token?: string }).access_token).toBeTruthy();
      const refused = await token('not-the-secret');
      expect(refused.status).toBe(401);
      await refused.body?.cancel();

      child.kill('SIGINT');
      const code = await new Promise((resolve) => child.once('exit', resolve));
      expect(code).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
