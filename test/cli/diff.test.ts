/**
 * `diff A.json B.json`, the built binary spawned on reports of real `run` experiments: keep-alive
 * against keep-alive disabled (each way), as text, Markdown and JSON; --expect-no-regression's exit
 * codes; usage errors (exit 2) and files that are no report (one line, a KAL_ERR_ code, exit 1).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { ReportDiff } from '../../src/model/diff.js';
import { runCli } from '../support/cli.js';

let dir: string;
let keepAlive: string;
let noKeepAlive: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kal-diff-'));
  keepAlive = join(dir, 'keepalive.json');
  noKeepAlive = join(dir, 'no-keepalive.json');
  // The server's accounting and the kernel's table: no capture needed to count connections.
  const runs = await Promise.all([
    runCli(['run', '--no-capture', '--json']),
    runCli(['run', '--no-capture', '--no-keep-alive', '--json']),
  ]);
  for (const r of runs) assert.equal(r.code, 0, r.stderr);
  writeFileSync(keepAlive, runs[0]!.stdout);
  writeFileSync(noKeepAlive, runs[1]!.stdout);
});

after(() => rmSync(dir, { recursive: true, force: true }));

test('diff keep-alive -> no keep-alive: the figures, the verdict, a regression; exit 1 with --expect-no-regression', async () => {
  const text = await runCli(['diff', keepAlive, noKeepAlive]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^connections\s+1\s+10\s+\+9$/m);
  assert.match(text.stdout, /^requests per connection\s+10\s+1\s+-9 worse$/m);
  assert.match(text.stdout, /^verdict: reuse -> keepalive-disabled: /m);
  assert.match(text.stdout, /^regression: 1 of 1 runs compared got worse$/m);
  assert.ok(!text.stdout.includes('\x1b['), 'no colours on a pipe');

  const json = await runCli(['diff', keepAlive, noKeepAlive, '--json']);
  assert.equal(json.code, 0, json.stderr);
  const d = JSON.parse(json.stdout) as ReportDiff;
  assert.equal(d.regression, true);
  assert.equal(d.runs[0]!.metrics.find((m) => m.name === 'requestsPerConnection')!.after, 1);

  const gate = await runCli(['diff', keepAlive, noKeepAlive, '--expect-no-regression', '--format', 'markdown']);
  assert.equal(gate.code, 1);
  assert.match(gate.stdout, /^\| requests per connection \| 10 \| 1 \| \*\*-9\*\* worse \|$/m);
  assert.equal(gate.stderr.trimEnd().split('\n').length, 1, gate.stderr);
  assert.match(
    gate.stderr,
    /^keepalive-lab diff: error: reuse got worse in run: requests per connection fell from 10 to 1; /,
  );
  assert.match(gate.stderr.trimEnd(), /\(KAL_ERR_EXPECTATION_FAILED\)$/);
});

test('diff no keep-alive -> keep-alive, and a report against itself: no regression, exit 0', async () => {
  const better = await runCli(['diff', noKeepAlive, keepAlive, '--expect-no-regression']);
  assert.equal(better.code, 0, better.stderr);
  assert.match(better.stdout, /^verdict: keepalive-disabled -> reuse: /m);
  assert.match(better.stdout, /^finding removed: close-audit/m);
  assert.match(better.stdout, /^no regression$/m);
  const same = await runCli(['diff', keepAlive, keepAlive, '--expect-no-regression']);
  assert.equal(same.code, 0, same.stderr);
  assert.match(same.stdout, /^connections\s+1\s+1\s+0$/m);
});

test('diff: FORCE_COLOR colours a pipe; Markdown never', async () => {
  const forced = await runCli(['diff', keepAlive, noKeepAlive], 30_000, { NO_COLOR: '', FORCE_COLOR: '1' });
  assert.ok(forced.stdout.includes('\x1b[31m'), 'red: the regression');
  const md = await runCli(['diff', keepAlive, noKeepAlive, '--format', 'markdown'], 30_000, { FORCE_COLOR: '1' });
  assert.ok(!md.stdout.includes('\x1b['));
});

test('diff: usage errors exit 2; a missing file, a file that is not JSON or not a report: one line, its code, exit 1', async () => {
  for (const args of [
    ['diff', keepAlive],
    ['diff', keepAlive, noKeepAlive, '--format', 'html'],
    ['diff', keepAlive, noKeepAlive, '--tolerance', '-1'],
  ]) {
    const r = await runCli(args);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.stderr, /^keepalive-lab diff: .* \(see keepalive-lab diff --help\)\n$/);
  }
  const mixed = join(dir, 'mixed.json');
  writeFileSync(mixed, 'Benchmarking 127.0.0.1 (be patient)\n{"schema": "keepalive-lab/report@1"}');
  const other = join(dir, 'other.json');
  writeFileSync(other, '{"name": "not a report"}');
  const cases: [string, RegExp][] = [
    [join(dir, 'missing.json'), /cannot read .*missing\.json: no such file \(KAL_ERR_FILE\)$/],
    [dir, /cannot read .*: it is a directory \(KAL_ERR_FILE\)$/],
    [mixed, /mixed\.json is not JSON: .*\(was the output of something else mixed in\?\) \(KAL_ERR_NOT_A_REPORT\)$/],
    [other, /other\.json is not a keepalive-lab report .*\(KAL_ERR_NOT_A_REPORT\)$/],
  ];
  for (const [file, message] of cases) {
    const r = await runCli(['diff', keepAlive, file]);
    assert.equal(r.code, 1, file);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    assert.match(r.stderr.trimEnd(), message);
  }
});
