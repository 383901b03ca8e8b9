// A provider stand-in for benchmarks: answers every POST with 200 and a small JSON body.
// Runs in its own process so the client side being measured has the other core to itself.
import { createServer } from 'node:http';

const BODY = Buffer.from('{"accepted":true}');

// Requests received, read with GET /count: the host benchmark waits for the provider to have
// seen a round's deliveries before it asks the host's (PostgreSQL-backed) stats whether they
// are all recorded, so its polling does not load the database while the host is working.
let received = 0;

const server = createServer((request, response) => {
  if (request.method === 'GET' && request.url === '/count') {
    response.writeHead(200, { 'content-type': 'text/plain' });
    response.end(String(received));
    return;
  }
  received++;
  request.resume();
  request.on('end', () => {
    response.writeHead(200, { 'content-type': 'application/json', 'content-length': String(BODY.length) });
    response.end(BODY);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (address && typeof address === 'object') process.send?.({ port: address.port });
});
process.on('disconnect', () => process.exit(0));
