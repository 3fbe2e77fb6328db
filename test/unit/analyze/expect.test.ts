import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkExpectations, evaluateExpectations, hasExpectations } from '../../../src/analyze/expect.js';
import { observer, record, records, tlsRecords } from './records.js';

test('expect: nothing asked, nothing checked', () => {
  assert.equal(hasExpectations({}), false);
  assert.equal(hasExpectations({ noResets: false }), false);
  assert.equal(hasExpectations({ maxConnections: 0 }), true);
  assert.deepEqual(checkExpectations({}, observer('wire', records(3, 1))), []);
});

test('expect: max connections holds at the limit and fails above it, naming connections', () => {
  assert.deepEqual(checkExpectations({ maxConnections: 3 }, observer('wire', records(3, 1))), []);
  const [failure, ...rest] = checkExpectations({ maxConnections: 1 }, observer('wire', records(7, 1)));
  assert.equal(rest.length, 0);
  assert.match(
    failure!,
    new RegExp(
      '^expected at most 1 connection, saw 7 \\(wire observer\\): ' +
        '#1 127\\.0\\.0\\.1:\\d+ -> 127\\.0\\.0\\.1:8080, .*, and 2 more$',
    ),
  );
});

test('expect: requests per connection is the mean; an observer blind to HTTP cannot vouch for it', () => {
  const wire = observer('wire', [...records(1, 5), ...records(1, 1)]);
  assert.deepEqual(checkExpectations({ minRequestsPerConnection: 3 }, wire), []);
  assert.match(
    checkExpectations({ minRequestsPerConnection: 3.5 }, wire)[0]!,
    /expected at least 3\.5 requests per connection, saw 3\.00 \(6 requests over 2 connections\)/,
  );
  const kernel = observer('kernel', records(2, 0), { seesRequests: false });
  assert.match(checkExpectations({ minRequestsPerConnection: 1 }, kernel)[0]!, /does not see HTTP requests/);
});

test('expect: resets and closing side', () => {
  const reset = observer('wire', [
    record({ id: 1 }),
    record({ id: 2, resetBy: 'server', closedFirstBy: null, timeWait: null }),
  ]);
  assert.match(
    checkExpectations({ noResets: true }, reset)[0]!,
    /expected no resets, saw 1 \(wire observer\): #2 .* \(reset by server\)/,
  );
  const mixed = observer('wire', [
    record({ id: 1, closedFirstBy: 'client' }),
    record({ id: 2, closedFirstBy: 'server' }),
  ]);
  assert.match(
    checkExpectations({ closedBy: 'client' }, mixed)[0]!,
    /closed first by the client, but 1 of 2 were closed first by the server \(wire observer\): #2 /,
  );
  assert.deepEqual(checkExpectations({ closedBy: 'client' }, observer('wire', records(2, 1))), []);
  assert.match(
    checkExpectations({ closedBy: 'server' }, observer('wire', records(2, 1, { closedFirstBy: null })))[0]!,
    /none was seen closing/,
  );
});

test('expect: on incomplete evidence an expectation is neither met nor failed', () => {
  const complete = observer('wire', records(3, 1));
  assert.deepEqual(evaluateExpectations({ maxConnections: 3 }, complete), { outcome: 'met', messages: [] });
  const failed = evaluateExpectations({ maxConnections: 2 }, complete);
  assert.equal(failed.outcome, 'failed');
  assert.match(failed.messages[0]!, /^expected at most 2 connections, saw 3/);
  const lossy = observer('wire', records(3, 1));
  lossy.incomplete = { packetsDropped: 7, reason: '7 packets dropped by the kernel before tcpdump read them' };
  // Whether the limit holds (what was lost may break it) or not (what was lost may be why): undecided.
  for (const e of [{ maxConnections: 3 }, { maxConnections: 2 }, { noResets: true }]) {
    assert.deepEqual(evaluateExpectations(e, lossy), {
      outcome: 'inconclusive',
      messages: [
        "not checked: the wire observer's counts are incomplete " +
          '(7 packets dropped by the kernel before tcpdump read them)',
      ],
    });
  }
});

test('expect: requests per connection on TLS without the keys: not checked, never failed as if none were made', () => {
  const unknown =
    'not checked: at least 2 requests per connection: 3 of 3 connections carried TLS, requests unknown without ' +
    'the TLS keys (wire observer)';
  const encrypted = observer('wire', tlsRecords(3));
  assert.deepEqual(evaluateExpectations({ minRequestsPerConnection: 2 }, encrypted), {
    outcome: 'inconclusive',
    messages: [unknown],
  });
  assert.deepEqual(checkExpectations({ minRequestsPerConnection: 2 }, encrypted), [], 'not a failure');
  // What the wire sees of TLS connections is checked as ever.
  assert.deepEqual(evaluateExpectations({ maxConnections: 3, noResets: true }, encrypted), {
    outcome: 'met',
    messages: [],
  });
  // Another expectation failed: that decides; the one not checked is said beside it.
  const both = evaluateExpectations({ maxConnections: 1, minRequestsPerConnection: 2 }, encrypted);
  assert.equal(both.outcome, 'failed');
  assert.match(both.messages[0]!, /^expected at most 1 connection, saw 3/);
  assert.deepEqual(both.notChecked, [unknown]);
  // Beside connections in the clear: met when their requests alone, the TLS ones counted as 0, reach the minimum...
  const mixed = observer('wire', [...records(2, 6, { id: 1 }), ...tlsRecords(1)]);
  assert.deepEqual(evaluateExpectations({ minRequestsPerConnection: 4 }, mixed), { outcome: 'met', messages: [] });
  // ...and not checked otherwise: the TLS connection may carry what is missing.
  assert.deepEqual(evaluateExpectations({ minRequestsPerConnection: 5 }, mixed), {
    outcome: 'inconclusive',
    messages: [
      'not checked: at least 5 requests per connection: 1 of 3 connections carried TLS, requests unknown without ' +
        'the TLS keys (the 2 others carried 12 requests) (wire observer)',
    ],
  });
  // Without TLS, the same minimum fails as before.
  assert.equal(
    evaluateExpectations({ minRequestsPerConnection: 7 }, observer('wire', records(2, 6))).outcome,
    'failed',
  );
});
