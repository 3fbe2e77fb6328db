/**
 * `keepalive-lab analyze`, the built binary spawned as a user runs it: help, usage errors (exit 2),
 * unreadable or wrong input (exit 1 with a stable code), standard input, --json, the focus options,
 * and `tcpdump -w - | keepalive-lab analyze -` with a real tcpdump.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Writable } from 'node:stream';
import { writeChurnCapture, writeKeepAliveCapture } from '../support/synthetic.js';
import { registerCapture } from '../support/tshark-check.js';
import { buildReport } from '../../src/analyze/run-report.js';
import { Interrupts } from '../../src/cli/interrupts.js';
import { analyze } from '../../src/cli/analyze.js';
import { startLabServer } from '../../src/lab/server.js';
import type { ConnectionRecord, Report } from '../../src/model/report.js';
import { REPORT_SCHEMA } from '../../src/model/report.js';
import { analyzeCapture } from '../../src/observe/capture-file.js';
import type { PageData, PageExchange } from '../../src/report/html/data.js';
import { renderJson } from '../../src/report/json.js';
import { LT, buildPcap, buildPcapng } from '../support/capture-builder.js';
import type { TcpPacketSpec } from '../support/capture-builder.js';
import { captureSkip } from '../support/capture-env.js';
import { BIN, runCli } from '../support/cli.js';
import type { CliResult } from '../support/cli.js';
import { runTool, stopProcess } from '../support/record.js';
import { Conversation, httpGet, httpResponse } from '../support/tcp-conversation.js';

const dir = await mkdtemp(join(tmpdir(), 'kal-cli-analyze-'));
test.after(() => rm(dir, { recursive: true, force: true }));

/** Three connections: two to 10.0.0.2:8080 (3 requests, then 1), one to [2001:db8::2]:9090. */
function packets(): TcpPacketSpec[] {
  const out: TcpPacketSpec[] = [];
  const a = new Conversation({ address: '10.0.0.1', port: 40001 }, { address: '10.0.0.2', port: 8080 }).handshake();
  for (let i = 0; i < 3; i++) {
    a.send('client', httpGet(`/${i}`), { ack: true });
    a.send('server', httpResponse(), { ack: true });
  }
  a.close('client');
  out.push(...a.packets);
  const b = new Conversation(
    { address: '10.0.0.1', port: 40002 },
    { address: '10.0.0.2', port: 8080 },
    { start: a.time + 1000 },
  ).handshake();
  b.send('client', httpGet('/once', { Connection: 'close' }), { ack: true });
  b.send('server', httpResponse(503, 'busy', { Connection: 'close' }), { ack: true });
  b.close('server');
  out.push(...b.packets);
  const c = new Conversation(
    { address: '2001:db8::1', port: 40003 },
    { address: '2001:db8::2', port: 9090 },
    { start: b.time + 1000 },
  ).handshake();
  c.send('client', httpGet('/v6'), { ack: true });
  c.send('server', httpResponse(204, ''), { ack: true });
  c.rst('client');
  out.push(...c.packets);
  return out;
}

const PCAP = join(dir, 'three.pcap');
const PCAPNG = join(dir, 'three.pcapng');
await writeFile(PCAP, buildPcap({ packets: packets() }));
await writeFile(PCAPNG, buildPcapng({ interfaces: [{ linkType: LT.LINUX_SLL2 }], blocks: packets() }));

async function file(name: string, bytes: Uint8Array | string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, bytes);
  return path;
}

/** The binary with `input` on its standard input. */
function runWithStdin(args: string[], input: Uint8Array): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

function json(r: CliResult): Report {
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Report;
}

function connections(r: CliResult): ConnectionRecord[] {
  return json(r).runs[0]!.observers[0]!.connections;
}

test('analyze --help: usage on stdout, exit 0; listed in the main help', async () => {
  const r = await runCli(['analyze', '--help']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^Usage: keepalive-lab analyze FILE\|- \[options\]/);
  for (const option of [
    '--port P',
    '--server HOST:PORT',
    '--path HOST:PORT,HOST:PORT',
    '--no-http',
    '--limit N',
    '--json',
  ])
    assert.ok(r.stdout.includes(option), option);
  const main = await runCli(['--help']);
  assert.match(main.stdout, /^ {2}analyze /m);
});

test('analyze: usage errors exit 2 with one line that points to --help', async () => {
  const cases: [string[], RegExp][] = [
    [['analyze'], /give a capture file, or - for standard input/],
    [['analyze', PCAP, PCAPNG], /one capture at a time, got 2/],
    [['analyze', PCAP, '--server', 'nonsense'], /--server must be HOST:PORT \(or \[IPv6\]:PORT\), got 'nonsense'/],
    [['analyze', PCAP, '--server', '127.0.0.1:99999'], /--server must be HOST:PORT/],
    [
      ['analyze', PCAP, '--server', 'example.com:80'],
      /--server needs an IP address \(or localhost\), got 'example.com'/,
    ],
    [['analyze', PCAP, '--port', '0'], /--port must be a whole number between 1 and 65535, got '0'/],
    [['analyze', PCAP, '--limit', 'some'], /--limit must be a whole number/],
    [['analyze', PCAP, '--bogus'], /Unknown option '--bogus'/],
  ];
  for (const [args, message] of cases) {
    const r = await runCli(args);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.stderr.split('\n')[0]!, message, args.join(' '));
    assert.match(r.stderr, /^keepalive-lab analyze: [^\n]+ \(see keepalive-lab analyze --help\)\n$/, args.join(' '));
    assert.equal(r.stdout, '');
  }
});

test('analyze: input that cannot be read or is not a capture exits 1 with its code', async () => {
  const cases: [string, RegExp][] = [
    [join(dir, 'missing.pcap'), /error: no such file: .*missing\.pcap \(KAL_ERR_FILE\)/],
    [dir, /is a directory, not a capture \(KAL_ERR_FILE\)/],
    [
      await file('notes.txt', 'GET / HTTP/1.1\r\nHost: example\r\n\r\n'),
      /not a pcap or pcapng file \(starts with 0x47455420\) \(KAL_ERR_NOT_A_CAPTURE\)/,
    ],
    [await file('empty.pcap', new Uint8Array(0)), /empty input: no capture file header \(KAL_ERR_NOT_A_CAPTURE\)/],
    [
      await file('header-cut.pcap', buildPcap({ packets: [] }).subarray(0, 20)),
      /only 20 bytes: the capture ends inside its file header \(KAL_ERR_NOT_A_CAPTURE\)/,
    ],
    [
      await file('usb.pcap', buildPcap({ linkType: 189, packets: [{ frame: new Uint8Array(40) }] })),
      /unsupported link type 189 \(KAL_ERR_UNSUPPORTED_LINK_TYPE\)/,
    ],
    [
      await file('bad-shb.pcapng', Uint8Array.of(0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a)),
      /\(KAL_ERR_MALFORMED_CAPTURE\)/,
    ],
  ];
  for (const [path, message] of cases) {
    const r = await runCli(['analyze', path]);
    assert.equal(r.code, 1, path);
    assert.match(r.stderr, /^keepalive-lab analyze: error: /, path);
    assert.match(r.stderr, message, path);
    assert.doesNotMatch(r.stderr, /unexpected error|at .*\.js:\d+/, `${path}: no stack trace`);
    assert.equal(r.stdout, '');
  }
});

test('analyze FILE: the terminal report of each connection, totals and verdict', async () => {
  const r = await runCli(['analyze', PCAP]);
  assert.equal(r.code, 0, r.stderr);
  const out = r.stdout;
  assert.match(out, /^#\s+capture\s+requests\s+conns/);
  assert.match(out, /three\.pcap\s+5\s+3\s/);
  assert.match(out, /three\.pcap — connections seen by the wire/);
  assert.match(out, /10\.0\.0\.1:40001\s+10\.0\.0\.2:8080 .* 3\s+200x3/);
  assert.match(out, /\[2001:db8::1\]:40003\s+\[2001:db8::2\]:9090/);
  assert.match(out, /connections 3 \(3 opened with a SYN in view\)\s+requests 5\s+responses 5/);
  assert.match(out, /capture: pcap, link type 1, \d+ frames, \d+ TCP/);
  assert.match(out, /^verdict /m);
  // The same capture as pcapng with Linux cooked v2 framing tells the same story.
  const ng = await runCli(['analyze', PCAPNG]);
  assert.equal(ng.code, 0, ng.stderr);
  assert.match(ng.stdout, /capture: pcapng, link type 276/);
  assert.match(ng.stdout, /connections 3 \(3 opened with a SYN in view\)\s+requests 5\s+responses 5/);
});

test('analyze --json: the report schema, the same data', async () => {
  const report = json(await runCli(['analyze', PCAP, '--json']));
  assert.equal(report.schema, REPORT_SCHEMA);
  assert.equal(report.command, 'analyze');
  assert.equal(report.tool.name, 'keepalive-lab');
  assert.ok(!Number.isNaN(Date.parse(report.createdAt)));
  assert.equal(report.runs.length, 1);
  const run = report.runs[0]!;
  assert.equal(run.name, 'analyze');
  assert.equal(run.title, 'three.pcap');
  assert.equal(run.config, null);
  assert.equal(run.client, null);
  assert.equal(run.capture?.format, 'pcap');
  assert.deepEqual(run.capture?.linkTypes, [1]);
  assert.deepEqual(Object.keys(run.verdict).sort(), ['code', 'summary']);
  const wire = run.observers[0]!;
  assert.equal(wire.observer, 'wire');
  assert.equal(wire.totals.connections, 3);
  assert.equal(wire.totals.requests, 5);
  assert.deepEqual(wire.http, { serverClose: 1, clientClose: 1 });
  const keys = [
    'id',
    'client',
    'server',
    'start',
    'end',
    'handshakeRttMs',
    'requests',
    'responses',
    'statusCodes',
    'idleGapsMs',
    'closedFirstBy',
    'resetBy',
    'timeWait',
    'startedBefore',
    'openAtEnd',
    'bytesFromClient',
    'bytesFromServer',
    'notes',
  ];
  // The timed facts the findings read, present only when they happened (docs/report-schema.md).
  const optional = [
    'clientFinAt',
    'serverFinAt',
    'resetAt',
    'lastResponseEndAt',
    'busyAt',
    'unanswered',
    'responseIncomplete',
    'keepAliveTimeoutS',
    'closeAsked',
  ];
  for (const c of wire.connections) {
    assert.deepEqual(
      Object.keys(c)
        .filter((k) => !optional.includes(k))
        .sort(),
      [...keys].sort(),
    );
  }
  assert.ok(Array.isArray(run.findings));
  assert.deepEqual(
    wire.connections.map((c) => [c.requests, c.statusCodes, c.closedFirstBy, c.resetBy, c.timeWait]),
    [
      [3, [200, 200, 200], 'client', null, 'client'],
      [1, [503], 'server', null, 'server'],
      [1, [204], null, 'client', null],
    ],
  );
});

test('analyze --port and --server keep the connections in focus', async () => {
  assert.deepEqual(
    connections(await runCli(['analyze', PCAP, '--json', '--port', '8080'])).map((c) => c.client.port),
    [40001, 40002],
  );
  assert.deepEqual(
    connections(await runCli(['analyze', PCAP, '--json', '--port', '40002'])).map((c) => [
      c.client.port,
      c.server.port,
    ]),
    [[40002, 8080]],
  );
  assert.deepEqual(connections(await runCli(['analyze', PCAP, '--json', '--server', '10.0.0.2:8080'])).length, 2);
  assert.deepEqual(
    connections(await runCli(['analyze', PCAP, '--json', '--server', '[2001:DB8:0:0:0:0:0:2]:9090'])).map(
      (c) => c.server.port,
    ),
    [9090],
  );
  const none = await runCli(['analyze', PCAP, '--server', '10.0.0.9:8080']);
  assert.equal(none.code, 0, none.stderr);
  assert.match(none.stdout, /no TCP connection was seen/);
  assert.match(none.stdout, /\(0 in focus\)/);
});

test('analyze --no-http and --limit', async () => {
  const tcpOnly = connections(await runCli(['analyze', PCAP, '--json', '--no-http']));
  assert.deepEqual(
    tcpOnly.map((c) => c.requests),
    [0, 0, 0],
  );
  assert.deepEqual(
    tcpOnly.map((c) => c.closedFirstBy),
    ['client', 'server', null],
  );
  const limited = await runCli(['analyze', PCAP, '--limit', '1']);
  assert.equal(limited.code, 0);
  assert.match(limited.stdout, /\.\.\. 2 more connections \(--limit 0 shows all, --json has them all\)/);
});

/** The report as the library builds it with every record kept, printed at once (renderJson). */
async function wholeReport(path: string): Promise<Report> {
  return JSON.parse(renderJson(buildReport('analyze', [await analyzeCapture(path)]))) as Report;
}

/** A report without its creation time, to compare two of them. */
function timeless(report: Report): Omit<Report, 'createdAt'> {
  const { createdAt: _createdAt, ...rest } = report;
  return rest;
}

const CHURN = join(dir, 'churn.pcap');
const churnMeta = writeChurnCapture({ path: CHURN, targetBytes: 6_000_000 });
const KEEPALIVE = join(dir, 'keepalive.pcap');
writeKeepAliveCapture({ path: KEEPALIVE, targetBytes: 2_000_000 });

test('analyze --json: written as connections end, JSON.parse gives the report printed at once', async () => {
  for (const path of [PCAP, PCAPNG, CHURN, KEEPALIVE]) {
    const r = await runCli(['analyze', path, '--json']);
    const streamed = json(r);
    assert.deepEqual(timeless(streamed), timeless(await wholeReport(path)), path);
    assert.equal(streamed.runs[0]!.observers[0]!.connectionsOmitted, undefined);
  }
  const churn = json(await runCli(['analyze', CHURN, '--json'])).runs[0]!.observers[0]!;
  assert.equal(churn.connections.length, churnMeta.connections);
  assert.equal(churn.totals.connections, churnMeta.connections);
  // The fields computed at the end follow the records.
  assert.deepEqual(Object.keys(churn), [
    'observer',
    'available',
    'seesRequests',
    'connections',
    'totals',
    'http',
    'warnings',
  ]);
  // No connection at all: an empty list, still one valid document.
  const quiet = await file('no-tcp.pcap', buildPcap({ packets: [] }));
  const empty = json(await runCli(['analyze', quiet, '--json']));
  assert.deepEqual(empty.runs[0]!.observers[0]!.connections, []);
});

test('analyze: the terminal keeps the first --limit records; totals, verdict and RST side count them all', async () => {
  const r = await runCli(['analyze', CHURN, '--limit', '3']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    new RegExp(
      `\\.\\.\\. ${churnMeta.connections - 3} more connections \\(--limit 0 shows all, --json has them all\\)`,
    ),
  );
  assert.match(
    r.stdout,
    new RegExp(
      `connections ${churnMeta.connections} \\(${churnMeta.connections} opened with a SYN in view\\)` +
        `\\s+requests ${churnMeta.requests}`,
    ),
  );
  assert.match(r.stdout, /requests per connection min 1, median 1, max 1, mean 1/);
  const rows = r.stdout.split('\n').filter((line) => /^\s*\d+\s+127\.0\.0\.1:\d+/.test(line));
  assert.equal(rows.length, 3);
  // Only resets, no FIN: the summary names the resetting side from the totals.
  const c = new Conversation({ address: '10.0.0.1', port: 40010 }, { address: '10.0.0.2', port: 8080 }).handshake();
  c.send('client', httpGet(), { ack: true });
  c.send('server', httpResponse(), { ack: true });
  c.rst('server');
  const d = new Conversation(
    { address: '10.0.0.1', port: 40011 },
    { address: '10.0.0.2', port: 8080 },
    { start: c.time + 10 },
  ).handshake();
  d.rst('client');
  const resets = await file('resets.pcap', buildPcap({ packets: [...c.packets, ...d.packets] }));
  const out = await runCli(['analyze', resets, '--limit', '1']);
  assert.equal(out.code, 0, out.stderr);
  assert.match(out.stdout, /RST by client and server/);
});

test('analyze --json waits for a slow stdout (drain) instead of piling the records up', async () => {
  let buffered = 0;
  let mostBuffered = 0;
  let refused = 0;
  let text = '';
  const slow = new Writable({
    highWaterMark: 16 * 1024,
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      buffered -= chunk.length;
      setTimeout(done, 2);
    },
  });
  const write = slow.write.bind(slow);
  slow.write = ((chunk: string) => {
    buffered += Buffer.byteLength(chunk);
    mostBuffered = Math.max(mostBuffered, buffered);
    const ok = write(chunk);
    if (!ok) refused++;
    return ok;
  }) as typeof slow.write;
  const code = await analyze.run(
    [CHURN, '--json'],
    { stdout: slow, stderr: new Writable({ write: (_c, _e, done) => done() }), env: {} },
    new Interrupts(),
  );
  assert.equal(code, 0);
  await new Promise<void>((resolve) => slow.end(resolve));
  const report = JSON.parse(text) as Report;
  assert.deepEqual(timeless(report), timeless(await wholeReport(CHURN)));
  assert.ok(refused > 1, `write() said wait ${refused} times`);
  // One chunk of the capture (1 MiB) makes about 0.6 MB of JSON; the whole report is several times that.
  assert.ok(text.length > 3 * mostBuffered, `at most ${mostBuffered} bytes waited in stdout, of ${text.length}`);
});

test('analyze -: a capture on standard input', async () => {
  const bytes = buildPcap({ packets: packets() });
  const r = await runWithStdin(['analyze', '-'], bytes);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /standard input\s+5\s+3\s/);
  const j = json(await runWithStdin(['analyze', '-', '--json'], bytes));
  assert.equal(j.runs[0]!.subject, '-');
  assert.equal(j.runs[0]!.observers[0]!.totals.requests, 5);
  const empty = await runWithStdin(['analyze', '-'], new Uint8Array(0));
  assert.equal(empty.code, 1);
  assert.match(empty.stderr, /KAL_ERR_NOT_A_CAPTURE/);
});

test(
  'tcpdump -w - | keepalive-lab analyze -: a live capture piped in',
  { skip: captureSkip(), timeout: 30_000 },
  async (t) => {
    const server = await startLabServer();
    t.after(() => server.close());
    const tcpdump = spawn(
      'tcpdump',
      ['-i', 'lo', '-n', '--immediate-mode', '-U', '-B', '16384', '-s', '4096', '-w', '-', `tcp port ${server.port}`],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    t.after(() => stopProcess(tcpdump));
    const cli = spawn(process.execPath, [BIN, 'analyze', '-', '--json'], { stdio: ['pipe', 'pipe', 'pipe'] });
    t.after(() => stopProcess(cli));
    tcpdump.stdout.pipe(cli.stdin);
    // The same bytes, for the comparison with tshark (test/support/tshark-check.ts).
    const piped: Buffer[] = [];
    tcpdump.stdout.on('data', (c: Buffer) => piped.push(c));
    let stdout = '';
    let stderr = '';
    cli.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    cli.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const done = new Promise<number | null>((resolve) => cli.on('close', (code) => resolve(code)));
    let tcpdumpErr = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`tcpdump did not listen: ${tcpdumpErr}`)), 10_000);
      tcpdump.stderr.on('data', (c: Buffer) => {
        tcpdumpErr += c.toString();
        if (/listening on/.test(tcpdumpErr)) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    const curl = await runTool('curl', ['-sS', server.url, server.url, server.url]);
    assert.equal(curl.code, 0, curl.stderr);
    await new Promise((resolve) => setTimeout(resolve, 300)); // the last FIN/ACKs
    await stopProcess(tcpdump);
    const code = await done;
    assert.equal(code, 0, stderr);
    registerCapture(Buffer.concat(piped), { origin: 'tcpdump -w - | analyze -' });
    const report = JSON.parse(stdout) as Report;
    const wire = report.runs[0]!.observers[0]!;
    assert.equal(wire.totals.connections, 1);
    assert.equal(wire.totals.requests, 3);
    assert.equal(report.runs[0]!.verdict.code, 'reuse');
  },
);

test('analyze --json | head: the reader leaving early ends the command quietly, exit 0', async () => {
  // A 6 MB churn capture makes megabytes of JSON: far more than a pipe holds when the reader is gone.
  const child = spawn(
    'bash',
    ['-c', `set -o pipefail; "${process.execPath}" "${BIN}" analyze "${CHURN}" --json | head -c 100 > /dev/null`],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 0, stderr);
  assert.equal(stderr, '');
});

test('analyze --explain: a keep-alive race is the verdict, its fixes are listed, --explain adds why and evidence', async () => {
  // One exchange, 1 s idle, the server's FIN, a GET 3 ms later, the server's RST.
  const c = new Conversation({ address: '10.0.0.1', port: 41000 }, { address: '10.0.0.2', port: 8080 }).handshake();
  c.send('client', httpGet());
  c.send('server', httpResponse(200, 'hello', { 'Keep-Alive': 'timeout=1' }));
  c.wait(1000).fin('server');
  c.wait(3).send('client', 'POST /pay HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n');
  c.rst('server');
  const path = join(dir, 'race.pcap');
  await writeFile(path, buildPcap({ packets: c.packets }));
  const plain = await runCli(['analyze', path]);
  assert.equal(plain.code, 0, plain.stderr);
  assert.match(plain.stdout, /^verdict keep-alive race: 1 request was sent on connections the server had closed/m);
  assert.match(plain.stdout, /race\.pcap — findings\nerror \[keepalive-race\] keep-alive race: /);
  assert.match(plain.stdout, /fix \(go\): &http\.Transport\{IdleConnTimeout: 750 \* time\.Millisecond\}/);
  assert.doesNotMatch(plain.stdout, /^ {2}why$/m);
  const explained = await runCli(['analyze', path, '--explain']);
  assert.equal(explained.code, 0, explained.stderr);
  assert.match(explained.stdout, /^ {2}why$/m);
  assert.match(explained.stdout, /not idempotent \(RFC 9110 9\.2\.2\)/);
  assert.match(explained.stdout, /evidence server 10\.0\.0\.2:8080, 1 connection: 1/);
  assert.match(
    explained.stdout,
    /#1 at \+1\.00 s: POST sent 1\.00 s after the last response, 3 ms after the server's FIN/,
  );
  const report = json(await runCli(['analyze', path, '--json']));
  assert.deepEqual(
    report.runs[0]!.findings.map((f) => [f.code, f.evidence.values.requestsLost, f.evidence.values.nonIdempotent]),
    [['keepalive-race', 1, 1]],
  );
});

test('analyze --path: the order of idle timeouts along a path, named only when the path is given on loopback', async () => {
  // A client -> a load balancer on :8080 -> a backend on :9000, all on 127.0.0.1: the backend closes the
  // balancer's idle upstream connections after 1 s, and the balancer's request 2 ms after one FIN draws a RST
  // and a 502 for the client.
  const at = (ms: number) => ({ start: 1_700_000_000_000_000 + ms * 1000 });
  const client = new Conversation({ address: '127.0.0.1', port: 42000 }, { address: '127.0.0.1', port: 8080 }, at(0));
  client.handshake();
  client.send('client', httpGet());
  client.send('server', httpResponse(200));
  client.wait(1010).send('client', httpGet());
  client.send('server', httpResponse(502, 'bad gateway'));
  client.wait(10).close('client');
  const raced = new Conversation({ address: '127.0.0.1', port: 42001 }, { address: '127.0.0.1', port: 9000 }, at(1));
  raced.handshake();
  raced.send('client', httpGet());
  raced.send('server', httpResponse(200));
  raced.wait(1000).fin('server');
  raced.wait(2).send('client', httpGet());
  raced.rst('server');
  const idle = new Conversation({ address: '127.0.0.1', port: 42002 }, { address: '127.0.0.1', port: 9000 }, at(2));
  idle.handshake();
  idle.send('client', httpGet());
  idle.send('server', httpResponse(200));
  idle.wait(1000).close('server');
  const packets = [client, raced, idle].flatMap((c) => c.packets).sort((a, b) => a.ts! - b.ts!);
  const path = join(dir, 'path.pcap');
  await writeFile(path, buildPcap({ packets }));
  const r = await runCli(['analyze', path, '--path', '127.0.0.1:8080,127.0.0.1:9000']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    new RegExp(
      '^verdict idle timeouts out of order: the load balancer 127\\.0\\.0\\.1:8080 keeps upstream connections ' +
        'idle longer than the backend 127\\.0\\.0\\.1:9000',
      'm',
    ),
  );
  assert.match(r.stdout, /^error \[idle-timeout-order\] /m);
  assert.match(r.stdout, /fix \(nginx-upstream\): in the upstream block: keepalive_timeout 750ms;/);
  assert.match(r.stdout, /fix \(envoy\): .*idle_timeout: 0\.75s/);
  const report = json(await runCli(['analyze', path, '--path', '127.0.0.1:8080,127.0.0.1:9000', '--json']));
  const f = report.runs[0]!.findings.find((g) => g.code === 'idle-timeout-order');
  assert.equal(f?.evidence.values.hop1BadGateway, 1);
  assert.equal(f?.evidence.values.hop2RequestsLost, 1);
  // On loopback every process shares the address: without --path the race is named, the path is not.
  const unpathed = json(await runCli(['analyze', path, '--json']));
  assert.deepEqual(
    unpathed.runs[0]!.findings.map((g) => g.code),
    ['keepalive-race'],
  );
});

test('analyze --port-range/--tw-reuse: the port outlook of a churn from another machine, with the range given', async () => {
  // 120 connections from 10.0.0.7 in a second, each closed by the client first (TIME_WAIT on it).
  const packets: TcpPacketSpec[] = [];
  for (let i = 0; i < 120; i++) {
    const c = new Conversation(
      { address: '10.0.0.7', port: 42000 + i },
      { address: '10.0.0.5', port: 80 },
      { start: 1_700_000_000_000_000 + i * 8000 },
    ).handshake();
    c.send('client', httpGet(), { ack: true });
    c.send('server', httpResponse(), { ack: true });
    c.close('client');
    packets.push(...c.packets);
  }
  packets.sort((a, b) => a.ts! - b.ts!);
  const path = join(dir, 'churn-120.pcap');
  await writeFile(path, buildPcap({ packets }));
  const outlook = (r: CliResult) => json(r).runs[0]!.findings.find((f) => f.code === 'port-exhaustion');
  // Not this machine: Linux's defaults, said so.
  const assumed = outlook(await runCli(['analyze', path, '--json']));
  assert.equal(assumed?.severity, 'info');
  assert.match(assumed!.summary, /Linux's default port range assumed/);
  // The client's range given: 1,000 ports last 8.3 s at 120/s, within TIME_WAIT: a warning, the verdict.
  const given = await runCli(['analyze', path, '--port-range', '60000-60999', '--tw-reuse', '0']);
  assert.equal(given.code, 0, given.stderr);
  const verdict = given.stdout.split('\n').find((line) => line.startsWith('verdict '));
  assert.equal(
    verdict,
    'verdict port exhaustion: at 120 new connections/s to 10.0.0.5:80 the client 10.0.0.7 runs out of its ' +
      '1,000 ephemeral ports in 8.3 s (TIME_WAIT held by the client for 60 s)',
  );
  assert.match(
    given.stdout,
    /fix \(host\): On the client machine: widen net\.ipv4\.ip_local_port_range \(now 60000 60999/,
  );
  const values = outlook(await runCli(['analyze', path, '--json', '--port-range', '60000-60999']))!.evidence.values;
  assert.equal(values.portRangeSource, 'given');
  assert.equal(values.twReuseSource, 'default');
  assert.equal(values.ephemeralPorts, 1000);
});

test('analyze --html: every connection on the timeline, each request with its path and status', async () => {
  const out = join(dir, 'report.html');
  const r = await runCli(['analyze', PCAP, '--html', out, '--limit', '1']);
  assert.equal(r.code, 0, r.stderr);
  const html = await readFile(out, 'utf8');
  const m = /<script type="application\/json" id="kal-data">([^<]*)<\/script>/.exec(html);
  assert.ok(m, 'the page data');
  const data = JSON.parse(m[1]!) as PageData;
  const at = (name: string) => data.fields.indexOf(name);
  const lanes = data.runs[0]!.connections;
  assert.equal(lanes.length, 3, 'all three, whatever --limit prints');
  const requests = lanes.map((c) => (c[at('exchanges')] as PageExchange[]).map((x) => `${x[2]} ${x[3]} ${x[4]}`));
  assert.deepEqual(requests.slice(0, 2), [['GET /0 200', 'GET /1 200', 'GET /2 200'], ['GET /once 503']]);
});
