import { waitUntil } from '@impact-in/testing';
import { HttpResponse, http } from 'msw';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { event, startTestHost, type TestHost } from './helpers.js';

let t: TestHost;
beforeAll(async () => {
  t = await startTestHost();
});
afterAll(async () => {
  await t.close();
});

// biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field below
type Body = any;
const json = async (response: Response) => ({
  status: response.status,
  body: (await response.json()) as Body,
});

async function deliver(body: unknown, key?: string) {
  return json(await t.request('/v1/impact-in/deliver', { method: 'POST', body: JSON.stringify(body), key }));
}

async function deliveredStatus(id: string, want: string) {
  let last = '';
  await waitUntil(
    () => {
      void t.host.dispatcher.get(id).then((delivery) => {
        last = delivery?.status ?? '';
      });
      return last === want;
    },
    5_000,
    `delivery ${id} to become ${want}`,
  );
}

describe('POST /v1/impact-in/deliver', () => {
  it('stores the event (202), delivers it, and answers a repeat with the existing delivery (200)', async () => {
    const body = { companyId: t.tenantA, provider: 'acme', event: event() };
    const first = await deliver(body);
    expect(first.status).toBe(202);
    expect(first.body.created).toBe(true);
    expect(first.body.data).toMatchObject({
      companyId: t.tenantA,
      provider: 'acme',
      eventId: body.event.eventId,
    });
    const again = await deliver(body);
    expect(again.status).toBe(200);
    expect(again.body.created).toBe(false);
    expect(again.body.data.id).toBe(first.body.data.id);
    await deliveredStatus(first.body.data.id, 'success');
    const sent = t.provider
      .callsTo('/events')
      .filter((call) => call.json<{ id: string }>().id === body.event.eventId);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.headers['x-idempotency-key']).toBe(first.body.data.deliveryId);
  });

  it('refuses bad input with 4xx errors that name the field', async () => {
    const malformed = await json(
      await t.request('/v1/impact-in/deliver', { method: 'POST', body: '{"companyId": "x", ' }),
    );
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.code).toBe('invalid_json');

    const missing = await deliver({
      companyId: t.tenantA,
      provider: 'acme',
      event: { ...event(), timestamp: 'soon' },
    });
    expect(missing.status).toBe(400);
    expect(missing.body.error.code).toBe('validation_error');
    expect(missing.body.error.details).toContainEqual(expect.objectContaining({ field: 'event.timestamp' }));
    // One issue for the field, and a missing field reads "required".
    expect(missing.body.error.details).toHaveLength(1);
    const absent = await deliver({ provider: 'acme', event: event() });
    expect(absent.status).toBe(400);
    expect(absent.body.error.details).toEqual([{ field: 'companyId', message: 'required' }]);

    const unknown = await deliver({ companyId: t.tenantA, provider: 'nobody', event: event() });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.code).toBe('unknown_provider');
    expect(unknown.body.error.details[0].field).toBe('provider');

    const huge = await json(
      await t.request('/v1/impact-in/deliver', {
        method: 'POST',
        body: JSON.stringify({
          companyId: t.tenantA,
          provider: 'acme',
          event: event({ metadata: { blob: 'x'.repeat(5_000) } }),
        }),
      }),
    );
    expect(huge.status).toBe(413);
    expect(huge.body.error.code).toBe('payload_too_large');
  });

  it('requires a key, the operator role, and the key’s own tenant', async () => {
    const body = { companyId: t.tenantA, provider: 'acme', event: event() };
    expect((await deliver(body, '')).status).toBe(401);
    const wrongKey = await json(
      await t.request('/v1/impact-in/deliver', {
        method: 'POST',
        body: JSON.stringify(body),
        key: 'iik_nope',
      }),
    );
    expect(wrongKey.status).toBe(401);
    expect((await deliver(body, t.keys.viewer)).status).toBe(403);
    const foreign = await deliver(body, t.keys.otherTenant);
    expect(foreign.status).toBe(403);
    expect(foreign.body.error.code).toBe('tenant_mismatch');
    expect(JSON.stringify(foreign.body)).not.toContain(body.event.eventId);
  });
});

describe('reading deliveries', () => {
  let ids: string[] = [];
  beforeAll(async () => {
    ids = [];
    for (let index = 0; index < 5; index++) {
      ids.push((await deliver({ companyId: t.tenantA, provider: 'acme', event: event() })).body.data.id);
    }
    for (const id of ids) await deliveredStatus(id, 'success');
  });

  it('lists with seed-002 pagination and filters', async () => {
    const page = await json(
      await t.request('/v1/impact-in/deliveries?provider=acme&status=success&page=1&limit=2', {
        key: t.keys.viewer,
      }),
    );
    expect(page.status).toBe(200);
    expect(page.body.data).toHaveLength(2);
    expect(page.body.pagination).toMatchObject({ page: 1, limit: 2, hasPrev: false, hasNext: true });
    expect(page.body.pagination.total).toBeGreaterThanOrEqual(5);
    expect(page.body.pagination.totalPages).toBe(Math.ceil(page.body.pagination.total / 2));
    expect(Object.keys(page.body.data[0]).sort()).toEqual(
      [
        'attemptCount',
        'companyId',
        'createdAt',
        'deliveredAt',
        'deliveryId',
        'eventId',
        'id',
        'lastError',
        'nextAttemptAt',
        'provider',
        'status',
      ].sort(),
    );
    const today = new Date().toISOString().slice(0, 10);
    const everything = await json(await t.request('/v1/impact-in/deliveries'));
    const ranged = await json(
      await t.request(`/v1/impact-in/deliveries?startDate=${today}&endDate=${today}`),
    );
    // A date-only endDate includes that whole day: everything created today is in range.
    expect(ranged.body.pagination.total).toBe(everything.body.pagination.total);
    const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    const before = await json(await t.request(`/v1/impact-in/deliveries?endDate=${yesterday}`));
    expect(before.body.pagination.total).toBe(0);
    const future = await json(await t.request('/v1/impact-in/deliveries?startDate=2999-01-01'));
    expect(future.body.pagination.total).toBe(0);
  });

  it('refuses invalid pagination, statuses and dates, naming the parameter', async () => {
    for (const [query, field] of [
      ['page=0', 'query.page'],
      ['limit=101', 'query.limit'],
      ['limit=ten', 'query.limit'],
      ['status=done', 'query.status'],
      ['startDate=yesterday', 'query.startDate'],
      ['endDate=2025-13-45', 'query.endDate'],
      ['surprise=1', 'query'],
    ] as const) {
      const response = await json(await t.request(`/v1/impact-in/deliveries?${query}`));
      expect(response.status, query).toBe(400);
      expect(response.body.error.code).toBe('invalid_query');
      expect(JSON.stringify(response.body.error.details), query).toContain(field);
    }
    const inverted = await json(
      await t.request('/v1/impact-in/deliveries?startDate=2025-02-01&endDate=2025-01-01'),
    );
    expect(inverted.status).toBe(400);
    expect(inverted.body.error.code).toBe('invalid_date_range');
    const provider = await json(await t.request('/v1/impact-in/deliveries?provider=nobody'));
    expect(provider.status).toBe(400);
    expect(provider.body.error.code).toBe('unknown_provider');
  });

  it('gets one delivery with payload and provider response, and 404s unknown ids', async () => {
    const one = await json(await t.request(`/v1/impact-in/deliveries/${ids[0]}`, { key: t.keys.viewer }));
    expect(one.status).toBe(200);
    expect(one.body.data).toMatchObject({ id: ids[0], status: 'success', attemptCount: 1 });
    expect(one.body.data.payload).toMatchObject({ user: 'user_456', value: 5 });
    expect(one.body.data.providerResponse).toMatchObject({ status: 202 });
    expect((await t.request('/v1/impact-in/deliveries/00000000-0000-4000-8000-000000000000')).status).toBe(
      404,
    );
    expect((await t.request('/v1/impact-in/deliveries/not-a-uuid')).status).toBe(404);
  });

  it('answers stats by provider and status', async () => {
    const stats = await json(await t.request('/v1/impact-in/stats', { key: t.keys.viewer }));
    expect(stats.status).toBe(200);
    expect(stats.body.data.overall.successful).toBeGreaterThanOrEqual(5);
    expect(stats.body.data.byProvider).toContainEqual(
      expect.objectContaining({ provider: 'acme', status: 'success', avgAttempts: 1 }),
    );
  });
});

describe('replay', () => {
  it('replays a failed delivery with the same deliveryId, in bulk and all failed at once', async () => {
    const failing: Body[] = [];
    for (let index = 0; index < 3; index++) {
      failing.push(
        (await deliver({ companyId: t.tenantA, provider: 'acme', event: event({ userId: 'user_rejected' }) }))
          .body.data,
      );
    }
    for (const delivery of failing) await deliveredStatus(delivery.id, 'failed');

    const stillFailing = await json(
      await t.request(`/v1/impact-in/deliveries/${failing[0].id}/replay`, {
        method: 'POST',
        key: t.keys.operator,
      }),
    );
    expect(stillFailing.status).toBe(200);
    expect(stillFailing.body).toMatchObject({ success: false, newStatus: 'failed' });
    expect(stillFailing.body.message).toContain('unknown user');

    t.provider.use(
      http.post(`${t.provider.url}/events`, () => HttpResponse.json({ accepted: true }, { status: 202 })),
    );
    const replayed = await json(
      await t.request(`/v1/impact-in/deliveries/${failing[0].id}/replay`, {
        method: 'POST',
        key: t.keys.operator,
      }),
    );
    expect(replayed.body).toEqual({
      success: true,
      message: 'Delivery replayed successfully',
      newStatus: 'success',
    });
    const keys = t.provider
      .callsTo('/events')
      .filter((call) => call.json<{ id: string }>().id === failing[0].eventId)
      .map((call) => call.headers['x-idempotency-key']);
    expect(new Set(keys)).toEqual(new Set([failing[0].deliveryId]));

    const bulk = await json(
      await t.request('/v1/impact-in/deliveries/bulk-replay', {
        method: 'POST',
        key: t.keys.operator,
        body: JSON.stringify({ ids: [failing[1].id] }),
      }),
    );
    expect(bulk.body).toEqual({
      summary: { total: 1, successful: 1, failed: 0 },
      results: [{ id: failing[1].id, success: true, newStatus: 'success' }],
    });

    const all = await json(
      await t.request('/v1/impact-in/deliveries/retry-all-failed', {
        method: 'POST',
        key: t.keys.operator,
        body: JSON.stringify({ companyId: t.tenantA }),
      }),
    );
    expect(all.body.summary).toEqual({ total: 1, successful: 1, failed: 0 });
    t.provider.resetHandlers();

    expect(
      (
        await t.request(`/v1/impact-in/deliveries/${failing[0].id}/replay`, {
          method: 'POST',
          key: t.keys.viewer,
        })
      ).status,
    ).toBe(403);
    const badBulk = await json(
      await t.request('/v1/impact-in/deliveries/bulk-replay', {
        method: 'POST',
        body: JSON.stringify({ ids: [] }),
      }),
    );
    expect(badBulk.status).toBe(400);
    expect(badBulk.body.error.details[0].field).toBe('ids');
  });
});

describe('another tenant sees nothing', () => {
  it('gets 404 or 403 and no data on every deliveries endpoint', async () => {
    const mine = (await deliver({ companyId: t.tenantA, provider: 'acme', event: event() })).body.data;
    await deliveredStatus(mine.id, 'success');
    const key = t.keys.otherTenant;
    const probes: Array<[string, RequestInit, number[]]> = [
      [`/v1/impact-in/deliveries/${mine.id}`, {}, [404]],
      [`/v1/impact-in/deliveries?companyId=${t.tenantA}`, {}, [403]],
      [`/v1/impact-in/stats?companyId=${t.tenantA}`, {}, [403]],
      [`/v1/impact-in/deliveries/${mine.id}/replay`, { method: 'POST' }, [404]],
      [
        '/v1/impact-in/deliveries/retry-all-failed',
        { method: 'POST', body: JSON.stringify({ companyId: t.tenantA }) },
        [403],
      ],
      [
        '/v1/impact-in/deliver',
        { method: 'POST', body: JSON.stringify({ companyId: t.tenantA, provider: 'acme', event: event() }) },
        [403],
      ],
    ];
    for (const [path, init, statuses] of probes) {
      const response = await t.request(path, { ...init, key });
      const text = await response.text();
      expect(statuses, `${init.method ?? 'GET'} ${path}`).toContain(response.status);
      expect(text).not.toContain(mine.deliveryId);
      expect(text).not.toContain(mine.eventId);
    }
    const bulk = await json(
      await t.request('/v1/impact-in/deliveries/bulk-replay', {
        method: 'POST',
        key,
        body: JSON.stringify({ ids: [mine.id] }),
      }),
    );
    expect(bulk.body.results).toEqual([{ id: mine.id, success: false, error: 'not found' }]);
    expect((await t.host.dispatcher.get(mine.id))?.replayCount).toBe(0);
    // Their own listing is empty of tenant A's data.
    const theirs = await json(await t.request('/v1/impact-in/deliveries', { key }));
    expect(theirs.body.pagination.total).toBe(0);
  });
});

describe('operations endpoints', () => {
  it('answers health, liveness, readiness and Prometheus metrics', async () => {
    expect(await json(await t.request('/health', { key: null }))).toMatchObject({
      status: 200,
      body: { status: 'ok', checks: { database: true, bus: true } },
    });
    expect((await t.request('/health/liveness', { key: null })).status).toBe(200);
    expect((await t.request('/health/readiness', { key: null })).status).toBe(200);
    const metrics = await (await t.request('/metrics', { key: null })).text();
    expect(metrics).toMatch(/impact_in_deliveries_total\{provider="acme",status="success"\} \d+/);
    expect(metrics).toContain('impact_in_delivery_duration_seconds_bucket{le="0.01",provider="acme"}');
    expect(metrics).toContain('impact_in_retry_count');
  });

  it('serves an OpenAPI document built from the route schemas, and a reference page', async () => {
    const doc = await json(await t.request('/openapi.json', { key: null }));
    expect(doc.body.openapi).toBe('3.0.3');
    for (const path of [
      '/v1/impact-in/deliver',
      '/v1/impact-in/deliveries',
      '/v1/impact-in/deliveries/{id}',
      '/v1/impact-in/stats',
      '/v1/impact-in/deliveries/{id}/replay',
      '/v1/impact-in/deliveries/bulk-replay',
      '/v1/impact-in/deliveries/retry-all-failed',
    ]) {
      expect(doc.body.paths[path], path).toBeDefined();
    }
    const deliverSchema =
      doc.body.paths['/v1/impact-in/deliver'].post.requestBody.content['application/json'].schema;
    expect(deliverSchema.required).toEqual(expect.arrayContaining(['companyId', 'provider', 'event']));
    // Every route of the route table is documented, with each of its methods.
    for (const route of t.host.routes) {
      expect(
        doc.body.paths[route.path]?.[route.method.toLowerCase()],
        `${route.method} ${route.path}`,
      ).toBeDefined();
    }
    const putConfig = doc.body.paths['/v1/tenants/{tenantId}/integrations/{provider}/config'].put;
    expect(Object.keys(putConfig.requestBody.content['application/json'].schema.properties)).toEqual([
      'enabled',
      'config',
    ]);
    const upload = doc.body.paths['/v1/import/sessions'].post.requestBody.content;
    expect(Object.keys(upload)).toEqual(['text/csv', 'multipart/form-data']);
    const page = await t.request('/docs', { key: null });
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(await page.text()).toContain('/v1/impact-in/deliveries/{id}/replay');
  });

  it('answers unknown routes with a JSON 404', async () => {
    const response = await json(await t.request('/v1/nothing-here'));
    expect(response).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
  });
});

describe('input no database can store, and edge dates', () => {
  it('refuses NULs and lone surrogates with 400, without failing another tenant’s request in the same batch', async () => {
    const good = deliver({ companyId: t.tenantB, provider: 'acme', event: event() }, t.keys.otherTenant);
    const bad = deliver({ companyId: t.tenantA, provider: 'acme', event: event({ eventId: 'a\u0000b' }) });
    const lone = deliver({
      companyId: t.tenantA,
      provider: 'acme',
      event: event({ metadata: { note: 'x\ud800y' } }),
    });
    const [goodResult, badResult, loneResult] = await Promise.all([good, bad, lone]);
    expect(goodResult.status).toBe(202);
    expect(badResult.status).toBe(400);
    expect(JSON.stringify(badResult.body.error.details)).toContain('event.eventId');
    expect(loneResult.status).toBe(400);
    expect(JSON.stringify(loneResult.body.error.details)).toContain('event.metadata.note');
  });

  it('records a provider answer containing NUL instead of failing the whole batch', async () => {
    t.provider.use(
      http.post(`${t.provider.url}/events`, () => new HttpResponse('ok\u0000done', { status: 200 }), {
        once: true,
      }),
    );
    const first = (await deliver({ companyId: t.tenantA, provider: 'acme', event: event() })).body.data;
    const second = (await deliver({ companyId: t.tenantA, provider: 'acme', event: event() })).body.data;
    await deliveredStatus(first.id, 'success');
    await deliveredStatus(second.id, 'success');
    const stored = await json(await t.request(`/v1/impact-in/deliveries/${first.id}`));
    const bodies = [stored.body.data.providerResponse.body];
    expect(bodies.join()).not.toContain('\u0000');
  });

  it('accepts the last storable day and refuses year 0', async () => {
    expect((await t.request('/v1/impact-in/deliveries?endDate=9999-12-31')).status).toBe(200);
    expect((await t.request('/v1/impact-in/stats?endDate=9999-12-31')).status).toBe(200);
    const zero = await json(await t.request('/v1/impact-in/deliveries?startDate=0000-01-01'));
    expect(zero.status).toBe(400);
    expect(JSON.stringify(zero.body.error.details)).toContain('query.startDate');
  });
});
