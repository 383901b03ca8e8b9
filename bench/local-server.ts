// A provider stand-in for benchmarks: answers every POST with 200 and a small JSON body.
// Runs in its own process so the client side being measured has the other core to itself.
import { createServer } from 'node:http';

const BODY = Buffer.from('{"accepted":true}');

const server = createServer((request, response) => {
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
