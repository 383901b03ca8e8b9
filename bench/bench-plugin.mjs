// The connector the host benchmark loads through IMPACT_IN_PLUGINS: it posts what the baseline
// posts (same body, same headers), so the comparison is the host's own cost.
import { defineConnector, z } from '@impact-in/core';

export const connector = defineConnector({
  id: 'bench',
  config: z.object({ url: z.url() }),
  async deliver({ event, deliveryId }, { config, http, signal }) {
    const body = JSON.stringify({ id: event.eventId, user: event.userId, value: event.value });
    const response = await http.request({
      method: 'POST',
      url: `${config.url}/events`,
      body,
      signal,
      headers: { 'content-type': 'application/json', 'x-idempotency-key': deliveryId },
    });
    return { payload: body, response };
  },
});

export function fromEnv(env) {
  return env.BENCH_URL ? { url: env.BENCH_URL } : undefined;
}
