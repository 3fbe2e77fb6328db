/**
 * `keepalive-lab analyze --keylog FILE`, the built binary spawned: a capture of four TLS connections
 * whose records are really encrypted (test/support/tls-builder.ts), records cut into 100-byte TCP
 * segments; three have their keys in the key log (TLS 1.3 HTTP/1.1, TLS 1.3 h2, TLS 1.2 ChaCha20),
 * one has none. The requests of the three are counted, the fourth is said not decrypted and why; a
 * key log that is missing is KAL_ERR_KEYLOG, one with no usable line a warning.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Report } from '../../src/model/report.js';
import { buildPcap, type TcpPacketSpec } from '../support/capture-builder.js';
import { runCli } from '../support/cli.js';
import { concat } from '../support/buffer-list.js';
import { HTTP2_CLIENT_PREFACE, headers, requestBlock, responseBlock, settings } from '../support/h2-frames.js';
import { httpGet, httpResponse } from '../support/tcp-conversation.js';
import { segmentsOverTcp, tls12Encrypted, tls13Encrypted, type Segment } from '../support/tls-builder.js';

const dir = await mkdtemp(join(tmpdir(), 'kal-cli-keylog-'));
test.after(() => rm(dir, { recursive: true, force: true }));

const enc = new TextEncoder();
const SERVER = { address: '10.0.0.2', port: 443 };
const MSS = 100;

const connection = (port: number, segments: readonly Segment[], startMs: number): TcpPacketSpec[] =>
  segmentsOverTcp(port, segments, startMs, SERVER, MSS);

const http1 = (n: number): [Uint8Array, Uint8Array][] =>
  Array.from({ length: n }, (_, i) => [enc.encode(httpGet(`/${i}`)), enc.encode(httpResponse(200, 300))]);

const a = tls13Encrypted({ alpn: 'http/1.1', exchanges: http1(3), seed: 1, closeNotify: true });
const b = tls13Encrypted({
  suite: 0x1302,
  alpn: 'h2',
  seed: 2,
  exchanges: [
    [
      concat(
        HTTP2_CLIENT_PREFACE,
        settings([]),
        headers(1, requestBlock('GET', '/a'), { endStream: true }),
        headers(3, requestBlock('GET', '/b'), { endStream: true }),
      ),
      concat(
        settings([]),
        headers(1, responseBlock(200), { endStream: true }),
        headers(3, responseBlock(404), { endStream: true }),
      ),
    ],
  ],
});
const c = tls12Encrypted({ suite: 0xcca8, alpn: 'http/1.1', exchanges: http1(2), seed: 3 });
const d = tls13Encrypted({ alpn: 'http/1.1', exchanges: http1(4), seed: 4 });

const capture = join(dir, 'tls.pcap');
const keylog = join(dir, 'keys.log');
await writeFile(
  capture,
  buildPcap({
    packets: [
      ...connection(50001, a.segments, 1_700_000_000_000),
      ...connection(50002, b.segments, 1_700_000_001_000),
      ...connection(50003, c.segments, 1_700_000_002_000),
      ...connection(50004, d.segments, 1_700_000_003_000),
    ],
  }),
);
await writeFile(keylog, `# keys of three connections\n${a.keyLog}${b.keyLog}${c.keyLog}`);

test('analyze --keylog: the decrypted connections counted, the one without keys said so', async () => {
  const r = await runCli(['analyze', capture, '--keylog', keylog, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as Report;
  const wire = report.runs[0]!.observers[0]!;
  assert.deepEqual(
    wire.connections.map((x) => [x.requests, x.responses, x.tls?.decryption?.status, x.http2?.start ?? null]),
    [
      [3, 3, 'decrypted', null],
      [2, 2, 'decrypted', 'alpn'],
      [2, 2, 'decrypted', null],
      [0, 0, 'no-keys', null],
    ],
  );
  assert.deepEqual(wire.connections[1]!.statusCodes, [200, 404]);
  assert.ok(
    wire.connections[3]!.notes.includes(
      'requests unknown without the TLS keys: no key for this connection in the key log',
    ),
  );
  assert.equal(wire.totals.requests, 7);
  assert.deepEqual(wire.totals.tls?.decryption, { decrypted: 3, 'no-keys': 1 });
  const warning = wire.warnings.find((w) => w.code === 'KAL_WARN_TLS_KEYS');
  assert.match(warning?.message ?? '', /^1 of 4 TLS connections not decrypted \(1 no key in the key log\)/);

  const text = await runCli(['analyze', capture, '--keylog', keylog]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /3 of 4 TLS connections decrypted; requests unknown for the other 1/);
});

test('analyze --keylog: a missing key log is KAL_ERR_KEYLOG, one with no usable line a warning', async () => {
  const missing = await runCli(['analyze', capture, '--keylog', join(dir, 'nope.log')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /KAL_ERR_KEYLOG/);
  assert.match(missing.stderr, /--keylog .*nope\.log: no such file/);
  const junk = join(dir, 'junk.log');
  await writeFile(junk, 'this is not\na key log\n');
  const r = await runCli(['analyze', capture, '--keylog', junk, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const wire = (JSON.parse(r.stdout) as Report).runs[0]!.observers[0]!;
  assert.match(
    wire.warnings.find((w) => w.code === 'KAL_WARN_KEYLOG')?.message ?? '',
    /has no usable line \(2 not understood/,
  );
  assert.deepEqual(wire.totals.tls?.decryption, { 'no-keys': 4 });
  assert.equal(wire.totals.requests, 0);
});
