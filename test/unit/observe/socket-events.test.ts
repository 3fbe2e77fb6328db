/** How ss -E is run: line-buffered by stdbuf, the ports' sockets and the marker listener's. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ssEventArguments } from '../../../src/observe/socket-events.js';

test('ss -E arguments: stdbuf -oL, TCP events with cookies, the ports either way and the marker as source', () => {
  assert.deepEqual(ssEventArguments('ss', [8080], 40000), [
    '-oL',
    'ss',
    '-tanHOeE',
    '( sport = :8080 or dport = :8080 or sport = :40000 )',
  ]);
  assert.deepEqual(ssEventArguments('/sbin/ss', [80, 443], 1).slice(1), [
    '/sbin/ss',
    '-tanHOeE',
    '( sport = :80 or dport = :80 or sport = :443 or dport = :443 or sport = :1 )',
  ]);
});
