/**
 * Decrypted TLS through the whole pipeline (analyzeCapture with `keys`): the finding tls-no-reuse
 * counts the requests of the connections it decrypted instead of estimating them, and a connection
 * that carried several requests decrypted is reuse, whatever the estimate.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { KeyLog } from '../../../src/decode/tls-keylog.js';
import { analyzeCapture } from '../../../src/observe/capture-file.js';
import type { RunReport } from '../../../src/model/report.js';
import { buildPcap, type TcpPacketSpec } from '../../support/capture-builder.js';
import { Conversation, httpGet, httpResponse } from '../../support/tcp-conversation.js';
import { tls13Encrypted, type EncryptedConversation } from '../../support/tls-builder.js';

const enc = new TextEncoder();

function connection(port: number, conv: EncryptedConversation, startMs: number): TcpPacketSpec[] {
  const c = new Conversation(
    { address: '10.0.0.1', port },
    { address: '10.0.0.2', port: 443 },
    { start: startMs * 1000 },
  );
  c.handshake();
  for (const s of conv.segments) c.send(s.side, s.bytes, { ack: true });
  c.close('client');
  return c.packets;
}

async function analyze(convs: EncryptedConversation[]): Promise<RunReport> {
  const dir = await mkdtemp(join(tmpdir(), 'kal-tls-keys-'));
  try {
    const path = join(dir, 'tls.pcap');
    const packets = convs.flatMap((conv, i) => connection(50001 + i, conv, 1_700_000_000_000 + i * 1000));
    await writeFile(path, buildPcap({ packets }));
    const keys = new KeyLog();
    for (const conv of convs) keys.push(conv.keyLog);
    keys.end();
    return await analyzeCapture(path, { keys });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** An HTTP/1.1 exchange whose response comes in two records (the estimate sees one exchange either way). */
const exchange = (i: number): [Uint8Array, Uint8Array] => [enc.encode(httpGet(`/${i}`)), enc.encode(httpResponse())];

test('tls-no-reuse with keys: one request per decrypted connection is named, with the requests counted', async () => {
  const run = await analyze(
    [1, 2, 3].map((seed) => tls13Encrypted({ alpn: 'http/1.1', exchanges: [exchange(0)], seed })),
  );
  const finding = run.findings?.find((f) => f.code === 'tls-no-reuse');
  assert.ok(finding, JSON.stringify(run.findings?.map((f) => f.code)));
  assert.match(finding.reasoning[0]!, /each with at most one request \(decrypted with the key log\)/);
  assert.ok(
    finding.evidence.events.every((e) => /1 request \(decrypted\)/.test(e.what)),
    JSON.stringify(finding.evidence),
  );
  assert.equal(run.observers[0]!.totals.requests, 3);
});

test('tls-no-reuse with keys: a decrypted connection with two requests is reuse: not named', async () => {
  const run = await analyze([
    tls13Encrypted({ alpn: 'http/1.1', exchanges: [exchange(0)], seed: 1 }),
    tls13Encrypted({ alpn: 'http/1.1', exchanges: [exchange(0)], seed: 2 }),
    tls13Encrypted({ alpn: 'http/1.1', exchanges: [exchange(0)], seed: 3 }),
    // Two requests pipelined in one record, both answered in one: an estimate of 1 exchange.
    tls13Encrypted({
      alpn: 'http/1.1',
      seed: 4,
      exchanges: [[enc.encode(httpGet('/a') + httpGet('/b')), enc.encode(httpResponse() + httpResponse())]],
    }),
  ]);
  const wire = run.observers[0]!;
  assert.deepEqual(
    wire.connections.map((c) => [c.requests, c.tls?.estimatedExchanges]),
    [
      [1, 1],
      [1, 1],
      [1, 1],
      [2, 1],
    ],
  );
  assert.equal(
    run.findings?.find((f) => f.code === 'tls-no-reuse'),
    undefined,
  );
});
