/**
 * Bad input to every command, the built binary spawned as a user runs it (issue 8): each usage
 * error is one line on stderr that says what was wrong (for a number: the allowed range, whatever
 * the bad value, negative included) and points to the command's --help, with exit code 2 and
 * nothing on stdout; a file the command could not write (--html) is one line and exit 1, before
 * any work.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildPcap } from '../support/capture-builder.js';
import { runCli } from '../support/cli.js';
import type { CliResult } from '../support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'kal-usage-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const PCAP = join(dir, 'empty.pcap');
writeFileSync(PCAP, buildPcap({ packets: [] }));
const A_FILE = join(dir, 'a-file');
writeFileSync(A_FILE, '');

/** At most this many spawned at once: the binary starts in ~0.1 s; the machine may have 2 cores. */
const PARALLEL = 4;

async function runAll(cases: readonly string[][]): Promise<CliResult[]> {
  const results: CliResult[] = new Array(cases.length);
  let next = 0;
  const worker = async () => {
    while (next < cases.length) {
      const i = next++;
      results[i] = await runCli(cases[i]!, 30_000);
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, worker));
  return results;
}

/** A whole number flag's message, for any bad value. */
const whole = (flag: string, min: number, max: number, got: string) =>
  `${flag} must be a whole number between ${min} and ${max}, got '${got}'`;
const atLeast = (flag: string, min: number, got: string) =>
  `${flag} must be a whole number, ${min} or more, got '${got}'`;
const duration = (got: string) => `--duration must be a number of seconds above 0 and at most 604800, got '${got}'`;

/** [argv, the message on the one line (before the pointer to --help)]. */
const USAGE_ERRORS: [string[], string][] = [
  // run
  [['run', '--requests', '-1'], whole('--requests', 1, 1_000_000, '-1')],
  [['run', '--requests', '0'], whole('--requests', 1, 1_000_000, '0')],
  [['run', '--requests', '1.5'], whole('--requests', 1, 1_000_000, '1.5')],
  [['run', '--requests', 'ten'], whole('--requests', 1, 1_000_000, 'ten')],
  [['run', '--requests', '2000000'], whole('--requests', 1, 1_000_000, '2000000')],
  [['run', '--requests=-3'], whole('--requests', 1, 1_000_000, '-3')],
  [['run', '--concurrency', '-1'], whole('--concurrency', 1, 10_000, '-1')],
  [['run', '--interval', '-5'], whole('--interval', 0, 3_600_000, '-5')],
  [['run', '--timeout', '-1'], whole('--timeout', 1, 86_400_000, '-1')],
  [['run', '--max-sockets', '0'], whole('--max-sockets', 1, 1_000_000, '0')],
  [['run', '--max-free-sockets', '-1'], whole('--max-free-sockets', 0, 1_000_000, '-1')],
  [['run', '--server-keep-alive-timeout', '-1'], whole('--server-keep-alive-timeout', 0, 86_400_000, '-1')],
  [['run', '--body-size', '-1'], "--body-size must be a size such as 11, 16k or 1m, at most 64m, got '-1'"],
  [['run', '--body-size', '1g'], "--body-size must be a size such as 11, 16k or 1m, at most 64m, got '1g'"],
  [['run', '--port', '-1'], whole('--port', 1, 65535, '-1')],
  [['run', '--port', '70000'], whole('--port', 1, 65535, '70000')],
  [['run', '--client', 'curl'], "--client must be one of http, fetch, http2, got 'curl'"],
  [['run', '--protocol', 'h3'], "--protocol must be one of http, https, h2, got 'h3'"],
  [
    ['run', '--experiment', 'nope'],
    "--experiment must be one of seq-unread, seq-read, conc-pool-2, conc-pool-10, fetch-unread-small, fetch-unread-16k, no-keepalive, server-close, https-keepalive, https-no-keepalive, https-resumption, fetch-https, h2-multiplex (or list), got 'nope'",
  ],
  [['run', '--target', 'not a url'], '--target is not a URL: not a url'],
  [['run', '--target', 'ftp://example.com/'], '--target must be an http:// or https:// URL: ftp://example.com/'],
  [
    ['run', '--target', 'http://127.0.0.1:1/', '--body-size', '1k'],
    '--body-size, --protocol and the --server-* options configure the in-process server: not with --target',
  ],
  [
    ['run', '--target', 'http://127.0.0.1:1/', '--no-server-keep-alive-hint'],
    '--body-size, --protocol and the --server-* options configure the in-process server: not with --target',
  ],
  [['run', '--server-max-requests', '0'], whole('--server-max-requests', 1, 1_000_000, '0')],
  [['run', '--requests'], "Option '--requests <value>' argument missing"],
  [['run', '--bogus'], "Unknown option '--bogus'"],
  [['run', 'extra'], "Unexpected argument 'extra'"],
  [['run', '--html', ''], '--html needs a file name'],
  [
    ['run', '--scenario', 'nope'],
    "--scenario must be one of race, idle-reset, body-not-read, pool-churn, close-audit, path-order, port-outlook (or list), got 'nope'",
  ],
  [
    ['run', '--scenario', 'race', '--requests', '5', '--no-keep-alive'],
    '--scenario race sets up its own experiment: --requests, --no-keep-alive cannot be used with it',
  ],
  [
    ['run', '--scenario', 'pool-churn', '--client', 'fetch'],
    "--client fetch cannot reproduce pool-churn: undici's pool keeps every idle connection",
  ],
  [['run', '--scenario', 'race', '--client', 'curl'], "--client must be one of http, fetch, got 'curl'"],
  // demo
  [['demo', '--interval', '-1'], whole('--interval', 0, 60000, '-1')],
  [['demo', '--port', '-1'], whole('--port', 1, 65535, '-1')],
  [['demo', '--bogus'], "Unknown option '--bogus'"],
  [['demo', 'extra'], "Unexpected argument 'extra'"],
  // analyze
  [['analyze'], 'give a capture file, or - for standard input'],
  [['analyze', PCAP, PCAP], 'one capture at a time, got 2 (merge them first: mergecap -w both.pcapng A B)'],
  [
    ['analyze', PCAP, '--path', '127.0.0.1:8080'],
    "--path needs two hops or more (the load balancer's HOST:PORT, then the backend's)",
  ],
  [['analyze', PCAP, '--path', '127.0.0.1:8080,127.0.0.1:8080'], '--path names 127.0.0.1:8080 twice'],
  [
    ['analyze', PCAP, '--path', '127.0.0.1:8080,127.0.0.1:9000', '--port', '80'],
    '--path keeps the connections to its hops: not with --port or --server',
  ],
  [
    ['analyze', PCAP, '--path', '127.0.0.1:8080,localhost'],
    "--path must be HOST:PORT (or [IPv6]:PORT), got 'localhost': the port is missing",
  ],
  [['analyze', PCAP, '--port', '-1'], whole('--port', 1, 65535, '-1')],
  [['analyze', PCAP, '--limit', '-1'], atLeast('--limit', 0, '-1')],
  [['analyze', PCAP, '--limit', 'all'], atLeast('--limit', 0, 'all')],
  [
    ['analyze', PCAP, '--server', '10.0.0.1:-1'],
    "--server must be HOST:PORT (or [IPv6]:PORT), got '10.0.0.1:-1': '-1' is not a port number, 1 to 65535",
  ],
  [
    ['analyze', PCAP, '--port-range', '60999-32768'],
    "--port-range must be LO-HI, two ports from 1 to 65535 with LO <= HI (e.g. 32768-60999), got '60999-32768'",
  ],
  [
    ['analyze', PCAP, '--port-range', '32768'],
    "--port-range must be LO-HI, two ports from 1 to 65535 with LO <= HI (e.g. 32768-60999), got '32768'",
  ],
  [['analyze', PCAP, '--tw-reuse', '3'], whole('--tw-reuse', 0, 2, '3')],
  [['analyze', PCAP, '--bogus'], "Unknown option '--bogus'"],
  // watch
  [['watch'], '--port is required'],
  [['watch', '--port', '-1'], whole('--port', 1, 65535, '-1')],
  [['watch', '--port', '8080', '--duration', '-1'], duration('-1')],
  [['watch', '--port', '8080', '--duration', '0'], duration('0')],
  [['watch', '--port', '8080', '--duration', 'soon'], duration('soon')],
  [['watch', '--port', '8080', '--duration', '604801'], duration('604801')],
  [['watch', '--port', '8080', '--limit', '-1'], atLeast('--limit', 0, '-1')],
  [['watch', '--port', '8080', '--expect-max-connections', '-1'], atLeast('--expect-max-connections', 0, '-1')],
  [
    ['watch', '--port', '8080', '--expect-min-requests-per-connection', '-1'],
    "--expect-min-requests-per-connection must be a number, 0 or more, got '-1'",
  ],
  [
    ['watch', '--port', '8080', '--expect-closed-by', 'nobody'],
    "--expect-closed-by must be one of client, server, got 'nobody'",
  ],
  [['watch', '--port', '8080', '--'], "nothing after '--': give the command to run"],
  // proxy
  [['proxy'], '--target HOST:PORT is required'],
  [
    ['proxy', '--target', '127.0.0.1:-1'],
    "--target must be HOST:PORT ('-1' is not a port number, 1 to 65535), got '127.0.0.1:-1'",
  ],
  [
    ['proxy', '--target', '127.0.0.1:80', '--listen', '-1'],
    "--listen must be HOST:PORT or PORT ('-1' is not a port number, 0 to 65535), got '-1'",
  ],
  [['proxy', '--target', '127.0.0.1:80', '--duration', '-1'], duration('-1')],
  [['proxy', '--target', '127.0.0.1:80', '--grace', '-1'], whole('--grace', 0, 600_000, '-1')],
  // sockets
  [['sockets', '--port', '-1'], whole('--port', 1, 65535, '-1')],
  [
    ['sockets', '--state', 'SLEEPY'],
    '--state must be among ESTABLISHED, SYN_SENT, SYN_RECV, FIN_WAIT1, FIN_WAIT2, TIME_WAIT, CLOSE, CLOSE_WAIT, ' +
      "LAST_ACK, LISTEN, CLOSING, NEW_SYN_RECV, got 'SLEEPY'",
  ],
  [['sockets', '--top', '0'], atLeast('--top', 1, '0')],
  [['sockets', '--bogus'], "Unknown option '--bogus'"],
];

test(`usage errors: ${USAGE_ERRORS.length} bad inputs to every command, one line each, exit 2`, async () => {
  const results = await runAll(USAGE_ERRORS.map(([argv]) => argv));
  for (const [i, [argv, message]] of USAGE_ERRORS.entries()) {
    const r = results[i]!;
    const what = argv.join(' ');
    assert.equal(r.code, 2, `${what}: ${r.stderr}`);
    assert.equal(r.stderr, `keepalive-lab ${argv[0]}: ${message} (see keepalive-lab ${argv[0]} --help)\n`, what);
    assert.equal(r.stdout, '', what);
  }
});

test('usage errors: an unknown command is one line too; no command at all prints the usage', async () => {
  const [unknown, none] = await runAll([['frobnicate'], []]);
  assert.equal(unknown!.code, 2);
  assert.equal(unknown!.stderr, "keepalive-lab: unknown command 'frobnicate' (see keepalive-lab --help)\n");
  assert.equal(none!.code, 2);
  assert.match(none!.stderr, /^keepalive-lab \S+: see, measure and explain/);
});

test('--duration: the same seconds for watch and proxy, decimals allowed', async () => {
  // Valid values get past the parsing: the next problem (a missing directory) is what stops them.
  const html = join(dir, 'no-such-dir', 'r.html');
  const results = await runAll([
    ['watch', '--port', '8080', '--duration', '0.5', '--html', html],
    ['proxy', '--target', '127.0.0.1:80', '--duration', '0.5', '--html', html],
  ]);
  for (const r of results) {
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^keepalive-lab \w+: error: cannot write --html .*r\.html: no such directory: /);
  }
});

test('an output file that cannot be written: one line, exit 1, before any work', async () => {
  const marker = join(dir, 'watched-command-ran');
  const bad: [string, RegExp][] = [
    [join(dir, 'missing', 'r.html'), /no such directory: .*missing \(KAL_ERR_FILE\)$/],
    [dir, /it is a directory \(KAL_ERR_FILE\)$/],
    [join(A_FILE, 'r.html'), /a part of the path is a file, not a directory \(KAL_ERR_FILE\)$/],
  ];
  // Root may write anywhere a permission bit forbids; sysfs refuses new files even to root.
  if (existsSync('/sys/kernel')) bad.push(['/sys/r.html', /permission denied on \/sys \(KAL_ERR_FILE\)$/]);
  const commands = (html: string): string[][] => [
    ['run', '--no-capture', '--html', html],
    ['demo', '--no-capture', '--html', html],
    ['analyze', PCAP, '--html', html],
    [
      'watch',
      '--port',
      '8080',
      '--no-capture',
      '--html',
      html,
      '--',
      process.execPath,
      '-e',
      `require('fs').writeFileSync(${JSON.stringify(marker)}, '')`,
    ],
    ['proxy', '--target', '127.0.0.1:80', '--listen', '0', '--html', html],
  ];
  const cases = bad.flatMap(([html, message]) => commands(html).map((argv) => ({ argv, message })));
  const results = await runAll(cases.map((c) => c.argv));
  for (const [i, { argv, message }] of cases.entries()) {
    const r = results[i]!;
    const what = argv.join(' ');
    assert.equal(r.code, 1, `${what}: ${r.stderr}`);
    assert.equal(r.stderr.split('\n').length, 2, `one line: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^keepalive-lab ${argv[0]}: error: cannot write --html `), what);
    assert.match(r.stderr.trimEnd(), message, what);
    assert.equal(r.stdout, '', `${what}: nothing ran`);
  }
  assert.equal(existsSync(marker), false, 'the watched command never ran');
  assert.equal(existsSync(join(A_FILE, 'r.html')), false);
});
