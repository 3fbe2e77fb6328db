/**
 * Metrics never hurt the app, checked on real processes: an app (a child node process) starts the
 * metrics from its environment, does its work and ends on its own. A bad KEEPALIVE_LAB_METRICS, a
 * port in use, a collector out of reach are each exactly one warning line on stderr with its code;
 * the app's output and exit code are its own; a Prometheus scraper's open keep-alive connection does
 * not keep it alive. Each child is killed after CHILD_BOUND_MS (the test then fails): no hang.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const PROVIDER = fileURLToPath(new URL('../../src/observe/metrics/provider.js', import.meta.url));
/** A child still running after this long has been kept alive: killed, and the test fails. */
const CHILD_BOUND_MS = 20_000;

/**
 * The app: starts the metrics of a source that says one connection opened, prints the endpoint's
 * URL (if any), waits until its stdin ends (the test says "done") or, with WAIT_FOR_WARNING, until
 * a warning, then ends its work.
 */
const APP = `
import { startMetrics, warnOnStderr } from ${JSON.stringify(PROVIDER)};
// One connection opened, so that there is something to export.
const connection = { id: 1, origin: 'http://127.0.0.1:1', serverAddress: '127.0.0.1', serverPort: 1, local: null,
  remote: null, protocolVersion: '1.1', tls: false, client: 'node:http' };
const source = {
  subscribe(listener) {
    listener({ type: 'connection-open', at: Date.now(), connection });
    return () => {};
  },
};
let finish;
const finished = new Promise((resolve) => (finish = resolve));
const handle = await startMetrics(source, {
  onWarning: (code, message) => { warnOnStderr(code, message); if (process.env.WAIT_FOR_WARNING) finish(); },
});
process.stdout.write('url ' + (handle?.url ?? 'none') + '\\n');
if (!process.env.WAIT_FOR_WARNING) {
  process.stdin.resume();
  process.stdin.on('end', finish);
}
// The app's own work keeps it alive until it is done.
const working = setInterval(() => {}, 1000);
await finished;
clearInterval(working);
process.stdin.pause();
process.stdin.destroy();
process.stdout.write('app done\\n');
process.exitCode = 7;
`;

interface AppRun {
  url: Promise<string>;
  /** Ends the app's stdin: its work is done. */
  finish(): void;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

function startApp(env: Record<string, string>): AppRun {
  const child = spawn(process.execPath, ['--input-type=module', '-e', APP], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH ?? '',
      ...env,
    },
  });
  let stdout = '';
  let stderr = '';
  let gotUrl: (url: string) => void;
  const url = new Promise<string>((resolve) => (gotUrl = resolve));
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString();
    const m = stdout.match(/^url (\S+)$/m);
    if (m) gotUrl(m[1]!);
  });
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), CHILD_BOUND_MS);
  const done = once(child, 'close').then(([code, signal]) => {
    clearTimeout(killer);
    return { code: code as number | null, signal: signal as NodeJS.Signals | null, stdout, stderr };
  });
  return { url, finish: () => child.stdin.end(), done };
}

/** The app ended by itself, with its own code and output, and stderr is exactly the warnings matching `expected`. */
function assertOwnExit(r: Awaited<AppRun['done']>, expected: RegExp[]): void {
  assert.equal(r.signal, null, `the app was killed (kept alive?); stderr: ${r.stderr}`);
  assert.equal(r.code, 7, r.stderr);
  assert.match(r.stdout, /app done\n$/);
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, expected.length, r.stderr);
  expected.forEach((re, i) => assert.match(lines[i]!, re));
}

test('a bad KEEPALIVE_LAB_METRICS: one warning line, the app runs and exits as it would', async () => {
  const app = startApp({ KEEPALIVE_LAB_METRICS: 'localhost' });
  assert.equal(await app.url, 'none');
  app.finish();
  assertOwnExit(await app.done, [
    /^keepalive-lab: warning: metrics: .*KEEPALIVE_LAB_METRICS.*\(KAL_WARN_METRICS_CONFIG\)$/,
  ]);
});

test('KEEPALIVE_LAB_METRICS on a port in use: one warning line, the app runs and exits as it would', async (t) => {
  const taken = net.createServer().listen(0, '127.0.0.1');
  await once(taken, 'listening');
  t.after(() => taken.close());
  const { port } = taken.address() as AddressInfo;
  const app = startApp({ KEEPALIVE_LAB_METRICS: `127.0.0.1:${port}` });
  assert.equal(await app.url, 'none');
  app.finish();
  assertOwnExit(await app.done, [/port \d+ on 127\.0\.0\.1 is already in use.*\(KAL_WARN_METRICS_LISTEN\)$/]);
});

test("a scraper's keep-alive connection, in use, does not keep the app alive", async () => {
  const app = startApp({ KEEPALIVE_LAB_METRICS: '127.0.0.1:0' });
  const url = await app.url;
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const scrape = () =>
    new Promise<string>((resolve, reject) => {
      http
        .get(url, { agent }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve(body));
        })
        .on('error', reject);
    });
  try {
    assert.match(await scrape(), /^target_info\{/m, 'the endpoint answers');
    // Scraped again and again on the same connection (never idle long enough for the server's
    // keep-alive timeout to close it) while the app ends its work: the app must exit all the same.
    let exited = false;
    const done = app.done.finally(() => (exited = true));
    app.finish();
    while (!exited) {
      try {
        await scrape();
      } catch {
        break; // the app exited under the scrape
      }
      await delay(100);
    }
    assertOwnExit(await done, []);
  } finally {
    agent.destroy();
  }
});

test('an OTLP collector out of reach: one warning line, the app exits as it would', async () => {
  // A port nobody listens on: connections are refused.
  const probe = net.createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  const app = startApp({
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
    OTEL_METRIC_EXPORT_INTERVAL: '100',
    OTEL_EXPORTER_OTLP_TIMEOUT: '100',
    WAIT_FOR_WARNING: '1',
  });
  assert.equal(await app.url, `http://127.0.0.1:${port}/v1/metrics`);
  assertOwnExit(await app.done, [
    /export to http:\/\/127\.0\.0\.1:\d+\/v1\/metrics failed: .*\(KAL_WARN_METRICS_EXPORT\)$/,
  ]);
});

const REGISTER = fileURLToPath(new URL('../../src/register.js', import.meta.url));

/** An app under the register: 3 keep-alive requests to its own server, then its own /metrics, printed. */
const REGISTERED_APP = `
import http from 'node:http';
const server = http.createServer((req, res) => res.end('ok')).listen(0, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));
const port = server.address().port;
const get = (url, agent) => new Promise((resolve, reject) => {
  http.get(url, { agent }, (res) => {
    let body = '';
    res.on('data', (c) => (body += c));
    res.on('end', () => resolve(body));
  }).on('error', reject);
});
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
for (let i = 0; i < 3; i++) await get('http://127.0.0.1:' + port + '/', agent);
const metricsAgent = new http.Agent({ keepAlive: false });
// The endpoint comes up once the SDK is loaded (an async import): asked again until it answers. The
// requests made before that were kept and replayed.
let text;
for (let i = 0; text === undefined; i++) {
  try {
    text = await get('http://' + process.env.KEEPALIVE_LAB_METRICS + '/metrics', metricsAgent);
  } catch (error) {
    if (i >= 200) throw error;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
process.stdout.write('port ' + port + '\\n' + text);
agent.destroy();
server.close();
`;

/** The value of each sample of `name` whose labels include all of `labels`. */
function samples(text: string, name: string, labels: Record<string, string>): number[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`))
    .filter((line) => Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)))
    .map((line) => Number(line.slice(line.lastIndexOf(' ') + 1)));
}

test('node --import register with KEEPALIVE_LAB_METRICS: the endpoint counts the app’s requests', async () => {
  const probe = net.createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  const child = spawn(process.execPath, ['--import', REGISTER, '--input-type=module', '-e', REGISTERED_APP], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '', KEEPALIVE_LAB_METRICS: `127.0.0.1:${port}` },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), CHILD_BOUND_MS);
  const [code, signal] = await once(child, 'close');
  clearTimeout(killer);
  assert.equal(signal, null, `killed (kept alive?): ${stderr}`);
  assert.equal(code, 0, stderr);
  assert.doesNotMatch(stderr, /KAL_WARN/);
  const appPort = stdout.match(/^port (\d+)$/m)?.[1];
  assert.ok(appPort !== undefined, stdout);
  const server = { server_port: appPort };
  const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
  assert.equal(sum(samples(stdout, 'keepalive_lab_requests_total', server)), 3, stdout);
  assert.deepEqual(
    samples(stdout, 'keepalive_lab_requests_total', { ...server, keepalive_lab_request_reused: 'true' }),
    [2],
  );
  assert.deepEqual(samples(stdout, 'keepalive_lab_connections_total', server), [1]);
  assert.deepEqual(samples(stdout, 'http_client_open_connections', { ...server, http_connection_state: 'idle' }), [1]);
});
