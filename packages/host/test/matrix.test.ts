/**
 * The role × endpoint matrix, generated from the host's route table: every route that needs
 * credentials is tried without them, with a garbage key, with each role below its own (403),
 * with its own role and above, and with another tenant's admin key aimed at tenant A's
 * resources. A route added to the table without an example here fails the first test.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benevity } from '@impact-in/connector-benevity';
import { kintell, signKintellWebhook } from '@impact-in/connector-kintell';
import { hmacSha256 } from '@impact-in/core';
import { BENEVITY_TEST_CREDENTIALS } from '@impact-in/testing/providers/benevity';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RouteDefinition } from '../src/app.js';
import type { Role } from '../src/tenants.js';
import { createApiKey } from '../src/tenants.js';
import { event, startTestHost, type TestHost } from './helpers.js';

// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field
type Body = any;

const ROLES: readonly Role[] = ['viewer', 'operator', 'admin'];
const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };
/** A recognisable secret in tenant A's acme config: no response of the matrix may contain it. */
const SECRET = `matrix-secret-${randomBytes(4).toString('hex').toUpperCase()}`;
/** A recognisable Kintell webhook secret in tenant A's kintell config: never shown either. */
const KINTELL_SECRET = `matrix-kintell-secret-${randomBytes(4).toString('hex').toUpperCase()}`;
const HOOK_TIMEOUT = 60_000;
/** Uploads of the matrix host are kept here, not in the working tree. */
const BLOB_DIR = mkdtempSync(join(tmpdir(), 'impact-in-matrix-'));
/** Tenant A's platform users (the identity directory imports match people against). */
const RUN = randomBytes(3).toString('hex');
const PEOPLE = {
  volunteer: {
    userId: `matrix-volunteer-${RUN}`,
    email: `volunteer-${RUN}@a.example`,
    kintell: `K-V-${RUN}`,
  },
  participant: { userId: `matrix-mentee-${RUN}`, email: `mentee-${RUN}@a.example`, kintell: `K-P-${RUN}` },
};

const benevityHosted = {
  connector: benevity,
  config: benevity.config.parse({
    apiUrl: 'http://127.0.0.1:9',
    apiKey: BENEVITY_TEST_CREDENTIALS.apiKey,
    signatureSecret: BENEVITY_TEST_CREDENTIALS.signatureSecret,
  }),
};

// Kintell: imports need no credentials (`{}` is a valid config); webhooks need the tenant's secret.
const kintellHosted = { connector: kintell, config: kintell.config.parse({}) };

/** A Kintell session export of one completed session, naming tenant A's two people. */
const sessionsCsv = () =>
  [
    'session_id,program,scheduled_at,completed_at,duration_minutes,status,participant_email,volunteer_email',
    `S-MATRIX-${RUN},mentorship,2025-11-10T10:00:00Z,2025-11-10T11:00:00Z,60,completed,${PEOPLE.participant.email},${PEOPLE.volunteer.email}`,
  ].join('\n');

const kintellWebhook = (type: 'session.scheduled' | 'session.completed') => {
  const id = `whk_matrix_${randomUUID()}`;
  return JSON.stringify({
    id,
    type,
    created_at: new Date().toISOString(),
    data: {
      session_id: `S-WH-${id}`,
      program: 'mentorship',
      scheduled_at: '2025-11-10T10:00:00Z',
      ...(type === 'session.completed' ? { completed_at: '2025-11-10T11:00:00Z', duration_minutes: 60 } : {}),
      participant_email: PEOPLE.participant.email,
      volunteer_email: PEOPLE.volunteer.email,
    },
  });
};

/** A Kintell webhook example: unsigned (`request`), signed with A's secret, and signed but sent to B. */
const kintellWebhookExample = (type: 'session.scheduled' | 'session.completed'): Example => {
  const signedFor = (tenant: string): ExampleRequest => {
    const body = kintellWebhook(type);
    return {
      query: { tenant },
      body,
      headers: {
        'x-kintell-signature': signKintellWebhook(KINTELL_SECRET, body, Math.floor(Date.now() / 1000)),
      },
    };
  };
  return {
    request: (f) => ({ query: { tenant: f.tenantA }, body: kintellWebhook(type) }),
    signed: (f) => signedFor(f.tenantA),
    // A's secret does not let a sender write into B.
    misdirected: (f) => signedFor(f.tenantB),
  };
};

/** Tenant A's resources the examples name. */
interface Fixtures {
  t: TestHost;
  tenantA: string;
  tenantB: string;
  delivery: { id: string; deliveryId: string; eventId: string };
  /** A key of A that DELETE /keys/{id} revokes. */
  revokableKeyId: string;
  /** A key of A that only tenant B tries to revoke: it must stay active. */
  keptKeyId: string;
  /** A's Kintell import. */
  importId: string;
}

interface ExampleRequest {
  params?: Record<string, string>;
  query?: Record<string, string | undefined>;
  /** JSON (serialised here) or a raw string. */
  body?: unknown;
  headers?: Record<string, string>;
}

interface Outcome {
  status: number;
  text: string;
  body: Body;
  headers: Headers;
  request: { path: string; body: string | undefined };
}

interface CrossTenantCase {
  name: string;
  request: ExampleRequest;
  statuses: readonly number[];
  check?: (outcome: Outcome, f: Fixtures) => void | Promise<void>;
  /** Values of A's that B itself stored earlier in the matrix (so B may see them as its own). */
  alsoB?: readonly string[];
}

interface Example {
  /** A valid request for tenant A's own resources. */
  request: (f: Fixtures) => ExampleRequest;
  /** Statuses the route's own role (and above) may answer. Default: any 2xx. */
  ok?: readonly number[];
  /** Tenant B's admin key against A's resources. Default: the example itself, answered 403 or 404. */
  crossTenant?: (f: Fixtures) => CrossTenantCase[];
  /** Webhooks: a correctly signed request (answered 2xx without any API key). */
  signed?: (f: Fixtures) => ExampleRequest;
  /** Webhooks: signed for tenant A but addressed to tenant B (answered 4xx). */
  misdirected?: (f: Fixtures) => ExampleRequest;
  /** Restores state a successful call changed (run after each call of an allowed role). */
  after?: (f: Fixtures) => Promise<void>;
}

const benevityVolunteer = (id: string) =>
  JSON.stringify({
    id,
    type: 'volunteer.recorded',
    occurred_at: '2025-11-14T10:05:00Z',
    company_id: 'bnv_co_42',
    data: {
      id: `vol_${id}`,
      user_external_id: 'user_456',
      hours: 2.5,
      activity_date: '2025-11-10',
      status: 'completed',
    },
  });

const ingestBatch = JSON.stringify({
  company_id: 'bnv_co_42',
  volunteers: [
    {
      id: 'vol_matrix_1',
      user_external_id: 'user_1',
      hours: 3,
      activity_date: '2025-11-10',
      status: 'completed',
    },
    {
      id: 'vol_matrix_2',
      user_external_id: 'user_2',
      hours: 1,
      activity_date: '2025-11-11',
      status: 'completed',
    },
  ],
});

const tenantPath = (f: Fixtures, extra: Record<string, string> = {}) => ({ tenantId: f.tenantA, ...extra });

async function integrationOfA(f: Fixtures, provider: string) {
  return f.t.host.integrations.view(f.tenantA, provider);
}

/** Example requests, keyed `"METHOD path"` exactly as the route table spells them. */
const EXAMPLES: Record<string, Example> = {
  'POST /v1/impact-in/deliver': {
    request: (f) => ({ body: { companyId: f.tenantA, provider: 'acme', event: event() } }),
    ok: [202],
  },
  'GET /v1/impact-in/deliveries': {
    request: (f) => ({ query: { companyId: f.tenantA, provider: 'acme', limit: '100' } }),
    crossTenant: (f) => [
      { name: "A's companyId", request: { query: { companyId: f.tenantA } }, statuses: [403] },
      // Without a companyId, B sees its own deliveries only.
      { name: 'no companyId', request: { query: { limit: '100' } }, statuses: [200] },
    ],
  },
  'GET /v1/impact-in/deliveries/{id}': {
    request: (f) => ({ params: { id: f.delivery.id } }),
  },
  'GET /v1/impact-in/stats': {
    request: (f) => ({ query: { companyId: f.tenantA, startDate: '2020-01-01' } }),
    crossTenant: (f) => [
      { name: "A's companyId", request: { query: { companyId: f.tenantA } }, statuses: [403] },
      {
        name: 'no companyId',
        request: {},
        statuses: [200],
        check: ({ body }) => expect(body.data.overall.total).toBe(0),
      },
    ],
  },
  'POST /v1/impact-in/deliveries/{id}/replay': {
    request: (f) => ({ params: { id: f.delivery.id } }),
  },
  'POST /v1/impact-in/deliveries/bulk-replay': {
    request: (f) => ({ body: { ids: [f.delivery.id] } }),
    crossTenant: (f) => [
      {
        // A bulk answer reports each id; A's is "not found", exactly like an id that does not exist.
        name: "A's delivery id",
        request: { body: { ids: [f.delivery.id, randomUUID()] } },
        statuses: [200, 403, 404],
        check: ({ status, body }) => {
          if (status !== 200) return;
          expect(body.summary).toEqual({ total: 2, successful: 0, failed: 2 });
          for (const result of body.results) {
            expect(result).toEqual({ id: result.id, success: false, error: 'not found' });
          }
        },
      },
    ],
  },
  'POST /v1/impact-in/deliveries/retry-all-failed': {
    request: (f) => ({ body: { companyId: f.tenantA, provider: 'acme' } }),
  },
  'POST /v1/ingest/{provider}/{kind}': {
    request: () => ({ params: { provider: 'benevity', kind: 'volunteers' }, body: ingestBatch }),
    crossTenant: () => [
      {
        // Records are the caller's own: the same source ids as A's are new for B (no oracle).
        name: "the same records as A's",
        request: { params: { provider: 'benevity', kind: 'volunteers' }, body: ingestBatch },
        statuses: [200],
        check: ({ body }) => expect(body).toMatchObject({ received: 2, duplicates: 0 }),
      },
    ],
  },
  'POST /webhooks/{provider}': {
    request: () => ({
      params: { provider: 'benevity' },
      body: benevityVolunteer(`whk_matrix_${randomUUID()}`),
    }),
    signed: () => {
      const body = benevityVolunteer(`whk_matrix_signed_${randomUUID()}`);
      return {
        params: { provider: 'benevity' },
        body,
        headers: { 'x-benevity-signature': hmacSha256(BENEVITY_TEST_CREDENTIALS.signatureSecret, body) },
      };
    },
  },
  'GET /v1/tenants/{tenantId}/integrations': {
    request: (f) => ({ params: tenantPath(f) }),
  },
  'GET /v1/tenants/{tenantId}/integrations/{provider}/config': {
    request: (f) => ({ params: tenantPath(f, { provider: 'acme' }) }),
  },
  'PUT /v1/tenants/{tenantId}/integrations/{provider}/config': {
    request: (f) => ({
      params: tenantPath(f, { provider: 'acme' }),
      body: { enabled: true, config: { url: f.t.provider.url, signingSecret: SECRET } },
    }),
    crossTenant: (f) => [
      {
        name: "A's acme config",
        request: {
          params: tenantPath(f, { provider: 'acme' }),
          body: { enabled: false, config: { url: 'http://127.0.0.1:9', signingSecret: 'tenant-b-was-here' } },
        },
        statuses: [403, 404],
        check: async () => {
          const view = await integrationOfA(f, 'acme');
          expect(view).toMatchObject({ enabled: true, source: 'tenant', config: { url: f.t.provider.url } });
        },
      },
    ],
  },
  'POST /v1/tenants/{tenantId}/integrations/{provider}/enable': {
    request: (f) => ({ params: tenantPath(f, { provider: 'acme' }) }),
  },
  'POST /v1/tenants/{tenantId}/integrations/{provider}/disable': {
    request: (f) => ({ params: tenantPath(f, { provider: 'acme' }) }),
    after: async (f) => {
      const response = await f.t.request(`/v1/tenants/${f.tenantA}/integrations/acme/enable`, {
        method: 'POST',
        key: f.t.keys.admin,
      });
      expect(response.status).toBe(200);
    },
    crossTenant: (f) => [
      {
        name: "A's acme",
        request: { params: tenantPath(f, { provider: 'acme' }) },
        statuses: [403, 404],
        check: async () => expect((await integrationOfA(f, 'acme')).enabled).toBe(true),
      },
    ],
  },
  'GET /v1/tenants/{tenantId}/integrations/{provider}/health': {
    request: (f) => ({ params: tenantPath(f, { provider: 'acme' }) }),
  },
  'GET /v1/tenants/{tenantId}/health': {
    request: (f) => ({ params: tenantPath(f) }),
  },
  'GET /v1/tenants/{tenantId}/keys': {
    request: (f) => ({ params: tenantPath(f) }),
  },
  'POST /v1/tenants/{tenantId}/keys': {
    request: (f) => ({ params: tenantPath(f), body: { role: 'viewer', name: 'matrix' } }),
    ok: [201],
  },
  'DELETE /v1/tenants/{tenantId}/keys/{id}': {
    request: (f) => ({ params: tenantPath(f, { id: f.revokableKeyId }) }),
    crossTenant: (f) => {
      const stillActive = async () => {
        const row = await f.t.db
          .selectFrom('api_keys')
          .select('revoked_at')
          .where('id', '=', f.keptKeyId)
          .executeTakeFirstOrThrow();
        expect(row.revoked_at).toBeNull();
      };
      return [
        {
          name: "an active key of A's",
          request: { params: tenantPath(f, { id: f.keptKeyId }) },
          statuses: [403, 404],
          check: stillActive,
        },
        {
          // B's own tenant path, A's key id.
          name: "A's key id under B's own path",
          request: { params: { tenantId: f.tenantB, id: f.keptKeyId } },
          statuses: [404],
          check: stillActive,
        },
      ];
    },
  },
  'GET /v1/tenants/{tenantId}/audit': {
    request: (f) => ({ params: tenantPath(f), query: { limit: '100' } }),
    crossTenant: (f) => [
      { name: "A's audit", request: { params: tenantPath(f) }, statuses: [403, 404] },
      {
        // B's own audit, filtered by A's resources: nothing of A's.
        name: "B's audit filtered by A's delivery",
        request: { params: { tenantId: f.tenantB }, query: { target: f.delivery.id } },
        statuses: [200],
        check: ({ body }) => expect(body.data).toEqual([]),
      },
    ],
  },
  'POST /v1/import/sessions': {
    request: () => ({ body: sessionsCsv(), headers: { 'content-type': 'text/csv' } }),
    crossTenant: () => [
      {
        // B imports the same export: stored as B's, and A's directory does not name B's people.
        name: "an export naming A's people",
        request: { body: sessionsCsv(), headers: { 'content-type': 'text/csv' } },
        statuses: [200],
        check: ({ body }) => {
          expect(body).toMatchObject({ status: 'completed', rows: 1, imported: 1, unmatched: 1 });
        },
      },
    ],
  },
  'GET /v1/import/sessions': {
    request: () => ({ query: { limit: '100' } }),
    crossTenant: () => [
      {
        name: "B's own imports",
        request: { query: { limit: '100' } },
        statuses: [200],
        check: ({ body }, f) => {
          expect(body.data.map((row: { importId: string }) => row.importId)).not.toContain(f.importId);
        },
      },
    ],
  },
  'GET /v1/import/sessions/{importId}': {
    request: (f) => ({ params: { importId: f.importId } }),
  },
  'PUT /v1/identity/users': {
    request: () => ({
      body: {
        users: Object.values(PEOPLE).map((person) => ({
          userId: person.userId,
          email: person.email,
          externalIds: { kintell: person.kintell },
        })),
      },
    }),
    crossTenant: (f) => {
      const aUnchanged = async () => {
        const rows = await f.t.db
          .selectFrom('platform_users')
          .select(['user_id', 'email'])
          .where('company_id', '=', f.tenantA)
          .where('user_id', '=', PEOPLE.volunteer.userId)
          .execute();
        expect(rows).toEqual([{ user_id: PEOPLE.volunteer.userId, email: PEOPLE.volunteer.email }]);
      };
      return [
        {
          // B's directory is its own: A's user id is a new user of B's, and A's stays as it was.
          name: "A's user id",
          request: { body: { users: [{ userId: PEOPLE.volunteer.userId, email: `b-${RUN}@b.example` }] } },
          statuses: [200],
          check: async ({ body }) => {
            expect(body.data).toEqual({ received: 1, created: 1, updated: 0 });
            await aUnchanged();
          },
        },
        {
          // A's email and Kintell id are free in B's directory: no 409 tells B they exist elsewhere.
          name: "A's email and external id",
          request: {
            body: {
              users: [
                {
                  userId: `b-user-${RUN}`,
                  email: PEOPLE.participant.email,
                  externalIds: { kintell: PEOPLE.participant.kintell },
                },
              ],
            },
          },
          statuses: [200],
          check: async ({ body }) => {
            expect(body.data).toEqual({ received: 1, created: 1, updated: 0 });
            await aUnchanged();
          },
        },
      ];
    },
  },
  'GET /v1/identity/users': {
    request: () => ({ query: { limit: '1000' } }),
    crossTenant: () => [
      {
        name: "B's own users",
        request: { query: { limit: '1000' } },
        statuses: [200],
        // The PUT's cross-tenant cases gave B a user with A's user id, and one with A's email and Kintell id.
        alsoB: [PEOPLE.volunteer.userId, PEOPLE.participant.email, PEOPLE.participant.kintell],
        check: ({ body }) => {
          for (const user of body.data) {
            if (user.userId === PEOPLE.volunteer.userId) expect(user.email).toBe(`b-${RUN}@b.example`);
          }
        },
      },
    ],
  },
  'POST /v1/webhooks/session-scheduled': kintellWebhookExample('session.scheduled'),
  'POST /v1/webhooks/session-completed': kintellWebhookExample('session.completed'),
  'GET /v1/tenants/{tenantId}/stats': {
    request: (f) => ({ params: tenantPath(f), query: { startDate: '2020-01-01' } }),
    crossTenant: (f) => [
      { name: "A's usage", request: { params: tenantPath(f) }, statuses: [403, 404] },
      {
        // B never delivered: its own usage counts none of A's deliveries.
        name: "B's own usage",
        request: { params: { tenantId: f.tenantB }, query: { startDate: '2020-01-01' } },
        statuses: [200],
        check: ({ body }) => {
          for (const day of body.data.days) expect(day.deliveries.total).toBe(0);
        },
      },
    ],
  },
};

const keyOf = (route: Pick<RouteDefinition, 'method' | 'path'>) => `${route.method} ${route.path}`;

// The route table needs a host: the tests are generated from it.
const t = await startTestHost({ IMPACT_IN_ADMIN_RATE_LIMIT: '100000', IMPACT_IN_BLOB_DIR: BLOB_DIR }, [
  benevityHosted,
  kintellHosted,
]);
const routes = t.host.routes.filter((route) => route.access !== 'public');
const hasRoute = (key: string) => t.host.routes.some((route) => keyOf(route) === key);
let f: Fixtures;
/** Every response of the matrix, for the checks that span them all. */
const seen: Outcome[] = [];

/** Values no response may contain: A's secret and every API key's plaintext. */
const neverShown = () => [SECRET, KINTELL_SECRET, ...Object.values(t.keys)];

function pathOf(route: RouteDefinition, request: ExampleRequest) {
  const params = request.params ?? {};
  const path = route.path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`${keyOf(route)}: the example has no path parameter "${name}"`);
    return encodeURIComponent(value);
  });
  const query = new URLSearchParams(
    Object.entries(request.query ?? {}).filter((entry): entry is [string, string] => entry[1] !== undefined),
  ).toString();
  return query ? `${path}?${query}` : path;
}

/** Placeholder path parameters, for the checks that stop at authentication. */
function placeholderParams(route: RouteDefinition): Record<string, string> {
  const params: Record<string, string> = {};
  for (const [, name] of route.path.matchAll(/\{(\w+)\}/g)) {
    params[name!] = name === 'tenantId' ? t.tenantA : name === 'provider' ? 'acme' : randomUUID();
  }
  return params;
}

async function send(route: RouteDefinition, request: ExampleRequest, key: string | null): Promise<Outcome> {
  const path = pathOf(route, request);
  const body =
    request.body === undefined
      ? undefined
      : typeof request.body === 'string'
        ? request.body
        : JSON.stringify(request.body);
  const response = await t.request(path, {
    method: route.method,
    key,
    ...(body === undefined ? {} : { body }),
    ...(request.headers ? { headers: request.headers } : {}),
  });
  const text = await response.text();
  let parsed: Body;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const outcome = {
    status: response.status,
    text,
    body: parsed,
    headers: response.headers,
    request: { path, body },
  };
  seen.push(outcome);
  for (const value of neverShown()) {
    expect(
      text.includes(value),
      `${route.method} ${path} answered ${response.status} with a secret: ${text}`,
    ).toBe(false);
  }
  return outcome;
}

const describeOutcome = (outcome: Outcome) =>
  `${outcome.request.path} → ${outcome.status} ${outcome.text.slice(0, 500)}`;

/** `{ error: { code, message } }` and nothing else. */
function expectErrorOnly(outcome: Outcome) {
  expect(outcome.body, describeOutcome(outcome)).toBeTypeOf('object');
  expect(Object.keys(outcome.body), describeOutcome(outcome)).toEqual(['error']);
  expect(outcome.body.error.code).toBeTypeOf('string');
  expect(outcome.body.error.message).toBeTypeOf('string');
  expect(Object.keys(outcome.body.error).filter((k) => !['code', 'message', 'details'].includes(k))).toEqual(
    [],
  );
}

/** Tenant A's identifiers a response to tenant B must not carry (an id B itself sent may be echoed). */
function expectNothingOfA(outcome: Outcome, alsoB: readonly string[] = []) {
  const sent = `${outcome.request.path}\n${outcome.request.body ?? ''}`;
  const strict = [f.tenantA, f.delivery.deliveryId, f.delivery.eventId];
  const unlessSent = [
    f.delivery.id,
    f.revokableKeyId,
    f.keptKeyId,
    f.importId,
    ...Object.values(PEOPLE).flatMap((person) => [person.userId, person.email, person.kintell]),
  ].filter((value) => !sent.includes(value) && !alsoB.includes(value));
  for (const value of [...strict, ...unlessSent]) {
    expect(outcome.text.includes(value), `${describeOutcome(outcome)} contains tenant A's ${value}`).toBe(
      false,
    );
  }
}

beforeAll(async () => {
  const submitted = await t.request('/v1/impact-in/deliver', {
    method: 'POST',
    key: t.keys.operator,
    body: JSON.stringify({ companyId: t.tenantA, provider: 'acme', event: event() }),
  });
  expect(submitted.status).toBe(202);
  const { data } = (await submitted.json()) as Body;
  const configured = await t.request(`/v1/tenants/${t.tenantA}/integrations/acme/config`, {
    method: 'PUT',
    key: t.keys.admin,
    body: JSON.stringify({ enabled: true, config: { url: t.provider.url, signingSecret: SECRET } }),
  });
  const configuredText = await configured.text();
  expect(configured.status, configuredText).toBe(200);
  expect(configuredText).not.toContain(SECRET);
  const kintellConfigured = await t.request(`/v1/tenants/${t.tenantA}/integrations/kintell/config`, {
    method: 'PUT',
    key: t.keys.admin,
    body: JSON.stringify({ enabled: true, config: { webhookSecret: KINTELL_SECRET } }),
  });
  const kintellText = await kintellConfigured.text();
  expect(kintellConfigured.status, kintellText).toBe(200);
  expect(kintellText).not.toContain(KINTELL_SECRET);
  // Tenant A's directory knows both people, and one import of A's exists.
  let importId: string = randomUUID();
  if (hasRoute('PUT /v1/identity/users')) {
    const users = await t.request('/v1/identity/users', {
      method: 'PUT',
      key: t.keys.operator,
      body: JSON.stringify(EXAMPLES['PUT /v1/identity/users']!.request({} as Fixtures).body),
    });
    expect(users.status, await users.clone().text()).toBe(200);
  }
  if (hasRoute('POST /v1/import/sessions')) {
    const imported = await t.request('/v1/import/sessions', {
      method: 'POST',
      key: t.keys.operator,
      body: sessionsCsv(),
      headers: { 'content-type': 'text/csv' },
    });
    const report = (await imported.json()) as Body;
    expect(imported.status, JSON.stringify(report)).toBe(200);
    expect(report).toMatchObject({ status: 'completed', rows: 1, imported: 1, unmatched: 0 });
    importId = report.importId;
  }
  f = {
    t,
    tenantA: t.tenantA,
    tenantB: t.tenantB,
    delivery: { id: data.id, deliveryId: data.deliveryId, eventId: data.eventId },
    revokableKeyId: (await createApiKey(t.db, t.tenantA, 'viewer', 'revoked by the matrix')).id,
    keptKeyId: (await createApiKey(t.db, t.tenantA, 'viewer', 'kept')).id,
    importId,
  };
}, HOOK_TIMEOUT);

afterAll(async () => {
  await t.close();
  rmSync(BLOB_DIR, { recursive: true, force: true });
}, HOOK_TIMEOUT);

describe('the route table', () => {
  it('has an example request for every route that is not public', () => {
    const missing = routes.map(keyOf).filter((key) => !(key in EXAMPLES));
    expect(missing, `add examples to EXAMPLES in test/matrix.test.ts for: ${missing.join(', ')}`).toEqual([]);
  });

  it('still holds the routes this matrix was written for', () => {
    const keys = new Set(t.host.routes.map(keyOf));
    for (const key of [
      'POST /v1/impact-in/deliver',
      'GET /v1/tenants/{tenantId}/keys',
      'POST /webhooks/{provider}',
    ]) {
      expect(keys.has(key), key).toBe(true);
    }
  });
});

const keyFor = (role: Role) => t.keys[role];

for (const route of routes) {
  const key = keyOf(route);
  const example: Example | undefined = EXAMPLES[key];

  if (route.access === 'webhook') {
    describe(`${key} [webhook]`, () => {
      it('refuses a request without a signature with 4xx (never 2xx or 5xx), API key or not', async () => {
        expect(example, `no example for ${key}`).toBeDefined();
        for (const apiKey of [null, t.keys.admin]) {
          const outcome = await send(route, example!.request(f), apiKey);
          expect(outcome.status, describeOutcome(outcome)).toBeGreaterThanOrEqual(400);
          expect(outcome.status, describeOutcome(outcome)).toBeLessThan(500);
          expectErrorOnly(outcome);
        }
      });

      it('refuses a wrong signature with 4xx', async () => {
        expect(example, `no example for ${key}`).toBeDefined();
        const request = example!.signed?.(f) ?? example!.request(f);
        const headers = Object.fromEntries(
          Object.entries(request.headers ?? {}).map(([name, value]) => [name, `${value.slice(0, -4)}0000`]),
        );
        const outcome = await send(route, { ...request, headers }, null);
        expect(outcome.status, describeOutcome(outcome)).toBeGreaterThanOrEqual(400);
        expect(outcome.status, describeOutcome(outcome)).toBeLessThan(500);
      });

      const signed = example?.signed;
      if (signed) {
        it('needs no API key when signed', async () => {
          const outcome = await send(route, signed(f), null);
          expect(outcome.status, describeOutcome(outcome)).toBeGreaterThanOrEqual(200);
          expect(outcome.status, describeOutcome(outcome)).toBeLessThan(300);
        });
      }

      const misdirected = example?.misdirected;
      if (misdirected) {
        it("refuses a request signed for tenant A but addressed to tenant B, without A's data", async () => {
          const outcome = await send(route, misdirected(f), null);
          expect(outcome.status, describeOutcome(outcome)).toBeGreaterThanOrEqual(400);
          expect(outcome.status, describeOutcome(outcome)).toBeLessThan(500);
          expectErrorOnly(outcome);
          expectNothingOfA(outcome);
        });
      }
    });
    continue;
  }

  const access = route.access as Role;
  const below = ROLES.filter((role) => RANK[role] < RANK[access]);
  const allowed = ROLES.filter((role) => RANK[role] >= RANK[access]);
  const authRequest = (): ExampleRequest =>
    example
      ? example.request(f)
      : { params: placeholderParams(route), ...(route.method === 'GET' ? {} : { body: {} }) };

  describe(`${key} [${access}]`, () => {
    it('answers 401 without Authorization', async () => {
      const outcome = await send(route, authRequest(), null);
      expect(outcome.status, describeOutcome(outcome)).toBe(401);
      expectErrorOnly(outcome);
    });

    it.each([
      ['a garbage key', 'iik_garbage-garbage-garbage-garbage'],
      ['a JWT-shaped garbage token', 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln'],
      ['a revoked-looking key of the wrong form', 'not-even-a-key'],
    ])('answers 401 with %s', async (_, garbage) => {
      const outcome = await send(route, authRequest(), garbage);
      expect(outcome.status, describeOutcome(outcome)).toBe(401);
      expectErrorOnly(outcome);
    });

    if (below.length > 0) {
      it.each(below)('answers 403 to the %s role, with no data', async (role) => {
        const outcome = await send(route, authRequest(), keyFor(role));
        expect(outcome.status, describeOutcome(outcome)).toBe(403);
        expectErrorOnly(outcome);
        expect(outcome.text).not.toContain(f.delivery.eventId);
        expect(outcome.text).not.toContain(f.delivery.deliveryId);
      });
    }

    it.each(allowed)('serves the %s role (not 401/403, never 5xx)', async (role) => {
      expect(example, `no example for ${key}`).toBeDefined();
      const outcome = await send(route, example!.request(f), keyFor(role));
      expect([401, 403], describeOutcome(outcome)).not.toContain(outcome.status);
      expect(outcome.status, describeOutcome(outcome)).toBeLessThan(500);
      if (example!.ok) expect(example!.ok, describeOutcome(outcome)).toContain(outcome.status);
      else expect(outcome.status, describeOutcome(outcome)).toBeLessThan(300);
      if (outcome.status >= 200 && outcome.status < 300) expect(outcome.body).not.toHaveProperty('error');
      await example!.after?.(f);
    });

    it("refuses tenant B's admin key on tenant A's resources, without A's data", async () => {
      expect(example, `no example for ${key}`).toBeDefined();
      const cases = example!.crossTenant?.(f) ?? [
        { name: 'the example', request: example!.request(f), statuses: [403, 404] },
      ];
      for (const testCase of cases) {
        const outcome = await send(route, testCase.request, t.keys.otherTenant);
        expect(testCase.statuses, `${testCase.name}: ${describeOutcome(outcome)}`).toContain(outcome.status);
        if (outcome.status >= 400) expectErrorOnly(outcome);
        expectNothingOfA(outcome, testCase.alsoB);
        await testCase.check?.(outcome, f);
      }
    });
  });
}

describe('the matrix as a whole', () => {
  it('never answered 5xx, nor showed a secret or an API key', () => {
    expect(seen.length).toBeGreaterThan(routes.length * 3);
    const failures = seen.filter((outcome) => outcome.status >= 500).map(describeOutcome);
    expect(failures).toEqual([]);
    for (const outcome of seen) {
      for (const value of neverShown())
        expect(outcome.text.includes(value), describeOutcome(outcome)).toBe(false);
    }
  });

  it("showed A's own config with the secret masked", async () => {
    const outcome = await send(
      t.host.routes.find(
        (route) => keyOf(route) === 'GET /v1/tenants/{tenantId}/integrations/{provider}/config',
      )!,
      { params: { tenantId: f.tenantA, provider: 'acme' } },
      t.keys.admin,
    );
    expect(outcome.status).toBe(200);
    expect(outcome.body.data.config.signingSecret).toMatch(/^••••/);
    expect(outcome.body.data.secretFields).toContain('signingSecret');
  });
});

describe('admin API rate limit', () => {
  let limited: TestHost;
  beforeAll(async () => {
    limited = await startTestHost({ IMPACT_IN_ADMIN_RATE_LIMIT: '3' });
  }, HOOK_TIMEOUT);
  afterAll(async () => {
    await limited?.close();
  }, HOOK_TIMEOUT);

  it('answers the 4th admin request of a key with 429 and Retry-After, while another key is served', async () => {
    const path = `/v1/tenants/${limited.tenantA}/integrations`;
    for (let i = 0; i < 3; i++) {
      expect((await limited.request(path, { key: limited.keys.admin })).status).toBe(200);
    }
    const refused = await limited.request(path, { key: limited.keys.admin });
    const text = await refused.text();
    expect(refused.status, text).toBe(429);
    const retryAfter = refused.headers.get('retry-after');
    expect(retryAfter).toMatch(/^\d+$/);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    const body = JSON.parse(text);
    expect(Object.keys(body)).toEqual(['error']);
    expect(body.error).toMatchObject({ code: 'rate_limited', message: expect.any(String) });
    expect(text).not.toContain('"data"');
    // Another key (of the same tenant) is still served.
    const other = await limited.request(path, { key: limited.keys.viewer });
    expect(other.status).toBe(200);
    // The limit is the admin API's: the same key still reads deliveries.
    expect((await limited.request('/v1/impact-in/deliveries', { key: limited.keys.admin })).status).toBe(200);
  });
});
