import {
  createFakeClock,
  type FakeClock,
  type ProviderServer,
  startProviderServer,
} from '@impact-in/testing';
import {
  createWorkdaySimulator,
  WORKDAY_TEST_CREDENTIALS,
  type WorkdaySimulator,
  workdayPaths,
} from '@impact-in/testing/providers/workday';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildSubmitEnvelope, toSoapReport, type WorkdaySoapReport } from '../src/index.js';
import { at, creds, expectValidEnvelopes, readXml, seedEvent } from './helpers.js';

const paths = workdayPaths();
const report = (overrides: Partial<WorkdaySoapReport> = {}): WorkdaySoapReport => ({
  ...toSoapReport(seedEvent()),
  ...overrides,
});
const goodToken = { username: creds.username, password: creds.password };

describe('workday simulator', () => {
  let clock: FakeClock;
  let simulator: WorkdaySimulator;
  let provider: ProviderServer;
  const sentEnvelopes: string[] = [];
  const receivedEnvelopes: string[] = [];

  const soap = async (
    body: string,
    headers: Record<string, string> = {},
    options: { path?: string; keep?: boolean } = {},
  ) => {
    if (options.keep !== false) sentEnvelopes.push(body);
    const response = await fetch(`${provider.url}${options.path ?? paths.soap}`, {
      method: 'POST',
      headers: { 'content-type': 'text/xml; charset=UTF-8', soapaction: '""', ...headers },
      body,
    });
    const text = await response.text();
    if (text.startsWith('<?xml')) receivedEnvelopes.push(text);
    return { status: response.status, type: response.headers.get('content-type'), text, tree: readXml(text) };
  };
  const faultOf = (tree: Record<string, unknown>) =>
    at(tree, 'SOAP-ENV:Envelope', 'SOAP-ENV:Body', 'SOAP-ENV:Fault') as Record<string, unknown>;
  const token = async (form: Record<string, string>, headers: Record<string, string> = {}) => {
    const response = await fetch(`${provider.url}${paths.token}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(form).toString(),
    });
    return {
      status: response.status,
      headers: response.headers,
      body: (await response.json()) as Record<string, unknown>,
    };
  };
  const basic = (id: string, secret: string) => ({
    authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`,
  });
  const rest = async (init: {
    method?: string;
    token?: string;
    body?: unknown;
    headers?: Record<string, string>;
  }) => {
    const response = await fetch(`${provider.url}${paths.rest}${init.method === 'GET' ? '?limit=5' : ''}`, {
      method: init.method ?? 'POST',
      headers: {
        'content-type': 'application/json',
        ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
        ...init.headers,
      },
      ...(init.method === 'GET' ? {} : { body: JSON.stringify(init.body) }),
    });
    return {
      status: response.status,
      headers: response.headers,
      body: (await response.json()) as Record<string, unknown>,
    };
  };
  const accessToken = async () =>
    (await token({ grant_type: 'client_credentials' }, basic(creds.clientId, creds.clientSecret))).body
      .access_token as string;

  beforeAll(async () => {
    clock = createFakeClock();
    simulator = createWorkdaySimulator({ now: () => clock.now(), tokenLifetimeSeconds: 600 });
    provider = await startProviderServer(simulator.handlers);
  });
  afterEach(() => {
    simulator.reset();
    provider.reset();
  });
  afterAll(async () => {
    await provider.close();
    expectValidEnvelopes(sentEnvelopes);
    // Its answers, faults included, are valid SOAP 1.1 too.
    expectValidEnvelopes(receivedEnvelopes);
  });

  describe('SOAP', () => {
    it('answers a correct request with a Submit_CSR_Impact_Report_Response', async () => {
      const answer = await soap(buildSubmitEnvelope(report(), goodToken), { 'x-idempotency-key': 'dlv-1' });
      expect(answer.status).toBe(200);
      expect(answer.type).toBe('text/xml; charset=utf-8');
      const ids = at(
        answer.tree,
        'env:Envelope',
        'env:Body',
        'wd:Submit_CSR_Impact_Report_Response',
        'wd:CSR_Impact_Report_Reference',
        'wd:ID',
      ) as Array<Record<string, string>>;
      expect(ids.map((id) => id['@_wd:type'])).toEqual(['WID', 'CSR_Impact_Report_ID']);
      expect(ids[0]!['#text']).toMatch(/^[0-9a-f]{32}$/);
      expect(ids[1]!['#text']).toBe('CSR-000001');
    });

    it('rejects a wrong password with HTTP 500 and a SOAP-ENV:Client.authenticationError fault', async () => {
      const answer = await soap(buildSubmitEnvelope(report(), { ...goodToken, password: 'guess' }));
      expect(answer.status).toBe(500);
      expect(answer.type).toBe('text/xml; charset=utf-8');
      expect(faultOf(answer.tree)).toEqual({
        '@_xmlns:wd': 'urn:com.workday/bsvc',
        faultcode: 'SOAP-ENV:Client.authenticationError',
        faultstring: 'invalid username or password',
      });
      expect(simulator.authFailures).toBe(1);
      expect(simulator.accepted()).toEqual([]);
    });

    it('rejects a missing header, a digest password and a token without mustUnderstand the same way', async () => {
      const good = buildSubmitEnvelope(report(), goodToken);
      const variants = [
        good.replace(/<soapenv:Header>[\s\S]*<\/soapenv:Header>/, ''),
        good.replace('#PasswordText', '#PasswordDigest'),
        good.replace(' soapenv:mustUnderstand="1"', ''),
      ];
      for (const body of variants) {
        expect(body).not.toBe(good);
        const answer = await soap(body, {}, { keep: !body.includes('#PasswordDigest') });
        expect(answer.status).toBe(500);
        expect(faultOf(answer.tree).faultcode).toBe('SOAP-ENV:Client.authenticationError');
      }
      expect(simulator.authFailures).toBe(3);
    });

    it('validates the report and answers a Client.validationError with wd:Validation_Error details', async () => {
      const body = buildSubmitEnvelope(
        report({ reportDate: '2025-02-30', value: '-1.0' }),
        goodToken,
      ).replace(/\s*<wd:Unit_of_Measure>Hours<\/wd:Unit_of_Measure>/, '');
      const answer = await soap(body);
      expect(answer.status).toBe(500);
      const xpath = '/ns0:Submit_CSR_Impact_Report[1]/ns0:CSR_Impact_Report[1]';
      expect(faultOf(answer.tree)).toEqual({
        '@_xmlns:wd': 'urn:com.workday/bsvc',
        faultcode: 'SOAP-ENV:Client.validationError',
        faultstring: 'Validation error occurred. Invalid date',
        detail: {
          'wd:Validation_Fault': {
            'wd:Validation_Error': [
              {
                'wd:Message': 'Invalid date',
                'wd:Detail_Message': "'2025-02-30' is not a valid xsd:date (YYYY-MM-DD)",
                'wd:Xpath': `${xpath}/ns0:Report_Date[1]`,
              },
              {
                'wd:Message': 'Invalid value for Value',
                'wd:Detail_Message': "'-1.0' must be a decimal greater than or equal to 0",
                'wd:Xpath': `${xpath}/ns0:CSR_Activity[1]/ns0:Value[1]`,
              },
              {
                'wd:Message': 'Required field missing: Unit_of_Measure',
                'wd:Detail_Message': 'The element wd:Unit_of_Measure is required and must have a value',
                'wd:Xpath': `${xpath}/ns0:CSR_Activity[1]/ns0:Unit_of_Measure[1]`,
              },
            ],
          },
        },
      });
    });

    it('refuses malformed XML, a wrong content type, a missing SOAPAction and an unknown tenant', async () => {
      const good = buildSubmitEnvelope(report(), goodToken);
      const malformed = await soap(good.slice(0, -30), {}, { keep: false });
      expect([malformed.status, faultOf(malformed.tree).faultcode]).toEqual([500, 'SOAP-ENV:Client']);
      const json = await soap(good, { 'content-type': 'application/json' });
      expect([json.status, faultOf(json.tree).faultcode]).toEqual([415, 'SOAP-ENV:Client']);
      const response = await fetch(`${provider.url}${paths.soap}`, {
        method: 'POST',
        headers: { 'content-type': 'text/xml' },
        body: good,
      });
      expect(response.status).toBe(500);
      expect(faultOf(readXml(await response.text())).faultstring).toBe(
        'Missing or malformed SOAPAction header',
      );
      const tenant = await soap(good, {}, { path: '/ccx/service/other_tenant/CSR_Impact_Report' });
      expect([tenant.status, faultOf(tenant.tree).faultstring]).toEqual([
        404,
        'Invalid tenant: other_tenant',
      ]);
    });

    it('dedupes by X-Idempotency-Key (or the External_Reference_ID without one) and answers duplicates alike', async () => {
      const body = buildSubmitEnvelope(report(), goodToken);
      const first = await soap(body, { 'x-idempotency-key': 'dlv-dup' });
      const again = await soap(body, { 'x-idempotency-key': 'dlv-dup' });
      const other = await soap(body, { 'x-idempotency-key': 'dlv-other' });
      const keyless = await soap(body);
      await soap(body);
      const wid = (answer: { tree: Record<string, unknown> }) =>
        (
          at(
            answer.tree,
            'env:Envelope',
            'env:Body',
            'wd:Submit_CSR_Impact_Report_Response',
            'wd:CSR_Impact_Report_Reference',
            'wd:ID',
          ) as Array<Record<string, string>>
        )[0]!['#text'];
      expect(wid(again)).toBe(wid(first));
      expect(wid(other)).not.toBe(wid(first));
      expect(wid(keyless)).not.toBe(wid(first));
      expect(simulator.accepted()).toEqual([
        { idempotencyKey: 'dlv-dup', body, times: 2 },
        { idempotencyKey: 'dlv-other', body, times: 1 },
        { idempotencyKey: 'External_Reference_ID:evt_123', body, times: 2 },
      ]);
    });

    it('failNext: fails the next requests after auth, then recovers', async () => {
      const body = buildSubmitEnvelope(report(), goodToken);
      simulator.failNext({ kind: 'status', status: 503, retryAfter: '5' }, 2);
      // Bad credentials are answered first and leave the queued failures alone.
      const denied = await soap(buildSubmitEnvelope(report(), { ...goodToken, password: 'nope' }));
      expect(denied.status).toBe(500);
      const statuses = [];
      for (let index = 0; index < 3; index++)
        statuses.push((await soap(body, { 'x-idempotency-key': 'k' })).status);
      expect(statuses).toEqual([503, 503, 200]);
      simulator.failNext({ kind: 'status', status: 504 });
      expect((await soap(body)).status).toBe(504);
      expect(provider.calls.map((call) => call.status)).toEqual([500, 503, 503, 200, 504]);
    });

    it('failNext: a reset drops the connection and a timeout never answers', async () => {
      const body = buildSubmitEnvelope(report(), goodToken);
      simulator.failNext({ kind: 'reset' });
      await expect(soap(body)).rejects.toThrow();
      simulator.failNext({ kind: 'timeout' });
      const hanging = fetch(`${provider.url}${paths.soap}`, {
        method: 'POST',
        headers: { 'content-type': 'text/xml', soapaction: '""' },
        body,
        signal: AbortSignal.timeout(300),
      });
      await expect(hanging).rejects.toThrow(/abort|timeout/i);
      expect((await soap(body)).status).toBe(200);
    });

    it('answers the read-only probe health uses, counting what it accepted', async () => {
      await soap(buildSubmitEnvelope(report(), goodToken), { 'x-idempotency-key': 'dlv-1' });
      const probe = `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd" xmlns:wd="urn:com.workday/bsvc">
  <soapenv:Header><wsse:Security soapenv:mustUnderstand="1"><wsse:UsernameToken><wsse:Username>${creds.username}</wsse:Username><wsse:Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText">Wd&lt;&amp;&gt;&quot;&apos;pass-2025</wsse:Password></wsse:UsernameToken></wsse:Security></soapenv:Header>
  <soapenv:Body><wd:Get_CSR_Impact_Reports_Request><wd:Response_Filter><wd:Page>1</wd:Page><wd:Count>1</wd:Count></wd:Response_Filter></wd:Get_CSR_Impact_Reports_Request></soapenv:Body>
</soapenv:Envelope>`;
      const answer = await soap(probe);
      expect(answer.status).toBe(200);
      expect(
        at(
          answer.tree,
          'env:Envelope',
          'env:Body',
          'wd:Get_CSR_Impact_Reports_Response',
          'wd:Response_Results',
          'wd:Total_Results',
        ),
      ).toBe('1');
    });
  });

  describe('OAuth token endpoint', () => {
    it('issues expiring bearer tokens for client credentials (Basic or in the form)', async () => {
      const viaBasic = await token(
        { grant_type: 'client_credentials' },
        basic(creds.clientId, creds.clientSecret),
      );
      expect(viaBasic.status).toBe(200);
      expect(viaBasic.headers.get('cache-control')).toBe('no-store');
      expect(viaBasic.body).toMatchObject({ token_type: 'Bearer', expires_in: 600 });
      expect(viaBasic.body.access_token).toMatch(/^wd_at_/);
      expect(viaBasic.body.refresh_token).toMatch(/^wd_rt_/);
      const viaForm = await token({
        grant_type: 'client_credentials',
        client_id: creds.clientId,
        client_secret: creds.clientSecret,
      });
      expect(viaForm.status).toBe(200);
      expect(simulator.tokenRequests).toBe(2);
      expect(simulator.grants).toEqual(['client_credentials', 'client_credentials']);
    });

    it('answers bad client credentials with 401 invalid_client, and two auth methods at once with invalid_request', async () => {
      const wrong = await token({ grant_type: 'client_credentials' }, basic(creds.clientId, 'wrong-secret'));
      expect(wrong.status).toBe(401);
      expect(wrong.body).toEqual({
        error: 'invalid_client',
        error_description: 'Invalid client credentials',
      });
      expect(wrong.headers.get('www-authenticate')).toBe('Basic realm="workday"');
      const both = await token(
        { grant_type: 'client_credentials', client_id: creds.clientId, client_secret: creds.clientSecret },
        basic(creds.clientId, creds.clientSecret),
      );
      expect([both.status, both.body.error]).toEqual([400, 'invalid_request']);
      const grant = await token({ grant_type: 'password' }, basic(creds.clientId, creds.clientSecret));
      expect([grant.status, grant.body.error]).toEqual([400, 'unsupported_grant_type']);
    });

    it('honours the integration’s refresh token and refresh tokens it issued, until revoked', async () => {
      const auth = basic(creds.clientId, creds.clientSecret);
      const integration = await token(
        { grant_type: 'refresh_token', refresh_token: creds.refreshToken },
        auth,
      );
      expect(integration.status).toBe(200);
      expect(integration.body.refresh_token).toBe(creds.refreshToken);
      const issued = (await token({ grant_type: 'client_credentials' }, auth)).body.refresh_token as string;
      expect((await token({ grant_type: 'refresh_token', refresh_token: issued }, auth)).status).toBe(200);
      const unknown = await token({ grant_type: 'refresh_token', refresh_token: 'wd_rt_unknown' }, auth);
      expect([unknown.status, unknown.body.error]).toEqual([400, 'invalid_grant']);
      simulator.revokeRefreshTokens();
      expect((await token({ grant_type: 'refresh_token', refresh_token: issued }, auth)).body.error).toBe(
        'invalid_grant',
      );
      expect(
        (await token({ grant_type: 'refresh_token', refresh_token: creds.refreshToken }, auth)).body.error,
      ).toBe('invalid_grant');
    });
  });

  describe('REST', () => {
    const body = {
      schema_version: 'v3.0',
      impact_report: {
        external_reference_id: 'evt_123',
        report_date: '2025-11-14T10:00:00Z',
        worker: { worker_id: 'user_456' },
        csr_activity: { activity_type: 'volunteer_hours', value: 5, unit_of_measure: 'Hours' },
      },
    };

    it('accepts a valid report with a bearer token, and dedupes by idempotency key', async () => {
      const bearer = await accessToken();
      const first = await rest({ token: bearer, body, headers: { 'x-idempotency-key': 'dlv-r1' } });
      expect(first.status).toBe(201);
      expect(first.body).toMatchObject({ external_reference_id: 'evt_123', status: 'Submitted' });
      const again = await rest({ token: bearer, body, headers: { 'x-idempotency-key': 'dlv-r1' } });
      expect(again.status).toBe(200);
      expect(again.body.id).toBe(first.body.id);
      expect(simulator.accepted()).toEqual([{ idempotencyKey: 'dlv-r1', body, times: 2 }]);
      const list = await rest({ method: 'GET', token: bearer });
      expect(list.body).toEqual({ total: 1, data: [{ id: first.body.id, descriptor: 'CSR-000001' }] });
    });

    it('refuses a missing, unknown or expired bearer token (by the simulator’s clock)', async () => {
      const missing = await rest({ body });
      expect(missing.status).toBe(401);
      expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="workday"');
      const unknown = await rest({ token: 'wd_at_forged', body });
      expect([unknown.status, unknown.body.error]).toEqual([401, 'invalid_token']);
      const bearer = await accessToken();
      await clock.advance(599_000);
      expect((await rest({ token: bearer, body })).status).toBe(201);
      await clock.advance(1_000);
      const expired = await rest({ token: bearer, body });
      expect(expired.status).toBe(401);
      expect(expired.body).toEqual({ error: 'invalid_token', error_description: 'The access token expired' });
      expect(expired.headers.get('www-authenticate')).toContain('error="invalid_token"');
    });

    it('answers invalid bodies with 400 and the fields at fault, and checks the content type', async () => {
      const bearer = await accessToken();
      const bad = {
        ...body,
        schema_version: 'v2.1',
        impact_report: { ...body.impact_report, worker: {}, report_date: '2025-11-14' },
      };
      const answer = await rest({ token: bearer, body: bad });
      expect(answer.status).toBe(400);
      expect(answer.body.error).toBe('Validation error occurred');
      expect((answer.body.errors as Array<{ field: string }>).map((error) => error.field)).toEqual([
        'schema_version',
        'impact_report.report_date',
        'impact_report.worker.worker_id',
      ]);
      const form = await rest({ token: bearer, body, headers: { 'content-type': 'text/plain' } });
      expect(form.status).toBe(415);
    });

    it('failNext applies to REST deliveries after the bearer check', async () => {
      const bearer = await accessToken();
      simulator.failNext({ kind: 'status', status: 429, retryAfter: '7' });
      expect((await rest({ body })).status).toBe(401);
      const limited = await rest({ token: bearer, body });
      expect(limited.status).toBe(429);
      expect(limited.headers.get('retry-after')).toBe('7');
      expect((await rest({ token: bearer, body })).status).toBe(201);
    });
  });

  it('exports the credentials it accepts by default', () => {
    expect(simulator.tenant).toBe(WORKDAY_TEST_CREDENTIALS.tenant);
    expect(paths).toEqual({
      soap: '/ccx/service/acme_impl/CSR_Impact_Report',
      rest: '/api/v1/acme_impl/csr-impact-reports',
      token: '/ccx/oauth2/acme_impl/token',
    });
  });
});
