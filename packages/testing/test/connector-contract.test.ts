import { hmacSha256, verifyHmacSha256 } from '@impact-in/core';
import { HttpResponse, http } from 'msw';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createConnectorHarness,
  describeConnector,
  type ProviderServer,
  sampleEvent,
  startProviderServer,
} from '../src/index.js';
import { acme, acmeConfig } from './helpers.js';

/** An msw simulator of the "acme" provider: it checks the key and the signature, as a real one would. */
const acmeSimulator = (url: string) => [
  http.post(`${url}/events`, async ({ request }) => {
    const body = await request.text();
    if (request.headers.get('x-api-key') !== 'ak_live_123456789') {
      return HttpResponse.json({ error: 'invalid_api_key' }, { status: 401 });
    }
    if (!verifyHmacSha256('sig_secret_abcdef', body, request.headers.get('x-acme-signature'))) {
      return HttpResponse.json({ error: 'invalid_signature' }, { status: 401 });
    }
    return HttpResponse.json({ accepted: JSON.parse(body).id }, { status: 202 });
  }),
];

describeConnector({
  connector: acme,
  config: acmeConfig,
  provider: acmeSimulator,
  deliveryRoute: { method: 'POST', path: '/events' },
});

describe('provider server and connector harness', () => {
  let provider: ProviderServer;
  beforeAll(async () => {
    provider = await startProviderServer(acmeSimulator);
  });
  afterAll(() => provider.close());

  it('records the exact bytes and headers a connector sent over real HTTP', async () => {
    const harness = createConnectorHarness({ connector: acme, config: acmeConfig(provider.url) });
    const result = await harness.deliver(sampleEvent({ eventId: 'evt_bytes' }), { deliveryId: 'dlv-1' });
    expect(result.response.status).toBe(202);
    const [call] = provider.callsTo('/events');
    expect(call!.method).toBe('POST');
    expect(call!.url).toBe(`${provider.url}/events`);
    expect(call!.headers['x-idempotency-key']).toBe('dlv-1');
    expect(call!.headers['x-acme-signature']).toBe(hmacSha256('sig_secret_abcdef', call!.body));
    expect(call!.json()).toEqual({ id: 'evt_bytes', type: 'volunteer_hours', user: 'user_456', value: 5 });
    await harness.close();
    provider.reset();
  });

  it('answers a wrong key in the provider’s own shape, and the delivery fails for good', async () => {
    const harness = createConnectorHarness({
      connector: acme,
      config: { ...acmeConfig(provider.url), apiKey: 'ak_wrong_00000000' },
    });
    const delivery = await harness.submit(sampleEvent());
    expect(delivery?.status).toBe('failed');
    expect(delivery?.lastError).toBe('[impact-in] [acme] HTTP 401: {"error":"invalid_api_key"}');
    await harness.close();
    provider.reset();
  });

  it('answers 404 for routes the simulator does not know', async () => {
    const response = await fetch(`${provider.url}/nowhere`);
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ error: 'not_found' });
  });

  it('refuses an invalid config with the field named', () => {
    expect(() => createConnectorHarness({ connector: acme, config: { url: 'not a url' } })).toThrow(/url/);
  });
});
