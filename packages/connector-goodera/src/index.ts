export {
  fromEnv,
  GOODERA_ENV,
  GOODERA_RATE_LIMIT,
  type GooderaConfig,
  type GooderaConfigInput,
  GooderaConfigSchema,
} from './config.js';
export { goodera } from './connector.js';
export {
  GOODERA_INGEST_KINDS,
  type GooderaDonation,
  GooderaDonationSchema,
  GooderaDonationsBatchSchema,
  type GooderaIngestKind,
  type GooderaVolunteer,
  GooderaVolunteerSchema,
  GooderaVolunteersBatchSchema,
  GooderaWebhookSchema,
  parseDonations,
  parseIngest,
  parseVolunteers,
  parseWebhookBody,
} from './inbound.js';
export {
  classifyGooderaResponse,
  GOODERA_EVENTS_PATH,
  GOODERA_PING_PATH,
  GOODERA_SCHEMA_VERSION,
  type GooderaDimension,
  type GooderaImpactPayload,
  toGooderaPayload,
} from './outbound.js';
export { bodySha256, verifyGooderaWebhook } from './webhook.js';
