/**
 * The bench's synthetic HTTPS capture (bench/synthetic-https.ts), small: analyze with its key log
 * decrypts every connection and counts exactly the HTTP/1.1 requests and HTTP/2 streams the generator
 * made; without the key log the requests are unknown (verdict `encrypted`, none counted). And tshark,
 * given the same key log (sharkd, `tls.keylog_file`), decrypts the same connections and agrees on the
 * requests of each (test/support/tshark-check.ts's comparison); without tshark this part is skipped,
 * and fails under CI. The capture is also registered for the usual comparison without the key log.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { analyzeCapture } from '../../../src/observe/capture-file.js';
import type { RunReport } from '../../../src/model/report.js';
import { Sharkd, sharkdProblem } from '../../support/sharkd.js';
import { writeHttpsCapture } from '../../support/synthetic.js';
import { compareDescriptions, describeRecords, describeTshark } from '../../support/tshark-check.js';

const dir = await mkdtemp(join(tmpdir(), 'kal-https-capture-'));
test.after(() => rm(dir, { recursive: true, force: true }));

const path = join(dir, 'https.pcap');
const keylog = join(dir, 'https.keylog');
/** Eight connections (four of each ALPN, every cipher suite among them) of 7 requests or streams each. */
const meta = writeHttpsCapture({ path, keylog, targetBytes: Infinity, connections: 8, requestsPerConnection: 7 });

const connections = (run: RunReport) => run.observers[0]!.connections;

test('https capture: the generator made what it says (8 connections, h1 and h2, three suites)', () => {
  assert.equal(meta.connections, 8);
  assert.deepEqual(meta.http1, { connections: 4, requests: 28 });
  assert.deepEqual(meta.http2, { connections: 4, streams: 28 });
  assert.deepEqual(meta.suites, {
    TLS_AES_128_GCM_SHA256: 6,
    TLS_AES_256_GCM_SHA384: 1,
    TLS_CHACHA20_POLY1305_SHA256: 1,
  });
});

test('https capture: with the key log, every connection is decrypted and every request and stream counted', async () => {
  const run = await analyzeCapture(path, { keylog });
  const records = connections(run);
  assert.equal(records.length, meta.connections);
  assert.deepEqual(
    records.map((r) => r.tls?.decryption?.status),
    records.map(() => 'decrypted'),
  );
  const h2 = records.filter((r) => r.http2 !== undefined);
  const h1 = records.filter((r) => r.http2 === undefined);
  assert.equal(h2.length, meta.http2.connections);
  assert.equal(
    h2.reduce((n, r) => n + r.requests, 0),
    meta.http2.streams,
  );
  assert.equal(
    h1.reduce((n, r) => n + r.requests, 0),
    meta.http1.requests,
  );
  assert.equal(run.observers[0]!.totals.requests, meta.requests);
  assert.equal(run.observers[0]!.totals.responses, meta.requests);
  assert.deepEqual(records.map((r) => r.tls?.alpnChosen).sort(), [
    ...Array(4).fill('h2'),
    ...Array(4).fill('http/1.1'),
  ]);
});

test('https capture: without the key log, the requests are unknown', async () => {
  const run = await analyzeCapture(path);
  assert.equal(run.verdict.code, 'encrypted');
  assert.equal(connections(run).length, meta.connections);
  assert.equal(run.observers[0]!.totals.requests, 0);
  assert.equal(run.observers[0]!.totals.tls?.connections, meta.connections);
  assert.ok(connections(run).every((r) => r.tls !== undefined && r.tls.decryption === undefined));
});

test('https capture: tshark with the same key log sees the same requests on each connection', async (t) => {
  const problem = sharkdProblem();
  if (problem !== null) {
    if (process.env.CI) throw new Error(`CI must have tshark: ${problem}`);
    t.skip(problem);
    return;
  }
  const config = await mkdtemp(join(dir, 'wireshark-'));
  const sharkd = new Sharkd(config);
  try {
    await sharkd.setPreference('tls.keylog_file', keylog);
    const frames = await sharkd.frames(path);
    assert.ok(frames !== null, 'tshark reads the capture');
    // Decrypted, the requests inside TLS are HTTP's, and compared (no stream is another protocol).
    const theirs = describeTshark(frames);
    assert.deepEqual(
      theirs.filter((d) => d.otherProtocol !== undefined),
      [],
    );
    assert.equal(
      theirs.reduce((n, d) => n + d.requests, 0),
      meta.requests,
      'tshark decrypted and counted every request and stream',
    );
    const ours = describeRecords(connections(await analyzeCapture(path, { keylog })));
    assert.deepEqual(compareDescriptions(ours, theirs), []);
  } finally {
    await sharkd.close();
  }
});
