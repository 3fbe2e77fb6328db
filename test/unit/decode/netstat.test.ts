/** netstatCounter: one counter of /proc/net/netstat by group and name. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { netstatCounter } from '../../../src/decode/netstat.js';

const TEXT = [
  'TcpExt: SyncookiesSent TW TWRecycled TCPTimeWaitOverflow',
  'TcpExt: 0 5047182 4067 113941',
  'IpExt: InNoRoutes TCPTimeWaitOverflow',
  'IpExt: 7 8',
  '',
].join('\n');

test('netstat: a counter of its group, by name', () => {
  assert.equal(netstatCounter(TEXT, 'TcpExt', 'TCPTimeWaitOverflow'), 113941);
  assert.equal(netstatCounter(TEXT, 'TcpExt', 'TW'), 5047182);
  assert.equal(netstatCounter(TEXT, 'IpExt', 'TCPTimeWaitOverflow'), 8);
});

test('netstat: a counter, group or value that is not there is null', () => {
  assert.equal(netstatCounter(TEXT, 'TcpExt', 'NoSuchCounter'), null);
  assert.equal(netstatCounter(TEXT, 'MPTcpExt', 'TW'), null);
  assert.equal(netstatCounter('TcpExt: TW TWRecycled\nTcpExt: 12\n', 'TcpExt', 'TWRecycled'), null);
  assert.equal(netstatCounter('TcpExt: TW\nTcpExt: x\n', 'TcpExt', 'TW'), null);
  assert.equal(netstatCounter('', 'TcpExt', 'TW'), null);
});
