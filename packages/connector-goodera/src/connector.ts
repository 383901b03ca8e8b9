import { classifyError, createOAuthClient, defineConnector, type OAuthClient } from '@impact-in/core';
import { type GooderaConfig, GooderaConfigSchema } from './config.js';
import { parseIngest, parseWebhookBody } from './inbound.js';
import {
  classifyGooderaResponse,
  GOODERA_EVENTS_PATH,
  GOODERA_PING_PATH,
  toGooderaPayload,
} from './outbound.js';
import { verifyGooderaWebhook } from './webhook.js';

/**
 * One OAuth client per config object. Tokens live in the context's TokenStore and single flight is
 * per store and key, so this cache only saves allocations: a fresh client behaves the same.
 */
const oauthClients = new WeakMap<GooderaConfig, OAuthClient>();

function oauthFor(config: GooderaConfig): OAuthClient {
  let client = oauthClients.get(config);
  if (!client) {
    client = createOAuthClient('goodera', {
      tokenUrl: config.tokenUrl,
      clientId: config.clientId,
      clientSecret: config.clientSecret,
      authMethod: config.authMethod,
      skewMs: config.tokenSkewSeconds * 1_000,
      ...(config.scope ? { scope: config.scope } : {}),
    });
    oauthClients.set(config, client);
  }
  return client;
}

/**
 * The Goodera connector: OAuth 2.0 client credentials (tokens kept per tenant and client id,
 * refreshed before expiry, one token request at a time, refresh tokens used, a 401 answered by one
 * forced refresh), impact events schema v2.1 with outcome scores as impact dimensions, 100
 * requests a minute per client id, JWT-verified webhooks and volunteer/donation ingest.
 *
 * @example
 * const dispatcher = createDispatcher({
 *   store: new MemoryDeliveryStore(),
 *   connectors: [bindConnector(goodera, { apiUrl, tokenUrl, clientId, clientSecret })],
 * });
 */
export const goodera = defineConnector({
  id: 'goodera',
  displayName: 'Goodera',
  config: GooderaConfigSchema,
  secrets: ['clientSecret', 'webhookSharedSecret'],
  rateLimit: (config) => ({ maxRequests: config.rateLimit.maxRequests, windowMs: config.rateLimit.windowMs }),
  // The limit is Goodera's per OAuth client: tenants sharing a client share its budget.
  credentialKey: (config) => config.clientId,
  classifyResponse: (response) => classifyGooderaResponse(response),

  async deliver({ event, deliveryId }, context) {
    const { config, signal } = context;
    // Throws before any network call when a score is outside 0..1.
    const payload = toGooderaPayload(event);
    // Built once: these exact bytes go out on the first try and on the post-401 resend.
    const body = JSON.stringify(payload);
    const response = await oauthFor(config).send(context, (token) => ({
      method: 'POST',
      url: `${config.apiUrl}${GOODERA_EVENTS_PATH}`,
      body,
      signal,
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${token}`,
        'x-idempotency-key': deliveryId,
      },
    }));
    return { payload, response };
  },

  async webhook(request, context) {
    await verifyGooderaWebhook(request, context.config, context.clock);
    return parseWebhookBody(request.body, context.companyId);
  },

  async ingest(kind, body, context) {
    return parseIngest(kind, body, context.companyId);
  },

  async health(context) {
    const started = context.clock.now();
    try {
      const response = await oauthFor(context.config).send(context, (token) => ({
        method: 'GET',
        url: `${context.config.apiUrl}${GOODERA_PING_PATH}`,
        signal: context.signal,
        headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
      }));
      const latencyMs = context.clock.now() - started;
      if (response.status < 300) return { ok: true, latencyMs };
      const error = classifyGooderaResponse(response, context.clock.now());
      return {
        ok: false,
        latencyMs,
        message: error?.message ?? `[impact-in] [goodera] HTTP ${response.status}`,
      };
    } catch (error) {
      // Token errors name the client id, never the secret.
      return {
        ok: false,
        latencyMs: context.clock.now() - started,
        message: classifyError(error, 'goodera').message,
      };
    }
  },
});
