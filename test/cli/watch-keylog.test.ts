/**
 * `watch -- curl -k https://...` against nginx with TLS on loopback (test/support/nginx.ts): the
 * command runs with SSLKEYLOGFILE set to a private key log (its directory 0700, the file 0600), the
 * capture decrypts the connection with it and counts curl's requests, and the key log is gone after.
 * With --no-keylog the same run leaves the requests unknown; a Ctrl-C removes the key log too.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { Report } from '../../src/model/report.js';
import { captureSkip } from '../support/capture-env.js';
import { runCli, startCli } from '../support/cli.js';
import { nginxSkip, opensslSkip, startNginx } from '../support/nginx.js';
import { stopProcess } from '../support/record.js';

const skip = captureSkip() || nginxSkip() || opensslSkip();
const dir = mkdtempSync(join(tmpdir(), 'kal-watch-keylog-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** `watch --port PORT --host 127.0.0.1 OPTIONS -- sh -c SCRIPT`. */
const watchSh = (port: number, options: string[], script: string): string[] => [
  'watch',
  '--port',
  String(port),
  '--host',
  '127.0.0.1',
  ...options,
  '--',
  'sh',
  '-c',
  script,
];

for (const http2 of [false, true]) {
  test(
    `watch -- curl https (${http2 ? 'h2' : 'http/1.1'}): decrypted with a private key log, removed after`,
    { skip },
    async () => {
      const nginx = await startNginx('127.0.0.1', { tls: { http2 } });
      try {
        const seen = join(dir, `seen-${http2}`);
        const url = nginx.url;
        // The command says where its key log is and what modes it has, then makes 3 requests on one connection.
        const script =
          `printf '%s\\n' "$SSLKEYLOGFILE" "$NODE_OPTIONS" > ${seen}; ` +
          `stat -c %a "$SSLKEYLOGFILE" "$(dirname "$SSLKEYLOGFILE")" >> ${seen}; ` +
          `exec curl -k -s -o /dev/null -o /dev/null -o /dev/null ${http2 ? '--http2' : '--http1.1'} ${url}a ${url}b ${url}c`;
        const r = await runCli(watchSh(nginx.port, ['--json'], script));
        assert.equal(r.code, 0, r.stderr);
        const [keylog, nodeOptions, fileMode, dirMode] = readFileSync(seen, 'utf8').trim().split('\n');
        assert.match(keylog!, /kal-keylog-/);
        assert.match(nodeOptions!, new RegExp(`^--tls-keylog=${keylog} --import=file:///\\S+/dist/src/register\\.js$`));
        assert.deepEqual([fileMode, dirMode], ['600', '700']);
        assert.equal(existsSync(keylog!), false, 'the key log is removed');
        assert.equal(existsSync(dirname(keylog!)), false, 'its directory too');
        const report = JSON.parse(r.stdout) as Report;
        const wire = report.runs[0]!.observers.find((o) => o.observer === 'wire')!;
        assert.deepEqual(
          wire.connections.map((c) => [c.requests, c.responses, c.tls?.decryption?.status, c.http2?.start ?? null]),
          [[3, 3, 'decrypted', http2 ? 'alpn' : null]],
          JSON.stringify(wire.connections.map((c) => c.notes)),
        );
        assert.equal(wire.connections[0]!.tls?.alpnChosen, http2 ? 'h2' : 'http/1.1');
        assert.ok(!wire.warnings.some((w) => w.code === 'KAL_WARN_TLS_KEYS' || w.code === 'KAL_WARN_KEYLOG'));
      } finally {
        await nginx.stop();
      }
    },
  );
}

test('watch --no-keylog -- curl https: requests unknown, no key log made', { skip }, async () => {
  const nginx = await startNginx('127.0.0.1', { tls: {} });
  try {
    const seen = join(dir, 'seen-none');
    const script = `printf '%s' "\${SSLKEYLOGFILE-unset}" > ${seen}; exec curl -k -s -o /dev/null ${nginx.url}`;
    const r = await runCli(watchSh(nginx.port, ['--json', '--no-keylog'], script));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readFileSync(seen, 'utf8'), 'unset');
    const wire = (JSON.parse(r.stdout) as Report).runs[0]!.observers.find((o) => o.observer === 'wire')!;
    assert.deepEqual(
      wire.connections.map((c) => [c.requests, c.tls?.decryption]),
      [[0, undefined]],
    );
  } finally {
    await nginx.stop();
  }
});

test(
  'watch -- COMMAND stopped by Ctrl-C (SIGINT): the private key log is removed',
  { skip: captureSkip() },
  async () => {
    const seen = join(dir, 'seen-sigint');
    const script = `printf '%s' "$SSLKEYLOGFILE" > ${seen}.tmp; mv ${seen}.tmp ${seen}; exec sleep 30`;
    const port = 20000 + Math.floor(Math.random() * 20000);
    const { child, done } = startCli(watchSh(port, [], script));
    try {
      const deadline = Date.now() + 20_000;
      while (!existsSync(seen)) {
        if (Date.now() > deadline) assert.fail('the command did not start');
        await delay(20);
      }
      const keylog = readFileSync(seen, 'utf8');
      assert.equal(existsSync(keylog), true, 'the key log exists while the command runs');
      child.kill('SIGINT');
      const r = await done;
      assert.equal(existsSync(dirname(keylog)), false, `the key log's directory is removed (exit ${r.code})`);
    } finally {
      // On a failure before the Ctrl-C, watch (its tcpdump, and the command) must not outlive the test.
      await stopProcess(child);
    }
  },
);
