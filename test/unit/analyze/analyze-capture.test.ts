/** analyzeCapture (observe/capture-file.ts): a file or a stream through CaptureAnalysis into a RunReport. */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { FileError, KeepaliveLabError } from '../../../src/errors.js';
import { analyzeCapture } from '../../../src/observe/capture-file.js';
import { buildPcap } from '../../support/capture-builder.js';
import { Conversation, httpGet, httpResponse } from '../../support/tcp-conversation.js';

const dir = await mkdtemp(join(tmpdir(), 'kal-analyze-capture-'));
test.after(() => rm(dir, { recursive: true, force: true }));

function capture(): Uint8Array {
  const c = new Conversation({ address: '10.0.0.1', port: 50000 }, { address: '10.0.0.2', port: 8080 }).handshake();
  for (let i = 0; i < 2; i++) {
    c.send('client', httpGet(`/${i}`), { ack: true });
    c.send('server', httpResponse(200, 'x'.repeat(3000)), { ack: true });
  }
  c.close('client');
  return buildPcap({ packets: c.packets });
}

test('analyzeCapture: a file, read in chunks, gives a RunReport', async () => {
  const path = join(dir, 'two.pcap');
  await writeFile(path, capture());
  const r = await analyzeCapture(path);
  assert.equal(r.name, 'analyze');
  assert.equal(r.title, 'two.pcap');
  assert.equal(r.subject, path);
  assert.equal(r.observers[0]!.totals.requests, 2);
  assert.equal(r.verdict.code, 'reuse');
  assert.deepEqual(r.agreement, { agree: true, differences: [] });
  assert.equal(r.capture?.bytes, capture().length);
});

test('analyzeCapture: exchanges only when asked: each request with its path, status and response end', async () => {
  const path = join(dir, 'exchanges.pcap');
  await writeFile(path, capture());
  const plain = await analyzeCapture(path);
  assert.equal(plain.observers[0]!.connections[0]!.exchanges, undefined, 'not asked: the record as before');
  const r = await analyzeCapture(path, { exchanges: true });
  const c = r.observers[0]!.connections[0]!;
  assert.deepEqual(
    c.exchanges?.map((x) => [x.method, x.path, x.status]),
    [
      ['GET', '/0', 200],
      ['GET', '/1', 200],
    ],
  );
  for (const x of c.exchanges!) assert.ok(x.end !== null && x.end >= x.at && x.at >= c.start!, JSON.stringify(x));
  assert.ok(c.exchanges![0]!.end! <= c.exchanges![1]!.at, 'the second request after the first response');
});

test('analyzeCapture: a stream, cut in pieces of any size', async () => {
  const bytes = capture();
  for (const size of [1, 13, 4096]) {
    const pieces: Buffer[] = [];
    for (let at = 0; at < bytes.length; at += size) pieces.push(Buffer.from(bytes.subarray(at, at + size)));
    const r = await analyzeCapture(Readable.from(pieces));
    assert.equal(r.title, 'standard input');
    assert.equal(r.observers[0]!.totals.requests, 2, `pieces of ${size}`);
  }
});

test('analyzeCapture: files that cannot be read are FileErrors', async () => {
  await assert.rejects(
    analyzeCapture(join(dir, 'nope.pcap')),
    (e: unknown) => e instanceof FileError && /no such file/.test(e.message),
  );
  await assert.rejects(analyzeCapture(dir), (e: unknown) => e instanceof FileError && /is a directory/.test(e.message));
  const failing = new Readable({
    read() {
      this.destroy(Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO', syscall: 'read' }));
    },
  });
  await assert.rejects(
    analyzeCapture(failing),
    (e: unknown) => e instanceof FileError && e.code === 'KAL_ERR_FILE' && /cannot read -/.test(e.message),
  );
});

test('analyzeCapture: a bug is not dressed up as a file that cannot be read', async () => {
  // A chunk that throws when looked at stands for a bug inside the analysis: it must surface as itself.
  const bug = new TypeError('a bug in a decoder');
  const chunk = new Proxy(new Uint8Array(8), {
    get(target, key) {
      if (key === 'length') throw bug;
      return Reflect.get(target, key) as unknown;
    },
  });
  await assert.rejects(
    analyzeCapture(Readable.from([chunk], { objectMode: true })),
    (e: unknown) => e === bug && !(e instanceof KeepaliveLabError),
  );
});

test('analyzeCapture: focus on a port or a server', async () => {
  const path = join(dir, 'focus.pcap');
  await writeFile(path, capture());
  assert.equal((await analyzeCapture(path, { port: 8080 })).observers[0]!.totals.connections, 1);
  assert.equal((await analyzeCapture(path, { port: 50000 })).observers[0]!.connections[0]!.client.port, 50000);
  assert.equal((await analyzeCapture(path, { port: 9 })).observers[0]!.totals.connections, 0);
  assert.equal(
    (await analyzeCapture(path, { server: { address: '10.0.0.2', port: 8080 } })).observers[0]!.totals.connections,
    1,
  );
  assert.equal(
    (await analyzeCapture(path, { server: { address: '10.0.0.1', port: 8080 } })).observers[0]!.totals.connections,
    0,
  );
  const tcpOnly = await analyzeCapture(path, { http: false });
  assert.equal(tcpOnly.observers[0]!.totals.requests, 0);
  assert.equal(tcpOnly.observers[0]!.connections[0]!.timeWait, 'client');
});
