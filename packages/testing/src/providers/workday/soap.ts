import { buildXml, PASSWORD_TEXT_TYPE, SOAP_ENV_NS, WD_NS, WSSE_NS } from './xml.js';

/** One `wd:Validation_Error` in a Workday validation fault. */
export interface WorkdayValidationErrorDetail {
  message: string;
  detailMessage: string;
  xpath: string;
}

export interface WorkdayFaultInput {
  /** Local part in the SOAP-ENV namespace: `Client.authenticationError`, `Server.processingError`, … */
  code: string;
  faultstring: string;
  validationErrors?: WorkdayValidationErrorDetail[];
}

/**
 * A SOAP 1.1 fault envelope shaped like Workday's (`SOAP-ENV:` prefix, unqualified `faultcode`,
 * `wd:Validation_Fault` detail). Use it as a `failNext` body to inject a specific fault.
 *
 * @example
 * simulator.failNext({ kind: 'status', status: 500,
 *   body: buildWorkdayFault({ code: 'Server.processingError', faultstring: 'Try again later' }) });
 */
export function buildWorkdayFault(input: WorkdayFaultInput): string {
  const detail = input.validationErrors?.length
    ? {
        detail: {
          'wd:Validation_Fault': {
            'wd:Validation_Error': input.validationErrors.map((error) => ({
              'wd:Message': error.message,
              'wd:Detail_Message': error.detailMessage,
              'wd:Xpath': error.xpath,
            })),
          },
        },
      }
    : {};
  return buildXml({
    'SOAP-ENV:Envelope': {
      '@_xmlns:SOAP-ENV': SOAP_ENV_NS,
      'SOAP-ENV:Body': {
        'SOAP-ENV:Fault': {
          '@_xmlns:wd': WD_NS,
          faultcode: `SOAP-ENV:${input.code}`,
          faultstring: input.faultstring,
          ...detail,
        },
      },
    },
  });
}

/** A SOAP response envelope around one `wd:` element. */
export function buildWorkdayResponse(element: string, content: Record<string, unknown>): string {
  return buildXml({
    'env:Envelope': {
      '@_xmlns:env': SOAP_ENV_NS,
      'env:Body': { [`wd:${element}`]: { '@_xmlns:wd': WD_NS, ...content } },
    },
  });
}

/** One worker change in a directory change notification. */
export interface DirectoryChangeInput {
  changeType: 'Hire' | 'Update' | 'Termination';
  /** `YYYY-MM-DD` */
  effectiveDate: string;
  workerId: string;
  name?: string;
  email?: string;
  department?: string;
  managerId?: string;
}

export interface DirectoryNotificationInput {
  notificationId: string;
  /** ISO 8601 date-time. */
  sentOn: string;
  changes: DirectoryChangeInput[];
}

const employeeReference = (id: string) => ({ 'wd:ID': { '@_wd:type': 'Employee_ID', '#text': id } });

/**
 * The SOAP message Workday's outbound integration posts to `/webhooks/workday` when workers
 * change, authenticated by a WS-Security UsernameToken (PasswordText). The host's demo sends these.
 *
 * @example
 * const body = buildDirectoryNotification({ notificationId: 'NTF-1', sentOn: '2025-11-14T10:05:00Z',
 *   changes: [{ changeType: 'Hire', effectiveDate: '2025-11-14', workerId: '21001', name: 'Logan McNeil',
 *     email: 'logan.mcneil@example.com', department: 'Global Support', managerId: '21000' }] },
 *   { username: WORKDAY_TEST_CREDENTIALS.webhookUsername, password: WORKDAY_TEST_CREDENTIALS.webhookPassword });
 */
export function buildDirectoryNotification(
  input: DirectoryNotificationInput,
  credentials: { username: string; password: string },
): string {
  return buildXml({
    'soapenv:Envelope': {
      '@_xmlns:soapenv': SOAP_ENV_NS,
      '@_xmlns:wsse': WSSE_NS,
      '@_xmlns:wd': WD_NS,
      'soapenv:Header': {
        'wsse:Security': {
          '@_soapenv:mustUnderstand': '1',
          'wsse:UsernameToken': {
            'wsse:Username': credentials.username,
            'wsse:Password': { '@_Type': PASSWORD_TEXT_TYPE, '#text': credentials.password },
          },
        },
      },
      'soapenv:Body': {
        'wd:Directory_Change_Notification': {
          'wd:Notification_ID': input.notificationId,
          'wd:Sent_On': input.sentOn,
          'wd:Worker_Change': input.changes.map((change) => ({
            'wd:Change_Type': change.changeType,
            'wd:Effective_Date': change.effectiveDate,
            'wd:Worker': {
              'wd:Worker_Reference': employeeReference(change.workerId),
              ...(change.name !== undefined ? { 'wd:Name': change.name } : {}),
              ...(change.email !== undefined ? { 'wd:Email_Address': change.email } : {}),
              ...(change.department !== undefined ? { 'wd:Department': change.department } : {}),
              ...(change.managerId !== undefined
                ? { 'wd:Manager_Reference': employeeReference(change.managerId) }
                : {}),
            },
          })),
        },
      },
    },
  });
}
