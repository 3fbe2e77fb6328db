/**
 * The process observer watch builds from its command's register reports (one per Node process):
 * only the watched port's connections, renumbered in order of start, totals counted from them; a
 * process that kept only its last records makes the counts lower bounds; no report, unavailable.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newConnectionRecord } from '../../../src/analyze/record.js';
import { computeTotals } from '../../../src/analyze/totals.js';
import type { ConnectionRecord, ObserverReport } from '../../../src/model/report.js';
import { commandRegister, mergeProcessViews, REGISTER_URL } from '../../../src/observe/command-register.js';

function record(id: number, clientPort: number, serverPort: number, start: number, requests: number): ConnectionRecord {
  const r = newConnectionRecord(
    id,
    { address: '127.0.0.1', port: clientPort },
    { address: '127.0.0.1', port: serverPort },
    start,
  );
  r.requests = requests;
  r.responses = requests;
  return r;
}

function view(pid: string, connections: ConnectionRecord[], extra: Partial<ObserverReport> = {}) {
  const observer: ObserverReport = {
    observer: 'process',
    available: true,
    seesRequests: true,
    totals: computeTotals(connections, null),
    connections,
    warnings: [],
    ...extra,
  };
  return { pid, observer };
}

test('process views: the watched port only, from every process, renumbered by start', () => {
  const merged = mergeProcessViews(
    [
      view('100', [record(1, 5001, 8080, 10, 3), record(2, 5002, 443, 11, 1), record(3, 5005, 8080, 30, 1)]),
      view('101', [record(1, 5003, 8080, 20, 2)]),
    ],
    8080,
  );
  assert.equal(merged.available, true);
  assert.deepEqual(
    merged.connections.map((c) => [c.id, c.client.port, c.requests]),
    [
      [1, 5001, 3],
      [2, 5003, 2],
      [3, 5005, 1],
    ],
  );
  assert.equal(merged.totals.connections, 3);
  assert.equal(merged.totals.requests, 6);
  assert.equal(merged.incomplete, undefined);
});

test('process views: records left out make the counts lower bounds; a runtime without channels is unavailable', () => {
  const omitted = mergeProcessViews([view('7', [record(1, 5001, 8080, 1, 1)], { connectionsOmitted: 12 })], 8080);
  assert.match(omitted.incomplete?.reason ?? '', /7 \(12\)/);
  const old = mergeProcessViews(
    [view('8', [], { available: false, reason: 'this Node.js (16.0.0) lacks the channels x' })],
    8080,
  );
  assert.equal(old.available, false);
  assert.match(old.reason ?? '', /16\.0\.0/);
});

test('process views: none at all (not Node.js), unavailable with the reason and the fix', () => {
  const none = mergeProcessViews([], 8080);
  assert.equal(none.available, false);
  assert.match(none.reason ?? '', /no Node\.js process/);
  assert.match(none.fix ?? '', /--no-register/);
  assert.equal(none.totals.connections, 0);
});

test('command register: NODE_OPTIONS gets --import after what was there; the directory goes with remove()', async () => {
  const register = await commandRegister(8080);
  try {
    const env = register.env({ NODE_OPTIONS: '--max-old-space-size=100', PATH: '/bin' });
    assert.equal(env.NODE_OPTIONS, `--max-old-space-size=100 --import=${REGISTER_URL}`);
    assert.match(REGISTER_URL, /^file:\/\/\/\S+\/src\/register\.js$/);
    assert.equal(env.KEEPALIVE_LAB_REPORT_DIR, register.dir);
    assert.equal(env.KEEPALIVE_LAB_SUMMARY, '0');
    assert.equal(env.PATH, '/bin');
    assert.equal((await register.report()).available, false);
  } finally {
    await register.remove();
  }
  await assert.rejects(
    import('node:fs/promises').then((fs) => fs.stat(register.dir)),
    { code: 'ENOENT' },
  );
});
