export {
  ApiKeyConfigSchema,
  BENEVITY_ENV,
  BENEVITY_SECRETS,
  type BenevityApiKeyConfig,
  type BenevityConfig,
  type BenevityConfigInput,
  BenevityConfigSchema,
  type BenevityOAuthConfig,
  fromEnv,
  OAuthConfigSchema,
} from './config.js';
export {
  type BenevityErrorBody,
  benevity,
  /** The same connector under the name plugin loaders (the host's `IMPACT_IN_PLUGINS`) look for. */
  benevity as connector,
  classifyBenevityResponse,
  readBenevityError,
} from './connector.js';
export {
  BENEVITY_INGEST_KINDS,
  BENEVITY_WEBHOOK_TYPES,
  type BenevityDonation,
  BenevityDonationBatchSchema,
  BenevityDonationSchema,
  type BenevityIngestKind,
  type BenevityVolunteer,
  BenevityVolunteerBatchSchema,
  BenevityVolunteerSchema,
  type BenevityWebhook,
  BenevityWebhookSchema,
  parseBenevityIngest,
  parseBenevityWebhook,
  verifyBenevityWebhook,
} from './inbound.js';
export {
  BENEVITY_SCHEMA_VERSION,
  type BenevityImpactEventV1,
  type BenevityMetadataValue,
  IMPACT_EVENTS_PATH,
  PING_PATH,
  SIGNATURE_HEADER,
  signBenevityBody,
  toBenevityPayload,
} from './payload.js';
