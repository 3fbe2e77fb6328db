/**
 * `watch -- node app.mjs`: the command's Node processes load register through NODE_OPTIONS (a child
 * process the app starts too), each writes its report into a private directory (0700), and watch
 * merges them into a fourth observer, `process`, kept to the watched port, that agrees with the wire
 * and with the server's own counts. A command that is not Node (curl) leaves it unavailable with a
 * reason and the run passes; --no-register leaves it out. The directory is gone afterwards. The
 * processes' own view is the run's `process`, as in a lab run: an app that leaves bodies unread is
 * named by its file and line in the JSON, the terminal and the HTML reports.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { ObserverReport, Report } from '../../src/model/report.js';
import { captureSkip } from '../support/capture-env.js';
import { runCli, startCli } from '../support/cli.js';
import { stopProcess, toolSkip } from '../support/record.js';

const skip = captureSkip();
const dir = mkdtempSync(join(tmpdir(), 'kal-watch-register-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Keep-alive requests (one connection), and requests each on a connection of its own (from a child process). */
const KEEP_ALIVE = 4;
const ONE_EACH = 3;

const GET = `
import http from 'node:http';
export const get = (port, agent) =>
  new Promise((res, rej) =>
    http.get({ host: '127.0.0.1', port, agent }, (r) => { r.resume(); r.on('end', res); }).on('error', rej));
`;
writeFileSync(join(dir, 'get.mjs'), GET);
// The child: ONE_EACH requests without keep-alive (agent: false sends Connection: close).
writeFileSync(
  join(dir, 'child.mjs'),
  `import { get } from './get.mjs';\nfor (let i = 0; i < Number(process.argv[3]); i++) await get(Number(process.argv[2]), false);\n`,
);
// The app: says what it was given, one request to another port (not watched), KEEP_ALIVE requests on
// one keep-alive connection, then the child.
writeFileSync(
  join(dir, 'app.mjs'),
  `
import { spawnSync } from 'node:child_process';
import { statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { get } from './get.mjs';
const [port, other, keepAlive, oneEach, seen] = process.argv.slice(2);
const reportDir = process.env.KEEPALIVE_LAB_REPORT_DIR;
writeFileSync(seen, JSON.stringify({
  reportDir: reportDir ?? null,
  mode: reportDir ? (statSync(reportDir).mode & 0o777).toString(8) : null,
  nodeOptions: process.env.NODE_OPTIONS ?? '',
  summary: process.env.KEEPALIVE_LAB_SUMMARY ?? null,
}));
await get(Number(other), false);
const agent = new http.Agent({ keepAlive: true });
for (let i = 0; i < Number(keepAlive); i++) await get(Number(port), agent);
agent.destroy();
const child = spawnSync(process.execPath, [new URL('./child.mjs', import.meta.url).pathname, port, oneEach], { stdio: 'inherit' });
process.exitCode = child.status ?? 1;
`,
);

interface CountingServer {
  port: number;
  connections: number;
  requests: number;
  close(): Promise<void>;
}

async function countingServer(): Promise<CountingServer> {
  const s = http.createServer((_, res) => res.end('ok'));
  const counts = { connections: 0, requests: 0 };
  s.on('connection', () => counts.connections++).on('request', () => counts.requests++);
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return {
    port: (s.address() as AddressInfo).port,
    get connections() {
      return counts.connections;
    },
    get requests() {
      return counts.requests;
    },
    close: () => {
      s.closeAllConnections();
      return new Promise((resolve) => s.close(() => resolve()));
    },
  };
}

const observer = (report: Report, name: string): ObserverReport | undefined =>
  report.runs[0]!.observers.find((o) => o.observer === name);

interface Seen {
  reportDir: string | null;
  mode: string | null;
  nodeOptions: string;
  summary: string | null;
}

async function watchApp(options: string[]): Promise<{ report: Report; seen: Seen; server: CountingServer }> {
  const server = await countingServer();
  const other = await countingServer();
  try {
    const seenFile = join(dir, `seen-${Math.random().toString(36).slice(2)}.json`);
    const args = ['--port', String(server.port), '--host', '127.0.0.1', '--json', ...options, '--'];
    const app = [process.execPath, join(dir, 'app.mjs'), String(server.port), String(other.port)];
    const r = await runCli(['watch', ...args, ...app, String(KEEP_ALIVE), String(ONE_EACH), seenFile]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(other.requests, 1, 'the app also talked to another port');
    assert.doesNotMatch(r.stderr, /keepalive-lab register/, 'no register summary on the command stderr');
    return { report: JSON.parse(r.stdout) as Report, seen: JSON.parse(readFileSync(seenFile, 'utf8')) as Seen, server };
  } finally {
    await server.close();
    await other.close();
  }
}

test(
  'watch -- node app: a process observer, the app and its child merged, to the watched port, agreeing',
  { skip },
  async () => {
    const { report, seen, server } = await watchApp([]);
    assert.equal(server.connections, 1 + ONE_EACH);
    assert.equal(server.requests, KEEP_ALIVE + ONE_EACH);
    assert.match(seen.nodeOptions, /--import=file:\/\/\/\S+\/dist\/src\/register\.js/);
    assert.match(seen.reportDir ?? '', /kal-register-/);
    assert.equal(seen.mode, '700');
    assert.equal(seen.summary, '0');
    assert.equal(existsSync(seen.reportDir!), false, 'the report directory is removed');
    const wire = observer(report, 'wire')!;
    const proc = observer(report, 'process')!;
    assert.ok(proc, 'a process observer');
    assert.equal(proc.available, true, proc.reason);
    for (const o of [wire, proc]) {
      assert.equal(o.totals.connections, server.connections, `${o.observer} connections`);
      assert.equal(o.totals.requests, server.requests, `${o.observer} requests`);
    }
    assert.ok(
      proc.connections.every((c) => c.server.port === server.port),
      'only the watched port',
    );
    assert.deepEqual(proc.connections.map((c) => c.requests).sort(), wire.connections.map((c) => c.requests).sort());
    // The same 4-tuples as the wire's.
    const tuple = (c: ObserverReport['connections'][number]) => `${c.client.port}>${c.server.port}`;
    assert.deepEqual(proc.connections.map(tuple).sort(), wire.connections.map(tuple).sort());
    assert.deepEqual(report.runs[0]!.agreement, { agree: true, differences: [] });
  },
);

// An app that leaves its bodies unread: each request after the first opens a new connection while the
// earlier responses hold theirs (the request's stack is taken from then on: the call site).
const UNREAD_CALL = `  held.push(await new Promise((res, rej) => http.get({ host: '127.0.0.1', port, agent }, res).on('error', rej)));`;
writeFileSync(
  join(dir, 'unread.mjs'),
  `import http from 'node:http';
import { get } from './get.mjs';
const [port, other, n] = process.argv.slice(2).map(Number);
await get(other, false);
const agent = new http.Agent({ keepAlive: true });
const held = [];
for (let i = 0; i < n; i++)
${UNREAD_CALL}
agent.destroy();
`,
);
const UNREAD_LINE = readFileSync(join(dir, 'unread.mjs'), 'utf8').split('\n').indexOf(UNREAD_CALL) + 1;
const UNREAD = 4;

test(
  'watch -- node app leaving bodies unread: the run has the process view, its finding names the app line',
  { skip },
  async () => {
    const server = await countingServer();
    const other = await countingServer();
    try {
      const json = join(dir, 'unread.json');
      const html = join(dir, 'unread.html');
      const args = ['--port', String(server.port), '--host', '127.0.0.1', '--json', json, '--html', html, '--wide'];
      const app = [process.execPath, join(dir, 'unread.mjs'), String(server.port), String(other.port), String(UNREAD)];
      const r = await runCli(['watch', ...args, '--', ...app]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(server.requests, UNREAD);
      assert.equal(server.connections, UNREAD, 'each unread body cost a connection');
      const run = (JSON.parse(readFileSync(json, 'utf8')) as Report).runs[0]!;
      const proc = run.observers.find((o) => o.observer === 'process')!;
      assert.equal(proc.available, true, proc.reason);
      assert.equal(proc.totals.connections, UNREAD);
      const view = run.process;
      assert.ok(view, 'the run has the process view');
      assert.equal(view.pids?.length, 1);
      assert.deepEqual(
        view.origins.map((o) => [o.origin, o.requests, o.connectionsOpened]),
        [[`http://127.0.0.1:${server.port}`, UNREAD, UNREAD]],
        'the watched origin only (the app also talked to another port)',
      );
      const unread = view.findings?.find((f) => f.code === 'body-not-read');
      assert.ok(unread, JSON.stringify(view.findings));
      const site = new RegExp(`unread\\.mjs:${UNREAD_LINE}:\\d+$`);
      assert.match(String(unread.evidence.values.callSite), site);
      const ids = new Set(proc.connections.map((c) => c.id));
      assert.ok(unread.evidence.connections.length > 0);
      assert.ok(
        unread.evidence.connections.every((id) => ids.has(id)),
        'the evidence names the merged records',
      );
      // The terminal report (stdout: --json went to a file) and the HTML show it too.
      assert.match(r.stdout, new RegExp(`seen by the 1 Node process \\(${view.pids![0]}\\)`));
      assert.match(r.stdout, new RegExp(`http://127\\.0\\.0\\.1:${server.port}: ${UNREAD} requests`));
      assert.match(r.stdout, new RegExp(`\\[body-not-read\\] .*request made at \\S*unread\\.mjs:${UNREAD_LINE}:`));
      const page = readFileSync(html, 'utf8');
      assert.match(page, /Seen by the 1 Node process/);
      assert.match(page, new RegExp(`request made at \\S*unread\\.mjs:${UNREAD_LINE}:`));
    } finally {
      await server.close();
      await other.close();
    }
  },
);

test('watch --no-register -- node app: no process observer, no --import', { skip }, async () => {
  const { report, seen } = await watchApp(['--no-register']);
  assert.equal(observer(report, 'process'), undefined);
  assert.doesNotMatch(seen.nodeOptions, /register/);
  assert.equal(seen.reportDir, null);
  assert.equal(report.runs[0]!.agreement.agree, true);
});

test(
  'watch -- curl: the process observer is unavailable with a reason, the run passes, the directory is removed',
  { skip: skip || toolSkip('curl') },
  async () => {
    const server = await countingServer();
    try {
      const seen = join(dir, 'seen-curl');
      const url = `http://127.0.0.1:${server.port}/`;
      const script = `printf '%s' "$KEEPALIVE_LAB_REPORT_DIR" > ${seen}; exec curl -s -o /dev/null ${url}`;
      const args = ['--port', String(server.port), '--host', '127.0.0.1', '--json', '--expect-max-connections', '1'];
      const r = await runCli(['watch', ...args, '--', 'sh', '-c', script]);
      assert.equal(r.code, 0, r.stderr);
      const reportDir = readFileSync(seen, 'utf8');
      assert.match(reportDir, /kal-register-/);
      assert.equal(existsSync(reportDir), false, 'the report directory is removed');
      const report = JSON.parse(r.stdout) as Report;
      const proc = observer(report, 'process')!;
      assert.equal(proc.available, false);
      assert.match(proc.reason ?? '', /no Node\.js process of the command wrote a register report/);
      assert.equal(observer(report, 'wire')!.totals.requests, 1);
      assert.equal(server.requests, 1);
      assert.deepEqual(report.runs[0]!.agreement, { agree: true, differences: [] });
    } finally {
      await server.close();
    }
  },
);

// An app that makes its keep-alive requests, says so in a file, and waits until a signal ends it.
writeFileSync(
  join(dir, 'waits.mjs'),
  `import http from 'node:http';
import { writeFileSync } from 'node:fs';
import { get } from './get.mjs';
const [port, n, ready] = process.argv.slice(2);
const agent = new http.Agent({ keepAlive: true });
for (let i = 0; i < Number(n); i++) await get(Number(port), agent);
setInterval(() => {}, 1 << 30);
writeFileSync(ready, 'ready');
`,
);

test(
  'watch -- node app stopped by Ctrl-C: the app dies of SIGINT as it would, and its process view is in the report',
  { skip },
  async () => {
    const server = await countingServer();
    const ready = join(dir, 'waits-ready');
    const json = join(dir, 'waits.json');
    const args = ['watch', '--port', String(server.port), '--host', '127.0.0.1', '--json', json, '--'];
    const app = [process.execPath, join(dir, 'waits.mjs'), String(server.port), String(KEEP_ALIVE), ready];
    const { child, done } = startCli([...args, ...app]);
    const bound = setTimeout(() => void stopProcess(child), 40_000);
    try {
      const deadline = Date.now() + 20_000;
      while (!existsSync(ready)) {
        if (Date.now() > deadline) assert.fail('the app did not make its requests');
        await delay(20);
      }
      // watch forwards the SIGINT to the app, which has no handler of its own.
      child.kill('SIGINT');
      const r = await done;
      assert.equal(r.code, 130, `watch exits as the command died, of SIGINT: ${r.stderr}`);
      const run = (JSON.parse(readFileSync(json, 'utf8')) as Report).runs[0]!;
      const proc = run.observers.find((o) => o.observer === 'process')!;
      assert.equal(proc.available, true, proc.reason);
      assert.equal(proc.totals.requests, KEEP_ALIVE);
      assert.equal(proc.totals.connections, server.connections);
      assert.equal(run.process?.origins[0]?.requests, KEEP_ALIVE);
      assert.deepEqual(run.agreement, { agree: true, differences: [] });
    } finally {
      clearTimeout(bound);
      await stopProcess(child);
      await server.close();
    }
  },
);

test('watch -- COMMAND stopped by Ctrl-C (SIGINT): the report directory is removed', { skip }, async () => {
  const seen = join(dir, 'seen-sigint');
  const script = `printf '%s' "$KEEPALIVE_LAB_REPORT_DIR" > ${seen}.tmp; mv ${seen}.tmp ${seen}; exec sleep 30`;
  const port = 20000 + Math.floor(Math.random() * 20000);
  const { child, done } = startCli(['watch', '--port', String(port), '--host', '127.0.0.1', '--', 'sh', '-c', script]);
  // A watch that ignored SIGINT would leave `await done` waiting for ever: it is stopped instead.
  const bound = setTimeout(() => void stopProcess(child), 40_000);
  try {
    const deadline = Date.now() + 20_000;
    while (!existsSync(seen)) {
      if (Date.now() > deadline) assert.fail('the command did not start');
      await delay(20);
    }
    const reportDir = readFileSync(seen, 'utf8');
    assert.equal(existsSync(reportDir), true, 'the report directory exists while the command runs');
    child.kill('SIGINT');
    const r = await done;
    assert.equal(existsSync(reportDir), false, `the report directory is removed (exit ${r.code})`);
  } finally {
    // On a failure before the Ctrl-C, watch (its tcpdump, and the command) must not outlive the test.
    clearTimeout(bound);
    await stopProcess(child);
  }
});
