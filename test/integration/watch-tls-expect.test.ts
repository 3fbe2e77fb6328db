/**
 * `watch --expect-min-requests-per-connection` on HTTPS without the keys: Debian's nginx with TLS (a
 * certificate made at start by openssl, removed with nginx's temp dir), curl making two requests over
 * one TLS connection. The wire cannot count them: the expectation is not checked (exit 3, one line
 * that says why), never failed as if no request had been made; one that the counts decide still
 * fails (exit 1), with the line of the one not checked after it. With the key log `watch` gives curl
 * (its default), the same expectation is checked and met.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { captureSkip } from '../support/capture-env.js';
import { runCli } from '../support/cli.js';
import { nginxSkip, opensslSkip, startNginx, type Nginx } from '../support/nginx.js';
import { toolSkip } from '../support/record.js';

const skip = captureSkip() || nginxSkip() || opensslSkip() || toolSkip('curl');

let nginx: Nginx;

before(async () => {
  if (skip) return;
  nginx = await startNginx('127.0.0.1', { tls: {} });
});

after(async () => {
  if (skip) return;
  await nginx?.stop();
});

/**
 * `watch` of curl fetching two URLs over one HTTPS connection (curl reuses it), with `expect` flags;
 * without the key log `watch` gives the command unless `keys` is set.
 */
function watchCurl(expect: string[], keys = false) {
  const url = `https://127.0.0.1:${nginx.port}/`;
  return runCli([
    'watch',
    '--port',
    String(nginx.port),
    '--host',
    '127.0.0.1',
    ...expect,
    ...(keys ? [] : ['--no-keylog']),
    '--',
    'curl',
    '-sSk',
    '--http1.1',
    '-o',
    '/dev/null',
    '-o',
    '/dev/null',
    url,
    url,
  ]);
}

test(
  'watch curl over TLS without the keys: requests per connection is not checked (exit 3), not failed',
  { skip },
  async () => {
    const r = await watchCurl(['--expect-min-requests-per-connection', '2']);
    assert.equal(r.code, 3, r.stderr);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('keepalive-lab watch:'));
    assert.deepEqual(lines, [
      'keepalive-lab watch: expectations: not checked: at least 2 requests per connection: 1 of 1 connection ' +
        'carried TLS, requests unknown without the TLS keys (wire observer)',
    ]);
    assert.doesNotMatch(r.stderr, /expectation failed/);
    // The report says the requests are unknown, not 0.
    assert.match(r.stdout, /requests unknown without the TLS keys/);
    // What the wire can see is still checked: one connection.
    const met = await watchCurl(['--expect-max-connections', '1', '--expect-no-resets']);
    assert.equal(met.code, 0, met.stderr);
    // A failure decides (exit 1); the expectation not checked is said after it.
    const failed = await watchCurl(['--expect-max-connections', '0', '--expect-min-requests-per-connection', '2']);
    assert.equal(failed.code, 1, failed.stderr);
    const said = failed.stderr.split('\n').filter((l) => l.startsWith('keepalive-lab watch:'));
    assert.equal(said.length, 2, failed.stderr);
    assert.match(said[0]!, /^keepalive-lab watch: expectation failed: expected at most 0 connections, saw 1 /);
    assert.match(said[1]!, /^keepalive-lab watch: expectations: not checked: at least 2 requests per connection/);
    // With the keys (watch's own key log, the default), the requests are counted and the expectation met.
    const decrypted = await watchCurl(['--expect-min-requests-per-connection', '2'], true);
    assert.equal(decrypted.code, 0, decrypted.stderr);
    assert.match(decrypted.stdout, /1 of 1 TLS connection decrypted/);
  },
);
