import {
  InboundValidationError,
  PermanentError,
  type RawRequest,
  WebhookVerificationError,
} from '@impact-in/core';
import { type ConnectorHarness, createConnectorHarness } from '@impact-in/testing';
import {
  buildDirectoryNotification,
  type DirectoryNotificationInput,
} from '@impact-in/testing/providers/workday';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type WorkdayConfig, workday } from '../src/index.js';
import { creds, expectValidEnvelopes, PASSWORD_TEXT, soapConfig } from './helpers.js';

const SOAP_ENV = 'http://schemas.xmlsoap.org/soap/envelope/';
const WSSE = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd';

const notification: DirectoryNotificationInput = {
  notificationId: 'NTF-2025-11-14-0001',
  sentOn: '2025-11-14T10:05:00Z',
  changes: [
    {
      changeType: 'Hire',
      effectiveDate: '2025-11-14',
      workerId: '21001',
      name: 'Logan McNeil',
      email: 'logan.mcneil@example.com',
      department: 'Global Support',
      managerId: '21000',
    },
    {
      changeType: 'Update',
      effectiveDate: '2025-11-15',
      workerId: '21000',
      name: `Teresa "Tess" O'Neil & Co <CEO>`,
      email: 'teresa.oneil@example.com',
      department: 'Executive',
    },
    { changeType: 'Termination', effectiveDate: '2025-11-30', workerId: '20999' },
  ],
};

const webhookCredentials = { username: creds.webhookUsername, password: creds.webhookPassword };

const request = (body: string | Uint8Array): RawRequest => ({
  method: 'POST',
  url: '/webhooks/workday',
  headers: { 'content-type': 'text/xml; charset=utf-8' },
  body: typeof body === 'string' ? Buffer.from(body, 'utf8') : body,
});

/** A hand-written envelope, for variants the builder would never produce. */
const envelope = (header: string, body = '<wd:Directory_Change_Notification/>') =>
  `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="${SOAP_ENV}" xmlns:wsse="${WSSE}" xmlns:wd="urn:com.workday/bsvc">
  <soapenv:Header>${header}</soapenv:Header>
  <soapenv:Body>${body}</soapenv:Body>
</soapenv:Envelope>`;

const token = (username: string, password: string, type = PASSWORD_TEXT) =>
  `<wsse:UsernameToken><wsse:Username>${username}</wsse:Username><wsse:Password Type="${type}">${password}</wsse:Password></wsse:UsernameToken>`;

const changeXml = (inner: string) => `<wd:Directory_Change_Notification>
  <wd:Notification_ID>NTF-9</wd:Notification_ID><wd:Sent_On>2025-11-14T10:05:00Z</wd:Sent_On>${inner}
</wd:Directory_Change_Notification>`;

describe('workday webhook', () => {
  let harness: ConnectorHarness<WorkdayConfig>;
  const produced: string[] = [];
  interface Receive {
    config?: Record<string, unknown>;
    /** `false` for input that is deliberately not a SOAP 1.1 envelope (broken, DTD, SOAP 1.2). */
    envelope?: boolean;
  }
  const receive = (body: string | Uint8Array, options: Receive = {}) => {
    if (typeof body === 'string' && options.envelope !== false) produced.push(body);
    if (!options.config) return workday.webhook!(request(body), harness.context());
    const other = createConnectorHarness({
      connector: workday,
      config: soapConfig('http://127.0.0.1:9', options.config),
    });
    return workday.webhook!(request(body), other.context()).finally(() => other.close());
  };
  const refusal = async (body: string | Uint8Array, options: Receive = {}) => {
    const error = await receive(body, options).then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(WebhookVerificationError);
    return (error as WebhookVerificationError).reason;
  };

  beforeAll(() => {
    harness = createConnectorHarness({ connector: workday, config: soapConfig('http://127.0.0.1:9') });
  });
  afterAll(async () => {
    await harness.close();
    // Every well-formed envelope these tests sent is valid SOAP 1.1 + WS-Security.
    expectValidEnvelopes(produced);
  });

  it('accepts a notification with the right UsernameToken and parses every worker change', async () => {
    const records = await receive(buildDirectoryNotification(notification, webhookCredentials));
    expect(records).toEqual([
      {
        provider: 'workday',
        kind: 'worker.change',
        sourceId: 'NTF-2025-11-14-0001/1',
        companyId: 'company_789',
        occurredAt: '2025-11-14T10:05:00Z',
        data: {
          notificationId: 'NTF-2025-11-14-0001',
          changeType: 'hire',
          effectiveDate: '2025-11-14',
          workerId: '21001',
          name: 'Logan McNeil',
          email: 'logan.mcneil@example.com',
          department: 'Global Support',
          managerId: '21000',
        },
      },
      {
        provider: 'workday',
        kind: 'worker.change',
        sourceId: 'NTF-2025-11-14-0001/2',
        companyId: 'company_789',
        occurredAt: '2025-11-14T10:05:00Z',
        data: {
          notificationId: 'NTF-2025-11-14-0001',
          changeType: 'update',
          effectiveDate: '2025-11-15',
          workerId: '21000',
          name: `Teresa "Tess" O'Neil & Co <CEO>`,
          email: 'teresa.oneil@example.com',
          department: 'Executive',
          managerId: null,
        },
      },
      {
        provider: 'workday',
        kind: 'worker.change',
        sourceId: 'NTF-2025-11-14-0001/3',
        companyId: 'company_789',
        occurredAt: '2025-11-14T10:05:00Z',
        data: {
          notificationId: 'NTF-2025-11-14-0001',
          changeType: 'termination',
          effectiveDate: '2025-11-30',
          workerId: '20999',
          name: null,
          email: null,
          department: null,
          managerId: null,
        },
      },
    ]);
  });

  it('reads the credentials as XML, not as bytes: character references and CDATA verify too', async () => {
    const encoded = creds.webhookPassword.replace('-', '&#45;').replace('7', '&#x37;');
    const body = changeXml(
      '<wd:Worker_Change><wd:Change_Type>Termination</wd:Change_Type><wd:Effective_Date>2025-11-30</wd:Effective_Date><wd:Worker><wd:Worker_Reference><wd:ID wd:type="Employee_ID">20999</wd:ID></wd:Worker_Reference></wd:Worker></wd:Worker_Change>',
    );
    const records = await receive(
      envelope(`<wsse:Security>${token(creds.webhookUsername, encoded)}</wsse:Security>`, body),
    );
    expect(records).toHaveLength(1);
    const cdata = `<![CDATA[${creds.webhookPassword}]]>`;
    expect(
      await receive(envelope(`<wsse:Security>${token(creds.webhookUsername, cdata)}</wsse:Security>`, body)),
    ).toHaveLength(1);
  });

  it('refuses a message without a WS-Security header', async () => {
    expect(await refusal(envelope(''))).toBe('missing WS-Security header');
    const noHeader = `<soapenv:Envelope xmlns:soapenv="${SOAP_ENV}"><soapenv:Body/></soapenv:Envelope>`;
    expect(await refusal(noHeader)).toBe('missing WS-Security header');
  });

  it('refuses a Security header in the wrong namespace, or one without a UsernameToken', async () => {
    const foreign = `<x:Security xmlns:x="urn:not-wsse">${token(creds.webhookUsername, creds.webhookPassword).replaceAll('wsse:', 'x:')}</x:Security>`;
    expect(await refusal(envelope(foreign))).toBe('missing WS-Security header');
    expect(await refusal(envelope('<wsse:Security/>'))).toBe('missing UsernameToken');
  });

  it('refuses a wrong password and a wrong username with the same reason', async () => {
    const wrongPassword = buildDirectoryNotification(notification, {
      ...webhookCredentials,
      password: 'wd-notify-secret-7422',
    });
    const wrongUsername = buildDirectoryNotification(notification, {
      ...webhookCredentials,
      username: 'intruder@acme_impl',
    });
    expect(await refusal(wrongPassword)).toBe('wrong UsernameToken username or password');
    expect(await refusal(wrongUsername)).toBe('wrong UsernameToken username or password');
  });

  it('refuses a password that differs only by surrounding whitespace', async () => {
    const padded = envelope(
      `<wsse:Security>${token(creds.webhookUsername, ` ${creds.webhookPassword} `)}</wsse:Security>`,
    );
    expect(await refusal(padded)).toBe('wrong UsernameToken username or password');
  });

  it('refuses tampered bodies: truncated, bytes changed, a second token slipped in, a DTD, bad UTF-8', async () => {
    const good = buildDirectoryNotification(notification, webhookCredentials);
    expect(await refusal(good.slice(0, good.length - 40), { envelope: false })).toMatch(/^malformed XML: /);
    // One byte of the password flipped in transit.
    const flipped = good.replace('wd-notify-secret-7421', 'wd-notify-secret-7420');
    expect(flipped).not.toBe(good);
    expect(await refusal(flipped)).toBe('wrong UsernameToken username or password');
    // A second UsernameToken (whose is it?) is refused outright.
    const twoTokens = envelope(
      `<wsse:Security>${token(creds.webhookUsername, creds.webhookPassword)}${token('intruder', 'x')}</wsse:Security>`,
    );
    expect(await refusal(twoTokens)).toBe('more than one UsernameToken');
    const twoHeaders = envelope(
      `<wsse:Security>${token(creds.webhookUsername, creds.webhookPassword)}</wsse:Security><wsse:Security>${token('intruder', 'x')}</wsse:Security>`,
    );
    expect(await refusal(twoHeaders)).toBe('more than one WS-Security header');
    const dtd = `<?xml version="1.0"?><!DOCTYPE soapenv:Envelope [<!ENTITY pw "${creds.webhookPassword}">]>${envelope(`<wsse:Security>${token(creds.webhookUsername, '&pw;')}</wsse:Security>`).replace(/^<\?xml[^>]*>/, '')}`;
    expect(await refusal(dtd, { envelope: false })).toBe(
      'malformed XML: a document type declaration is not allowed',
    );
    const notUtf8 = Buffer.concat([
      Buffer.from(good.slice(0, 100)),
      Buffer.from([0xc3, 0x28]),
      Buffer.from(good.slice(100)),
    ]);
    expect(await refusal(notUtf8)).toBe('body is not UTF-8');
    expect(await refusal('{"workers":[]}', { envelope: false })).toMatch(/^malformed XML: /);
    expect(await refusal('<a/><b/>', { envelope: false })).toBe(
      'malformed XML: a document must have exactly one root element',
    );
  });

  it('refuses a document that is XML but not a SOAP 1.1 envelope', async () => {
    const soap12 = `<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body/></env:Envelope>`;
    expect(await refusal(soap12, { envelope: false })).toBe('not a SOAP 1.1 envelope');
  });

  it('refuses a PasswordDigest token, which cannot be checked against a stored password', async () => {
    const digest = envelope(
      `<wsse:Security>${token(
        creds.webhookUsername,
        'bm90LWEtZGlnZXN0',
        'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest',
      )}</wsse:Security>`,
    );
    // Schema-valid, but deliberately not PasswordText: kept out of the PasswordText check.
    expect(await refusal(digest, { envelope: false })).toBe('unsupported UsernameToken password type');
  });

  it('refuses everything when no webhook credentials are configured', async () => {
    const good = buildDirectoryNotification(notification, webhookCredentials);
    expect(await refusal(good, { config: { webhookUsername: undefined, webhookPassword: undefined } })).toBe(
      'webhookUsername and webhookPassword are not configured',
    );
  });

  it('reports every bad field of a verified notification by its element path', async () => {
    const header = `<wsse:Security>${token(creds.webhookUsername, creds.webhookPassword)}</wsse:Security>`;
    const body = changeXml(`
      <wd:Worker_Change>
        <wd:Change_Type>Hire</wd:Change_Type><wd:Effective_Date>2025-11-14</wd:Effective_Date>
        <wd:Worker><wd:Worker_Reference><wd:ID wd:type="Employee_ID">21001</wd:ID></wd:Worker_Reference>
          <wd:Name>Logan</wd:Name><wd:Email_Address>logan@example.com</wd:Email_Address><wd:Department>Support</wd:Department></wd:Worker>
      </wd:Worker_Change>
      <wd:Worker_Change>
        <wd:Change_Type>Hire</wd:Change_Type><wd:Effective_Date>2025-02-30x</wd:Effective_Date>
        <wd:Worker><wd:Worker_Reference><wd:ID wd:type="WID">a1b2c3</wd:ID></wd:Worker_Reference>
          <wd:Email_Address>not-an-email</wd:Email_Address><wd:Department>Support</wd:Department></wd:Worker>
      </wd:Worker_Change>
      <wd:Worker_Change><wd:Change_Type>Promotion</wd:Change_Type></wd:Worker_Change>`);
    const error = await receive(envelope(header, body)).catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(InboundValidationError);
    const issues = (error as InboundValidationError).issues;
    expect(issues.map((issue) => issue.path)).toEqual([
      'Directory_Change_Notification.Worker_Change[1].Effective_Date',
      'Directory_Change_Notification.Worker_Change[1].Worker.Worker_Reference',
      'Directory_Change_Notification.Worker_Change[1].Worker.Name',
      'Directory_Change_Notification.Worker_Change[1].Worker.Email_Address',
      'Directory_Change_Notification.Worker_Change[2].Change_Type',
    ]);
    expect(issues[1]!.message).toBe('needs a wd:ID with wd:type="Employee_ID"');
    expect((error as Error).message).toMatch(
      /^\[impact-in\] \[workday\] invalid payload: Directory_Change_Notification\.Worker_Change\[1\]\.Effective_Date: /,
    );
  });

  it('takes the Employee_ID among several IDs of a reference, and requires a notification in the Body', async () => {
    const header = `<wsse:Security>${token(creds.webhookUsername, creds.webhookPassword)}</wsse:Security>`;
    const records = await receive(
      envelope(
        header,
        changeXml(
          '<wd:Worker_Change><wd:Change_Type>Termination</wd:Change_Type><wd:Effective_Date>2025-11-30</wd:Effective_Date><wd:Worker><wd:Worker_Reference><wd:ID wd:type="WID">3aa5550b7fe348b98d7b5741afc65534</wd:ID><wd:ID wd:type="Employee_ID">20999</wd:ID></wd:Worker_Reference></wd:Worker></wd:Worker_Change>',
        ),
      ),
    );
    expect(records[0]?.data.workerId).toBe('20999');
    const empty = await receive(envelope(header, '')).catch((thrown: unknown) => thrown);
    expect((empty as InboundValidationError).issues).toEqual([
      { path: 'Directory_Change_Notification', message: 'is required as the SOAP Body' },
    ]);
  });
});

describe('workday directory ingest', () => {
  let harness: ConnectorHarness<WorkdayConfig>;
  const ingest = (body: unknown, kind = 'directory') => workday.ingest!(kind, body, harness.context());
  const issuesOf = async (body: unknown) => {
    const error = await ingest(body).catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(InboundValidationError);
    return (error as InboundValidationError).issues;
  };

  beforeAll(() => {
    harness = createConnectorHarness({ connector: workday, config: soapConfig('http://127.0.0.1:9') });
  });
  afterAll(() => harness.close());

  const workers = [
    {
      id: '21000',
      name: 'Teresa Serrano',
      email: 'teresa.serrano@example.com',
      department: 'Executive',
      manager: null,
    },
    {
      id: '21001',
      name: 'Logan McNeil',
      email: 'logan.mcneil@example.com',
      department: 'Global Support',
      manager: '21000',
    },
    { id: '21002', name: 'Maria Cardoza', email: 'maria.cardoza@example.com', department: 'Global Support' },
  ];

  it('parses workers into one record each', async () => {
    const records = await ingest({ workers });
    expect(records).toEqual([
      {
        provider: 'workday',
        kind: 'worker',
        sourceId: '21000',
        companyId: 'company_789',
        data: {
          workerId: '21000',
          name: 'Teresa Serrano',
          email: 'teresa.serrano@example.com',
          department: 'Executive',
          managerId: null,
        },
      },
      {
        provider: 'workday',
        kind: 'worker',
        sourceId: '21001',
        companyId: 'company_789',
        data: {
          workerId: '21001',
          name: 'Logan McNeil',
          email: 'logan.mcneil@example.com',
          department: 'Global Support',
          managerId: '21000',
        },
      },
      {
        provider: 'workday',
        kind: 'worker',
        sourceId: '21002',
        companyId: 'company_789',
        data: {
          workerId: '21002',
          name: 'Maria Cardoza',
          email: 'maria.cardoza@example.com',
          department: 'Global Support',
          managerId: null,
        },
      },
    ]);
  });

  it('accepts the payload as JSON text, as a host may hand it over', async () => {
    expect(await ingest(JSON.stringify({ workers }))).toHaveLength(3);
    expect(await issuesOf('{"workers": [')).toEqual([{ path: '(body)', message: 'is not valid JSON' }]);
  });

  it('names every bad field: workers[1].email, workers[2].name, a self-manager, a duplicate id', async () => {
    const issues = await issuesOf({
      workers: [
        workers[0],
        { ...workers[1], email: 'logan at example.com' },
        { id: '21003', name: '   ', email: 'x@example.com', department: 'Ops', manager: '21003' },
        { ...workers[2], id: '21000' },
        { id: '21004', name: 'No Department', email: 'nd@example.com' },
      ],
    });
    expect(issues).toEqual([
      { path: 'workers[1].email', message: 'must be an email address' },
      { path: 'workers[2].name', message: 'must not be empty' },
      { path: 'workers[4].department', message: 'is required' },
    ]);
    // Cross-field checks run once every worker is well-formed.
    const crossField = await issuesOf({
      workers: [workers[0], { ...workers[1], manager: '21001' }, { ...workers[2], id: '21000' }],
    });
    expect(crossField).toEqual([
      { path: 'workers[1].manager', message: 'a worker cannot be their own manager' },
      { path: 'workers[2].id', message: 'duplicates workers[0].id' },
    ]);
  });

  it('names a missing or empty workers array', async () => {
    expect(await issuesOf({})).toEqual([{ path: 'workers', message: 'must be an array of workers' }]);
    expect((await issuesOf({ workers: [] }))[0]!.path).toBe('workers');
  });

  it('error messages read [impact-in] [workday] …', async () => {
    const error = await ingest({ workers: [{ ...workers[0], email: 'nope' }] }).catch(
      (thrown: unknown) => thrown,
    );
    expect((error as Error).message).toBe(
      '[impact-in] [workday] invalid payload: workers[0].email: must be an email address',
    );
  });

  it('refuses an ingest kind Workday does not have', async () => {
    const error = await ingest({ volunteers: [] }, 'volunteers').catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(PermanentError);
    expect((error as Error).message).toBe(
      '[impact-in] [workday] unknown ingest kind "volunteers" (known: directory)',
    );
  });
});
