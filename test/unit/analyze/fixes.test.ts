/**
 * The fixes per runtime (src/analyze/findings/fixes.ts) say what each runtime does with the server's
 * Keep-Alive: timeout=N hint, as its source does: Node applies it only to shorten a `timeout` that is
 * set, and pools nothing when N s minus its 1 s buffer leaves nothing; undici replaces keepAliveTimeout
 * with it, capped by keepAliveMaxTimeout, so the fix caps both.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { idleResetFixes, shorterClientIdleFixes } from '../../../src/analyze/findings/fixes.js';

test('fixes: Node and the Keep-Alive hint: absent, too short to pool, or applied only under a timeout', () => {
  const node = (advertised: number | null) => shorterClientIdleFixes(750, 1000, advertised)['node-http']!;
  for (const advertised of [null, 1, 5])
    assert.match(node(advertised), /^new http\.Agent\(\{ keepAlive: true, timeout: 750 \}\)/);
  assert.match(node(null), /sends no Keep-Alive: timeout=N/);
  assert.match(node(1), /advertises timeout=1: current Node releases do not pool its connections at all/);
  assert.match(node(5), /advertises timeout=5: .*without a `timeout` it keeps idle sockets without limit/);
  assert.match(node(5), /req\.reusedSocket/);
});

test('fixes: undici caps the hint with keepAliveMaxTimeout; Go names its dialer default', () => {
  const race = shorterClientIdleFixes(750, 1000, 5);
  assert.match(race.undici!, /^new Agent\(\{ keepAliveTimeout: 750, keepAliveMaxTimeout: 750 \}\)/);
  assert.match(race.undici!, /keepAliveTimeoutThreshold \(2000 ms since undici 6\.14, 1000 ms before\)/);
  assert.match(race.go!, /IdleConnTimeout: 750 \* time\.Millisecond\}.*90 s/);
  const reset = idleResetFixes(30_000);
  assert.match(reset.undici!, /keepAliveTimeout: 30000, keepAliveMaxTimeout: 30000/);
  assert.match(reset.go!, /IdleConnTimeout: 30 \* time\.Second\}.*DefaultTransport's dialer/);
});
