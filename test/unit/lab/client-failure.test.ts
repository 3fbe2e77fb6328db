/**
 * clientFailure (src/lab/engine.ts): what `run` and `demo` report after the run when the client's
 * requests did not all complete, and with which code (KAL_ERR_TIMEOUT, KAL_ERR_REQUESTS_FAILED).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_CONFIG, experimentConfig } from '../../../src/lab/config.js';
import { clientFailure } from '../../../src/lab/engine.js';
import type { ClientOutcome, RunReport } from '../../../src/model/report.js';

function run(client: ClientOutcome | null, requests = 10, timeoutMs = DEFAULT_CONFIG.timeoutMs): RunReport {
  return { name: 'seq-read', client, config: experimentConfig({ requests, timeoutMs }) } as RunReport;
}

test('client failure: none when every request completed, or without a client (analyze, watch, proxy)', () => {
  assert.equal(clientFailure(run({ requests: 10, completed: 10, errors: [], elapsedMs: 50 })), null);
  assert.equal(clientFailure(run(null)), null);
  assert.equal(clientFailure({ ...run(null), config: null }), null);
});

test('client failure: failed requests, counted, with the first error on one line', () => {
  const e = clientFailure(
    run({ requests: 10, completed: 7, errors: ['socket hang up', 'read ECONNRESET'], elapsedMs: 80 }),
  );
  assert.equal(e?.code, 'KAL_ERR_REQUESTS_FAILED');
  assert.equal(e?.message, '3 of 10 requests failed: socket hang up (and 1 other errors)');
  const tls = clientFailure(
    run(
      {
        requests: 2,
        completed: 0,
        errors: ['write EPROTO 80DC:error:0A00010B:SSL routines:wrong version:350:\n'],
        elapsedMs: 9,
      },
      2,
    ),
  );
  assert.equal(
    tls?.message,
    '2 of 2 requests failed: write EPROTO 80DC:error:0A00010B:SSL routines:wrong version:350:',
  );
});

test('client failure: out of time is a TimeoutError; `about` names the experiment (demo)', () => {
  const e = clientFailure(
    run(
      { requests: 2, completed: 1, errors: ['the experiment did not finish within 100 ms'], elapsedMs: 101 },
      10,
      100,
    ),
    'experiment seq-read: ',
  );
  assert.equal(e?.code, 'KAL_ERR_TIMEOUT');
  assert.equal(
    e?.message,
    'experiment seq-read: the experiment did not finish within 100 ms: 1 of 10 requests completed',
  );
});

test('client failure: requests a finding scenario meant to fail are not a failure; any others are', () => {
  const base = { requests: 6, completed: 3, errors: ['socket hang up'], elapsedMs: 900, errorCodes: { ECONNRESET: 3 } };
  assert.equal(clientFailure(run({ ...base, expectedFailures: 3 }, 6)), null);
  const e = clientFailure(run({ ...base, completed: 2, expectedFailures: 3 }, 6));
  assert.equal(e?.code, 'KAL_ERR_REQUESTS_FAILED');
  assert.equal(e?.message, '1 of 6 requests failed besides the 3 the scenario meant to fail: socket hang up');
});
