/**
 * `run --scenario`, the built binary spawned: the list, the report with the finding and its fixes,
 * the client's real errors counted and not a failure, and a finding that did not show (exit 1,
 * KAL_ERR_SCENARIO_MISSED). Usage errors are in usage.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FINDING_SCENARIOS } from '../../src/lab/findings-scenarios/index.js';
import type { Report } from '../../src/model/report.js';
import { captureSkip } from '../support/capture-env.js';
import { runCli } from '../support/cli.js';

const skip = captureSkip();

test('run --scenario list, and run --help: every scenario with its title', async () => {
  const list = await runCli(['run', '--scenario', 'list']);
  assert.equal(list.code, 0, list.stderr);
  assert.deepEqual(
    list.stdout
      .trimEnd()
      .split('\n')
      .map((line) => line.split(/\s+/)[0]),
    FINDING_SCENARIOS.map((s) => s.name),
  );
  const help = await runCli(['run', '--help']);
  for (const s of FINDING_SCENARIOS) assert.ok(help.stdout.includes(`${s.name}`) && help.stdout.includes(s.title));
});

test(
  'run --scenario race: the report, the finding with its fixes, the lost requests counted; exit 0',
  { skip },
  async () => {
    const r = await runCli(['run', '--scenario', 'race', '--host', '127.0.0.2'], 60_000);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const lines = r.stdout.split('\n');
    assert.match(
      lines[1]!,
      /^1 {2}keep-alive race: .* {2}keep-alive race: 3 requests were sent on connections the server had closed/,
    );
    assert.ok(
      lines.includes(
        'client: 3 of 6 requests failed (3 ECONNRESET); all of them sent into the failure the scenario reproduces',
      ),
    );
    assert.match(
      r.stdout,
      /^error \[keepalive-race\] keep-alive race: 3 requests .* \(1 was not idempotent, so not safe to retry\)/m,
    );
    assert.match(r.stdout, /^ {2}fix \(node-http\): new http\.Agent\(\{ keepAlive: true, timeout: \d+ \}\)/m);
    assert.match(r.stdout, /^ {2}fix \(undici\): new Agent\(\{ keepAliveTimeout: \d+, keepAliveMaxTimeout: \d+ \}\)/m);
  },
);

test('run --scenario close-audit --json: the documented report, its finding from the wire', { skip }, async () => {
  const r = await runCli(['run', '--scenario', 'close-audit', '--host', '127.0.0.2', '--json'], 60_000);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as Report;
  const run = report.runs[0]!;
  assert.equal(run.name, 'close-audit');
  assert.equal(run.config?.serverMaxRequests, 3);
  const finding = run.findings.find((f) => f.code === 'close-audit');
  assert.equal(finding?.evidence.values.requestCap, 3);
  assert.equal(run.observers.find((o) => o.observer === 'wire')?.available, true);
});

test('run --scenario race without the wire: the server never read the lost requests, so no race; exit 1', async () => {
  const r = await runCli(['run', '--scenario', 'race', '--host', '127.0.0.2', '--no-capture'], 60_000);
  assert.equal(r.code, 1, r.stderr);
  // The report is printed all the same, then one line.
  assert.match(r.stdout, /keep-alive race: requests meet the server's idle close/);
  assert.equal(
    r.stderr,
    'keepalive-lab run: error: scenario race: the keepalive-race finding did not show (findings: none) ' +
      '(KAL_ERR_SCENARIO_MISSED)\n',
  );
});

test('demo --all --json: the article experiments, then every finding scenario with its finding', { skip }, async () => {
  const r = await runCli(['demo', '--all', '--json', '--host', '127.0.0.2'], 180_000);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as Report;
  assert.equal(report.command, 'demo');
  const names = report.runs.map((run) => run.name);
  assert.deepEqual(
    names.slice(-FINDING_SCENARIOS.length),
    FINDING_SCENARIOS.map((s) => s.name),
  );
  assert.equal(names[0], 'seq-unread');
  for (const s of FINDING_SCENARIOS) {
    const run = report.runs.find((x) => x.name === s.name)!;
    assert.ok(
      run.findings.some((f) => f.code === s.finding),
      `${s.name}: ${run.findings.map((f) => f.code).join(', ')}`,
    );
  }
});
