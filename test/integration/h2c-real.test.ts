/**
 * Cleartext HTTP/2 (h2c by prior knowledge) on a capture recorded here from real programs: Node's
 * http2 server (node:http2 createServer, no TLS) on 127.0.0.1, curl --http2-prior-knowledge with
 * three URLs, a Node http2 client making 3 requests one after the other on one session, and one
 * making 100 concurrent requests on one session, recorded by tcpdump on loopback. analyze must find
 * each connection's streams as tshark does (`-d tcp.port==P,http2`), and the concurrency the server
 * forced: it holds its answers until it has BATCH requests open, so at least BATCH streams are open
 * at once, whatever the timing; and it announces SETTINGS_MAX_CONCURRENT_STREAMS = LIMIT.
 *
 * curl 7.88.1 (Debian 12) sends only the first request on a prior-knowledge connection it reuses:
 * the next transfers fail with "Error in the HTTP2 framing layer" (exit 16) before any frame; later
 * curl sends all three. So curl's connection is compared with tshark's count, not with 3.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { analyzeCapture } from '../../src/observe/capture-file.js';
import { captureDir, captureSkip } from '../support/capture-env.js';
import { h2Get } from '../support/h2-client.js';
import { recordTraffic, runTool, toolSkip } from '../support/record.js';

const skip = captureSkip() || toolSkip('curl', 'tshark');

/** Concurrent requests of the multiplexing client. */
const CONCURRENT = 100;
/** The server answers only once this many of its streams are open (or the rest of the 100 came). */
const BATCH = 10;
/** The server's SETTINGS_MAX_CONCURRENT_STREAMS. */
const LIMIT = 50;

/** Node's http2 server: each stream answered "hello <path>", held until BATCH streams wait. */
async function startServer(): Promise<{ port: number; close(): Promise<void> }> {
  const server = http2.createServer({ settings: { maxConcurrentStreams: LIMIT } });
  let waiting: http2.ServerHttp2Stream[] = [];
  let seen = 0;
  server.on('stream', (stream, headers) => {
    const path = String(headers[':path']);
    const answer = (s: http2.ServerHttp2Stream) => {
      s.respond({ ':status': 200, 'content-type': 'text/plain' });
      s.end(`hello ${path}\n`);
    };
    if (!path.startsWith('/many/')) return answer(stream);
    seen++;
    waiting.push(stream);
    // Answer a whole batch at once (the last one may be short).
    if (waiting.length >= BATCH || seen === CONCURRENT) {
      const batch = waiting;
      waiting = [];
      for (const s of batch) {
        s.respond({ ':status': 200 });
        s.end('ok');
      }
    }
  });
  server.on('session', (session) => session.on('error', () => undefined));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return { port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

async function withSession<T>(port: number, use: (s: http2.ClientHttp2Session) => Promise<T>): Promise<T> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => undefined);
  try {
    return await use(session);
  } finally {
    await new Promise<void>((resolve) => session.close(() => resolve()));
  }
}

/** tshark's streams of the capture: per client port, the :method blocks the client sent. */
async function tsharkRequests(path: string, port: number): Promise<Map<number, number>> {
  const r = await runTool('tshark', [
    '-r',
    path,
    '-n',
    '-d',
    `tcp.port==${port},http2`,
    '-Y',
    `tcp.dstport == ${port}`,
    '-T',
    'fields',
    '-E',
    'occurrence=a',
    '-e',
    'tcp.srcport',
    '-e',
    'http2.headers.method',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const out = new Map<number, number>();
  for (const line of r.stdout.split('\n')) {
    if (!line.trim()) continue;
    const [src, methods] = line.split('\t');
    const n = methods ? methods.split(',').length : 0;
    out.set(Number(src), (out.get(Number(src)) ?? 0) + n);
  }
  return out;
}

test(
  'real capture: h2c by prior knowledge (curl, Node sequential, Node 100 concurrent): streams as tshark counts them',
  { skip, timeout: 60_000 },
  async (t) => {
    const dir = await captureDir(t, 'kal-h2c-');
    const server = await startServer();
    t.after(() => server.close());
    const { port } = server;
    const path = join(dir, 'h2c.pcap');
    let curl = { code: null as number | null, stdout: '' };
    let sequential: number[] = [];
    let concurrent: number[] = [];
    // A snap length above loopback's MTU: 100 HEADERS frames go out in segments of many kilobytes.
    const rec = await recordTraffic({ path, port, iface: 'lo', snaplen: 262144 }, async () => {
      const url = (p: string) => `http://127.0.0.1:${port}${p}`;
      curl = await runTool('curl', ['-s', '--http2-prior-knowledge', url('/a'), url('/b'), url('/c')]);
      sequential = await withSession(port, async (s) => {
        const statuses: number[] = [];
        for (const p of ['/1', '/2', '/3']) statuses.push(await h2Get(s, p));
        return statuses;
      });
      concurrent = await withSession(port, async (s) => {
        // Once the server's SETTINGS came, the client keeps to its limit (streams beyond it wait);
        // sent before, those beyond the limit would be refused (REFUSED_STREAM).
        await once(s, 'remoteSettings');
        return Promise.all(Array.from({ length: CONCURRENT }, (_, i) => h2Get(s, `/many/${i}`)));
      });
    });
    assert.equal(rec.dropped, 0, 'tcpdump dropped no packet');
    assert.match(curl.stdout, /^hello \/a\n/);
    assert.deepEqual(sequential, [200, 200, 200]);
    assert.equal(concurrent.length, CONCURRENT);
    assert.ok(concurrent.every((s) => s === 200));

    const run = await analyzeCapture(path, { port });
    const wire = run.observers[0]!;
    assert.equal(wire.totals.connections, 3);
    const records = wire.connections;
    const theirs = await tsharkRequests(path, port);
    for (const r of records) {
      assert.equal(r.requests, theirs.get(r.client.port), `connection ${r.id}: requests as tshark counts them`);
      assert.equal(r.http2?.start, 'prior-knowledge');
      assert.equal(r.http2?.maxConcurrentStreams.server, LIMIT);
      assert.equal(r.responses, r.requests);
      assert.ok(r.statusCodes.every((s) => s === 200));
      assert.deepEqual(
        r.notes.filter((n) => n.startsWith('HTTP/2')),
        [],
      );
    }
    const [curlConn, seqConn, manyConn] = records;
    assert.ok(curlConn!.requests >= 1);
    assert.equal(seqConn!.requests, 3);
    assert.equal(seqConn!.http2?.peakConcurrentStreams, 1);
    assert.equal(seqConn!.idleGapsMs.length, 2);
    assert.equal(manyConn!.requests, CONCURRENT);
    const peak = manyConn!.http2!.peakConcurrentStreams;
    assert.ok(peak >= BATCH && peak <= LIMIT, `peak ${peak}`);
    // The sessions were closed by the clients: GOAWAY from the client side (Node's session.close()).
    t.diagnostic(
      `curl: ${curlConn!.requests} stream(s) (exit ${curl.code}); sequential: ${seqConn!.requests}; ` +
        `concurrent: ${manyConn!.requests} streams, peak ${peak} at once; ` +
        `GOAWAY: ${records.map((r) => r.http2!.goaway.map((g) => `${g.by} ${g.errorCode}`).join('+') || '-').join(', ')}`,
    );
  },
);
