/**
 * CaptureAnalysis keeps nothing that points into a pushed chunk: observe/capture-file.ts reads a
 * file into two Buffers that it reuses, so whatever outlives push() (an out-of-order segment waiting
 * for its hole, a split line) must be a copy. Node's Buffer#slice() returns a view, not a copy,
 * so the reader hands out plain Uint8Array views whatever it is given.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CaptureAnalysis } from '../../../src/analyze/capture-analysis.js';
import type { ConnectionRecord } from '../../../src/model/report.js';
import { buildPcap } from '../../support/capture-builder.js';
import { Conversation, httpGet, httpResponse } from '../../support/tcp-conversation.js';

const PCAP_FILE_HEADER = 24;
const PCAP_RECORD_HEADER = 16;

/** Byte offsets where each pcap record (little-endian file) ends. */
function recordEnds(bytes: Uint8Array): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const ends = [PCAP_FILE_HEADER];
  for (let at = PCAP_FILE_HEADER; at < bytes.length;) {
    at += PCAP_RECORD_HEADER + view.getUint32(at + 8, true);
    ends.push(at);
  }
  return ends;
}

function connections(a: CaptureAnalysis): ConnectionRecord[] {
  a.end();
  return a.result().report.connections;
}

test('capture buffers: an out-of-order segment survives the reuse of the Buffer it came in', () => {
  const c = new Conversation({ address: '192.0.2.10', port: 51000 }, { address: '192.0.2.80', port: 8080 }).handshake();
  const request = httpGet('/reordered', { 'User-Agent': 'test' });
  const half = request.length >> 1;
  const first = c.send('client', request.slice(0, half));
  const second = c.send('client', request.slice(half));
  c.send('server', httpResponse(200, 'hello'), { ack: true });
  c.close('client');
  // The second half of the request arrives first, and waits for the first.
  const packets = [...c.packets];
  packets.splice(packets.indexOf(first), 2, second, first);
  const bytes = buildPcap({ packets });

  const whole = new CaptureAnalysis();
  whole.push(bytes);
  const expected = connections(whole);
  assert.equal(expected[0]?.requests, 1);

  // One record per push, every push through the same Buffer.
  const reused = new CaptureAnalysis();
  const scratch = Buffer.alloc(bytes.length);
  const ends = recordEnds(bytes);
  let from = 0;
  for (const end of ends) {
    scratch.fill(0xee);
    scratch.set(bytes.subarray(from, end));
    reused.push(scratch.subarray(0, end - from));
    from = end;
  }
  assert.deepEqual(connections(reused), expected);
});
