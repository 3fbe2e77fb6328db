/**
 * Benchmark of the HTTP/1.x framer (src/decode/http1.ts). Prints MB/s and messages/s (requests +
 * responses), the median of ROUNDS timed rounds after a warm-up.
 *
 * Keep-alive: ~200 MB on one connection (GET requests, 200 responses with 4 KB bodies), fed as a
 * capture would (TCP segments of 1448 bytes) and as a proxy would (pipelined, reads of 64 KiB).
 * Churn: `ab` without -k, as in bench/synthetic-capture.ts: many short connections, one HTTP/1.0
 * request and one small `Connection: close` response each, a new Http1Connection per connection,
 * both FINs.
 *
 * The framer is given the events the analyzer uses (src/analyze/tracker.ts: request, response,
 * responseEnd, lost, upgrade on one small object), so the info objects are built as in production.
 * The last two cases pass `{ targets: false }`, as a caller that never reads the request target can.
 *
 * Run: npx tsc -p . && node dist/bench/http1.js [total MB] [rounds]
 */
import {
  Http1Connection,
  type Http1Events,
  type Http1Options,
  type HttpRequestInfo,
  type HttpResponseInfo,
} from '../src/decode/http1.js';

const BODY_BYTES = 4096;
const EXCHANGES_PER_BLOCK = 1000;
const TOTAL_MB = Number(process.argv[2] ?? 200);
const ROUNDS = Number(process.argv[3] ?? 9);
/** Churn connections per round (the 210 MB churn capture of bench/analyze.ts holds ~150k). */
const CHURN_CONNECTIONS = 150_000;

const encode = (text: string): Uint8Array => new TextEncoder().encode(text);

/** What the analyzer's ConnectionEvents does with each event, roughly. */
class BenchEvents implements Http1Events {
  lastResponseEnd = -1;
  clientClose = 0;
  serverClose = 0;
  idle = 0;
  lostCount = 0;
  request(r: HttpRequestInfo): void {
    if (this.lastResponseEnd >= 0) this.idle += r.ts - this.lastResponseEnd;
    if (!r.keepAlive) this.clientClose++;
  }
  response(r: HttpResponseInfo): void {
    if (!r.informational && !r.keepAlive) this.serverClose++;
  }
  responseEnd(_r: HttpResponseInfo, ts: number): void {
    this.lastResponseEnd = ts;
  }
  lost(): void {
    this.lostCount++;
  }
  upgrade(): void {
    this.lostCount++;
  }
}

function request(i: number): Uint8Array {
  return encode(
    `GET /items/${i}?fields=all HTTP/1.1\r\nHost: bench.example.test\r\nUser-Agent: keepalive-lab-bench/1.0\r\n` +
      'Accept: application/json\r\nAccept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n\r\n',
  );
}

function response(chunked: boolean): Uint8Array {
  const head =
    'HTTP/1.1 200 OK\r\nDate: Tue, 24 Nov 2026 07:03:25 GMT\r\nContent-Type: application/octet-stream\r\n' +
    'Cache-Control: no-store\r\nKeep-Alive: timeout=5\r\nConnection: keep-alive\r\n' +
    (chunked ? 'Transfer-Encoding: chunked\r\n\r\n1000\r\n' : `Content-Length: ${BODY_BYTES}\r\n\r\n`);
  const body = new Uint8Array(BODY_BYTES).fill(0x61);
  const tail = chunked ? encode('\r\n0\r\n\r\n') : new Uint8Array(0);
  const out = new Uint8Array(head.length + body.length + tail.length);
  out.set(encode(head));
  out.set(body, head.length);
  out.set(tail, head.length + body.length);
  return out;
}

/**
 * One block of feeds. Interleaved: each request whole, then its response cut into `segment`-byte
 * pieces (a capture). Pipelined: all requests, then all responses, each stream cut into `segment`
 * pieces (a proxy reading big buffers).
 */
function block(
  segment: number,
  chunked: boolean,
  pipelined: boolean,
): { feeds: { client: boolean; bytes: Uint8Array }[]; bytes: number } {
  const feeds: { client: boolean; bytes: Uint8Array }[] = [];
  const res = response(chunked);
  const requests = Array.from({ length: EXCHANGES_PER_BLOCK }, (_, i) => request(i));
  const cut = (client: boolean, data: Uint8Array): void => {
    for (let at = 0; at < data.length; at += segment) feeds.push({ client, bytes: data.subarray(at, at + segment) });
  };
  if (pipelined) {
    cut(true, concat(requests));
    cut(false, concat(requests.map(() => res)));
  } else {
    for (const req of requests) {
      feeds.push({ client: true, bytes: req });
      cut(false, res);
    }
  }
  return { feeds, bytes: requests.reduce((n, r) => n + r.length + res.length, 0) };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1]!;
}

function report(label: string, bytes: number, messages: number, seconds: number[]): void {
  const s = median(seconds);
  const mb = bytes / 1e6;
  console.log(
    `${label.padEnd(44)} ${mb.toFixed(0).padStart(5)} MB in ${s.toFixed(3)} s: ` +
      `${(mb / s).toFixed(0).padStart(6)} MB/s, ${(messages / s / 1e6).toFixed(2)} M messages/s ` +
      `(median of ${seconds.length}, range ${(messages / Math.max(...seconds) / 1e6).toFixed(2)}-` +
      `${(messages / Math.min(...seconds) / 1e6).toFixed(2)})`,
  );
}

function time(fn: () => void): number {
  const started = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - started) / 1e9;
}

function run(label: string, segment: number, chunked: boolean, pipelined = false, options?: Http1Options): void {
  const { feeds, bytes } = block(segment, chunked, pipelined);
  const blocks = Math.max(1, Math.round((TOTAL_MB * 1e6) / bytes));
  const frame = (repeat: number): void => {
    const conn = new Http1Connection(new BenchEvents(), options);
    let ts = 0;
    for (let r = 0; r < repeat; r++) {
      for (const f of feeds) {
        if (f.client) conn.client(f.bytes, ts++);
        else conn.server(f.bytes, ts++);
      }
    }
    const expected = repeat * EXCHANGES_PER_BLOCK;
    if (conn.requests !== expected || conn.responses !== expected) {
      throw new Error(`framed ${conn.requests} requests / ${conn.responses} responses, expected ${expected}`);
    }
  };
  frame(Math.max(1, blocks >> 4)); // warm up
  const seconds: number[] = [];
  for (let r = 0; r < ROUNDS; r++) seconds.push(time(() => frame(blocks)));
  report(label, blocks * bytes, 2 * blocks * EXCHANGES_PER_BLOCK, seconds);
}

/** `ab` without -k: one connection per exchange, both sides FIN (server first). */
function churn(label: string, connections: number, options?: Http1Options): void {
  const req = encode(
    'GET /index.html HTTP/1.0\r\nHost: 127.0.0.1:8080\r\nUser-Agent: ApacheBench/2.3\r\nAccept: */*\r\n\r\n',
  );
  const responses = [180, 301, 455, 612].map((n) => {
    const head = encode(
      `HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: ${n}\r\n` +
        'Date: Tue, 14 Nov 2023 22:13:20 GMT\r\nConnection: close\r\n\r\n',
    );
    return concat([head, new Uint8Array(n).fill(0x61)]);
  });
  const bytesPerRound = responses.reduce((n, r) => n + (connections / responses.length) * (req.length + r.length), 0);
  const frame = (count: number): void => {
    let requests = 0;
    let responsesSeen = 0;
    for (let i = 0; i < count; i++) {
      const conn = new Http1Connection(new BenchEvents(), options);
      const ts = i * 4;
      conn.client(req, ts);
      conn.server(responses[i & 3]!, ts + 1);
      conn.end('server', ts + 2);
      conn.end('client', ts + 3);
      requests += conn.requests;
      responsesSeen += conn.responses;
    }
    if (requests !== count || responsesSeen !== count)
      throw new Error(`churn framed ${requests} / ${responsesSeen}, expected ${count}`);
  };
  frame(connections >> 2); // warm up
  const seconds: number[] = [];
  for (let r = 0; r < ROUNDS; r++) seconds.push(time(() => frame(connections)));
  report(label, bytesPerRound, 2 * connections, seconds);
}

console.log(`HTTP/1.x framer, ${BODY_BYTES}-byte bodies on one keep-alive connection; churn (node ${process.version})`);
run('Content-Length, 1448-byte segments', 1448, false);
run('Content-Length, pipelined, 64 KiB reads', 64 * 1024, false, true);
run('chunked, 1448-byte segments', 1448, true);
churn(`churn, ${CHURN_CONNECTIONS / 1000}k connections of 1 exchange`, CHURN_CONNECTIONS);
// As the analyzer could run it: it never reads the request target.
run('Content-Length, 1448-byte segments, no targets', 1448, false, false, { targets: false });
churn(`churn, ${CHURN_CONNECTIONS / 1000}k connections, no targets`, CHURN_CONNECTIONS, { targets: false });
