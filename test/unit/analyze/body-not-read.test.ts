/**
 * Body not read on records built in code at the boundaries the test captures showed (the findings
 * census, issue 9): a connection the server closed right after its response, before the client opened
 * its next one, was not stranded (its Connection: close may be out of the capture's snap length); a
 * client RST after a response without content (204, 304) left no body unread.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { detectFindings } from '../../../src/analyze/findings/index.js';
import type { ConnectionRecord } from '../../../src/model/report.js';
import { record } from './records.js';

const client = (port: number) => ({ address: '10.0.0.1', port });
const SERVER = { address: '10.0.0.2', port: 80 };

/** Connection `k` of a client making one request per connection; the server FINs `finAfter` ms after the response. */
function oneRequest(k: number, finAfter: number, nextAfter: number): ConnectionRecord {
  const start = k * nextAfter;
  return record({
    id: k + 1,
    client: client(40000 + k),
    server: SERVER,
    start,
    // The client's FIN, and so the connection's last packet, comes after the next connection began.
    end: start + 5 + finAfter + 2,
    lastResponseEndAt: start + 5,
    busyAt: [start + 1, start + 5],
    closedFirstBy: 'server',
    serverFinAt: start + 5 + finAfter,
    clientFinAt: start + 5 + finAfter + 1.5,
    timeWait: 'server',
  });
}

const codes = (records: ConnectionRecord[]) => detectFindings(records).map((f) => f.code);

test('body not read: a connection the server closed before the next one began was not stranded', () => {
  // The server's FIN 0.2 ms after each response; the next connection 1 ms later (after that FIN).
  const closedFirst = Array.from({ length: 5 }, (_, k) => oneRequest(k, 0.2, 5 + 1));
  assert.deepEqual(codes(closedFirst), []);
  // The next connection begins while the previous one is still open and idle, before any FIN: stranded.
  const leftIdle = Array.from({ length: 5 }, (_, k) => oneRequest(k, 50, 5 + 1));
  const f = detectFindings(leftIdle).find((x) => x.code === 'body-not-read');
  assert.ok(f, JSON.stringify(codes(leftIdle)));
  assert.equal(f.evidence.values.stranded, 4, 'the last one had no successor');
});

test('body not read: a client RST right after a 204 or 304 leaves no body unread; after a 200 it does', () => {
  const reset = (status: number) =>
    record({
      client: client(41000 + status),
      server: SERVER,
      statusCodes: [status],
      lastResponseEndAt: 1005,
      closedFirstBy: null,
      resetBy: 'client',
      resetAt: 1006,
      timeWait: null,
    });
  assert.deepEqual(codes([reset(204)]), []);
  assert.deepEqual(codes([reset(304)]), []);
  const f = detectFindings([reset(200)]).find((x) => x.code === 'body-not-read');
  assert.equal(f?.evidence.values.unread, 1);
});
