/**
 * Captures taken with a small snap length (tcpdump -s 68, 96, 128, 200: headers only): each segment
 * keeps its first bytes, the TCP sequence numbers and IP lengths tell how many were sent. A request
 * or response counts when its captured bytes tell its method or status (as tshark counts a cut
 * frame's message), is marked partial when bytes of it were not captured, and the report says which
 * counts rest on partial messages. The same captures are read by tshark in
 * test/integration/cut-frames-tshark.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CaptureAnalysis } from '../../../src/analyze/capture-analysis.js';
import type { CaptureAnalysisResult } from '../../../src/analyze/capture-analysis.js';
import { decideVerdict } from '../../../src/analyze/verdict.js';
import { buildPcap } from '../../support/capture-builder.js';
import { HEADERS_PLAIN, HEADERS_TIMESTAMPS, cutConversations, expectedCounts } from '../../support/cut-captures.js';
import { Conversation } from '../../support/tcp-conversation.js';
import { withoutTshark } from '../../support/tshark-check.js';

const SNAP_LENGTHS = [68, 96, 128, 200];

function analyze(bytes: Uint8Array): CaptureAnalysisResult {
  const a = new CaptureAnalysis();
  a.push(bytes);
  a.end();
  return a.result();
}

for (const timestamps of [false, true]) {
  const headers = timestamps ? HEADERS_TIMESTAMPS : HEADERS_PLAIN;
  for (const snaplen of SNAP_LENGTHS) {
    test(`cut frames: snap length ${snaplen}, ${headers}-byte headers: messages counted from their start lines`, () => {
      const sent = cutConversations(timestamps);
      const r = analyze(buildPcap({ snaplen, packets: sent.packets }));
      const expected = expectedCounts(sent, snaplen - headers);
      const records = r.report.connections;
      assert.equal(records.length, expected.length);
      let partial = 0;
      for (const [i, e] of expected.entries()) {
        const c = records[i]!;
        const on = `connection from :${e.clientPort}`;
        assert.equal(c.client.port, e.clientPort, on);
        assert.equal(c.requests, e.requests, `${on}: requests`);
        assert.deepEqual(c.statusCodes, e.statusCodes, `${on}: status codes`);
        assert.equal(c.responses, e.statusCodes.length, `${on}: responses`);
        assert.equal(c.partialRequests ?? 0, e.partialRequests, `${on}: partial requests`);
        assert.equal(c.partialResponses ?? 0, e.partialResponses, `${on}: partial responses`);
        partial += e.partialRequests + e.partialResponses;
        // The sequence numbers tell every byte sent, captured or not.
        const sentBy = (side: 'client' | 'server') =>
          sent.packets
            .filter((p) => (side === 'client' ? p.srcPort === e.clientPort : p.dstPort === e.clientPort))
            .reduce((n, p) => n + (p.payload?.length ?? 0), 0);
        assert.equal(c.bytesFromClient, sentBy('client'), `${on}: bytes from the client`);
        assert.equal(c.bytesFromServer, sentBy('server'), `${on}: bytes from the server`);
      }
      const t = r.report.totals;
      assert.equal(
        t.requests,
        expected.reduce((n, e) => n + e.requests, 0),
      );
      assert.equal((t.partialRequests ?? 0) + (t.partialResponses ?? 0), partial);
      const codes = r.report.warnings.map((w) => w.code);
      assert.equal(codes.includes('KAL_WARN_PARTIAL_MESSAGES'), partial > 0, codes.join());
      assert.ok(codes.includes('KAL_WARN_MISSING_BYTES'), codes.join());
    });
  }
}

test('cut frames: a snap length of 96 keeps every keep-alive request of a connection (30 payload bytes each)', () => {
  // The shape of `tcpdump -s 96` on loopback: 66 bytes of headers, 30 of payload per segment.
  const sent = cutConversations(true);
  const r = analyze(buildPcap({ snaplen: 96, packets: sent.packets }));
  const posts = r.report.connections[0]!;
  assert.equal(posts.requests, 3);
  assert.deepEqual(posts.statusCodes, [200, 200, 200]);
  assert.equal(posts.partialRequests, 3);
  assert.equal(posts.partialResponses, 3);
  // A cut response ended with its last segment: the idle gaps are measured from there (the client's
  // ACK and its next request come 100 µs apart each).
  assert.deepEqual(posts.idleGapsMs, [0.2, 0.2]);
  assert.equal(posts.notes.filter((n) => /framing/.test(n)).length, 0, posts.notes.join('; '));
  // Chunked answers, a HEAD's and a 304 (no bodies, but heads longer than 30 bytes).
  const gets = r.report.connections[1]!;
  assert.deepEqual(gets.statusCodes, [200, 200, 200, 200, 304]);
  assert.equal(gets.requests, 5);
  assert.equal(gets.partialResponses, 5);
  const verdict = decideVerdict([r.report]);
  assert.equal(verdict.code, 'churn', verdict.summary);
  assert.match(
    verdict.summary,
    /; counts rest on partial messages \(12 of 12 requests and 12 of 12 responses captured only in part\)$/,
  );
});

test('cut frames: whole captures keep their reports (no partial field, no new warning)', () => {
  const sent = cutConversations(true);
  const r = analyze(buildPcap({ packets: sent.packets }));
  for (const c of r.report.connections) {
    assert.equal('partialRequests' in c, false);
    assert.equal('partialResponses' in c, false);
  }
  assert.equal('partialRequests' in r.report.totals, false);
  assert.deepEqual(r.report.warnings, []);
  assert.doesNotMatch(decideVerdict([r.report]).summary, /partial/);
});

/** Why the capture below is not compared with tshark: it reads each cut segment alone. */
const BODY_LOOKS_LIKE_REQUEST = 'a cut body segment that begins like a request line, which tshark counts';

test('cut frames: no request is invented in a body whose Content-Length was captured', () => {
  // The second segment of the POST's body begins like a request line. tshark, which reads each cut
  // segment alone, counts it as a request; the head's captured Content-Length says it is body.
  const c = new Conversation({ address: '10.0.0.1', port: 40100 }, { address: '10.0.0.2', port: 80 }).handshake();
  const head = 'POST /upload HTTP/1.1\r\nContent-Length: 2000\r\nHost: example.test\r\n\r\n';
  c.send('client', head + 'b'.repeat(900));
  c.send('client', 'GET /inside-the-body HTTP/1.1\r\n'.padEnd(1000, 'b'));
  c.send('client', 'b'.repeat(100));
  c.ack('server');
  c.send('server', 'HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n');
  c.send('client', 'GET /next HTTP/1.1\r\nHost: example.test\r\n\r\n');
  c.send('server', 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
  c.close('client');
  const contentLengthEnd = head.indexOf('Host:');
  // Cut after the Content-Length line (the head is cut, its Content-Length captured): 2 requests.
  // tshark counts 3 here (a documented difference, so this capture is not compared with it).
  const seen = withoutTshark(BODY_LOOKS_LIKE_REQUEST, () =>
    buildPcap({ snaplen: HEADERS_PLAIN + contentLengthEnd + 4, packets: c.packets }),
  );
  const r = analyze(seen);
  const conn = r.report.connections[0]!;
  assert.equal(conn.requests, 2);
  assert.equal(conn.partialRequests, 1);
  assert.deepEqual(conn.statusCodes, [201, 200]);
  // Cut before it: nothing tells where the body ends, and the segment that looks like a request is
  // counted as one, as tshark counts it.
  const blind = analyze(buildPcap({ snaplen: HEADERS_PLAIN + contentLengthEnd - 4, packets: c.packets }));
  assert.equal(blind.report.connections[0]!.requests, 3);
});
