import type { ColumnType, Generated } from 'kysely';
import type { ImportTables } from './schema-imports.js';

type Timestamp = ColumnType<Date, Date | string, Date | string>;
type Json = ColumnType<unknown, string, string>;

/** `impact_deliveries` (seed 002): the durable delivery log and work queue. */
export interface DeliveriesTable {
  id: string;
  company_id: string;
  provider: string;
  delivery_id: string;
  event_id: string;
  event: Json;
  /** `json`, not `jsonb`: kept byte for byte as sent (key order, number format). */
  payload: ColumnType<unknown, string | null, string | null>;
  status: 'pending' | 'retrying' | 'success' | 'failed';
  attempt_count: Generated<number>;
  replay_count: Generated<number>;
  last_error: string | null;
  provider_response: ColumnType<unknown, string | null, string | null>;
  next_attempt_at: Timestamp | null;
  delivered_at: Timestamp | null;
  created_at: Timestamp;
  updated_at: Timestamp;
  lease_owner: string | null;
  lease_expires_at: Timestamp | null;
}

/** `impact_provider_tokens` (seed 002): OAuth tokens per (tenant, provider, client id). */
export interface ProviderTokensTable {
  key: string;
  /** The serialised token; the host seals it with its secret box before it gets here. */
  token: string;
  expires_at: Timestamp;
  updated_at: Timestamp;
}

export interface TenantsTable {
  id: string;
  name: string;
  created_at: Timestamp;
}

/** API keys are stored as SHA-256 hashes; the plaintext is shown once, at creation. */
export interface ApiKeysTable {
  id: string;
  tenant_id: string;
  role: 'viewer' | 'operator' | 'admin';
  /** The first characters of the key, to recognise it in listings. */
  prefix: string;
  hash: string;
  name: string | null;
  created_at: Timestamp;
  revoked_at: Timestamp | null;
}

/** A tenant's own config of one connector: enabled or not, the config sealed. */
export interface TenantIntegrationsTable {
  tenant_id: string;
  provider: string;
  enabled: boolean;
  /** `ib1:<keyId>:…`: the config JSON, sealed with the secret box under the tenant's key. */
  config_sealed: string | null;
  last_health: ColumnType<unknown, string | null, string | null>;
  updated_at: Timestamp;
}

/** Append-only audit trail (a trigger refuses updates and deletes). */
export interface AuditLogTable {
  id: Generated<string>;
  tenant_id: string;
  /** The API key id, the OIDC subject, or `cli`. */
  actor: string;
  actor_type: 'api_key' | 'oidc' | 'cli';
  action: string;
  target: string | null;
  ip: string | null;
  before: ColumnType<unknown, string | null, string | null>;
  after: ColumnType<unknown, string | null, string | null>;
  created_at: Timestamp;
}

/** Records that came in (webhooks, ingest), deduplicated by the provider's own id. */
export interface InboundRecordsTable {
  id: string;
  company_id: string;
  provider: string;
  kind: string;
  source_id: string;
  data: Json;
  event: ColumnType<unknown, string | null, string | null>;
  occurred_at: Timestamp | null;
  received_at: Timestamp;
  published_at: Timestamp | null;
}

export interface Database extends ImportTables {
  impact_deliveries: DeliveriesTable;
  impact_provider_tokens: ProviderTokensTable;
  tenants: TenantsTable;
  api_keys: ApiKeysTable;
  inbound_records: InboundRecordsTable;
  tenant_integrations: TenantIntegrationsTable;
  audit_log: AuditLogTable;
}
