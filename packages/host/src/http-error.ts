import { formatFieldPath } from '@impact-in/core';

/** An error the API answers with `{ "error": { code, message, details } }` and its status. */
export class HttpError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 409 | 413 | 415 | 422 | 429 | 500 | 503,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    /** Extra response headers, e.g. `Retry-After`. */
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** Issues from zod as `details`: each names its field. */
export function fieldDetails(
  issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>,
  prefix = '',
): Array<{ field: string; message: string }> {
  return issues.map((issue) => ({
    field: formatFieldPath(issue.path, prefix) || '(body)',
    message: issue.message,
  }));
}
