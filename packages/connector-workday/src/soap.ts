import {
  type HttpResponse,
  type ImpactInError,
  PermanentError,
  parseRetryAfter,
  RetryableError,
} from '@impact-in/core';
import type { WorkdaySoapReport } from './mapping.js';
import {
  buildXml,
  child,
  children,
  hasNonXmlCharacter,
  PASSWORD_TEXT_TYPE,
  parseXml,
  resolveQName,
  SOAP_ENV_NS,
  WD_NS,
  WSSE_NS,
  XmlSyntaxError,
} from './xml.js';

/** WS-Security UsernameToken credentials. */
export interface UsernameToken {
  username: string;
  password: string;
}

function checkXmlSafe(fields: Record<string, string>): void {
  for (const [field, value] of Object.entries(fields)) {
    if (hasNonXmlCharacter(value)) {
      throw new PermanentError(
        `[impact-in] [workday] ${field} holds a character XML 1.0 cannot carry (a control character or a lone surrogate)`,
        { code: 'validation' },
      );
    }
  }
}

function envelope(token: UsernameToken, body: Record<string, unknown>): string {
  return buildXml({
    'soapenv:Envelope': {
      '@_xmlns:soapenv': SOAP_ENV_NS,
      '@_xmlns:wsse': WSSE_NS,
      '@_xmlns:wd': WD_NS,
      'soapenv:Header': {
        'wsse:Security': {
          '@_soapenv:mustUnderstand': '1',
          'wsse:UsernameToken': {
            'wsse:Username': token.username,
            'wsse:Password': { '@_Type': PASSWORD_TEXT_TYPE, '#text': token.password },
          },
        },
      },
      'soapenv:Body': body,
    },
  });
}

/**
 * Builds seed 002's `Submit_CSR_Impact_Report` envelope with a WS-Security UsernameToken header.
 * fast-xml-parser's builder escapes every value; characters XML cannot carry at all are refused.
 *
 * @example
 * const xml = buildSubmitEnvelope(toSoapReport(event), { username: 'isu@acme', password }, 'v45.1');
 */
export function buildSubmitEnvelope(
  report: WorkdaySoapReport,
  token: UsernameToken,
  version?: string,
): string {
  checkXmlSafe({
    'event.eventId': report.externalReferenceId,
    'event.userId': report.employeeId,
    'event.eventType (Activity_Type)': report.activityType,
    'event.unit': report.unitOfMeasure,
    username: token.username,
    password: token.password,
  });
  return envelope(token, {
    'wd:Submit_CSR_Impact_Report': {
      ...(version ? { '@_wd:version': version } : {}),
      'wd:CSR_Impact_Report': {
        'wd:External_Reference_ID': report.externalReferenceId,
        'wd:Report_Date': report.reportDate,
        'wd:Worker_Reference': { 'wd:ID': { '@_wd:type': 'Employee_ID', '#text': report.employeeId } },
        'wd:CSR_Activity': {
          'wd:Activity_Type': report.activityType,
          'wd:Value': report.value,
          'wd:Unit_of_Measure': report.unitOfMeasure,
        },
      },
    },
  });
}

/**
 * A read-only request for one report: what `health` sends to check the endpoint and the
 * credentials without submitting anything.
 */
export function buildProbeEnvelope(token: UsernameToken, version?: string): string {
  checkXmlSafe({ username: token.username, password: token.password });
  return envelope(token, {
    'wd:Get_CSR_Impact_Reports_Request': {
      ...(version ? { '@_wd:version': version } : {}),
      'wd:Response_Filter': { 'wd:Page': '1', 'wd:Count': '1' },
    },
  });
}

const PASSWORD_OPEN = '<wsse:Password';
const PASSWORD_CLOSE = '</wsse:Password>';

/**
 * The envelope as sent, with the UsernameToken password replaced by `********`: what the delivery
 * log keeps, since the password travels in the body.
 *
 * @example redactEnvelope(xml).includes(password) // false
 */
export function redactEnvelope(xml: string): string {
  const start = xml.indexOf(PASSWORD_OPEN);
  if (start < 0) return xml;
  const open = xml.indexOf('>', start) + 1;
  const close = xml.indexOf(PASSWORD_CLOSE, open);
  if (open === 0 || close < 0) return xml;
  return `${xml.slice(0, open)}********${xml.slice(close)}`;
}

/** One `wd:Validation_Error` of a Workday validation fault. */
export interface WorkdayValidationError {
  message: string;
  detailMessage: string;
  xpath: string;
}

/** A SOAP 1.1 fault as Workday sends it. */
export interface SoapFault {
  /** The faultcode as written, e.g. `SOAP-ENV:Client.validationError`. */
  faultcode: string;
  /** Its local part when it is in the SOAP envelope namespace, e.g. `Client.validationError`. */
  code: string | undefined;
  faultstring: string;
  validationErrors: WorkdayValidationError[];
}

function text(element: { text: string } | undefined): string {
  return element ? element.text.trim() : '';
}

// faultcode and friends are unqualified in SOAP 1.1, though some stacks qualify them.
function faultChild(fault: Parameters<typeof child>[0], local: string) {
  return child(fault, '', local) ?? child(fault, SOAP_ENV_NS, local);
}

/**
 * Parses a SOAP 1.1 fault out of a response body; `undefined` when the body is not a SOAP fault.
 *
 * @example parseSoapFault(response.text())?.code // 'Client.authenticationError'
 */
export function parseSoapFault(body: string): SoapFault | undefined {
  if (!body.trimStart().startsWith('<')) return undefined;
  let root: ReturnType<typeof parseXml>;
  try {
    root = parseXml(body);
  } catch (error) {
    if (error instanceof XmlSyntaxError) return undefined;
    throw error;
  }
  if (root.ns !== SOAP_ENV_NS || root.local !== 'Envelope') return undefined;
  const fault = child(child(root, SOAP_ENV_NS, 'Body'), SOAP_ENV_NS, 'Fault');
  if (!fault) return undefined;
  const codeElement = faultChild(fault, 'faultcode');
  const faultcode = text(codeElement);
  const qname = codeElement ? resolveQName(codeElement, faultcode) : undefined;
  const validationErrors = children(
    child(faultChild(fault, 'detail'), WD_NS, 'Validation_Fault'),
    WD_NS,
    'Validation_Error',
  ).map((error) => ({
    message: text(child(error, WD_NS, 'Message')),
    detailMessage: text(child(error, WD_NS, 'Detail_Message')),
    xpath: text(child(error, WD_NS, 'Xpath')),
  }));
  return {
    faultcode,
    code: qname?.ns === SOAP_ENV_NS ? qname.local : undefined,
    faultstring: text(faultChild(fault, 'faultstring')),
    validationErrors,
  };
}

function describeValidation(errors: WorkdayValidationError[]): string {
  const shown = errors.slice(0, 5).map((error) => {
    const parts = [`Message: ${error.message}`];
    if (error.detailMessage && error.detailMessage !== error.message)
      parts.push(`Detail_Message: ${error.detailMessage}`);
    if (error.xpath) parts.push(`Xpath: ${error.xpath}`);
    return parts.join(', ');
  });
  return shown.join(' | ') + (errors.length > 5 ? ` (+${errors.length - 5} more)` : '');
}

/**
 * Turns a SOAP fault into the error the dispatcher records: `Client.authenticationError` (sent
 * with HTTP 500) and `Client.validationError` are permanent, with Workday's messages and XPaths in
 * the text; `Server…` faults are retryable; other faults follow the HTTP status.
 */
export function errorFromSoapFault(fault: SoapFault, response: HttpResponse): ImpactInError {
  const status = response.status;
  const where = `SOAP fault ${fault.faultcode || '(no faultcode)'} (HTTP ${status})`;
  const prefix = `[impact-in] [workday] ${where}`;
  const code = fault.code ?? '';
  if (code === 'Client.authenticationError') {
    return new PermanentError(
      `${prefix}: ${fault.faultstring || 'authentication failed'}; check the Integration System User's username and password`,
      { code: 'authentication_error', status },
    );
  }
  if (code === 'Client.validationError') {
    const details = describeValidation(fault.validationErrors);
    return new PermanentError(`${prefix}: ${fault.faultstring}${details ? ` — ${details}` : ''}`, {
      code: 'validation_error',
      status,
    });
  }
  const message = `${prefix}: ${fault.faultstring}`;
  if (code.startsWith('Server')) {
    return new RetryableError(message, {
      code: 'soap_server_fault',
      status,
      retryAfterMs: parseRetryAfter(response.headers['retry-after']),
    });
  }
  if (code.startsWith('Client') || code === 'VersionMismatch' || code === 'MustUnderstand') {
    return new PermanentError(message, { code: 'soap_client_fault', status });
  }
  // A faultcode outside the SOAP namespace says nothing about retrying: let the status decide.
  return status === 429 || status >= 500
    ? new RetryableError(message, {
        code: 'soap_fault',
        status,
        retryAfterMs: parseRetryAfter(response.headers['retry-after']),
      })
    : new PermanentError(message, { code: 'soap_fault', status });
}

/**
 * `classifyResponse` for Workday: SOAP faults are parsed and classified; anything else (JSON
 * errors, plain 503s, successes) gets the default status table.
 */
export function classifyWorkdayResponse(response: HttpResponse): ImpactInError | null | undefined {
  const contentType = response.headers['content-type'] ?? '';
  const body = response.text();
  if (!contentType.includes('xml') && !body.trimStart().startsWith('<')) return undefined;
  const fault = parseSoapFault(body);
  return fault ? errorFromSoapFault(fault, response) : undefined;
}
