/**
 * TLS through the whole pipeline: captures built from scripted TCP conversations carrying the TLS
 * handshakes of test/support/tls-builder.ts, records cut into TCP segments of 100 bytes (a record
 * spans segments), read by analyzeCapture. Each capture is also read by tshark at the end of this
 * file (test/support/tshark-check.ts), which finds TLS by its heuristic and must agree on the
 * ClientHellos, version, cipher suite, SNI, ALPN and resumption of every connection.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { analyzeCapture } from '../../../src/observe/capture-file.js';
import type { RunReport } from '../../../src/model/report.js';
import { buildPcap, type TcpPacketSpec } from '../../support/capture-builder.js';
import { Conversation } from '../../support/tcp-conversation.js';
import {
  tls12Full,
  tls12Resumed,
  tls13Full,
  tls13HelloRetry,
  tls13Resumed,
  type Segment,
  segmentsOverTcp,
} from '../../support/tls-builder.js';

const SERVER = { address: '10.0.0.2', port: 8443 };
/** Payload bytes per TCP segment: records longer than this span segments. */
const MSS = 100;

const connection = (port: number, segments: readonly Segment[], startMs: number): TcpPacketSpec[] =>
  segmentsOverTcp(port, segments, startMs, SERVER, MSS);

async function analyze(packets: TcpPacketSpec[]): Promise<RunReport> {
  const dir = await mkdtemp(join(tmpdir(), 'kal-tls-'));
  try {
    const path = join(dir, 'tls.pcap');
    await writeFile(path, buildPcap({ packets: packets.sort((a, b) => (a.ts ?? 0) - (b.ts ?? 0)) }));
    return await analyzeCapture(path);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('TLS captures: every handshake kind, records spanning segments: the facts, the totals, the verdict', async () => {
  const run = await analyze([
    ...connection(50001, tls13Full(3), 1_700_000_000_000),
    ...connection(50002, tls13Resumed(1), 1_700_000_001_000),
    ...connection(50003, tls13HelloRetry(1), 1_700_000_002_000),
    ...connection(50004, tls12Full(2), 1_700_000_003_000),
    ...connection(50005, tls12Resumed('ticket', 1), 1_700_000_004_000),
    ...connection(50006, tls12Resumed('session-id', 1), 1_700_000_005_000),
  ]);
  const wire = run.observers[0]!;
  const facts = wire.connections.map((c) => [
    c.requests,
    c.tls?.version,
    c.tls?.handshake,
    c.tls?.resumedWith ?? null,
    c.tls?.helloRetry ?? false,
    c.tls?.estimatedExchanges,
  ]);
  assert.deepEqual(facts, [
    [0, 'TLS 1.3', 'full', null, false, 3],
    [0, 'TLS 1.3', 'resumed', 'psk', false, 1],
    [0, 'TLS 1.3', 'full', null, true, 1],
    [0, 'TLS 1.2', 'full', null, false, 2],
    [0, 'TLS 1.2', 'resumed', 'ticket', false, 1],
    [0, 'TLS 1.2', 'resumed', 'session-id', false, 1],
  ]);
  for (const c of wire.connections)
    assert.ok(c.notes.includes('requests unknown without the TLS keys'), c.notes.join());
  assert.deepEqual(wire.totals.tls, {
    connections: 6,
    fullHandshakes: 3,
    resumedHandshakes: 3,
    handshakesUnknown: 0,
    estimatedExchanges: 9,
    versions: { 'TLS 1.3': 3, 'TLS 1.2': 3 },
  });
  assert.equal(wire.totals.requests, 0);
  assert.equal(run.verdict.code, 'encrypted');
  assert.equal(
    run.verdict.summary,
    '6 TLS connections (3 full handshakes, 3 resumed): requests unknown without the TLS keys; ' +
      'an estimated 9 request/response exchanges, 1.5 per connection',
  );
  assert.deepEqual(run.findings, []);
});

test('TLS captures: one connection per request, full handshakes, nothing resumed: tls-no-reuse heads the verdict', async () => {
  const packets: TcpPacketSpec[] = [];
  for (let i = 0; i < 4; i++) packets.push(...connection(51000 + i, tls12Full(1), 1_700_000_000_000 + i * 1000));
  const run = await analyze(packets);
  assert.equal(run.verdict.code, 'tls-no-reuse');
  assert.equal(
    run.verdict.summary,
    '4 full TLS handshakes for 4 connections to 10.0.0.2:8443 (example.com): the client reuses neither ' +
      'connections nor TLS sessions',
  );
  const [finding] = run.findings;
  assert.equal(finding?.code, 'tls-no-reuse');
  assert.equal(finding.severity, 'warning');
  assert.deepEqual(finding.evidence.connections, [1, 2, 3, 4]);
  assert.equal(finding.evidence.values.fullHandshakes, 4);
  assert.equal(finding.evidence.values.sessionsOffered, 0);
  assert.deepEqual(Object.keys(finding.fixes).sort(), [
    'curl',
    'go',
    'httpx',
    'node-http',
    'okhttp',
    'python-requests',
    'undici',
  ]);
  assert.doesNotMatch(run.verdict.summary, /nothing to reuse/);
});

test('TLS captures: no finding for two connections, for reused connections, or once one session resumed', async () => {
  const two = await analyze([
    ...connection(52000, tls12Full(1), 1_700_000_000_000),
    ...connection(52001, tls12Full(1), 1_700_000_001_000),
  ]);
  assert.deepEqual(two.findings, []);
  assert.equal(two.verdict.code, 'encrypted');
  assert.doesNotMatch(two.verdict.summary, /nothing to reuse/);

  const resumed: TcpPacketSpec[] = [];
  for (let i = 0; i < 3; i++) resumed.push(...connection(53000 + i, tls12Full(1), 1_700_000_000_000 + i * 1000));
  resumed.push(...connection(53009, tls12Resumed('ticket', 1), 1_700_000_009_000));
  assert.deepEqual((await analyze(resumed)).findings, []);

  const reused: TcpPacketSpec[] = [];
  for (let i = 0; i < 3; i++)
    reused.push(...connection(54000 + i, tls12Full(i === 2 ? 3 : 1), 1_700_000_000_000 + i * 1000));
  assert.deepEqual((await analyze(reused)).findings, []);
});

test('TLS captures: HTTP beside TLS: the HTTP verdict, with the TLS connections named as not counted', async () => {
  const c = new Conversation(
    { address: '10.0.0.1', port: 55000 },
    { address: '10.0.0.2', port: 80 },
    { start: 1_699_999_999_000_000 },
  );
  c.handshake();
  for (let i = 0; i < 3; i++) {
    c.send('client', 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', { ack: true });
    c.send('server', 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', { ack: true });
  }
  c.close('client');
  const run = await analyze([...c.packets, ...connection(55001, tls13Full(1), 1_700_000_000_000)]);
  assert.equal(run.observers[0]!.totals.requests, 3);
  assert.match(run.verdict.summary, /; 1 TLS connection not counted \(requests unknown without the TLS keys\)$/);
});
