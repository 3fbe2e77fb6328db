/**
 * TLS on captures recorded here from real programs: nginx serving HTTPS on loopback (a certificate
 * made at start by openssl, removed with nginx's temp dir), curl and `openssl s_client` as clients,
 * tcpdump on lo. What the clients say of themselves is the truth the tool's TLS facts are held to
 * (curl's own %{num_connects} and %{http_version}, s_client's "New" or "Reused"); tshark reads every
 * capture too, at the end of this file (test/support/tshark-check.ts), and must agree on each
 * connection's ClientHellos, version, cipher suite, SNI, ALPN and resumption.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { buildReport } from '../../src/analyze/run-report.js';
import type { RunReport } from '../../src/model/report.js';
import { analyzeCapture } from '../../src/observe/capture-file.js';
import { renderTerminal } from '../../src/report/terminal.js';
import { captureSkip } from '../support/capture-env.js';
import { nginxSkip, opensslSkip, startNginx, type Nginx } from '../support/nginx.js';
import { recordTraffic, runTool, toolSkip } from '../support/record.js';

const skip = captureSkip() || nginxSkip() || opensslSkip() || toolSkip('curl');

let nginx: Nginx;
let dir: string;

before(async () => {
  if (skip) return;
  dir = await mkdtemp(join(tmpdir(), 'kal-tls-nginx-'));
  nginx = await startNginx('127.0.0.1', { tls: { http2: true } });
});

after(async () => {
  if (skip) return;
  await nginx?.stop();
  if (process.env.KAL_KEEP_CAPTURES) console.log(`# captures kept in ${dir}`);
  else await rm(dir, { recursive: true, force: true });
});

/** https://localhost:PORT/, resolved to 127.0.0.1 by curl (so that it sends localhost as SNI). */
const url = (): string => `https://localhost:${nginx.port}/`;
const resolve = (): string[] => ['--resolve', `localhost:${nginx.port}:127.0.0.1`];

/** curl with these options and `urls` URLs; its -w lines (num_connects and http_version per URL). */
async function curl(args: string[], urls: number): Promise<string[]> {
  const each = Array.from({ length: urls }, () => ['-o', '/dev/null', url()]).flat();
  const r = await runTool('curl', [
    '-sS',
    '-k',
    ...resolve(),
    '-w',
    '%{num_connects} %{http_version}\\n',
    ...args,
    ...each,
  ]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim().split('\n');
}

async function record(name: string, traffic: () => Promise<void>): Promise<RunReport> {
  const path = join(dir, `${name}.pcap`);
  const rec = await recordTraffic({ path, port: nginx.port, iface: 'lo' }, traffic);
  assert.equal(rec.dropped, 0);
  return analyzeCapture(path);
}

test(
  'curl --http1.1 with 5 URLs: one TLS 1.3 connection, one full handshake, 5 exchanges estimated',
  { skip, timeout: 60_000 },
  async () => {
    let said: string[] = [];
    const run = await record('curl-5-urls', async () => {
      said = await curl(['--http1.1'], 5);
    });
    // curl's own account: one connection made (for the first URL), HTTP/1.1 each time.
    assert.deepEqual(said, ['1 1.1', '0 1.1', '0 1.1', '0 1.1', '0 1.1']);
    const wire = run.observers[0]!;
    assert.equal(wire.totals.connections, 1);
    const [c] = wire.connections;
    assert.equal(c!.requests, 0, 'requests are not counted without the keys');
    assert.ok(c!.notes.includes('requests unknown without the TLS keys'));
    const t = c!.tls!;
    assert.equal(t.version, 'TLS 1.3');
    assert.equal(t.handshake, 'full');
    assert.equal(t.sni, 'localhost');
    assert.deepEqual(t.alpnOffered, ['http/1.1']);
    assert.equal(t.alpnChosen, null);
    assert.equal(t.alpnChosenWhyNull, 'encrypted');
    assert.equal(t.estimatedExchanges, 5);
    assert.ok(t.handshakeMs !== null && t.handshakeMs > 0);
    assert.equal(run.verdict.code, 'encrypted');
    assert.doesNotMatch(run.verdict.summary, /nothing to reuse/);
    assert.match(run.verdict.summary, /an estimated 5 request\/response exchanges, over it$/);
    const text = renderTerminal(buildReport('analyze', [run]), { totals: true, connections: true });
    assert.match(text, /^TLS: 1 connection, 1 full handshake, 0 resumed \(TLS 1\.3: 1\)/m);
  },
);

test(
  'five curl runs with --tls-max 1.2: five full TLS 1.2 handshakes, the finding tls-no-reuse',
  { skip, timeout: 60_000 },
  async () => {
    const run = await record('curl-5-runs', async () => {
      for (let i = 0; i < 5; i++) assert.deepEqual(await curl(['--http1.1', '--tls-max', '1.2'], 1), ['1 1.1']);
    });
    const wire = run.observers[0]!;
    assert.equal(wire.totals.connections, 5);
    assert.deepEqual(wire.totals.tls, {
      connections: 5,
      fullHandshakes: 5,
      resumedHandshakes: 0,
      handshakesUnknown: 0,
      estimatedExchanges: 5,
      versions: { 'TLS 1.2': 5 },
    });
    for (const c of wire.connections) assert.equal(c.tls?.alpnChosen, 'http/1.1');
    assert.equal(run.verdict.code, 'tls-no-reuse');
    assert.equal(
      run.verdict.summary,
      `5 full TLS handshakes for 5 connections to 127.0.0.1:${nginx.port} (localhost): ` +
        'the client reuses neither connections nor TLS sessions',
    );
    const finding = run.findings.find((f) => f.code === 'tls-no-reuse')!;
    assert.equal(finding.evidence.count, 5);
    assert.match(finding.fixes.curl!, /one curl run/);
  },
);

/** `openssl s_client` once with -sess_out, then with -sess_in: its own word, New or Reused, each time. */
function sClient(args: string[]): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(
      'openssl',
      ['s_client', '-connect', `127.0.0.1:${nginx.port}`, '-servername', 'localhost', '-ign_eof', ...args],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('error', reject);
    child.once('close', () => {
      clearTimeout(timer);
      const said = /^(New|Reused), (TLSv1\.[23])/m.exec(out);
      if (said === null) reject(new Error(`s_client said neither New nor Reused: ${out.slice(-500)}`));
      else resolvePromise(`${said[1]} ${said[2]}`);
    });
    // One request that asks to close, so that s_client reads every NewSessionTicket before it ends.
    child.stdin.end('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
  });
}

test(
  'openssl s_client sessions: TLS 1.2 resumed by ticket and by session id, TLS 1.3 by PSK',
  { skip, timeout: 60_000 },
  async () => {
    const said: string[] = [];
    const run = await record('s-client-sessions', async () => {
      for (const [name, options] of [
        ['tls12-ticket', ['-tls1_2']],
        ['tls12-id', ['-tls1_2', '-no_ticket']],
        ['tls13', ['-tls1_3']],
      ] as const) {
        const session = join(dir, `${name}.session`);
        said.push(await sClient([...options, '-sess_out', session]));
        said.push(await sClient([...options, '-sess_in', session]));
      }
    });
    assert.deepEqual(said, [
      'New TLSv1.2',
      'Reused TLSv1.2',
      'New TLSv1.2',
      'Reused TLSv1.2',
      'New TLSv1.3',
      'Reused TLSv1.3',
    ]);
    const wire = run.observers[0]!;
    assert.deepEqual(
      wire.connections.map((c) => [
        c.tls?.version,
        c.tls?.handshake,
        c.tls?.resumedWith ?? null,
        c.tls?.resumptionOffered,
      ]),
      [
        ['TLS 1.2', 'full', null, null],
        ['TLS 1.2', 'resumed', 'ticket', 'ticket'],
        ['TLS 1.2', 'full', null, null],
        ['TLS 1.2', 'resumed', 'session-id', 'session-id'],
        ['TLS 1.3', 'full', null, null],
        ['TLS 1.3', 'resumed', 'psk', 'psk'],
      ],
    );
    assert.equal(wire.totals.tls?.resumedHandshakes, 3);
    assert.deepEqual(
      run.findings.filter((f) => f.code === 'tls-no-reuse'),
      [],
    );
  },
);

test(
  'curl --http2: ALPN h2 offered; chosen unknown in TLS 1.3 (encrypted), h2 in TLS 1.2',
  { skip, timeout: 60_000 },
  async () => {
    const said: string[] = [];
    const run = await record('curl-h2', async () => {
      said.push(...(await curl(['--http2'], 1)));
      said.push(...(await curl(['--http2', '--tls-max', '1.2'], 1)));
    });
    assert.deepEqual(said, ['1 2', '1 2']);
    const [tls13, tls12] = run.observers[0]!.connections.map((c) => c.tls!);
    assert.deepEqual(
      [tls13!.version, tls13!.alpnOffered, tls13!.alpnChosen, tls13!.alpnChosenWhyNull],
      ['TLS 1.3', ['h2', 'http/1.1'], null, 'encrypted'],
    );
    assert.deepEqual([tls12!.version, tls12!.alpnOffered, tls12!.alpnChosen], ['TLS 1.2', ['h2', 'http/1.1'], 'h2']);
  },
);
