/**
 * Golden reports: the synthetic captures of bench/synthetic-capture.ts (a churn of HTTP/1.0
 * connections, keep-alive connections with chunked bodies), analyzed with and without a focus, must
 * give the very reports recorded in test/golden/. They were recorded before the tracker was split
 * into its rooms (table, reassembly, streams), so a refactoring that changes any count, note or
 * warning fails here. `UPDATE_GOLDEN=1` rewrites them: only for a change meant to alter reports.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { writeChurnCapture, writeKeepAliveCapture } from '../../support/synthetic.js';
import { analyzeCapture } from '../../../src/observe/capture-file.js';
import type { AnalyzeOptions } from '../../../src/observe/capture-file.js';

const GOLDEN = fileURLToPath(new URL('../../../../test/golden/', import.meta.url));

const CASES: { name: string; kind: 'churn' | 'keepalive'; focus: AnalyzeOptions; keep?: number }[] = [
  { name: 'churn', kind: 'churn', focus: {}, keep: 12 },
  { name: 'churn-port', kind: 'churn', focus: { port: 8080 }, keep: 3 },
  { name: 'churn-no-http', kind: 'churn', focus: { http: false }, keep: 3 },
  { name: 'keepalive', kind: 'keepalive', focus: {} },
  { name: 'keepalive-server', kind: 'keepalive', focus: { server: { address: '127.0.0.1', port: 8080 } }, keep: 2 },
];

test('golden reports: synthetic captures give the recorded reports', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kal-golden-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const paths = { churn: join(dir, 'churn.pcap'), keepalive: join(dir, 'keepalive.pcap') };
  writeChurnCapture({ path: paths.churn, targetBytes: 120_000 });
  writeKeepAliveCapture({ path: paths.keepalive, targetBytes: 120_000 });
  for (const c of CASES) {
    const run = await analyzeCapture(paths[c.kind], {
      ...c.focus,
      ...(c.keep === undefined ? {} : { keepConnections: c.keep }),
    });
    // Normal traffic: no fault is found in it (a close audit, information, may be).
    const alarms = run.findings.filter((f) => f.severity !== 'info').map((f) => f.summary);
    assert.deepEqual(alarms, [], `${c.name}: no false alarm`);
    // The file name is a temporary one: not part of what is compared.
    const actual = JSON.stringify({ ...run, title: c.kind, subject: c.kind }, null, 1) + '\n';
    const file = join(GOLDEN, `${c.name}.json`);
    if (process.env.UPDATE_GOLDEN === '1') writeFileSync(file, actual);
    assert.equal(actual, readFileSync(file, 'utf8'), `${c.name}: the report differs from test/golden/${c.name}.json`);
  }
});
