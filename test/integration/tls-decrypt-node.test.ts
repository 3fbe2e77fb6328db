/**
 * TLS decrypted on a capture recorded here from real programs: Node's https server and an HTTP/2
 * server over TLS (a throwaway certificate made by openssl at run time) on 127.0.0.1, Node clients
 * making requests over keep-alive connections (TLS 1.3; TLS 1.2 with ChaCha20-Poly1305 and with
 * AES-256-GCM), connections without keep-alive (the second resumes the first's session), and one
 * HTTP/2 session; tcpdump on loopback records it, the servers' `keylog` events write the key log.
 * analyze with that key log must count, per connection, exactly the requests and responses the
 * client made on it (known by the client's local port), and say every connection decrypted.
 */
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync } from 'node:fs';
import https from 'node:https';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { analyzeCapture } from '../../src/observe/capture-file.js';
import { captureDir, captureSkip } from '../support/capture-env.js';
import { h2Get } from '../support/h2-client.js';
import { makeCertificate, opensslSkip } from '../support/nginx.js';
import { recordTraffic } from '../support/record.js';

const skip = captureSkip() || opensslSkip();

/** GET `path` with `agent`; resolves with the status and the client's local port once the body is read. */
function get(port: number, path: string, agent: https.Agent): Promise<{ status: number; localPort: number }> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, path, agent, rejectUnauthorized: false }, (res) => {
      const localPort = (res.socket as TLSSocket).localPort!;
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, localPort }));
    });
    req.on('error', reject);
  });
}

test(
  'real capture: Node https (TLS 1.3, TLS 1.2 ChaCha20 and AES-GCM, resumed) and h2 over TLS, decrypted with the key log: requests per connection as the client made them',
  { skip, timeout: 60_000 },
  async (t) => {
    const dir = await captureDir(t, 'kal-tls-node-');
    const { cert, key } = makeCertificate(dir);
    const tlsOptions = { cert: readFileSync(cert), key: readFileSync(key) };
    const keylog = join(dir, 'keys.log');
    const writeKeys = (line: Buffer): void => appendFileSync(keylog, line);

    const server = https.createServer(tlsOptions, (req, res) => res.end(`hello ${req.url}\n`));
    server.keepAliveTimeout = 10_000;
    server.on('keylog', writeKeys);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const h2server = http2.createSecureServer(tlsOptions, (req, res) => res.end('ok'));
    h2server.on('keylog', writeKeys);
    await new Promise<void>((resolve) => h2server.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise<void>((resolve) => h2server.close(() => resolve())));
    const port = (server.address() as AddressInfo).port;
    const h2port = (h2server.address() as AddressInfo).port;

    /** Requests the clients made, per local port. */
    const made = new Map<number, number>();
    const count = (localPort: number): void => void made.set(localPort, (made.get(localPort) ?? 0) + 1);
    const path = join(dir, 'tls.pcap');
    const rec = await recordTraffic({ path, port, morePorts: [h2port], iface: 'lo', snaplen: 262144 }, async () => {
      const agents = [
        // TLS 1.3, keep-alive: 4 requests on one connection.
        { agent: new https.Agent({ keepAlive: true, maxSockets: 1 }), requests: 4 },
        // TLS 1.2 with ChaCha20-Poly1305, then with AES-256-GCM (ECDHE-ECDSA: the certificate is EC).
        {
          agent: new https.Agent({
            keepAlive: true,
            maxSockets: 1,
            maxVersion: 'TLSv1.2',
            ciphers: 'ECDHE-ECDSA-CHACHA20-POLY1305',
          }),
          requests: 3,
        },
        {
          agent: new https.Agent({
            keepAlive: true,
            maxSockets: 1,
            maxVersion: 'TLSv1.2',
            ciphers: 'ECDHE-ECDSA-AES256-GCM-SHA384',
          }),
          requests: 2,
        },
        // No keep-alive: one request per connection; the second resumes the first's session.
        { agent: new https.Agent({ keepAlive: false, maxSockets: 1 }), requests: 2 },
      ];
      for (const { agent, requests } of agents) {
        for (let i = 0; i < requests; i++) {
          const r = await get(port, `/${i}`, agent);
          assert.equal(r.status, 200);
          count(r.localPort);
        }
        agent.destroy();
      }
      const session = http2.connect(`https://127.0.0.1:${h2port}`, { rejectUnauthorized: false });
      session.on('error', () => undefined);
      await new Promise<void>((resolve) => session.once('connect', () => resolve()));
      const localPort = session.socket.localPort!;
      const statuses = await Promise.all(['/a', '/b', '/c'].map((p) => h2Get(session, p)));
      assert.deepEqual(statuses, [200, 200, 200]);
      for (let i = 0; i < 3; i++) count(localPort);
      await new Promise<void>((resolve) => session.close(() => resolve()));
    });
    assert.equal(rec.dropped, 0, 'tcpdump dropped no packet');

    const run = await analyzeCapture(path, { keylog });
    const wire = run.observers[0]!;
    const seen = new Map(wire.connections.map((c) => [c.client.port, c]));
    assert.deepEqual([...seen.keys()].sort(), [...made.keys()].sort(), 'the same connections');
    for (const [localPort, requests] of made) {
      const c = seen.get(localPort)!;
      const what = `connection from :${localPort} (${c.tls?.version} ${c.tls?.cipherSuite}): ${c.notes.join('; ')}`;
      assert.equal(c.tls?.decryption?.status, 'decrypted', what);
      assert.equal(c.requests, requests, what);
      assert.equal(c.responses, requests, what);
      assert.ok(
        c.statusCodes.every((s) => s === 200),
        what,
      );
    }
    const versions = wire.connections.map((c) => `${c.tls?.version} ${c.tls?.cipherSuite} ${c.tls?.handshake}`);
    assert.ok(versions.includes('TLS 1.2 TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 full'), versions.join(', '));
    assert.ok(versions.includes('TLS 1.2 TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 full'), versions.join(', '));
    assert.ok(
      versions.some((v) => v.startsWith('TLS 1.3') && v.endsWith('resumed')),
      versions.join(', '),
    );
    assert.equal(wire.connections.find((c) => c.client.port === session(made))?.http2?.start, 'alpn');
    assert.deepEqual(wire.totals.tls?.decryption, { decrypted: made.size });
    assert.ok(!wire.warnings.some((w) => w.code === 'KAL_WARN_TLS_KEYS'));
  },
);

/** The local port of the HTTP/2 session: the one with 3 requests made last. */
function session(made: Map<number, number>): number {
  return [...made.keys()].at(-1)!;
}
