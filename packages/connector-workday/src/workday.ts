import {
  type ConnectorContext,
  createOAuthClient,
  defineConnector,
  type HealthResult,
  type HttpResponse,
  type OAuthClient,
} from '@impact-in/core';
import {
  type WorkdayConfig,
  type WorkdayConfigField,
  WorkdayConfigSchema,
  type WorkdayRestConfig,
  type WorkdaySoapConfig,
} from './config.js';
import { handleIngest, handleWebhook } from './inbound.js';
import { toRestReport, toSoapReport } from './mapping.js';
import {
  buildProbeEnvelope,
  buildSubmitEnvelope,
  classifyWorkdayResponse,
  parseSoapFault,
  redactEnvelope,
} from './soap.js';

const PROVIDER = 'workday';

function baseUrl(config: WorkdayConfig): string {
  return config.apiUrl.replace(/\/+$/, '');
}

/**
 * The SOAP endpoint: `{apiUrl}/ccx/service/{tenant}/CSR_Impact_Report[/{version}]`.
 *
 * @example soapEndpoint(config) // 'https://wd2-impl-services1.workday.com/ccx/service/acme/CSR_Impact_Report'
 */
export function soapEndpoint(config: WorkdaySoapConfig): string {
  const service = `${baseUrl(config)}/ccx/service/${encodeURIComponent(config.tenant)}/CSR_Impact_Report`;
  return config.version ? `${service}/${config.version}` : service;
}

/**
 * The REST collection: `{apiUrl}/api/v1/{tenant}/csr-impact-reports`.
 *
 * @example restEndpoint(config) // 'https://…/api/v1/acme/csr-impact-reports'
 */
export function restEndpoint(config: WorkdayRestConfig): string {
  return `${baseUrl(config)}/api/v1/${encodeURIComponent(config.tenant)}/csr-impact-reports`;
}

/**
 * The OAuth token endpoint: the configured `tokenUrl`, else `{apiUrl}/ccx/oauth2/{tenant}/token`.
 *
 * @example tokenEndpoint(config) // 'https://…/ccx/oauth2/acme/token'
 */
export function tokenEndpoint(config: WorkdayRestConfig): string {
  return config.tokenUrl ?? `${baseUrl(config)}/ccx/oauth2/${encodeURIComponent(config.tenant)}/token`;
}

// One OAuth client per config object: it holds no tokens itself (those live in the TokenStore).
const oauthClients = new WeakMap<WorkdayRestConfig, OAuthClient>();

/**
 * The OAuth client of a REST config, built on core's `createOAuthClient`: client credentials, or
 * Workday's refresh-token grant with the integration's long-lived refresh token.
 */
export function workdayOAuth(config: WorkdayRestConfig): OAuthClient {
  let client = oauthClients.get(config);
  if (!client) {
    client = createOAuthClient(PROVIDER, {
      tokenUrl: tokenEndpoint(config),
      clientId: config.clientId,
      clientSecret: config.clientSecret,
      authMethod: config.authMethod,
      grantType: config.grantType,
      ...(config.refreshToken ? { refreshToken: config.refreshToken } : {}),
      ...(config.scope ? { scope: config.scope } : {}),
    });
    oauthClients.set(config, client);
  }
  return client;
}

function soapHeaders(deliveryId?: string): Record<string, string> {
  return {
    'content-type': 'text/xml; charset=UTF-8',
    accept: 'text/xml',
    // SOAP 1.1 requires the header; Workday's WSDL operations declare an empty soapAction.
    soapaction: '""',
    ...(deliveryId ? { 'x-idempotency-key': deliveryId } : {}),
  };
}

async function probe(context: ConnectorContext<WorkdayConfig>): Promise<HttpResponse> {
  const { config, http, signal } = context;
  if (config.protocol === 'soap') {
    return http.request({
      method: 'POST',
      url: soapEndpoint(config),
      headers: soapHeaders(),
      body: buildProbeEnvelope(config, config.version),
      signal,
    });
  }
  return workdayOAuth(config).send(context, (token) => ({
    method: 'GET',
    url: `${restEndpoint(config)}?limit=1`,
    headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
    signal,
  }));
}

// Core types `secrets` as keys common to every config shape; ours live in one protocol's shape each.
const SECRETS: readonly WorkdayConfigField[] = [
  'password',
  'clientSecret',
  'refreshToken',
  'webhookPassword',
];

/**
 * The Workday connector: CSR impact reports over SOAP (WS-Security UsernameToken, faults parsed)
 * or REST (OAuth 2.0 client credentials or refresh token), directory ingest, and directory-change
 * webhooks verified by their UsernameToken.
 *
 * @example
 * const dispatcher = createDispatcher({
 *   store: new MemoryDeliveryStore(),
 *   connectors: [bindConnector(workday, { protocol: 'soap', apiUrl, tenant: 'acme',
 *     username: 'isu_impactin@acme', password })],
 * });
 */
export const workday = defineConnector({
  id: PROVIDER,
  displayName: 'Workday',
  config: WorkdayConfigSchema,
  secrets: SECRETS as readonly (keyof WorkdayConfig & string)[],
  // One rate-limit bucket (paused on 429) per Workday account, not per tenant of ours.
  credentialKey: (config) =>
    config.protocol === 'soap'
      ? `${config.tenant}:soap:${config.username}`
      : `${config.tenant}:rest:${config.clientId}`,
  classifyResponse: (response) => classifyWorkdayResponse(response),

  async deliver({ event, deliveryId }, context) {
    const { config, http, signal } = context;
    if (config.protocol === 'soap') {
      // Built once: these exact bytes are sent; the log keeps them with the password masked.
      const body = buildSubmitEnvelope(toSoapReport(event, config.activityTypes), config, config.version);
      const response = await http.request({
        method: 'POST',
        url: soapEndpoint(config),
        headers: soapHeaders(deliveryId),
        body,
        signal,
      });
      return { payload: redactEnvelope(body), response };
    }
    const payload = toRestReport(event);
    const body = JSON.stringify(payload);
    const response = await workdayOAuth(config).send(context, (token) => ({
      method: 'POST',
      url: restEndpoint(config),
      headers: {
        'content-type': 'application/json',
        accept: 'application/json',
        authorization: `Bearer ${token}`,
        'x-idempotency-key': deliveryId,
      },
      body,
      signal,
    }));
    return { payload, response };
  },

  async webhook(request, { config, companyId }) {
    return handleWebhook(
      request,
      { username: config.webhookUsername, password: config.webhookPassword },
      companyId,
    );
  },

  async ingest(kind, body, { companyId }) {
    return handleIngest(kind, body, companyId);
  },

  async health(context): Promise<HealthResult> {
    const started = context.clock.now();
    try {
      const response = await probe(context);
      const latencyMs = context.clock.now() - started;
      const fault = parseSoapFault(response.text());
      if (fault)
        return { ok: false, latencyMs, message: `SOAP fault ${fault.faultcode}: ${fault.faultstring}` };
      if (response.status >= 300) return { ok: false, latencyMs, message: `HTTP ${response.status}` };
      return { ok: true, latencyMs };
    } catch (error) {
      return { ok: false, message: error instanceof Error ? error.message : String(error) };
    }
  },
});
