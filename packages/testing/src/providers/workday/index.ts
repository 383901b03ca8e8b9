import { randomBytes, randomUUID } from 'node:crypto';
import { safeEqual, z } from '@impact-in/core';
import { HttpResponse, http, type RequestHandler } from 'msw';
import {
  type AcceptedDelivery,
  type InjectedFailure,
  oauthErrorResponse,
  type ProviderSimulator,
  SimulatorState,
} from '../simulator.js';
import { buildWorkdayFault, buildWorkdayResponse, type WorkdayValidationErrorDetail } from './soap.js';
import {
  attributeOf,
  childOf,
  childrenOf,
  PASSWORD_TEXT_TYPE,
  parseXml,
  SOAP_ENV_NS,
  WD_NS,
  WSSE_NS,
  type XmlElement,
} from './xml.js';

export {
  buildDirectoryNotification,
  buildWorkdayFault,
  buildWorkdayResponse,
  type DirectoryChangeInput,
  type DirectoryNotificationInput,
  type WorkdayFaultInput,
  type WorkdayValidationErrorDetail,
} from './soap.js';

/**
 * The credentials the simulator accepts by default. The password holds XML's special characters
 * on purpose: a connector that does not escape them sends a broken envelope.
 */
export const WORKDAY_TEST_CREDENTIALS = {
  tenant: 'acme_impl',
  username: 'isu_impactin@acme_impl',
  password: `Wd<&>"'pass-2025`,
  clientId: 'wd_client_2f8c1e77',
  clientSecret: 'wd_secret_9b41d7c2e5',
  /** The long-lived refresh token of an "API Client for Integrations". */
  refreshToken: 'wd_rt_integration_5e7a93c1',
  webhookUsername: 'wd_notify@acme_impl',
  webhookPassword: 'wd-notify-secret-7421',
} as const;

/** Paths the simulator serves for a tenant. */
export function workdayPaths(tenant: string = WORKDAY_TEST_CREDENTIALS.tenant) {
  return {
    soap: `/ccx/service/${tenant}/CSR_Impact_Report`,
    rest: `/api/v1/${tenant}/csr-impact-reports`,
    token: `/ccx/oauth2/${tenant}/token`,
  };
}

export interface WorkdaySimulatorOptions {
  tenant?: string;
  /** SOAP Integration System User. */
  username?: string;
  password?: string;
  clientId?: string;
  clientSecret?: string;
  /** The integration's long-lived refresh token (`grant_type=refresh_token`). */
  refreshToken?: string;
  /** Access token lifetime. Default 3600 s. */
  tokenLifetimeSeconds?: number;
  /** Whether client-credentials answers carry a refresh token. Default true. */
  issueRefreshTokens?: boolean;
  /** The simulator's clock (tokens expire by it). Pass a test's fake clock `now`. Default `Date.now`. */
  now?: () => number;
  /** Employee_IDs that exist; when given, other worker ids fail validation as in Workday. */
  knownWorkers?: readonly string[];
}

/** A Workday simulator: SOAP (WS-Security), REST (bearer) and the OAuth token endpoint. */
export interface WorkdaySimulator extends ProviderSimulator {
  readonly tenant: string;
  /** Token endpoint calls, successful or not. */
  readonly tokenRequests: number;
  /** `grant_type` of every token request, in order. */
  readonly grants: readonly string[];
  /** Requests refused for their credentials (UsernameToken, bearer token or client). */
  readonly authFailures: number;
  /** Calls to the SOAP service and to the REST collection. */
  readonly soapRequests: number;
  readonly restRequests: number;
  /** Invalidates every access token issued so far (the next API call answers 401). */
  revokeAccessTokens(): void;
  /** Invalidates issued refresh tokens and the integration's long-lived one. */
  revokeRefreshTokens(): void;
}

const SOAP_XPATH = '/ns0:Submit_CSR_Impact_Report[1]/ns0:CSR_Impact_Report[1]';
const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)$/;
const XSD_DATE = /^(\d{4})-(\d{2})-(\d{2})(Z|[+-]\d{2}:\d{2})?$/;

function isRealDate(value: string): boolean {
  const match = XSD_DATE.exec(value);
  if (!match) return false;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

const xml = (body: string, status = 200) =>
  new HttpResponse(body, { status, headers: { 'content-type': 'text/xml; charset=utf-8' } });

const fault = (status: number, code: string, faultstring: string, errors?: WorkdayValidationErrorDetail[]) =>
  xml(buildWorkdayFault({ code, faultstring, ...(errors ? { validationErrors: errors } : {}) }), status);

const json = (body: Record<string, unknown>, status: number, headers: Record<string, string> = {}) =>
  HttpResponse.json(body, { status, headers });

const RestReportSchema = z.strictObject({
  schema_version: z.literal('v3.0'),
  impact_report: z.strictObject({
    external_reference_id: z.string().min(1),
    report_date: z.iso.datetime({ offset: true }),
    worker: z.strictObject({ worker_id: z.string().min(1) }),
    csr_activity: z.strictObject({
      activity_type: z.string().regex(/^[a-z][a-z0-9_]*$/, 'must be an impact-in event type'),
      value: z.number().finite().nonnegative(),
      unit_of_measure: z.string().min(1),
    }),
  }),
});

function decodeBasic(header: string | null): { id: string; secret: string } | undefined {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header ?? '');
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  // RFC 6749 §2.3.1: id and secret are form-urlencoded before they are joined.
  const unform = (value: string) => decodeURIComponent(value.replace(/\+/g, ' '));
  try {
    return { id: unform(decoded.slice(0, colon)), secret: unform(decoded.slice(colon + 1)) };
  } catch {
    return undefined;
  }
}

/**
 * A Workday simulator for tests and the demo. SOAP: parses the envelope, checks the WS-Security
 * UsernameToken (a wrong one answers HTTP 500 `SOAP-ENV:Client.authenticationError`), validates
 * the report (`SOAP-ENV:Client.validationError` with `wd:Validation_Fault`), answers a response
 * envelope. REST: bearer tokens from an OAuth endpoint with both `client_credentials` and
 * `refresh_token` grants, expiring by the simulator's clock. Accepted deliveries are deduplicated
 * by `X-Idempotency-Key`.
 *
 * @example
 * const simulator = createWorkdaySimulator();
 * const provider = await startProviderServer(simulator.handlers);
 * simulator.failNext({ kind: 'status', status: 503 });
 */
export function createWorkdaySimulator(options: WorkdaySimulatorOptions = {}): WorkdaySimulator {
  const defaults = WORKDAY_TEST_CREDENTIALS;
  const tenant = options.tenant ?? defaults.tenant;
  const username = options.username ?? defaults.username;
  const password = options.password ?? defaults.password;
  const clientId = options.clientId ?? defaults.clientId;
  const clientSecret = options.clientSecret ?? defaults.clientSecret;
  const integrationRefreshToken = options.refreshToken ?? defaults.refreshToken;
  const lifetimeMs = (options.tokenLifetimeSeconds ?? 3600) * 1000;
  const issueRefreshTokens = options.issueRefreshTokens ?? true;
  const now = options.now ?? Date.now;
  const knownWorkers = options.knownWorkers ? new Set(options.knownWorkers) : undefined;

  const state = new SimulatorState();
  const accessTokens = new Map<string, number>();
  const refreshTokens = new Set<string>();
  let integrationTokenRevoked = false;
  // Idempotency key → the report's Workday ID, so a duplicate gets the same answer.
  const reports = new Map<string, { wid: string; reference: string }>();
  const counters = { tokenRequests: 0, authFailures: 0, soapRequests: 0, restRequests: 0 };
  const grants: string[] = [];

  const record = (key: string, body: unknown) => {
    state.accept(key, body);
    let report = reports.get(key);
    if (!report) {
      report = {
        wid: randomBytes(16).toString('hex'),
        reference: `CSR-${String(reports.size + 1).padStart(6, '0')}`,
      };
      reports.set(key, report);
    }
    return report;
  };

  // Injected failures come after the credentials are checked (the ProviderSimulator contract).
  // SOAP clients read XML bodies, so an injected fault envelope is labelled as XML.
  const injected = async (soap: boolean): Promise<Response | undefined> => {
    const response = await state.nextFailure();
    if (!response || response.type === 'error' || !soap) return response;
    const text = await response.text();
    const headers = new Headers(response.headers);
    if (text.trimStart().startsWith('<')) headers.set('content-type', 'text/xml; charset=utf-8');
    return new HttpResponse(text, { status: response.status, headers });
  };

  // --- SOAP --------------------------------------------------------------------------------

  const checkUsernameToken = (envelope: XmlElement): boolean => {
    const headers = childrenOf(envelope, SOAP_ENV_NS, 'Header');
    const securities = childrenOf(headers[0], WSSE_NS, 'Security');
    if (headers.length !== 1 || securities.length !== 1) return false;
    const security = securities[0]!;
    if (attributeOf(security, SOAP_ENV_NS, 'mustUnderstand') !== '1') return false;
    const tokens = childrenOf(security, WSSE_NS, 'UsernameToken');
    if (tokens.length !== 1) return false;
    const user = childrenOf(tokens[0], WSSE_NS, 'Username');
    const secret = childrenOf(tokens[0], WSSE_NS, 'Password');
    if (user.length !== 1 || secret.length !== 1) return false;
    if (attributeOf(secret[0], '', 'Type') !== PASSWORD_TEXT_TYPE) return false;
    const userOk = safeEqual(user[0]!.text.trim(), username);
    const secretOk = safeEqual(secret[0]!.text, password);
    return userOk && secretOk;
  };

  const validateReport = (submit: XmlElement) => {
    const errors: WorkdayValidationErrorDetail[] = [];
    const missing = (local: string, xpath: string) =>
      errors.push({
        message: `Required field missing: ${local}`,
        detailMessage: `The element wd:${local} is required and must have a value`,
        xpath,
      });
    const report = childOf(submit, WD_NS, 'CSR_Impact_Report');
    if (!report) {
      missing('CSR_Impact_Report', '/ns0:Submit_CSR_Impact_Report[1]');
      return { errors };
    }
    const leaf = (parent: XmlElement | undefined, local: string, xpath: string) => {
      const value = childOf(parent, WD_NS, local)?.text.trim() ?? '';
      if (!value) missing(local, `${xpath}/ns0:${local}[1]`);
      return value;
    };
    const externalId = leaf(report, 'External_Reference_ID', SOAP_XPATH);
    const date = leaf(report, 'Report_Date', SOAP_XPATH);
    if (date && !isRealDate(date)) {
      errors.push({
        message: 'Invalid date',
        detailMessage: `'${date}' is not a valid xsd:date (YYYY-MM-DD)`,
        xpath: `${SOAP_XPATH}/ns0:Report_Date[1]`,
      });
    }
    const idXpath = `${SOAP_XPATH}/ns0:Worker_Reference[1]/ns0:ID[1]`;
    const id = childOf(childOf(report, WD_NS, 'Worker_Reference'), WD_NS, 'ID');
    const employeeId = id?.text.trim() ?? '';
    if (!employeeId) missing('ID', idXpath);
    else if (
      attributeOf(id, WD_NS, 'type') !== 'Employee_ID' ||
      (knownWorkers && !knownWorkers.has(employeeId))
    ) {
      const type = attributeOf(id, WD_NS, 'type') ?? '(none)';
      errors.push({
        message: `Invalid ID value.  '${employeeId}' is not a valid ID value for type = '${type}'`,
        detailMessage: `No worker has ${type === 'Employee_ID' ? 'Employee_ID' : `ID type '${type}' with value`} '${employeeId}'`,
        xpath: idXpath,
      });
    }
    const activityXpath = `${SOAP_XPATH}/ns0:CSR_Activity[1]`;
    const activity = childOf(report, WD_NS, 'CSR_Activity');
    if (!activity) missing('CSR_Activity', activityXpath);
    else {
      leaf(activity, 'Activity_Type', activityXpath);
      const value = leaf(activity, 'Value', activityXpath);
      if (value && (!DECIMAL.test(value) || Number(value) < 0)) {
        errors.push({
          message: 'Invalid value for Value',
          detailMessage: `'${value}' must be a decimal greater than or equal to 0`,
          xpath: `${activityXpath}/ns0:Value[1]`,
        });
      }
      leaf(activity, 'Unit_of_Measure', activityXpath);
    }
    return { errors, externalId };
  };

  const soapService = async ({ request, params }: { request: Request; params: Record<string, unknown> }) => {
    counters.soapRequests++;
    if (params.tenant !== tenant) {
      return fault(404, 'Client', `Invalid tenant: ${String(params.tenant)}`);
    }
    if (params.version !== undefined && !/^v\d+(\.\d+)?$/.test(String(params.version))) {
      return fault(404, 'Client', `Invalid web service version: ${String(params.version)}`);
    }
    if (!(request.headers.get('content-type') ?? '').toLowerCase().startsWith('text/xml')) {
      return fault(415, 'Client', 'SOAP 1.1 requests must be sent as text/xml');
    }
    // SOAP 1.1 §6.1.1: the client MUST send SOAPAction (a quoted URI, or "" for the request URI).
    if (!/^"[^"]*"$/.test(request.headers.get('soapaction') ?? '')) {
      return fault(500, 'Client', 'Missing or malformed SOAPAction header');
    }
    const text = await request.text();
    const envelope = parseXml(text);
    if (!envelope) return fault(500, 'Client', 'The request is not well-formed XML');
    if (envelope.ns !== SOAP_ENV_NS || envelope.local !== 'Envelope') {
      return fault(500, 'VersionMismatch', 'Expected a SOAP 1.1 Envelope');
    }
    if (!checkUsernameToken(envelope)) {
      counters.authFailures++;
      return fault(500, 'Client.authenticationError', 'invalid username or password');
    }
    const operation = childOf(envelope, SOAP_ENV_NS, 'Body')?.children[0];
    if (operation?.ns === WD_NS && operation.local === 'Get_CSR_Impact_Reports_Request') {
      return xml(
        buildWorkdayResponse('Get_CSR_Impact_Reports_Response', {
          'wd:Response_Results': {
            'wd:Total_Results': String(reports.size),
            'wd:Total_Pages': String(Math.max(1, reports.size)),
            'wd:Page_Results': String(Math.min(1, reports.size)),
            'wd:Page': '1',
          },
        }),
      );
    }
    if (operation?.ns !== WD_NS || operation.local !== 'Submit_CSR_Impact_Report') {
      return fault(500, 'Client', `Unrecognized operation: ${operation ? operation.local : '(empty Body)'}`);
    }
    const failure = await injected(true);
    if (failure) return failure;
    const { errors, externalId } = validateReport(operation);
    if (errors.length > 0) {
      return fault(500, 'Client.validationError', `Validation error occurred. ${errors[0]!.message}`, errors);
    }
    const key = request.headers.get('x-idempotency-key') ?? `External_Reference_ID:${externalId}`;
    const report = record(key, text);
    return xml(
      buildWorkdayResponse('Submit_CSR_Impact_Report_Response', {
        ...(attributeOf(operation, WD_NS, 'version')
          ? { '@_wd:version': attributeOf(operation, WD_NS, 'version') }
          : {}),
        'wd:CSR_Impact_Report_Reference': {
          'wd:ID': [
            { '@_wd:type': 'WID', '#text': report.wid },
            { '@_wd:type': 'CSR_Impact_Report_ID', '#text': report.reference },
          ],
        },
      }),
    );
  };

  // --- OAuth ---------------------------------------------------------------------------------

  const issue = (refreshToken: string | undefined) => {
    const accessToken = `wd_at_${randomBytes(24).toString('base64url')}`;
    accessTokens.set(accessToken, now() + lifetimeMs);
    return json(
      {
        access_token: accessToken,
        token_type: 'Bearer',
        expires_in: Math.round(lifetimeMs / 1000),
        ...(refreshToken ? { refresh_token: refreshToken } : {}),
      },
      200,
      { 'cache-control': 'no-store', pragma: 'no-cache' },
    );
  };

  const tokenEndpoint = async ({
    request,
    params,
  }: {
    request: Request;
    params: Record<string, unknown>;
  }) => {
    counters.tokenRequests++;
    if (params.tenant !== undefined && params.tenant !== tenant) {
      return oauthErrorResponse(400, 'invalid_request', `unknown tenant ${String(params.tenant)}`);
    }
    if (!(request.headers.get('content-type') ?? '').startsWith('application/x-www-form-urlencoded')) {
      return oauthErrorResponse(400, 'invalid_request', 'the body must be application/x-www-form-urlencoded');
    }
    const form = new URLSearchParams(await request.text());
    grants.push(form.get('grant_type') ?? '(none)');
    const basic = decodeBasic(request.headers.get('authorization'));
    if (basic && (form.has('client_id') || form.has('client_secret'))) {
      return oauthErrorResponse(400, 'invalid_request', 'use one client authentication method');
    }
    const id = basic?.id ?? form.get('client_id') ?? '';
    const secret = basic?.secret ?? form.get('client_secret') ?? '';
    const idOk = safeEqual(id, clientId);
    const secretOk = safeEqual(secret, clientSecret);
    if (!idOk || !secretOk) {
      counters.authFailures++;
      return oauthErrorResponse(
        401,
        'invalid_client',
        'Invalid client credentials',
        basic ? { 'www-authenticate': 'Basic realm="workday"' } : {},
      );
    }
    const grant = form.get('grant_type');
    if (grant === 'client_credentials') {
      let refreshToken: string | undefined;
      if (issueRefreshTokens) {
        refreshToken = `wd_rt_${randomUUID()}`;
        refreshTokens.add(refreshToken);
      }
      return issue(refreshToken);
    }
    if (grant === 'refresh_token') {
      const presented = form.get('refresh_token') ?? '';
      const valid =
        (safeEqual(presented, integrationRefreshToken) && !integrationTokenRevoked) ||
        refreshTokens.has(presented);
      if (!valid) return oauthErrorResponse(400, 'invalid_grant', 'Invalid refresh token');
      // Workday's refresh tokens do not rotate: the same one comes back.
      return issue(presented);
    }
    return oauthErrorResponse(
      400,
      'unsupported_grant_type',
      `grant_type ${grant ?? '(missing)'} is not supported`,
    );
  };

  /** `undefined` when the bearer token is good, else the 401 to send. */
  const checkBearer = (request: Request): Response | undefined => {
    const match = /^Bearer\s+(\S+)$/.exec(request.headers.get('authorization') ?? '');
    const refuse = (description?: string) => {
      counters.authFailures++;
      const challenge = description
        ? `Bearer realm="workday", error="invalid_token", error_description="${description}"`
        : 'Bearer realm="workday"';
      return json(
        {
          error: description ? 'invalid_token' : 'invalid_request',
          error_description: description ?? 'Bearer token required',
        },
        401,
        { 'www-authenticate': challenge },
      );
    };
    if (!match) return refuse();
    const expiresAt = accessTokens.get(match[1]!);
    if (expiresAt === undefined) return refuse('The access token is invalid');
    if (now() >= expiresAt) return refuse('The access token expired');
    return undefined;
  };

  // --- REST ----------------------------------------------------------------------------------

  const restCreate = async ({ request, params }: { request: Request; params: Record<string, unknown> }) => {
    counters.restRequests++;
    if (params.tenant !== tenant) return json({ error: `invalid tenant: ${String(params.tenant)}` }, 404);
    const denied = checkBearer(request);
    if (denied) return denied;
    const failure = await injected(false);
    if (failure) return failure;
    if (!(request.headers.get('content-type') ?? '').startsWith('application/json')) {
      return json({ error: 'Unsupported Media Type: send application/json' }, 415);
    }
    const text = await request.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return json({ error: 'invalid request: the body is not JSON' }, 400);
    }
    const parsed = RestReportSchema.safeParse(body);
    if (!parsed.success) {
      return json(
        {
          error: 'Validation error occurred',
          errors: parsed.error.issues.map((issue) => ({ field: issue.path.join('.'), error: issue.message })),
        },
        400,
      );
    }
    const report = parsed.data.impact_report;
    if (knownWorkers && !knownWorkers.has(report.worker.worker_id)) {
      return json(
        {
          error: 'Validation error occurred',
          errors: [
            {
              field: 'impact_report.worker.worker_id',
              error: `no worker with ID ${report.worker.worker_id}`,
            },
          ],
        },
        400,
      );
    }
    const key =
      request.headers.get('x-idempotency-key') ?? `external_reference_id:${report.external_reference_id}`;
    const duplicate = reports.has(key);
    const stored = record(key, parsed.data);
    return json(
      {
        id: stored.wid,
        descriptor: stored.reference,
        external_reference_id: report.external_reference_id,
        status: 'Submitted',
      },
      duplicate ? 200 : 201,
    );
  };

  const restList = ({ request, params }: { request: Request; params: Record<string, unknown> }) => {
    counters.restRequests++;
    if (params.tenant !== tenant) return json({ error: `invalid tenant: ${String(params.tenant)}` }, 404);
    const denied = checkBearer(request);
    if (denied) return denied;
    const limit = Math.max(
      1,
      Math.min(100, Number(new URL(request.url).searchParams.get('limit') ?? 20) || 20),
    );
    const data = [...reports.values()]
      .slice(0, limit)
      .map((report) => ({ id: report.wid, descriptor: report.reference }));
    return json({ total: reports.size, data }, 200);
  };

  return {
    provider: 'workday',
    tenant,
    get tokenRequests() {
      return counters.tokenRequests;
    },
    get grants() {
      return [...grants];
    },
    get authFailures() {
      return counters.authFailures;
    },
    get soapRequests() {
      return counters.soapRequests;
    },
    get restRequests() {
      return counters.restRequests;
    },
    handlers: (baseUrl: string): RequestHandler[] => [
      http.post(`${baseUrl}/ccx/service/:tenant/CSR_Impact_Report`, soapService),
      http.post(`${baseUrl}/ccx/service/:tenant/CSR_Impact_Report/:version`, soapService),
      http.post(`${baseUrl}/ccx/oauth2/:tenant/token`, tokenEndpoint),
      // Seed 002's WORKDAY_TOKEN_URL has no tenant segment.
      http.post(`${baseUrl}/ccx/oauth2/token`, tokenEndpoint),
      http.post(`${baseUrl}/api/v1/:tenant/csr-impact-reports`, restCreate),
      http.get(`${baseUrl}/api/v1/:tenant/csr-impact-reports`, restList),
    ],
    accepted: (): AcceptedDelivery[] => state.accepted(),
    failNext: (failure: InjectedFailure, count?: number) => state.failNext(failure, count),
    revokeAccessTokens: () => accessTokens.clear(),
    revokeRefreshTokens: () => {
      refreshTokens.clear();
      integrationTokenRevoked = true;
    },
    reset: () => {
      state.reset();
      accessTokens.clear();
      refreshTokens.clear();
      reports.clear();
      integrationTokenRevoked = false;
      grants.length = 0;
      counters.tokenRequests = 0;
      counters.authFailures = 0;
      counters.soapRequests = 0;
      counters.restRequests = 0;
    },
  };
}
