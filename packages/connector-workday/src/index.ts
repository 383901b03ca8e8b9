export {
  fromEnv,
  WORKDAY_ENV,
  type WorkdayConfig,
  type WorkdayConfigField,
  type WorkdayConfigInput,
  WorkdayConfigSchema,
  type WorkdayRestConfig,
  WorkdayRestConfigSchema,
  type WorkdaySoapConfig,
  WorkdaySoapConfigSchema,
} from './config.js';
export {
  type DirectoryPayload,
  handleIngest,
  handleWebhook,
  parseDirectory,
  parseDirectoryNotification,
  verifyUsernameToken,
  type WebhookCredentials,
} from './inbound.js';
export {
  activityType,
  formatDecimal,
  reportDate,
  toRestReport,
  toSoapReport,
  unitOfMeasure,
  WORKDAY_SCHEMA_VERSION,
  type WorkdayRestReport,
  type WorkdaySoapReport,
} from './mapping.js';
export {
  buildProbeEnvelope,
  buildSubmitEnvelope,
  classifyWorkdayResponse,
  errorFromSoapFault,
  parseSoapFault,
  redactEnvelope,
  type SoapFault,
  type UsernameToken,
  type WorkdayValidationError,
} from './soap.js';
export { restEndpoint, soapEndpoint, tokenEndpoint, workday, workdayOAuth } from './workday.js';
export { PASSWORD_TEXT_TYPE, SOAP_ENV_NS, WD_NS, WSSE_NS } from './xml.js';
