/**
 * `run --experiment` and `run --protocol`, the built binary spawned: the list of named experiments,
 * a TLS experiment's report (the wire decrypting with the lab client's key log), the knobs a named
 * experiment refuses, and the http2 client without the h2 server (exit 2).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { labExperiments } from '../../src/lab/scenarios.js';
import type { Report } from '../../src/model/report.js';
import { captureSkip } from '../support/capture-env.js';
import { runCli } from '../support/cli.js';

const skip = captureSkip();

test('run --experiment list, and run --help: every named experiment with its title', async () => {
  const list = await runCli(['run', '--experiment', 'list']);
  assert.equal(list.code, 0, list.stderr);
  const names = list.stdout
    .trimEnd()
    .split('\n')
    .map((line) => line.split(/\s+/)[0]);
  assert.deepEqual(
    names,
    labExperiments().map((e) => e.name),
  );
  assert.ok(names.includes('https-resumption') && names.includes('h2-multiplex'));
  const help = await runCli(['run', '--help']);
  for (const e of labExperiments()) assert.ok(help.stdout.includes(e.name) && help.stdout.includes(e.title), e.name);
});

test('run --experiment: unknown names, knobs beside it, --scenario with it, http2 without h2: exit 2', async () => {
  const unknown = await runCli(['run', '--experiment', 'nope']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /--experiment must be one of seq-unread, .*h2-multiplex \(or list\), got 'nope'/);
  const knobs = await runCli(['run', '--experiment', 'h2-multiplex', '--requests', '3', '--client', 'fetch']);
  assert.equal(knobs.code, 2);
  assert.match(knobs.stderr, /--experiment h2-multiplex sets up its own experiment: --requests, --client cannot/);
  const both = await runCli(['run', '--experiment', 'h2-multiplex', '--scenario', 'race']);
  assert.equal(both.code, 2);
  const h2 = await runCli(['run', '--client', 'http2', '--no-capture']);
  assert.equal(h2.code, 2);
  assert.match(h2.stderr, /--client http2 speaks h2 over TLS/);
  const protocol = await runCli(['run', '--protocol', 'h3']);
  assert.equal(protocol.code, 2);
  const target = await runCli(['run', '--protocol', 'https', '--target', 'https://127.0.0.1:1/']);
  assert.equal(target.code, 2);
  assert.match(target.stderr, /--protocol .* configure the in-process server: not with --target/);
});

test(
  'run --experiment https-resumption --json: 1 full and 9 resumed handshakes, every observer agreeing',
  { skip },
  async () => {
    const r = await runCli(['run', '--experiment', 'https-resumption', '--host', '127.0.0.2', '--json'], 60_000);
    assert.equal(r.code, 0, r.stderr);
    const run = (JSON.parse(r.stdout) as Report).runs[0]!;
    assert.equal(run.name, 'https-resumption');
    assert.equal(run.config?.protocol, 'https');
    assert.equal(run.config?.tlsResumption, true);
    assert.deepEqual(run.agreement.differences, []);
    for (const name of ['server', 'wire'] as const) {
      const o = run.observers.find((x) => x.observer === name)!;
      assert.equal(o.totals.requests, 10, name);
      assert.equal(o.totals.tls?.fullHandshakes, 1, name);
      assert.equal(o.totals.tls?.resumedHandshakes, 9, name);
    }
  },
);

test(
  'run --protocol h2 --client http2: the terminal says the TLS handshakes and the HTTP/2 streams',
  { skip },
  async () => {
    const r = await runCli(
      [
        'run',
        '--protocol',
        'h2',
        '--client',
        'http2',
        '--requests',
        '20',
        '--concurrency',
        '20',
        '--host',
        '127.0.0.2',
      ],
      60_000,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^1 {2}http2, 20 workers x 1 +20 +1 +20 /m);
    assert.match(
      r.stdout,
      /^TLS: 1 connection, 1 full handshake, 0 resumed \(TLS 1\.3: 1\); 1 of 1 TLS connection decrypted$/m,
    );
    assert.match(r.stdout, /^HTTP\/2: 20 streams on 1 connection, at most \d+ open at once \(wire\)$/m);
  },
);
