/**
 * Benchmark of the HTTP/1.x framer (src/decode/http1.ts): ~200 MB of keep-alive traffic on one
 * connection (GET requests, 200 responses with 4 KB bodies), fed as a capture would (TCP segments
 * of 1448 bytes) and as a proxy would (pipelined, reads of 64 KiB). Prints MB/s and messages/s.
 *
 * Run: npx tsc -p . && node dist/bench/http1.js [total MB]
 */
import { Http1Connection } from '../src/decode/http1.js';

const BODY_BYTES = 4096;
const EXCHANGES_PER_BLOCK = 1000;
const TOTAL_MB = Number(process.argv[2] ?? 200);

const encode = (text: string): Uint8Array => new TextEncoder().encode(text);

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
function block(segment: number, chunked: boolean, pipelined: boolean): { feeds: { client: boolean; bytes: Uint8Array }[]; bytes: number } {
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

function run(label: string, segment: number, chunked: boolean, pipelined = false): void {
  const { feeds, bytes } = block(segment, chunked, pipelined);
  const blocks = Math.max(1, Math.round((TOTAL_MB * 1e6) / bytes));
  const frame = (repeat: number): Http1Connection => {
    const conn = new Http1Connection({});
    let ts = 0;
    for (let r = 0; r < repeat; r++) {
      for (const f of feeds) {
        if (f.client) conn.client(f.bytes, ts++);
        else conn.server(f.bytes, ts++);
      }
    }
    return conn;
  };
  frame(Math.max(1, blocks >> 4)); // warm up
  const started = process.hrtime.bigint();
  const conn = frame(blocks);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const expected = blocks * EXCHANGES_PER_BLOCK;
  if (conn.requests !== expected || conn.responses !== expected) {
    throw new Error(`framed ${conn.requests} requests / ${conn.responses} responses, expected ${expected}`);
  }
  const mb = (blocks * bytes) / 1e6;
  const messages = conn.requests + conn.responses;
  console.log(
    `${label.padEnd(44)} ${mb.toFixed(0).padStart(5)} MB in ${seconds.toFixed(3)} s: ` +
      `${(mb / seconds).toFixed(0).padStart(6)} MB/s, ${(messages / seconds / 1e6).toFixed(2)} M messages/s`,
  );
}

console.log(`HTTP/1.x framer, one keep-alive connection, ${BODY_BYTES}-byte bodies (node ${process.version})`);
run('Content-Length, 1448-byte segments', 1448, false);
run('Content-Length, pipelined, 64 KiB reads', 64 * 1024, false, true);
run('chunked, 1448-byte segments', 1448, true);
