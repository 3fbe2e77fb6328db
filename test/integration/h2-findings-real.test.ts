/**
 * The HTTP/2 findings on captures recorded here from real programs: Node's http2 server and client
 * (node:http2, h2c by prior knowledge) on 127.0.0.1, recorded by tcpdump on loopback, then analyzed.
 *  - goaway-churn: a server that closes each session (session.close(): GOAWAY, NO_ERROR) at its
 *    second stream, and a client that opens a new session whenever its session was told to go away;
 *  - refused-streams: a server that allows 2 concurrent streams (SETTINGS_MAX_CONCURRENT_STREAMS 2) and
 *    holds its answers until 2 streams wait: a client that sends 6 requests before the server's SETTINGS
 *    came has 4 refused (REFUSED_STREAM, which Node's client does not retry); one that waits for them
 *    keeps to the limit and queues the rest (its peak is the limit);
 *  - uneven-spread: one session carrying 100 requests over 10 s (a request every 102 ms).
 * Each capture is also read by tshark at the end of the file (streams per connection must agree).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RunReport } from '../../src/model/report.js';
import { analyzeCapture } from '../../src/observe/capture-file.js';
import { captureDir, captureSkip } from '../support/capture-env.js';
import { h2Get } from '../support/h2-client.js';
import { recordTraffic, toolSkip } from '../support/record.js';

const skip = captureSkip() || toolSkip('tshark');

interface Server {
  port: number;
  close(): Promise<void>;
}

async function listen(server: http2.Http2Server): Promise<Server> {
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sessions.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sessions) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** One request: its status, or the error's code and message. */
function request(session: http2.ClientHttp2Session, path: string): Promise<number | string> {
  return h2Get(session, path).catch((e: NodeJS.ErrnoException) => `${e.code}: ${e.message}`);
}

function connect(port: number): http2.ClientHttp2Session {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => undefined);
  return session;
}

async function closeSession(session: http2.ClientHttp2Session): Promise<void> {
  if (session.closed || session.destroyed) return;
  await new Promise<void>((resolve) => session.close(() => resolve()));
}

/** Records `traffic` against `server` on loopback, then analyzes the capture. */
async function recorded(
  t: TestContext,
  name: string,
  server: Server,
  traffic: () => Promise<void>,
): Promise<RunReport> {
  const dir = await captureDir(t, 'kal-h2f-');
  const path = join(dir, `${name}.pcap`);
  const rec = await recordTraffic({ path, port: server.port, iface: 'lo', timeoutMs: 60_000 }, traffic);
  assert.equal(rec.dropped, 0, 'tcpdump dropped no packet');
  return analyzeCapture(path, { port: server.port });
}

test(
  'real capture: a Node http2 server that closes each session at its 2nd stream: goaway-churn',
  { skip, timeout: 60_000 },
  async (t) => {
    const STREAMS_PER_SESSION = 2;
    const REQUESTS = 8;
    const h2 = http2.createServer();
    h2.on('stream', (stream) => {
      const session = stream.session!;
      const n = ((session as unknown as { served?: number }).served ?? 0) + 1;
      (session as unknown as { served?: number }).served = n;
      // GOAWAY before the answer: the client learns it before it could send another request here.
      if (n === STREAMS_PER_SESSION) session.close();
      stream.respond({ ':status': 200 });
      stream.end('ok');
    });
    const server = await listen(h2);
    t.after(() => server.close());
    const statuses: (number | string)[] = [];
    let sessions = 0;
    const run = await recorded(t, 'churn', server, async () => {
      let session: http2.ClientHttp2Session | null = null;
      for (let i = 0; i < REQUESTS; i++) {
        // A session told to go away closes itself (Node's client): the next request needs a new one.
        if (session === null || session.closed || session.destroyed) {
          if (session !== null) await closeSession(session);
          session = connect(server.port);
          sessions++;
        }
        statuses.push(await request(session, `/${i}`));
      }
      if (session !== null) await closeSession(session);
    });
    assert.deepEqual(statuses, Array(REQUESTS).fill(200));
    assert.equal(sessions, REQUESTS / STREAMS_PER_SESSION);
    const wire = run.observers[0]!;
    assert.equal(wire.totals.connections, sessions);
    for (const r of wire.connections) {
      assert.equal(r.requests, STREAMS_PER_SESSION);
      assert.equal(r.http2?.goaway[0]?.by, 'server', `connection ${r.id}: the server's GOAWAY came first`);
      assert.equal(r.http2?.goaway[0]?.errorCode, 'NO_ERROR');
    }
    const f = run.findings.find((x) => x.code === 'goaway-churn');
    assert.ok(f, `goaway-churn named; findings: ${run.findings.map((x) => x.code).join(', ')}`);
    // The last session's GOAWAY was followed by no new connection.
    assert.equal(f.evidence.count, sessions - 1);
    assert.equal(f.evidence.values.mostStreams, STREAMS_PER_SESSION);
    assert.equal(run.verdict.code, 'goaway-churn');
    t.diagnostic(f.summary);
  },
);

test(
  'real capture: a Node http2 server allowing 2 streams: refused streams, and a client at the limit',
  { skip, timeout: 60_000 },
  async (t) => {
    const LIMIT = 2;
    const REQUESTS = 6;
    const h2 = http2.createServer({ settings: { maxConcurrentStreams: LIMIT } });
    let waiting: http2.ServerHttp2Stream[] = [];
    h2.on('stream', (stream) => {
      // Held until LIMIT streams wait: the client's first LIMIT streams are open at once, whatever the timing.
      waiting.push(stream);
      if (waiting.length < LIMIT) return;
      for (const s of waiting) {
        s.respond({ ':status': 200 });
        s.end('ok');
      }
      waiting = [];
    });
    const server = await listen(h2);
    t.after(() => server.close());
    let early: (number | string)[] = [];
    let patient: (number | string)[] = [];
    const run = await recorded(t, 'refused', server, async () => {
      // Requests made before the connection is up go out with the preface, before the server's SETTINGS.
      const a = connect(server.port);
      early = await Promise.all(Array.from({ length: REQUESTS }, (_, i) => request(a, `/early/${i}`)));
      await closeSession(a);
      const b = connect(server.port);
      await once(b, 'remoteSettings');
      patient = await Promise.all(Array.from({ length: REQUESTS }, (_, i) => request(b, `/patient/${i}`)));
      await closeSession(b);
    });
    const refused = early.filter((s) => s !== 200);
    assert.equal(early.length - refused.length, LIMIT);
    for (const s of refused) assert.match(String(s), /^ERR_HTTP2_STREAM_ERROR: .*NGHTTP2_REFUSED_STREAM/);
    assert.deepEqual(patient, Array(REQUESTS).fill(200));
    const [first, second] = run.observers[0]!.connections;
    assert.equal(first!.requests, REQUESTS);
    assert.deepEqual(first!.http2?.refused, { rstStream: refused.length, afterGoaway: 0 });
    assert.equal(second!.requests, REQUESTS);
    assert.equal(second!.http2?.peakConcurrentStreams, LIMIT);
    assert.equal(second!.http2?.maxConcurrentStreams.server, LIMIT);
    assert.deepEqual(second!.http2?.refused, { rstStream: 0, afterGoaway: 0 });
    const f = run.findings.find((x) => x.code === 'refused-streams');
    assert.ok(f, 'refused-streams named');
    assert.equal(f.severity, 'warning');
    assert.equal(f.evidence.values.refusedByRstStream, refused.length);
    assert.equal(f.evidence.values.serverMaxConcurrentStreams, LIMIT);
    // Both connections reached the limit: the first went past it (refused), the second queued at it.
    assert.equal(f.evidence.values.connectionsAtLimit, 2);
    t.diagnostic(f.summary);
  },
);

test(
  'real capture: one Node http2 session carrying 100 requests over 10 s: uneven-spread',
  { skip, timeout: 60_000 },
  async (t) => {
    const REQUESTS = 100;
    const GAP_MS = 102;
    const h2 = http2.createServer();
    h2.on('stream', (stream) => {
      stream.respond({ ':status': 200 });
      stream.end('ok');
    });
    const server = await listen(h2);
    t.after(() => server.close());
    const run = await recorded(t, 'spread', server, async () => {
      const session = connect(server.port);
      for (let i = 0; i < REQUESTS; i++) {
        assert.equal(await request(session, `/${i}`), 200);
        await sleep(GAP_MS);
      }
      await closeSession(session);
    });
    const [r] = run.observers[0]!.connections;
    assert.equal(run.observers[0]!.totals.connections, 1);
    assert.equal(r!.requests, REQUESTS);
    const f = run.findings.find((x) => x.code === 'uneven-spread');
    assert.ok(f, 'uneven-spread named');
    assert.equal(f.severity, 'info');
    assert.deepEqual(f.evidence.connections, [1]);
    assert.equal(f.evidence.values.streamsOnOneConnection, REQUESTS);
    t.diagnostic(f.summary);
  },
);
