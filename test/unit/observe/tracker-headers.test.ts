/**
 * How the tracker finds a response's `Keep-Alive` header among its raw header names, node:http's
 * (strings) and undici's (Buffers), in any case, without taking another ten-letter name for it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isKeepAliveName, isKeepAliveText, keepAliveTimeoutS } from '../../../src/observe/in-process/tracker.js';

const NAMES: [string, boolean][] = [
  ['Keep-Alive', true],
  ['keep-alive', true],
  ['KEEP-ALIVE', true],
  ['kEeP-aLiVe', true],
  ['Connection', false],
  ['connection', false],
  ['Keep-Alivf', false],
  ['Xeep-Alive', false],
  ['Keep_Alive', false],
  ['Keep-Alive ', false],
  ['Keep-Aliv', false],
  ['', false],
];

test('a raw header name is Keep-Alive in any case, and no other name is', () => {
  for (const [name, expected] of NAMES) {
    assert.equal(isKeepAliveText(name), expected, `text ${JSON.stringify(name)}`);
    assert.equal(isKeepAliveName(Buffer.from(name, 'latin1')), expected, `buffer ${JSON.stringify(name)}`);
  }
});

test('the timeout of a Keep-Alive value', () => {
  assert.equal(keepAliveTimeoutS('timeout=5, max=100'), 5);
  assert.equal(keepAliveTimeoutS('max=100, Timeout=7'), 7);
  assert.equal(keepAliveTimeoutS('max=100'), null);
  assert.equal(keepAliveTimeoutS(undefined), null);
});
