/**
 * watch with real programs nobody here wrote (curl, ab, python3's http.server): the counts and the
 * closing side must match what those programs are known to do; the expect flags fail when they
 * should. Spawns the built binary, as a user does.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { startLabServer } from '../../src/lab/server.js';
import type { LabServer } from '../../src/lab/server.js';
import type { ObserverReport, Report } from '../../src/model/report.js';
import { captureSkip } from '../support/capture-env.js';
import { runCli } from '../support/cli.js';
import { startPythonServer } from '../support/record.js';

const skip = captureSkip();
const missing = ['curl', 'ab', 'python3'].filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);
if (missing.length > 0 && process.env.CI) throw new Error(`CI must have ${missing.join(', ')}`);
const toolsSkip = skip || (missing.length > 0 ? `not installed: ${missing.join(', ')}` : false);

async function withLabServer<T>(fn: (s: LabServer) => Promise<T>): Promise<T> {
  const server = await startLabServer({ bodySize: 512 });
  try {
    return await fn(server);
  } finally {
    await server.close();
  }
}

async function watchJson(port: number, command: string[], extra: string[] = []) {
  const r = await runCli(
    ['watch', '--port', String(port), '--host', '127.0.0.1', '--json', ...extra, '--', ...command],
    60000,
  );
  // The watched command writes nothing to stdout in these tests (-o /dev/null, -q), so stdout is the report.
  const report = JSON.parse(r.stdout) as Report;
  const obs = (name: string) => report.runs[0]!.observers.find((o) => o.observer === name) as ObserverReport;
  return { r, report, wire: obs('wire'), kernel: obs('kernel') };
}

test('watch curl: one URL 5 times in one invocation -> 1 connection, 5 requests', { skip: toolsSkip }, async () => {
  await withLabServer(async (s) => {
    const url = `${s.url}x`;
    const { r, wire, kernel, report } = await watchJson(
      s.port,
      [
        'curl',
        '-s',
        '-o',
        '/dev/null',
        '-o',
        '/dev/null',
        '-o',
        '/dev/null',
        '-o',
        '/dev/null',
        '-o',
        '/dev/null',
        url,
        url,
        url,
        url,
        url,
      ],
      ['--expect-max-connections', '1', '--expect-min-requests-per-connection', '5'],
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(wire.totals.connections, 1);
    assert.equal(wire.totals.requests, 5);
    assert.equal(wire.totals.syns, 1);
    assert.equal(kernel.totals.connections, 1);
    assert.equal(report.runs[0]!.agreement.agree, true);
    assert.equal(report.runs[0]!.verdict.code, 'reuse');
  });
});

test("watch curl -H 'Connection: close' -> 5 connections, closed by the server", { skip: toolsSkip }, async () => {
  await withLabServer(async (s) => {
    const url = `${s.url}x`;
    const { r, wire, kernel } = await watchJson(
      s.port,
      ['curl', '-s', '-H', 'Connection: close', ...Array(5).fill(['-o', '/dev/null']).flat(), url, url, url, url, url],
      ['--expect-closed-by', 'server'],
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(wire.totals.connections, 5);
    assert.equal(wire.totals.closedFirstBy.server, 5);
    assert.equal(kernel.totals.timeWait.server, 5);
  });
});

test('watch ab -n 50 -c 1 -> 50 connections; ab -k -n 50 -c 5 -> 5 connections', { skip: toolsSkip }, async () => {
  // ab prints its results on stdout: send them to /dev/null so stdout holds only the report.
  await withLabServer(async (s) => {
    const r1 = await runCli(
      ['watch', '--port', String(s.port), '--json', '--', 'sh', '-c', `ab -q -n 50 -c 1 ${s.url} > /dev/null`],
      60000,
    );
    assert.equal(r1.code, 0, r1.stderr);
    const wire1 = (JSON.parse(r1.stdout) as Report).runs[0]!.observers.find((o) => o.observer === 'wire')!;
    assert.equal(wire1.totals.connections, 50);
    assert.equal(wire1.totals.requests, 50);
    const r2 = await runCli(
      [
        'watch',
        '--port',
        String(s.port),
        '--json',
        '--expect-max-connections',
        '5',
        '--',
        'sh',
        '-c',
        `ab -q -k -n 50 -c 5 ${s.url} > /dev/null`,
      ],
      60000,
    );
    assert.equal(r2.code, 0, r2.stderr);
    const wire2 = (JSON.parse(r2.stdout) as Report).runs[0]!.observers.find((o) => o.observer === 'wire')!;
    assert.equal(wire2.totals.connections, 5);
    assert.equal(wire2.totals.requests, 50);
  });
});

test('watch python3 http.server (HTTP/1.0): one connection per request', { skip: toolsSkip }, async (t) => {
  const py = await startPythonServer('/');
  t.after(() => py.close());
  const port = py.port;
  const url = `http://127.0.0.1:${port}/`;
  const { r, wire, report } = await watchJson(port, [
    'curl',
    '-s',
    '-o',
    '/dev/null',
    '-o',
    '/dev/null',
    '-o',
    '/dev/null',
    url,
    url,
    url,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(wire.totals.connections, 3);
  assert.equal(wire.totals.requests, 3);
  assert.equal(report.runs[0]!.verdict.code, 'server-closes');
});

test(
  'expect flags fail with exit 1 and name the evidence; the command exit code is kept',
  { skip: toolsSkip },
  async () => {
    await withLabServer(async (s) => {
      const url = `${s.url}x`;
      const twoConnections = ['curl', '-s', '-H', 'Connection: close', '-o', '/dev/null', '-o', '/dev/null', url, url];
      const max = await runCli([
        'watch',
        '--port',
        String(s.port),
        '--expect-max-connections',
        '1',
        '--',
        ...twoConnections,
      ]);
      assert.equal(max.code, 1);
      assert.match(
        max.stderr,
        new RegExp(
          'expectation failed: expected at most 1 connection, saw 2 \\(wire observer\\): ' +
            '#1 127\\.0\\.0\\.1:\\d+ -> 127\\.0\\.0\\.1:\\d+',
        ),
      );
      const rpc = await runCli([
        'watch',
        '--port',
        String(s.port),
        '--expect-min-requests-per-connection',
        '2',
        '--',
        ...twoConnections,
      ]);
      assert.equal(rpc.code, 1);
      assert.match(rpc.stderr, /expected at least 2 requests per connection, saw 1\.00/);
      const closed = await runCli([
        'watch',
        '--port',
        String(s.port),
        '--expect-closed-by',
        'client',
        '--',
        ...twoConnections,
      ]);
      assert.equal(closed.code, 1);
      assert.match(closed.stderr, /closed first by the client, but 2 of 2 were closed first by the server/);
      const ok = await runCli([
        'watch',
        '--port',
        String(s.port),
        '--expect-no-resets',
        '--expect-closed-by',
        'server',
        '--',
        ...twoConnections,
      ]);
      assert.equal(ok.code, 0, ok.stderr);
      const failing = await runCli(['watch', '--port', String(s.port), '--', 'sh', '-c', 'exit 7']);
      assert.equal(failing.code, 7);
    });
  },
);

test('watch: bad usage exits 2; a missing command exits 127 with its name', async () => {
  const noPort = await runCli(['watch', '--', 'true']);
  assert.equal(noPort.code, 2);
  assert.match(noPort.stderr, /--port is required/);
  const empty = await runCli(['watch', '--port', '80', '--']);
  assert.equal(empty.code, 2);
  const badExpect = await runCli(['watch', '--port', '80', '--expect-closed-by', 'nobody', '--', 'true']);
  assert.equal(badExpect.code, 2);
  const missingCommand = await runCli(['watch', '--port', '80', '--no-capture', '--', '/nonexistent/program']);
  assert.equal(missingCommand.code, 127);
  assert.match(missingCommand.stderr, /command not found: \/nonexistent\/program/);
});

test(
  'packets lost: counts are lower bounds, the verdict and the disagreement say so, expectations exit 3',
  { skip: toolsSkip },
  async () => {
    await withLabServer(async (s) => {
      // The command stops its own tcpdump while ab makes ~4,000 packets: more than the ring's
      // 2,044 slots, so the kernel drops the rest; then lets it go on.
      const tcpdump = `^[^ ]*tcpdump .*tcp port ${s.port}[^0-9]`;
      const script = [
        `pid=$(pgrep -f '${tcpdump}' | head -n 1)`,
        'kill -STOP "$pid"',
        `ab -q -n 400 -c 1 ${s.url} > /dev/null`,
        'kill -CONT "$pid"',
      ].join('; ');
      const { r, wire, report } = await watchJson(s.port, ['sh', '-c', script], ['--expect-max-connections', '1000']);
      assert.equal(r.code, 3, r.stderr);
      assert.ok(wire.incomplete && wire.incomplete.packetsDropped > 0, JSON.stringify(wire.incomplete));
      assert.ok(wire.totals.connections < 400, `the wire saw ${wire.totals.connections} of 400 connections`);
      const notChecked = "keepalive-lab watch: expectations: not checked: the wire observer's counts are incomplete";
      assert.ok(r.stderr.startsWith(notChecked), r.stderr);
      assert.match(r.stderr, / \(\d+ packets dropped by the kernel before tcpdump read them\)\n$/);
      assert.equal(r.stderr.split('\n').length, 2, 'one line');
      const run = report.runs[0]!;
      assert.equal(run.verdict.code, 'incomplete');
      assert.match(
        run.verdict.summary,
        /^counts incomplete: at least \d+ connections and \d+ requests; \d+ packets dropped/,
      );
      assert.match(
        run.agreement.differences[0]!,
        /^connections: kernel \d+, wire \d+ \(the wire's counts are lower bounds: /,
      );
    });
  },
);
