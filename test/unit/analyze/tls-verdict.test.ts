/**
 * TLS in the totals, the verdict and the finding tls-no-reuse, from connection records: requests are
 * unknown without the keys, so the verdict never says "nothing to reuse" of TLS connections, and a
 * client that pays a full handshake per connection is named, with its thresholds.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { detectFindings } from '../../../src/analyze/findings/index.js';
import { TLS_NO_REUSE_MIN_CONNECTIONS } from '../../../src/analyze/findings/thresholds.js';
import { computeTotals } from '../../../src/analyze/totals.js';
import { decideVerdict } from '../../../src/analyze/verdict.js';
import { observer, records, tlsFacts, tlsRecords } from './records.js';

test('totals: TLS connections and their handshakes, present only with TLS', () => {
  const t = computeTotals([...tlsRecords(2), ...tlsRecords(1, { handshake: 'resumed', resumedWith: 'psk' })], null);
  assert.deepEqual(t.tls, {
    connections: 3,
    fullHandshakes: 2,
    resumedHandshakes: 1,
    handshakesUnknown: 0,
    estimatedExchanges: 3,
    versions: { 'TLS 1.3': 3 },
  });
  assert.equal(t.requests, 0);
  assert.equal('tls' in computeTotals(records(2, 3), null), false);
  const unknown = computeTotals(tlsRecords(1, { version: null, handshake: null }), null).tls!;
  assert.deepEqual([unknown.handshakesUnknown, unknown.versions], [1, { unknown: 1 }]);
});

test('verdict: one TLS connection is not "nothing to reuse": its handshakes, and the estimate named as one', () => {
  const v = decideVerdict([observer('wire', tlsRecords(1, { estimatedExchanges: 5 }))]);
  assert.equal(v.code, 'encrypted');
  assert.equal(
    v.summary,
    '1 TLS connection (1 full handshake, 0 resumed): requests unknown without the TLS keys; ' +
      'an estimated 5 request/response exchanges, over it',
  );
});

test('verdict: several TLS connections, with others beside them', () => {
  const wire = observer('wire', [...tlsRecords(2), ...records(1, 1)]);
  const v = decideVerdict([wire]);
  assert.equal(v.code, 'encrypted');
  assert.match(v.summary, /^2 TLS connections \(2 full handshakes, 0 resumed\) and 1 other connection: /);
  assert.doesNotMatch(v.summary, /nothing to reuse/);
});

test('verdict: the HTTP verdict when requests are counted beside TLS, the TLS connections named', () => {
  const v = decideVerdict([observer('wire', [...records(1, 5), ...tlsRecords(1)])]);
  assert.match(v.summary, /; 1 TLS connection not counted \(requests unknown without the TLS keys\)$/);
});

test("verdict: the lab's server reads inside its own TLS: its one request is counted, not 'encrypted'", () => {
  const server = observer('server', records(1, 1, { tls: tlsFacts() }));
  const v = decideVerdict([server]);
  assert.equal(v.code, 'single-request');
  assert.equal(v.summary, '1 request over 1 connection: nothing to reuse');
  // The same connection seen on the wire without the keys: its requests are unknown.
  assert.equal(decideVerdict([observer('wire', records(1, 1, { tls: tlsFacts() }))]).code, 'encrypted');
  const many = decideVerdict([observer('server', records(2, 5, { tls: tlsFacts() }))]);
  assert.doesNotMatch(many.summary, /not counted/);
});

test('tls-no-reuse: named from 3 full handshakes to one server, each with one exchange, and heads the verdict', () => {
  const n = TLS_NO_REUSE_MIN_CONNECTIONS;
  const findings = detectFindings(tlsRecords(n));
  assert.equal(findings.length, 1);
  const f = findings[0]!;
  assert.equal(f.code, 'tls-no-reuse');
  assert.equal(
    f.summary,
    `${n} full TLS handshakes for ${n} connections to 127.0.0.1:443 (example.com): ` +
      'the client reuses neither connections nor TLS sessions',
  );
  assert.equal(f.fixes.server, undefined, 'the client offered nothing: nothing for the server to change');
  const v = decideVerdict([observer('wire', tlsRecords(n))], { findings });
  assert.equal(v.code, 'tls-no-reuse');
  assert.equal(v.summary, f.summary);
});

test('tls-no-reuse: the server declined sessions the client offered: said, with the server fix', () => {
  const [f] = detectFindings(tlsRecords(4, { resumptionOffered: 'psk' }));
  assert.match(f!.summary, /the server resumed none of the sessions it offered$/);
  assert.match(f!.fixes.server!, /ssl_session_cache/);
  assert.equal(f!.evidence.values.sessionsOffered, 4);
});

test('tls-no-reuse: not below the threshold, not with reuse, not with a resumption', () => {
  assert.deepEqual(detectFindings(tlsRecords(TLS_NO_REUSE_MIN_CONNECTIONS - 1)), []);
  assert.deepEqual(detectFindings([...tlsRecords(3), ...tlsRecords(1, { estimatedExchanges: 2 })]), []);
  assert.deepEqual(detectFindings([...tlsRecords(3), ...tlsRecords(1, { handshake: 'resumed' })]), []);
  // HTTP/2 may spend one exchange on its setup: two are still one request there.
  assert.equal(detectFindings(tlsRecords(3, { alpnOffered: ['h2'], estimatedExchanges: 2 })).length, 1);
  assert.deepEqual(detectFindings(tlsRecords(3, { alpnOffered: ['h2'], estimatedExchanges: 3 })), []);
});
