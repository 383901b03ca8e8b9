import type { AppDependencies, RouteDefinition } from '../app.js';

/**
 * Routes of CSV imports (`/v1/import/sessions`) and the Kintell session webhooks
 * (`/v1/webhooks/session-scheduled`, `/v1/webhooks/session-completed`).
 */
export function defineImportRoutes(_deps: AppDependencies): RouteDefinition[] {
  return [];
}
