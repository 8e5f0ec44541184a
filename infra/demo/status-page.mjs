// Demo module for `pnpm dev`: a tiny HTTP server the agent health-checks (http probe on /healthz).
import { createServer } from 'node:http';

const port = Number(process.env.PORT ?? 8099);
const started = new Date().toISOString();
const server = createServer((request, response) => {
  if (request.url === '/healthz') {
    response.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    return;
  }
  response
    .writeHead(200, { 'content-type': 'application/json' })
    .end(`${JSON.stringify({ module: 'status-page', started })}\n`);
});
server.listen(port, '127.0.0.1', () => process.stdout.write(`status-page: listening on http://127.0.0.1:${port}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
