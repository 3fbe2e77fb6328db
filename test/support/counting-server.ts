/**
 * An HTTP server on 127.0.0.1 that answers every request with `bodySize` zero bytes (and the
 * Keep-Alive header `keepAlive`, when given) and counts the connections it accepted: what the tracker's
 * tests compare the process's view with. Closed, every connection with it, when `fn` ends.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** `fn` gets the URL and the number of connections the server accepted so far. */
export async function withCountingServer(
  fn: (url: string, accepted: () => number) => Promise<void>,
  options: { bodySize?: number; keepAlive?: string } = {},
): Promise<void> {
  const { bodySize = 64, keepAlive } = options;
  const server = http.createServer((_req, res) => {
    if (keepAlive !== undefined) res.setHeader('Keep-Alive', keepAlive);
    res.end(Buffer.alloc(bodySize));
  });
  let accepted = 0;
  server.on('connection', () => accepted++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    await fn(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, () => accepted);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}
