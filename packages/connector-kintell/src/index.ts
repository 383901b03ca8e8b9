export {
  type CampaignMatch,
  CampaignRuleSchema,
  type CompiledCampaignRule,
  compileCampaignRules,
  matchCampaign,
} from './campaigns.js';
export {
  fromEnv,
  KINTELL_ENV,
  type KintellConfig,
  type KintellConfigInput,
  KintellConfigSchema,
} from './config.js';
export { importKintellCsv, KINTELL_MAPPINGS, kintell } from './connector.js';
export { coursesMapping } from './courses.js';
export {
  type AnyCsvMapping,
  type CsvColumn,
  type CsvColumns,
  type CsvMapping,
  type CsvPerson,
  type CsvRawRow,
  type CsvRecordContext,
  type CsvRecordOutput,
  type CsvRowSettings,
  defineCsvMapping,
  type ImportCsvOptions,
  importCsv,
} from './csv-import.js';
export { sniffDelimiter } from './csv-text.js';
export { personMatch, resolvePeople } from './identity.js';
export {
  minutesToHours,
  SESSION_COLUMNS,
  type SessionRow,
  sessionCompletedEvent,
  sessionRowSchema,
  sessionsMapping,
} from './sessions.js';
export type {
  CampaignRule,
  CsvDelimiter,
  CsvEngineName,
  CsvHeaderInfo,
  IdentityDirectory,
  IdentityFallback,
  ImportItem,
  InboundRecord,
  KintellImportItem,
  KintellImportOptions,
  MatchMethod,
  PersonRef,
  ResolvedPerson,
} from './types.js';
export {
  type CellParser,
  cell,
  csvRow,
  dateTime,
  decimal,
  EMAIL_PATTERN,
  email,
  Invalid,
  integer,
  isEmail,
  isoUtc,
  KINTELL_PROGRAMS,
  type KintellProgram,
  normaliseEmail,
  normaliseProgram,
  normaliseStatus,
  oneOf,
  parseDateTime,
  type RowRule,
  SESSION_STATUSES,
  type SessionStatus,
  text,
} from './values.js';
export {
  KINTELL_SIGNATURE_HEADER,
  KINTELL_WEBHOOK_TYPES,
  KintellWebhookSchema,
  type KintellWebhookType,
  parseKintellWebhook,
  resolveKintellWebhook,
  signKintellWebhook,
  verifyKintellWebhook,
} from './webhook.js';
