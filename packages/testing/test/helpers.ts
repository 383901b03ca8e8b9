import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { defineConnector, hmacSha256, z } from '@impact-in/core';

/** A minimal signed-JSON connector, the shape a plugin author writes. */
export const acme = defineConnector({
  id: 'acme',
  config: z.object({ url: z.url(), apiKey: z.string().min(8), signingSecret: z.string().min(8) }),
  secrets: ['apiKey', 'signingSecret'],
  async deliver({ event, deliveryId }, { config, http, signal }) {
    const payload = { id: event.eventId, type: event.eventType, user: event.userId, value: event.value };
    const body = JSON.stringify(payload);
    const response = await http.request({
      method: 'POST',
      url: `${config.url}/events`,
      body,
      signal,
      headers: {
        'content-type': 'application/json',
        'x-api-key': config.apiKey,
        'x-idempotency-key': deliveryId,
        'x-acme-signature': hmacSha256(config.signingSecret, body),
      },
    });
    return { payload, response };
  },
});

export interface RawCall {
  headers: IncomingMessage['headers'];
  body: Buffer;
  at: number;
}

/** A real node:http server whose answer each test decides. */
export async function startRawServer(
  answer: (call: RawCall, response: ServerResponse, index: number) => void | Promise<void>,
) {
  const calls: RawCall[] = [];
  let active = 0;
  let maxActive = 0;
  const server = createServer(async (request, response) => {
    active++;
    maxActive = Math.max(maxActive, active);
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const call = { headers: request.headers, body: Buffer.concat(chunks), at: Date.now() };
    calls.push(call);
    response.on('close', () => {
      active--;
    });
    await answer(call, response, calls.length - 1);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    maxActive: () => maxActive,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export const acmeConfig = (url: string) => ({
  url,
  apiKey: 'ak_live_123456789',
  signingSecret: 'sig_secret_abcdef',
});
