export { type Access, createApp, defineRoutes, type HostedConnector, type RouteDefinition } from './app.js';
export { ConfigError, type HostEnv, HostEnvSchema, loadHostEnv } from './config.js';
export { createHost, type Host, type HostOptions, INTAKE_SUBJECT, NotMigratedError } from './host.js';
export { HttpError } from './http-error.js';
export { acceptInbound, inboundSubject } from './inbound.js';
export { createLogger, redactSecrets } from './logger.js';
export { createMetrics, type Metrics } from './metrics.js';
export { buildOpenApi } from './openapi.js';
export { serve } from './serve.js';
export {
  ApiKeyAuthenticator,
  createApiKey,
  createTenant,
  type Principal,
  type Role,
  roleAllows,
  tenantExists,
} from './tenants.js';
