import {
  type InboundRecord,
  InboundValidationError,
  PermanentError,
  type RawRequest,
  safeEqual,
  WebhookVerificationError,
  z,
} from '@impact-in/core';
import {
  attribute,
  child,
  children,
  PASSWORD_TEXT_TYPE,
  parseXml,
  SOAP_ENV_NS,
  WD_NS,
  WSSE_NS,
  type XmlElement,
  XmlSyntaxError,
} from './xml.js';

const PROVIDER = 'workday';

const required = (what = 'is required') => ({ error: what });
const nonEmpty = (what?: string) =>
  z
    .string(required(what))
    .trim()
    .min(1, what ?? 'must not be empty');

// --- Directory ingest (`POST /v1/ingest/workday/directory`) --------------------------------

const DirectoryWorkerSchema = z.object({
  id: nonEmpty().max(200),
  name: nonEmpty().max(300),
  email: z.email(required('must be an email address')),
  department: nonEmpty().max(200),
  /** The manager's worker id; `null` or absent at the top of the hierarchy. */
  manager: nonEmpty().max(200).nullable().optional(),
});

const DirectoryPayloadSchema = z
  .object({ workers: z.array(DirectoryWorkerSchema, required('must be an array of workers')).min(1) })
  .superRefine((payload, context) => {
    const seen = new Map<string, number>();
    payload.workers.forEach((worker, index) => {
      const first = seen.get(worker.id);
      if (first !== undefined) {
        context.addIssue({
          code: 'custom',
          path: ['workers', index, 'id'],
          message: `duplicates workers[${first}].id`,
        });
      } else {
        seen.set(worker.id, index);
      }
      if (worker.manager && worker.manager === worker.id) {
        context.addIssue({
          code: 'custom',
          path: ['workers', index, 'manager'],
          message: 'a worker cannot be their own manager',
        });
      }
    });
  });

export type DirectoryPayload = z.input<typeof DirectoryPayloadSchema>;

/**
 * Parses a directory payload (`{ workers: [{ id, name, email, department, manager }] }`) into
 * one `worker` record per worker. Every bad field is reported by name (`workers[1].email`).
 *
 * @example
 * parseDirectory({ workers: [{ id: '21001', name: 'Logan McNeil', email: 'logan@example.com',
 *   department: 'Global Support', manager: '21000' }] }, 'company_789');
 */
export function parseDirectory(body: unknown, companyId?: string): InboundRecord[] {
  let input = body;
  if (typeof body === 'string' || body instanceof Uint8Array) {
    try {
      input = JSON.parse(typeof body === 'string' ? body : Buffer.from(body).toString('utf8'));
    } catch {
      throw new InboundValidationError(PROVIDER, [{ path: '(body)', message: 'is not valid JSON' }]);
    }
  }
  const parsed = DirectoryPayloadSchema.safeParse(input);
  if (!parsed.success) throw InboundValidationError.fromZod(PROVIDER, parsed.error);
  return parsed.data.workers.map((worker) => ({
    provider: PROVIDER,
    kind: 'worker',
    sourceId: worker.id,
    ...(companyId ? { companyId } : {}),
    data: {
      workerId: worker.id,
      name: worker.name,
      email: worker.email,
      department: worker.department,
      managerId: worker.manager ?? null,
    },
  }));
}

// --- Webhook: WS-Security UsernameToken, then a directory change notification ---------------

/** The credentials a Workday outbound notification must carry. */
export interface WebhookCredentials {
  username?: string | undefined;
  password?: string | undefined;
}

function refuse(reason: string): never {
  throw new WebhookVerificationError(PROVIDER, reason);
}

function only(element: XmlElement | undefined, ns: string, local: string, what: string): XmlElement {
  const found = children(element, ns, local);
  if (found.length === 0) refuse(`missing ${what}`);
  if (found.length > 1) refuse(`more than one ${what}`);
  return found[0]!;
}

/**
 * Checks the WS-Security UsernameToken of a SOAP envelope against the configured credentials, in
 * constant time, and returns the parsed envelope. Refuses (with {@link WebhookVerificationError})
 * unconfigured credentials, bytes that are not UTF-8 XML, a missing, repeated or digest token,
 * and a wrong username or password.
 *
 * Note: a PasswordText token authenticates the sender; it does not sign the body. Serve the
 * webhook over HTTPS only.
 */
export function verifyUsernameToken(body: Uint8Array, credentials: WebhookCredentials): XmlElement {
  if (!credentials.username || !credentials.password)
    refuse('webhookUsername and webhookPassword are not configured');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    refuse('body is not UTF-8');
  }
  let root: XmlElement;
  try {
    root = parseXml(text);
  } catch (error) {
    if (error instanceof XmlSyntaxError) refuse(`malformed XML: ${error.message}`);
    throw error;
  }
  if (root.ns !== SOAP_ENV_NS || root.local !== 'Envelope') refuse('not a SOAP 1.1 envelope');
  const header = children(root, SOAP_ENV_NS, 'Header');
  if (header.length > 1) refuse('more than one SOAP Header');
  const security = only(header[0], WSSE_NS, 'Security', 'WS-Security header');
  const token = only(security, WSSE_NS, 'UsernameToken', 'UsernameToken');
  const username = only(token, WSSE_NS, 'Username', 'UsernameToken Username');
  const password = only(token, WSSE_NS, 'Password', 'UsernameToken Password');
  const type = attribute(password, '', 'Type');
  // The profile makes PasswordText the default Type; a digest cannot be checked against a stored password here.
  if (type !== undefined && type !== PASSWORD_TEXT_TYPE) refuse('unsupported UsernameToken password type');
  // Both comparisons always run, so the timing does not say which one failed.
  const usernameMatches = safeEqual(username.text.trim(), credentials.username);
  const passwordMatches = safeEqual(password.text, credentials.password);
  if (!usernameMatches || !passwordMatches) refuse('wrong UsernameToken username or password');
  return root;
}

const EmployeeIdSchema = nonEmpty('needs a wd:ID with wd:type="Employee_ID"').max(200);

const CurrentWorkerSchema = z.object({
  Worker_Reference: EmployeeIdSchema,
  Name: nonEmpty().max(300),
  Email_Address: z.email(required('must be an email address')),
  Department: nonEmpty().max(200),
  Manager_Reference: EmployeeIdSchema.optional(),
});

const WorkerChangeSchema = z.discriminatedUnion('Change_Type', [
  z.object({
    Change_Type: z.enum(['Hire', 'Update']),
    Effective_Date: z.iso.date(required('must be a date (YYYY-MM-DD)')),
    Worker: CurrentWorkerSchema,
  }),
  z.object({
    Change_Type: z.literal('Termination'),
    Effective_Date: z.iso.date(required('must be a date (YYYY-MM-DD)')),
    // A termination need only say who left.
    Worker: CurrentWorkerSchema.partial().required({ Worker_Reference: true }),
  }),
]);

const NotificationSchema = z.object({
  Directory_Change_Notification: z.object(
    {
      Notification_ID: nonEmpty().max(200),
      Sent_On: z.iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time' }),
      Worker_Change: z.array(WorkerChangeSchema).min(1, 'needs at least one wd:Worker_Change'),
    },
    required('is required as the SOAP Body'),
  ),
});

function leaf(element: XmlElement | undefined, local: string): string | undefined {
  const found = child(element, WD_NS, local);
  return found ? found.text.trim() : undefined;
}

function employeeId(reference: XmlElement | undefined): string | undefined {
  return children(reference, WD_NS, 'ID')
    .find((id) => attribute(id, WD_NS, 'type') === 'Employee_ID')
    ?.text.trim();
}

/** The notification as plain values, named as in the XML so validation issues point at elements. */
function notificationValues(body: XmlElement | undefined) {
  const notification = child(body, WD_NS, 'Directory_Change_Notification');
  if (!notification) return { Directory_Change_Notification: undefined };
  return {
    Directory_Change_Notification: {
      Notification_ID: leaf(notification, 'Notification_ID'),
      Sent_On: leaf(notification, 'Sent_On'),
      Worker_Change: children(notification, WD_NS, 'Worker_Change').map((change) => {
        const worker = child(change, WD_NS, 'Worker');
        return {
          Change_Type: leaf(change, 'Change_Type'),
          Effective_Date: leaf(change, 'Effective_Date'),
          Worker: worker && {
            Worker_Reference: employeeId(child(worker, WD_NS, 'Worker_Reference')),
            Name: leaf(worker, 'Name'),
            Email_Address: leaf(worker, 'Email_Address'),
            Department: leaf(worker, 'Department'),
            Manager_Reference: employeeId(child(worker, WD_NS, 'Manager_Reference')),
          },
        };
      }),
    },
  };
}

/**
 * Parses a verified `wd:Directory_Change_Notification` envelope into `worker.change` records
 * (one per `wd:Worker_Change`). Issues name elements, e.g.
 * `Directory_Change_Notification.Worker_Change[1].Worker.Email_Address`.
 */
export function parseDirectoryNotification(envelope: XmlElement, companyId?: string): InboundRecord[] {
  const bodies = children(envelope, SOAP_ENV_NS, 'Body');
  if (bodies.length !== 1)
    throw new InboundValidationError(PROVIDER, [{ path: 'Body', message: 'needs exactly one SOAP Body' }]);
  const parsed = NotificationSchema.safeParse(notificationValues(bodies[0]));
  if (!parsed.success) throw InboundValidationError.fromZod(PROVIDER, parsed.error);
  const notification = parsed.data.Directory_Change_Notification;
  return notification.Worker_Change.map((change, index) => ({
    provider: PROVIDER,
    kind: 'worker.change',
    // Stable across re-sends of the same notification, so the host drops duplicates.
    sourceId: `${notification.Notification_ID}/${index + 1}`,
    ...(companyId ? { companyId } : {}),
    occurredAt: notification.Sent_On,
    data: {
      notificationId: notification.Notification_ID,
      changeType: change.Change_Type.toLowerCase(),
      effectiveDate: change.Effective_Date,
      workerId: change.Worker.Worker_Reference,
      name: change.Worker.Name ?? null,
      email: change.Worker.Email_Address ?? null,
      department: change.Worker.Department ?? null,
      managerId: change.Worker.Manager_Reference ?? null,
    },
  }));
}

/**
 * The connector's `webhook`: verifies the UsernameToken, then parses the notification.
 *
 * @example
 * const records = await handleWebhook(rawRequest, { username: 'wd_notify', password }, 'company_789');
 */
export function handleWebhook(
  request: RawRequest,
  credentials: WebhookCredentials,
  companyId?: string,
): InboundRecord[] {
  const envelope = verifyUsernameToken(request.body, credentials);
  return parseDirectoryNotification(envelope, companyId);
}

/** The connector's `ingest`: only `directory` is a Workday ingest kind. */
export function handleIngest(kind: string, body: unknown, companyId?: string): InboundRecord[] {
  if (kind !== 'directory') {
    throw new PermanentError(`[impact-in] [workday] unknown ingest kind "${kind}" (known: directory)`, {
      code: 'unsupported',
    });
  }
  return parseDirectory(body, companyId);
}
