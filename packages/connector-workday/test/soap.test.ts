import { PermanentError } from '@impact-in/core';
import { createConnectorHarness, type ProviderServer, startProviderServer } from '@impact-in/testing';
import {
  buildWorkdayFault,
  createWorkdaySimulator,
  type WorkdaySimulator,
} from '@impact-in/testing/providers/workday';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildSubmitEnvelope, redactEnvelope, toSoapReport, workday } from '../src/index.js';
import {
  at,
  creds,
  envelopeTap,
  expectValidEnvelopes,
  PASSWORD_TEXT,
  readXml,
  SOAP_PATH,
  seedEvent,
  soapConfig,
} from './helpers.js';

const SOAP_ENV = 'http://schemas.xmlsoap.org/soap/envelope/';
const WSSE = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd';

// Seed 002's envelope for its example event, byte for byte as the connector sends it. The
// password holds <, >, &, " and ', each escaped.
const SEED_ENVELOPE = `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd" xmlns:wd="urn:com.workday/bsvc">
  <soapenv:Header>
    <wsse:Security soapenv:mustUnderstand="1">
      <wsse:UsernameToken>
        <wsse:Username>isu_impactin@acme_impl</wsse:Username>
        <wsse:Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText">Wd&lt;&amp;&gt;&quot;&apos;pass-2025</wsse:Password>
      </wsse:UsernameToken>
    </wsse:Security>
  </soapenv:Header>
  <soapenv:Body>
    <wd:Submit_CSR_Impact_Report>
      <wd:CSR_Impact_Report>
        <wd:External_Reference_ID>evt_123</wd:External_Reference_ID>
        <wd:Report_Date>2025-11-14</wd:Report_Date>
        <wd:Worker_Reference>
          <wd:ID wd:type="Employee_ID">user_456</wd:ID>
        </wd:Worker_Reference>
        <wd:CSR_Activity>
          <wd:Activity_Type>Volunteer Hours</wd:Activity_Type>
          <wd:Value>5.0</wd:Value>
          <wd:Unit_of_Measure>Hours</wd:Unit_of_Measure>
        </wd:CSR_Activity>
      </wd:CSR_Impact_Report>
    </wd:Submit_CSR_Impact_Report>
  </soapenv:Body>
</soapenv:Envelope>
`;

describe('workday SOAP delivery', () => {
  const tap = envelopeTap();
  let simulator: WorkdaySimulator;
  let provider: ProviderServer;
  const harnesses: Array<{ close(): Promise<void> }> = [];
  const open = (extra: Record<string, unknown> = {}) => {
    const harness = createConnectorHarness({ connector: workday, config: soapConfig(provider.url, extra) });
    harnesses.push(harness);
    return harness;
  };

  beforeAll(async () => {
    simulator = createWorkdaySimulator();
    provider = await startProviderServer(tap.wrap(simulator.handlers));
  });
  afterEach(async () => {
    await Promise.all(harnesses.splice(0).map((harness) => harness.close()));
    simulator.reset();
    provider.reset();
  });
  afterAll(async () => {
    await provider.close();
    expectValidEnvelopes(tap.envelopes);
  });

  it('sends seed 002’s envelope byte for byte, with the SOAP 1.1 headers and the idempotency key', async () => {
    const harness = open();
    const delivery = await harness.submit(seedEvent());
    expect(delivery?.lastError ?? null).toBeNull();
    expect(delivery).toMatchObject({ status: 'success', attemptCount: 1 });
    const [call] = provider.callsTo(SOAP_PATH);
    expect(call!.method).toBe('POST');
    expect(call!.url).toBe(`${provider.url}${SOAP_PATH}`);
    expect(call!.text()).toBe(SEED_ENVELOPE);
    expect(call!.headers['content-type']).toBe('text/xml; charset=UTF-8');
    expect(call!.headers.soapaction).toBe('""');
    expect(call!.headers['x-idempotency-key']).toBe(delivery!.deliveryId);
    expect(call!.headers['content-length']).toBe(String(Buffer.byteLength(SEED_ENVELOPE)));
    expect(simulator.accepted()).toEqual([
      { idempotencyKey: delivery!.deliveryId, body: SEED_ENVELOPE, times: 1 },
    ]);
  });

  it('builds the envelope with the right namespaces, WS-Security header and report fields', async () => {
    const harness = open();
    await harness.submit(seedEvent());
    const tree = readXml(provider.callsTo(SOAP_PATH)[0]!.text());
    const envelope = at(tree, 'soapenv:Envelope') as Record<string, unknown>;
    expect(envelope['@_xmlns:soapenv']).toBe(SOAP_ENV);
    expect(envelope['@_xmlns:wsse']).toBe(WSSE);
    expect(envelope['@_xmlns:wd']).toBe('urn:com.workday/bsvc');
    expect(at(envelope, 'soapenv:Header')).toEqual({
      'wsse:Security': {
        '@_soapenv:mustUnderstand': '1',
        'wsse:UsernameToken': {
          'wsse:Username': 'isu_impactin@acme_impl',
          'wsse:Password': { '#text': creds.password, '@_Type': PASSWORD_TEXT },
        },
      },
    });
    expect(at(envelope, 'soapenv:Body')).toEqual({
      'wd:Submit_CSR_Impact_Report': {
        'wd:CSR_Impact_Report': {
          'wd:External_Reference_ID': 'evt_123',
          'wd:Report_Date': '2025-11-14',
          'wd:Worker_Reference': { 'wd:ID': { '#text': 'user_456', '@_wd:type': 'Employee_ID' } },
          'wd:CSR_Activity': {
            'wd:Activity_Type': 'Volunteer Hours',
            'wd:Value': '5.0',
            'wd:Unit_of_Measure': 'Hours',
          },
        },
      },
    });
  });

  it('escapes <, &, quotes and apostrophes in every value, and the parsed values round-trip', async () => {
    const tricky = {
      eventId: `evt_<b>&"quoted"&'apos'`,
      userId: `O'Brien & <Sons> "Ltd"`,
      eventType: 'course_completed',
      unit: `people <&> "x"`,
    };
    const harness = open({
      username: `isu<&>"'@acme_impl`,
      activityTypes: { course_completed: `Learning & "Growth" <CSR>` },
    });
    const result = await harness.deliver(seedEvent(tricky), { deliveryId: 'dlv-escape' });
    // The simulator refuses the unknown username, which is fine: the bytes are what is under test.
    expect(result.response.status).toBe(500);
    const call = provider.callsTo(SOAP_PATH)[0]!;
    const text = call.text();
    expectValidEnvelopes([text]);
    const tree = readXml(text);
    expect(
      at(tree, 'soapenv:Envelope', 'soapenv:Header', 'wsse:Security', 'wsse:UsernameToken', 'wsse:Username'),
    ).toBe(`isu<&>"'@acme_impl`);
    const report = at(
      tree,
      'soapenv:Envelope',
      'soapenv:Body',
      'wd:Submit_CSR_Impact_Report',
      'wd:CSR_Impact_Report',
    );
    expect(report).toEqual({
      'wd:External_Reference_ID': tricky.eventId,
      'wd:Report_Date': '2025-11-14',
      'wd:Worker_Reference': { 'wd:ID': { '#text': tricky.userId, '@_wd:type': 'Employee_ID' } },
      'wd:CSR_Activity': {
        'wd:Activity_Type': `Learning & "Growth" <CSR>`,
        'wd:Value': '5.0',
        'wd:Unit_of_Measure': `People <&> "x"`,
      },
    });
  });

  it('sends to the versioned endpoint and marks the request with wd:version', async () => {
    const harness = open({ version: 'v45.1' });
    const delivery = await harness.submit(seedEvent({ eventId: 'evt_versioned' }));
    expect(delivery?.status).toBe('success');
    const [call] = provider.callsTo(`${SOAP_PATH}/v45.1`);
    expect(call).toBeDefined();
    expect(
      at(
        readXml(call!.text()),
        'soapenv:Envelope',
        'soapenv:Body',
        'wd:Submit_CSR_Impact_Report',
        '@_wd:version',
      ),
    ).toBe('v45.1');
  });

  it('records the envelope it sent with only the password masked', async () => {
    const harness = open();
    const delivery = await harness.submit(seedEvent());
    const sent = provider.callsTo(SOAP_PATH)[0]!.text();
    expect(delivery?.payload).toBe(redactEnvelope(sent));
    const recorded = readXml(delivery!.payload as string);
    const sentTree = readXml(sent);
    const token = [
      'soapenv:Envelope',
      'soapenv:Header',
      'wsse:Security',
      'wsse:UsernameToken',
      'wsse:Password',
    ];
    expect(at(recorded, ...token)).toEqual({ '#text': '********', '@_Type': PASSWORD_TEXT });
    // Everything else is identical to what went over the wire.
    (at(sentTree, ...token) as Record<string, unknown>)['#text'] = '********';
    expect(recorded).toEqual(sentTree);
    const serialised = JSON.stringify(delivery);
    expect(serialised).not.toContain('pass-2025');
    expect(harness.logger.text()).not.toContain('pass-2025');
  });

  it('refuses a value XML cannot carry, without sending anything', async () => {
    const harness = open();
    const delivery = await harness.submit(seedEvent({ userId: 'user\u0007bell' }));
    expect(delivery?.status).toBe('failed');
    expect(delivery?.lastError).toMatch(
      /\[impact-in\] \[workday\] event\.userId holds a character XML 1\.0 cannot carry/,
    );
    expect(provider.callsTo(SOAP_PATH)).toHaveLength(0);
  });

  it('keeps one idempotency key across a 503, a server fault, the successful retry and a replay', async () => {
    const harness = open();
    simulator.failNext({ kind: 'status', status: 503, retryAfter: '2' });
    simulator.failNext({
      kind: 'status',
      status: 500,
      body: buildWorkdayFault({ code: 'Server.processingError', faultstring: 'Processing error occurred.' }),
    });
    let delivery = await harness.submit(seedEvent({ eventId: 'evt_retry' }));
    expect(delivery).toMatchObject({ status: 'retrying', attemptCount: 1 });
    expect(delivery!.nextAttemptAt!.getTime() - harness.clock.now()).toBe(2_000);
    await harness.clock.set(delivery!.nextAttemptAt!.getTime());
    await harness.runDue();
    delivery = await harness.store.get(delivery!.id);
    expect(delivery).toMatchObject({ status: 'retrying', attemptCount: 2 });
    expect(delivery?.lastError).toBe(
      '[impact-in] [workday] SOAP fault SOAP-ENV:Server.processingError (HTTP 500): Processing error occurred.',
    );
    await harness.clock.set(delivery!.nextAttemptAt!.getTime());
    await harness.runDue();
    delivery = await harness.store.get(delivery!.id);
    expect(delivery).toMatchObject({ status: 'success', attemptCount: 3 });
    const replayed = await harness.dispatcher.replay(delivery!.id);
    expect(replayed).toMatchObject({ status: 'success', deliveryId: delivery!.deliveryId, replayCount: 1 });
    const calls = provider.callsTo(SOAP_PATH);
    expect(calls.map((call) => call.status)).toEqual([503, 500, 200, 200]);
    expect(new Set(calls.map((call) => call.headers['x-idempotency-key']))).toEqual(
      new Set([delivery!.deliveryId]),
    );
    // The same bytes each time, and the simulator counted the replay as a duplicate.
    expect(new Set(calls.map((call) => call.text())).size).toBe(1);
    expect(simulator.accepted()).toMatchObject([{ idempotencyKey: delivery!.deliveryId, times: 2 }]);
  });
});

describe('workday SOAP faults', () => {
  const tap = envelopeTap();
  let simulator: WorkdaySimulator;
  let provider: ProviderServer;
  const harnesses: Array<{ close(): Promise<void> }> = [];
  const open = (extra: Record<string, unknown> = {}) => {
    const harness = createConnectorHarness({ connector: workday, config: soapConfig(provider.url, extra) });
    harnesses.push(harness);
    return harness;
  };

  beforeAll(async () => {
    simulator = createWorkdaySimulator({ knownWorkers: ['user_456', 'user_789'] });
    provider = await startProviderServer(tap.wrap(simulator.handlers));
  });
  afterEach(async () => {
    await Promise.all(harnesses.splice(0).map((harness) => harness.close()));
    simulator.reset();
    provider.reset();
  });
  afterAll(async () => {
    await provider.close();
    expectValidEnvelopes(tap.envelopes);
  });

  it('a wrong password is an authentication fault (HTTP 500): failed at once, never retried', async () => {
    const harness = open({ password: 'not-the-password' });
    const delivery = await harness.submit(seedEvent());
    expect(provider.callsTo(SOAP_PATH)[0]!.status).toBe(500);
    expect(delivery).toMatchObject({ status: 'failed', attemptCount: 1, nextAttemptAt: null });
    expect(delivery?.lastError).toBe(
      "[impact-in] [workday] SOAP fault SOAP-ENV:Client.authenticationError (HTTP 500): invalid username or password; check the Integration System User's username and password",
    );
    expect(delivery?.lastError).not.toContain('not-the-password');
    expect(simulator.authFailures).toBe(1);
  });

  it('a wrong username is the same authentication fault', async () => {
    const harness = open({ username: 'someone_else@acme_impl' });
    const delivery = await harness.submit(seedEvent());
    expect(delivery?.status).toBe('failed');
    expect(delivery?.lastError).toContain('Client.authenticationError');
  });

  it('a validation fault is permanent and puts Message, Detail_Message and Xpath into lastError', async () => {
    const harness = open();
    const delivery = await harness.submit(seedEvent({ userId: 'user_unknown', value: -2 }));
    expect(delivery).toMatchObject({ status: 'failed', attemptCount: 1 });
    expect(delivery?.lastError).toBe(
      "[impact-in] [workday] SOAP fault SOAP-ENV:Client.validationError (HTTP 500): Validation error occurred. Invalid ID value.  'user_unknown' is not a valid ID value for type = 'Employee_ID' — " +
        "Message: Invalid ID value.  'user_unknown' is not a valid ID value for type = 'Employee_ID', Detail_Message: No worker has Employee_ID 'user_unknown', Xpath: /ns0:Submit_CSR_Impact_Report[1]/ns0:CSR_Impact_Report[1]/ns0:Worker_Reference[1]/ns0:ID[1] | " +
        "Message: Invalid value for Value, Detail_Message: '-2.0' must be a decimal greater than or equal to 0, Xpath: /ns0:Submit_CSR_Impact_Report[1]/ns0:CSR_Impact_Report[1]/ns0:CSR_Activity[1]/ns0:Value[1]",
    );
    expect(delivery?.providerResponse?.status).toBe(500);
  });

  it('a server fault is retryable, and so is a fault sent with 503', async () => {
    const harness = open();
    simulator.failNext({
      kind: 'status',
      status: 503,
      retryAfter: '30',
      body: buildWorkdayFault({ code: 'Server', faultstring: 'Service is under maintenance' }),
    });
    const delivery = await harness.submit(seedEvent());
    expect(delivery).toMatchObject({ status: 'retrying', attemptCount: 1 });
    expect(delivery?.lastError).toBe(
      '[impact-in] [workday] SOAP fault SOAP-ENV:Server (HTTP 503): Service is under maintenance',
    );
    expect(delivery!.nextAttemptAt!.getTime() - harness.clock.now()).toBe(30_000);
  });

  it('a plain 500 without a SOAP body gets the default: retryable', async () => {
    const harness = open();
    simulator.failNext({ kind: 'status', status: 500, body: 'upstream exploded' });
    const delivery = await harness.submit(seedEvent());
    expect(delivery).toMatchObject({ status: 'retrying' });
    expect(delivery?.lastError).toBe('[impact-in] [workday] HTTP 500: upstream exploded');
  });

  it('another client fault (an unknown tenant) is permanent', async () => {
    const harness = open({ tenant: 'no_such_tenant' });
    const delivery = await harness.submit(seedEvent());
    expect(delivery?.status).toBe('failed');
    expect(delivery?.lastError).toBe(
      '[impact-in] [workday] SOAP fault SOAP-ENV:Client (HTTP 404): Invalid tenant: no_such_tenant',
    );
  });

  it('classifies a fault even when it comes with HTTP 200', () => {
    const body = buildWorkdayFault({
      code: 'Client.validationError',
      faultstring: 'Validation error occurred.',
    });
    const response = {
      status: 200,
      headers: { 'content-type': 'text/xml' },
      body: Buffer.from(body),
      text: () => body,
      json: () => JSON.parse(body),
    };
    const error = workday.classifyResponse!(response, workday.config.parse(soapConfig('http://x')));
    expect(error).toBeInstanceOf(PermanentError);
    expect(error?.code).toBe('validation_error');
    // Some stacks put a byte order mark before the declaration.
    const withBom = `\uFEFF${body}`;
    const bom = workday.classifyResponse!(
      { ...response, status: 500, body: Buffer.from(withBom), text: () => withBom },
      workday.config.parse(soapConfig('http://x')),
    );
    expect(bom?.code).toBe('validation_error');
  });

  it('leaves success envelopes and non-XML answers to the default', () => {
    const config = workday.config.parse(soapConfig('http://x'));
    const answer = (status: number, text: string, type: string) => ({
      status,
      headers: { 'content-type': type },
      body: Buffer.from(text),
      text: () => text,
      json: () => JSON.parse(text),
    });
    expect(
      workday.classifyResponse!(answer(400, '{"error":"simulated 400"}', 'application/json'), config),
    ).toBeUndefined();
    expect(workday.classifyResponse!(answer(503, '<html>busy</html>', 'text/html'), config)).toBeUndefined();
    expect(workday.classifyResponse!(answer(500, '<not-xml', 'text/xml'), config)).toBeUndefined();
    const ok = `<env:Envelope xmlns:env="${SOAP_ENV}"><env:Body><wd:Submit_CSR_Impact_Report_Response xmlns:wd="urn:com.workday/bsvc"/></env:Body></env:Envelope>`;
    expect(workday.classifyResponse!(answer(200, ok, 'text/xml'), config)).toBeUndefined();
  });

  it('the fault bodies themselves are valid SOAP 1.1', () => {
    expectValidEnvelopes([
      buildWorkdayFault({ code: 'Client.authenticationError', faultstring: 'invalid username or password' }),
      buildWorkdayFault({
        code: 'Client.validationError',
        faultstring: 'Validation error occurred.',
        validationErrors: [{ message: 'm <&>', detailMessage: 'd', xpath: '/ns0:X[1]' }],
      }),
    ]);
  });
});

describe('the envelope builder', () => {
  it('sends the string it built: the sent bytes equal a fresh build of the same report', async () => {
    const simulator = createWorkdaySimulator();
    const provider = await startProviderServer(simulator.handlers);
    const harness = createConnectorHarness({ connector: workday, config: soapConfig(provider.url) });
    const event = seedEvent({ value: 2.75, unit: 'usd', eventType: 'donation' });
    await harness.deliver(event, { deliveryId: 'dlv-bytes' });
    const expected = buildSubmitEnvelope(toSoapReport(event), {
      username: creds.username,
      password: creds.password,
    });
    expect(provider.callsTo(SOAP_PATH)[0]!.body.equals(Buffer.from(expected, 'utf8'))).toBe(true);
    const activity = at(
      readXml(expected),
      'soapenv:Envelope',
      'soapenv:Body',
      'wd:Submit_CSR_Impact_Report',
      'wd:CSR_Impact_Report',
      'wd:CSR_Activity',
    );
    expect(activity).toEqual({
      'wd:Activity_Type': 'Donation',
      'wd:Value': '2.75',
      'wd:Unit_of_Measure': 'USD',
    });
    await harness.close();
    await provider.close();
  });
});
