import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareObservers } from '../../../src/analyze/agreement.js';
import { observer, records } from './records.js';

test('agreement: one observer always agrees with itself', () => {
  assert.deepEqual(compareObservers([observer('wire', records(3, 2))]), { agree: true, differences: [] });
  assert.deepEqual(compareObservers([]), { agree: true, differences: [] });
});

test('agreement: the same counts from three observers', () => {
  const r = compareObservers([
    observer('server', records(10, 1)),
    observer('kernel', records(10, 0)),
    observer('wire', records(10, 1)),
  ]);
  assert.deepEqual(r, { agree: true, differences: [] });
});

test('agreement: different connection and request counts are spelled out', () => {
  const r = compareObservers([
    observer('server', records(10, 1)),
    observer('kernel', records(9, 0)),
    observer('wire', records(10, 2)),
  ]);
  assert.equal(r.agree, false);
  assert.deepEqual(r.differences, [
    'connections: server 10, kernel 9, wire 10',
    'requests: server 10, wire 20',
    'TIME_WAIT on the client side: kernel 9, wire 10',
  ]);
});

test('agreement: unavailable observers are left out', () => {
  const r = compareObservers([
    observer('server', records(10, 1)),
    observer('wire', records(3, 1), { available: false }),
  ]);
  assert.deepEqual(r, { agree: true, differences: [] });
});

test('agreement: SYNs in view differ from connections on the wire (connections that began before)', () => {
  const r = compareObservers([observer('wire', records(4, 1), { syns: 3 })]);
  assert.deepEqual(r.differences, ['wire: 3 SYNs for 4 connections']);
});

test('agreement: TIME_WAIT side, kernel against wire', () => {
  const kernel = observer('kernel', records(5, 0, { timeWait: 'client' }));
  const wire = observer('wire', records(5, 1, { timeWait: 'server', closedFirstBy: 'server' }));
  const r = compareObservers([kernel, wire]);
  assert.deepEqual(r.differences, [
    'TIME_WAIT on the client side: kernel 5, wire 0',
    'TIME_WAIT on the server side: kernel 0, wire 5',
  ]);
});

test('agreement: an observer that missed packets explains the differences it is part of', () => {
  const wire = observer('wire', records(11, 1));
  wire.incomplete = { packetsDropped: 192, reason: '192 packets dropped by the kernel before tcpdump read them' };
  const r = compareObservers([observer('kernel', records(20, 0)), wire]);
  assert.equal(r.agree, false);
  const note = " (the wire's counts are lower bounds: 192 packets dropped by the kernel before tcpdump read them)";
  assert.deepEqual(r.differences, [
    `connections: kernel 20, wire 11${note}`,
    `TIME_WAIT on the client side: kernel 20, wire 11${note}`,
  ]);
});

test('agreement: requests the wire saw lost at a close the server never read are said to be so', () => {
  // 3 connections of 2 requests on the wire, the second one lost at the server's close (the race).
  const lost = records(3, 2, {
    responses: 1,
    closedFirstBy: 'server',
    resetBy: 'server',
    unanswered: [{ method: 'GET', at: 0 }],
  });
  const r = compareObservers([observer('server', records(3, 1)), observer('wire', lost)]);
  assert.deepEqual(r.differences, [
    'requests: server 3, wire 6 (the 3 requests the wire saw unanswered reached connections the server had ' +
      'closed, or were reset on the way: the server never read them)',
  ]);
  // Any other difference in requests is not explained away.
  const r2 = compareObservers([observer('server', records(3, 1)), observer('wire', records(3, 2))]);
  assert.deepEqual(r2.differences, ['requests: server 3, wire 6']);
});

test('agreement: a kernel short of a reset connection is excused only when it could not follow destroy events', () => {
  const wire = observer('wire', [...records(9, 1), ...records(1, 1, { resetBy: 'client', timeWait: null })]);
  const kernel = observer('kernel', records(9, 0));
  const connections = (kernelReport: typeof kernel) => compareObservers([kernelReport, wire]).differences[0];
  // With ss -E, a reset between two snapshots is seen: a short count is a plain difference.
  assert.equal(connections(kernel), 'connections: kernel 9, wire 10');
  const blind = {
    ...kernel,
    warnings: [{ code: 'KAL_WARN_SOCKET_EVENTS_UNAVAILABLE' as const, message: 'cannot follow' }],
  };
  assert.match(
    connections(blind)!,
    /^connections: kernel 9, wire 10 \(a connection reset .* the kernel can miss it\)$/,
  );
});

/** TLS facts as the server's accounting gives them (observe/server-accounting.ts). */
function tls(handshake: 'full' | 'resumed'): NonNullable<Parameters<typeof records>[2]>['tls'] {
  return {
    version: 'TLS 1.3',
    cipherSuite: 'TLS_AES_256_GCM_SHA384',
    sni: null,
    alpnOffered: [],
    alpnChosen: null,
    alpnChosenWhyNull: 'none-chosen',
    handshake,
    resumptionOffered: null,
    handshakeMs: null,
    applicationData: { client: { records: 0, bytes: 0 }, server: { records: 0, bytes: 0 } },
    estimatedExchanges: 0,
  };
}

test('agreement: TLS handshakes, full and resumed, the server against the wire (the kernel knows no TLS)', () => {
  const server = [...records(1, 1, { tls: tls('full') }), ...records(9, 1, { tls: tls('resumed') })];
  const same = compareObservers([
    observer('server', server),
    observer('kernel', records(10, 0)),
    observer(
      'wire',
      server.map((r) => ({ ...r })),
    ),
  ]);
  assert.deepEqual(same, { agree: true, differences: [] });
  const wire = records(10, 1, { tls: tls('full') });
  const r = compareObservers([observer('server', server), observer('kernel', records(10, 0)), observer('wire', wire)]);
  assert.deepEqual(r.differences, [
    'full TLS handshakes: server 1, wire 10',
    'resumed TLS handshakes: server 9, wire 0',
  ]);
  // A wire that saw no TLS where the server served it differs too.
  const plain = compareObservers([observer('server', server), observer('wire', records(10, 1))]);
  assert.deepEqual(plain.differences, [
    'full TLS handshakes: server 1, wire 0',
    'resumed TLS handshakes: server 9, wire 0',
  ]);
});
