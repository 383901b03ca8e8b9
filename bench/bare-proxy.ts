// A reference point for host_e2e, not a baseline: the least a forwarding service can do per
// delivery. A bare node:http server that parses the JSON body, POSTs its event to the provider
// with undici and answers 202 once the provider answered: no framework, no validation, no
// database, no log. Runs in its own process like the host; the provider's URL is argv[2].
import { createServer } from 'node:http';
import { Agent, request } from 'undici';

const target = `${process.argv[2]}/events`;
const agent = new Agent({
  keepAliveTimeout: 4_000,
  connections: 64,
  headersTimeout: 10_000,
  bodyTimeout: 10_000,
});

const server = createServer((incoming, outgoing) => {
  const chunks: Buffer[] = [];
  incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
  incoming.on('end', async () => {
    try {
      const { event } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { event: unknown };
      const response = await request(target, {
        method: 'POST',
        dispatcher: agent,
        body: JSON.stringify(event),
        headers: { 'content-type': 'application/json' },
      });
      await response.body.text();
      outgoing.writeHead(202, { 'content-type': 'application/json' });
      outgoing.end(JSON.stringify({ data: { event, status: response.statusCode } }));
    } catch (error) {
      outgoing.writeHead(500).end(String(error));
    }
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (address && typeof address === 'object') process.send?.({ port: address.port });
});
process.on('disconnect', () => process.exit(0));
