/** The zod instance core validates with; connectors can build their config schemas with it. */
export { z } from 'zod';
export { type Clock, systemClock } from './clock.js';
export {
  type AnyConnector,
  type AnyConnectorBinding,
  bindConnector,
  type Connector,
  type ConnectorBinding,
  type ConnectorConfig,
  type ConnectorContext,
  type DeliverInput,
  type DeliverResult,
  defineConnector,
  type FieldIssue,
  type HealthResult,
  type IdentityDirectory,
  type ImportItem,
  type ImportOptions,
  type RawRequest,
} from './connector.js';
export {
  type BulkReplayResult,
  createDispatcher,
  type Dispatcher,
  type DispatcherOptions,
  type ReplayResult,
  UnknownProviderError,
} from './dispatcher.js';
export {
  classifyError,
  classifyStatus,
  DeliveryValidationError,
  type ErrorKind,
  errorFromResponse,
  formatFieldPath,
  ImpactInError,
  type ImpactInErrorOptions,
  InboundValidationError,
  PermanentError,
  parseRetryAfter,
  RETRYABLE_NETWORK_CODES,
  RetryableError,
  WebhookVerificationError,
} from './errors.js';
export {
  createHttpClient,
  type HttpClient,
  type HttpClientOptions,
  type HttpRequest,
  type HttpResponse,
} from './http-client.js';
export {
  type AttemptOutcome,
  type BlobStore,
  type BusMessage,
  type ClaimOptions,
  type DeliveryQuery,
  type DeliveryStore,
  type EventBus,
  type NewDelivery,
  type Notification,
  type Notifier,
  type StoredToken,
  type SubscribeOptions,
  type Subscription,
  type TokenStore,
  tokenKey,
} from './interfaces.js';
export { type Logger, maskSecret, noopLogger, redactSecrets } from './logger.js';
export { MemoryBlobStore } from './memory/blob-store.js';
export { MemoryDeliveryStore } from './memory/delivery-store.js';
export { MemoryEventBus, subjectMatches } from './memory/event-bus.js';
export { MemoryNotifier } from './memory/notifier.js';
export { MemoryTokenStore } from './memory/token-store.js';
export { createOAuthClient, type OAuthClient, type OAuthConfig, type OAuthContext } from './oauth.js';
export {
  createRateLimiter,
  type RateLimiter,
  type RateLimiterOptions,
  type RateLimitSpec,
} from './rate-limiter.js';
export {
  computeRetryDelay,
  DEFAULT_RETRY_POLICY,
  hasAttemptsLeft,
  type RetryPolicy,
  resolveRetryPolicy,
} from './retry-policy.js';
export {
  type DeliverRequest,
  DeliverRequestSchema,
  type Delivery,
  DeliverySchema,
  type DeliveryStats,
  type DeliveryStatus,
  DeliveryStatusSchema,
  findUnstorableText,
  type ImpactEvent,
  ImpactEventSchema,
  type InboundRecord,
  InboundRecordSchema,
  ProviderId,
  type ProviderResponse,
  storableText,
} from './schemas.js';
export { createSecretBox, type SecretBox, type SecretBoxOptions } from './secret-box.js';
export {
  hmacSha256,
  safeEqual,
  signStandardWebhook,
  signTimestamped,
  type VerifyFailure,
  type VerifyResult,
  verifyHmacSha256,
  verifyStandardWebhook,
  verifyTimestamped,
} from './signing.js';
