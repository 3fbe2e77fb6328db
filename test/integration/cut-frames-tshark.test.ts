/**
 * Cut frames against tshark: captures whose snap length cut the segments (tcpdump -s 68, 96, 128,
 * 200), built in code (test/support/cut-captures.ts) and recorded for real (tcpdump -s 96 on
 * loopback while a Node client makes keep-alive requests with bodies larger than the snap length,
 * then requests without keep-alive). tshark counts, per TCP stream, the frames with an HTTP request
 * method (http.request.method; its hidden http.request flag comes and goes with where the cut falls)
 * and the response status codes; analyze must find the same per connection, and mark as partial the
 * messages that lost bytes.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import type { ConnectionRecord, ObserverReport } from '../../src/model/report.js';
import { analyzeCapture } from '../../src/observe/capture-file.js';
import { captureSkip } from '../support/capture-env.js';
import { buildPcap } from '../support/capture-builder.js';
import {
  HEADERS_PLAIN,
  HEADERS_TIMESTAMPS,
  SERVER_PORT,
  cutConversations,
  expectedCounts,
} from '../support/cut-captures.js';
import { recordTraffic, runTool, toolSkip } from '../support/record.js';

const skip = captureSkip() || toolSkip('tshark');

/** tshark's messages on one TCP stream, by the client's port. */
interface TsharkMessages {
  requests: number;
  statusCodes: number[];
}

/** One tshark pass: per client port, frames with a request method and the status codes, in order. */
async function tsharkMessages(path: string, serverPort: number): Promise<Map<number, TsharkMessages>> {
  const fields = ['tcp.srcport', 'tcp.dstport', 'http.request.method', 'http.response.code'];
  const args = ['-r', path, '-n', '-d', `tcp.port==${serverPort},http`, '-T', 'fields', '-E', 'occurrence=a'];
  const r = await runTool('tshark', [...args, ...fields.flatMap((f) => ['-e', f])], 60_000);
  assert.equal(r.code, 0, `tshark: ${r.stderr}`);
  const streams = new Map<number, TsharkMessages>();
  for (const line of r.stdout.split('\n')) {
    const [src, dst, method, status] = line.split('\t');
    if (src === undefined || dst === undefined || !/^\d+$/.test(src)) continue;
    const clientPort = Number(src) === serverPort ? Number(dst) : Number(src);
    let s = streams.get(clientPort);
    if (s === undefined) streams.set(clientPort, (s = { requests: 0, statusCodes: [] }));
    if (method) s.requests += method.split(',').length;
    if (status) s.statusCodes.push(...status.split(',').map(Number));
  }
  return streams;
}

/** Our connections against tshark's streams: the differences, in words (none when they agree). */
function disagreements(connections: readonly ConnectionRecord[], tshark: Map<number, TsharkMessages>): string[] {
  const out: string[] = [];
  if (connections.length !== tshark.size) out.push(`${connections.length} connections, tshark ${tshark.size} streams`);
  for (const c of connections) {
    const s = tshark.get(c.client.port);
    if (s === undefined) out.push(`:${c.client.port} not in tshark's view`);
    else if (s.requests !== c.requests || s.statusCodes.join() !== c.statusCodes.join())
      out.push(`:${c.client.port}: ${c.requests} requests [${c.statusCodes}], tshark ${s.requests} [${s.statusCodes}]`);
  }
  return out;
}

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kal-cut-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function wire(observers: readonly ObserverReport[]): ObserverReport {
  assert.equal(observers.length, 1);
  return observers[0]!;
}

test(
  'cut frames built in code: analyze counts what tshark counts at snap lengths 68, 96, 128, 200',
  { skip },
  async (t) => {
    const dir = await tempDir(t);
    let checked = 0;
    for (const timestamps of [false, true]) {
      const sent = cutConversations(timestamps);
      for (const snaplen of [68, 96, 128, 200]) {
        const room = snaplen - (timestamps ? HEADERS_TIMESTAMPS : HEADERS_PLAIN);
        const path = join(dir, `cut-${snaplen}-${timestamps ? 'ts' : 'plain'}.pcap`);
        await writeFile(path, buildPcap({ snaplen, packets: sent.packets }));
        const w = wire((await analyzeCapture(path)).observers);
        const tshark = await tsharkMessages(path, SERVER_PORT);
        assert.deepEqual(disagreements(w.connections, tshark), [], `${path}: tshark disagrees`);
        // And both find what was sent, as far as the captured bytes tell it.
        for (const [i, e] of expectedCounts(sent, room).entries()) {
          const c = w.connections[i]!;
          assert.equal(c.requests, e.requests, `${path} :${e.clientPort}`);
          assert.equal(c.partialRequests ?? 0, e.partialRequests, `${path} :${e.clientPort}`);
          assert.equal(c.partialResponses ?? 0, e.partialResponses, `${path} :${e.clientPort}`);
        }
        checked++;
      }
    }
    t.diagnostic(`${checked} captures checked against tshark, 0 disagreements`);
  },
);

test(
  'tcpdump -s 96 on loopback: keep-alive and one-request connections counted as tshark counts them',
  { skip },
  async (t) => {
    const dir = await tempDir(t);
    const BODY = 1000; // larger than the 30 payload bytes a 96-byte snap length keeps on loopback
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.end('r'.repeat(2 * BODY)));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    server.keepAliveTimeout = 5000;
    const port = (server.address() as AddressInfo).port;
    const KEEP_ALIVE = 30;
    const ONE_EACH = 10;
    const request = (agent: http.Agent, i: number): Promise<void> =>
      new Promise((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: `/item/${i}`, agent }, (res) => {
          res.resume();
          res.on('end', resolve);
        });
        req.on('error', reject);
        req.end(Buffer.alloc(BODY, 'x'));
      });
    const path = join(dir, 'snap96.pcap');
    const rec = await recordTraffic({ path, port, iface: 'lo', snaplen: 96 }, async () => {
      const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });
      for (let i = 0; i < KEEP_ALIVE; i++) await request(keepAlive, i);
      keepAlive.destroy();
      const noKeepAlive = new http.Agent({ keepAlive: false });
      for (let i = 0; i < ONE_EACH; i++) await request(noKeepAlive, i);
    });
    assert.equal(rec.dropped, 0, 'tcpdump dropped no packet');
    const run = await analyzeCapture(path);
    const w = wire(run.observers);
    assert.equal(run.capture!.frames, rec.captured);
    assert.ok(run.capture!.truncated > 0, 'the snap length cut frames');
    const tshark = await tsharkMessages(path, port);
    assert.deepEqual(disagreements(w.connections, tshark), [], 'tshark disagrees');
    assert.equal(w.totals.connections, 1 + ONE_EACH);
    assert.equal(w.totals.requests, KEEP_ALIVE + ONE_EACH);
    assert.equal(w.totals.responses, KEEP_ALIVE + ONE_EACH);
    assert.equal(w.totals.partialRequests, KEEP_ALIVE + ONE_EACH, 'every request lost its body to the snap length');
    assert.equal(w.totals.partialResponses, KEEP_ALIVE + ONE_EACH);
    assert.deepEqual(
      w.connections.map((c) => c.requests),
      [KEEP_ALIVE, ...new Array<number>(ONE_EACH).fill(1)],
    );
    assert.ok(
      w.warnings.some((x) => x.code === 'KAL_WARN_PARTIAL_MESSAGES'),
      w.warnings.map((x) => x.code).join(),
    );
    assert.match(run.verdict.summary, /counts rest on partial messages \(40 of 40 requests and 40 of 40 responses/);
  },
);
