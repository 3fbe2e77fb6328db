/**
 * The client's outcome (src/lab/outcome.ts): failed requests counted by error code, as node:http and
 * fetch name them, messages kept once each, the expected ones counted apart.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { countFailure, errorCode, errorMessage, newOutcome } from '../../../src/lab/outcome.js';

/** node:http's errors carry their code; fetch's TypeError carries undici's error as its cause. */
const hangUp = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
const otherSide = Object.assign(new Error('other side closed'), { name: 'SocketError', code: 'UND_ERR_SOCKET' });
const fetchFailed = new TypeError('fetch failed', { cause: otherSide });

test('outcome: an error is named by its code, else its cause code, else its name', () => {
  assert.equal(errorCode(hangUp), 'ECONNRESET');
  assert.equal(errorCode(fetchFailed), 'UND_ERR_SOCKET');
  assert.equal(errorCode(new RangeError('x')), 'RangeError');
  assert.equal(errorMessage(fetchFailed), 'fetch failed: other side closed');
  assert.equal(errorMessage(hangUp), 'socket hang up');
});

test('outcome: failures counted by code; each message kept once; the expected ones counted apart', () => {
  const o = newOutcome();
  countFailure(o, hangUp, true);
  countFailure(o, hangUp, true);
  countFailure(o, fetchFailed);
  assert.deepEqual(o.errorCodes, { ECONNRESET: 2, UND_ERR_SOCKET: 1 });
  assert.equal(o.expectedFailures, 2);
  assert.deepEqual(o.errors, ['socket hang up', 'fetch failed: other side closed']);
  const none = newOutcome();
  assert.equal(none.errorCodes, undefined, 'absent when nothing failed');
  assert.equal(none.expectedFailures, undefined);
});
