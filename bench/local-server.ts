// A provider stand-in for benchmarks: answers every POST with 200 and a small JSON body.
// Runs in its own process so the client side being measured has the other core to itself.
import { createServer } from 'node:http';

const server = createServer((request, response) => {
  request.resume();
  request.on('end', () => {
    response.writeHead(200, { 'content-type': 'application/json', 'content-length': '16' });
    response.end('{"accepted":true}'.slice(0, 16));
  });
});
server.keepAliveTimeout = 60_000;
let connections = 0;
server.on('connection', () => {
  connections++;
});
if (process.env.BENCH_SERVER_DEBUG)
  process.on('SIGTERM', () => {
    console.error('server connections', connections);
    process.exit(0);
  });
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (address && typeof address === 'object') process.send?.({ port: address.port });
});
process.on('disconnect', () => process.exit(0));
