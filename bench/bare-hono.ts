// The webhook_intake baseline: a bare Hono app on @hono/node-server that reads the body and
// answers 200, in its own process like the host.
import { serve } from '@hono/node-server';
import { Hono } from 'hono';

const app = new Hono();
app.post('/webhooks/benevity', async (c) => {
  await c.req.arrayBuffer();
  return c.json({ received: 1 });
});
const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
server.once('listening', () => {
  const address = server.address();
  if (address && typeof address === 'object') process.send?.({ port: address.port });
});
process.on('disconnect', () => process.exit(0));
