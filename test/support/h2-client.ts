/** node:http2 from the client side, for tests that make real HTTP/2 requests. */
import type http2 from 'node:http2';

/** One GET on the session: its status once the response has ended (the body is read and dropped). */
export function h2Get(session: http2.ClientHttp2Session, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':path': path });
    let status = 0;
    req.on('response', (h) => (status = Number(h[':status'])));
    req.resume();
    req.on('end', () => resolve(status));
    req.on('error', reject);
    req.end();
  });
}
