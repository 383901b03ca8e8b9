import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ImpactEvent } from '@impact-in/core';
import { WORKDAY_TEST_CREDENTIALS } from '@impact-in/testing/providers/workday';
import { XMLParser } from 'fast-xml-parser';
import { http, type RequestHandler } from 'msw';
import { expect } from 'vitest';

export const creds = WORKDAY_TEST_CREDENTIALS;
export const TENANT = creds.tenant;
export const SOAP_PATH = `/ccx/service/${TENANT}/CSR_Impact_Report`;
export const REST_PATH = `/api/v1/${TENANT}/csr-impact-reports`;
export const TOKEN_PATH = `/ccx/oauth2/${TENANT}/token`;
export const PASSWORD_TEXT =
  'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText';

export const soapConfig = (url: string, extra: Record<string, unknown> = {}) => ({
  protocol: 'soap' as const,
  apiUrl: url,
  tenant: TENANT,
  username: creds.username,
  password: creds.password,
  webhookUsername: creds.webhookUsername,
  webhookPassword: creds.webhookPassword,
  ...extra,
});

export const restConfig = (url: string, extra: Record<string, unknown> = {}) => ({
  protocol: 'rest' as const,
  apiUrl: url,
  tenant: TENANT,
  clientId: creds.clientId,
  clientSecret: creds.clientSecret,
  ...extra,
});

/** Seed 002's example event. */
export const seedEvent = (overrides: Partial<ImpactEvent> = {}): ImpactEvent => ({
  eventId: 'evt_123',
  userId: 'user_456',
  eventType: 'volunteer_hours',
  timestamp: '2025-11-14T10:00:00Z',
  value: 5,
  unit: 'hours',
  metadata: { program: 'buddy_mentoring' },
  ...overrides,
});

/** Parses XML the way a test reads it back: every prefix kept, every value a string. */
export function readXml(text: string): Record<string, unknown> {
  return new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: '@_',
    parseTagValue: false,
    parseAttributeValue: false,
    // Numeric character references in a received document must come back as characters.
    htmlEntities: true,
  }).parse(text) as Record<string, unknown>;
}

/** Walks a `readXml` tree: `at(tree, 'soapenv:Envelope', 'soapenv:Body')`. */
export function at(tree: unknown, ...path: string[]): unknown {
  let current: unknown = tree;
  for (const step of path) current = (current as Record<string, unknown> | undefined)?.[step];
  return current;
}

const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
/** The shared validator, `../shared/tools/validate-soap-envelope` from the repository. */
export const VALIDATE_SOAP_ENVELOPE =
  process.env.VALIDATE_SOAP_ENVELOPE ?? resolve(repoRoot, '../shared/tools/validate-soap-envelope');

/**
 * Runs the shared SOAP 1.1 + WS-Security schema validation over envelopes (one xmllint run) and
 * checks what the schema cannot: a UsernameToken Password, where there is one, is typed PasswordText.
 */
export function expectValidEnvelopes(envelopes: readonly string[]): void {
  expect(envelopes.length).toBeGreaterThan(0);
  const dir = mkdtempSync(join(tmpdir(), 'workday-envelopes-'));
  try {
    const files = envelopes.map((xml, index) => {
      const file = join(dir, `envelope-${index}.xml`);
      writeFileSync(file, xml, 'utf8');
      return file;
    });
    const run = spawnSync(VALIDATE_SOAP_ENVELOPE, files, { encoding: 'utf8' });
    expect(run.error, `cannot run ${VALIDATE_SOAP_ENVELOPE}`).toBeUndefined();
    expect(run.status, run.stderr).toBe(0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  for (const xml of envelopes) {
    const password = at(
      readXml(xml),
      'soapenv:Envelope',
      'soapenv:Header',
      'wsse:Security',
      'wsse:UsernameToken',
      'wsse:Password',
    );
    if (password !== undefined) expect(at(password, '@_Type')).toBe(PASSWORD_TEXT);
  }
}

/**
 * Wraps simulator handlers with a tap that keeps every SOAP request body, so a test file can
 * validate every envelope it made the connector send.
 */
export function envelopeTap() {
  const envelopes: string[] = [];
  return {
    envelopes,
    wrap:
      (handlers: (url: string) => RequestHandler[]) =>
      (url: string): RequestHandler[] => [
        http.post(
          new RegExp(`^${url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/ccx/service/`),
          async ({ request }) => {
            envelopes.push(await request.clone().text());
            return undefined;
          },
        ),
        ...handlers(url),
      ],
  };
}
