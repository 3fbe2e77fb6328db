/**
 * The lab over TLS on real loopback sockets: HTTPS (node:https) with and without keep-alive, with and
 * without resuming TLS sessions, fetch over HTTPS, and HTTP/2 multiplexing (node:http2), each against
 * the in-process server with the run-time certificate and counted by the server (its OpenSSL sessions,
 * its HTTP/2 streams), the kernel's socket table and the wire (its TLS hellos, and the requests inside,
 * decrypted with the key log the lab's client wrote), which must agree and show the experiment's
 * expected counts. Counts only, never time.
 */
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import https from 'node:https';
import { test } from 'node:test';
import { runExperiment } from '../../src/lab/engine.js';
import { unmetExpectations } from '../../src/lab/expectations.js';
import { tlsScenarios } from '../../src/lab/scenarios.js';
import { startLabServer } from '../../src/lab/server.js';
import type { RunReport } from '../../src/model/report.js';
import { ServerAccounting } from '../../src/observe/server-accounting.js';
import { waitFor } from '../../src/util/time.js';
import { captureSkip } from '../support/capture-env.js';
import { assertNothingLeft } from '../support/leaks.js';
import { observer } from '../support/run-report.js';

const skip = captureSkip();
const scenarios = new Map(tlsScenarios().map((s) => [s.name, s]));
/** Not 127.0.0.1 (see experiments.test.ts): the certificate names it too (lab/certificate.ts). */
const HOST = '127.0.0.2';

async function experiment(name: string): Promise<RunReport> {
  const s = scenarios.get(name)!;
  const report = await runExperiment({ name: s.name, title: s.title, ...s.config, host: HOST });
  await assertNothingLeft({ host: HOST, port: Number(new URL(report.subject).port) });
  assert.deepEqual(report.client?.errors, [], 'no request failed');
  assert.deepEqual(unmetExpectations(s, report), [], 'the expected counts, in every observer that sees them');
  assert.deepEqual(report.agreement.differences, []);
  // The wire read the requests itself: every TLS connection decrypted with the client's key log.
  const wire = observer(report, 'wire');
  assert.equal(wire.seesRequests, true);
  assert.deepEqual(wire.totals.tls?.decryption, { decrypted: wire.totals.connections });
  assert.equal(wire.totals.requests, s.expect!.requests);
  return report;
}

test('https with keep-alive: one TLS connection, one full handshake, 10 requests', { skip }, async () => {
  const r = await experiment('https-keepalive');
  const server = observer(r, 'server');
  assert.equal(server.connections[0]!.requests, 10);
  assert.equal(server.connections[0]!.tls?.version, 'TLS 1.3');
  const wire = observer(r, 'wire');
  assert.equal(wire.totals.tls?.connections, 1);
  assert.equal(wire.connections[0]!.tls?.cipherSuite, server.connections[0]!.tls?.cipherSuite);
  assert.equal(r.verdict.code, 'reuse');
});

test('https without keep-alive nor sessions: 10 connections, 10 full handshakes', { skip }, async () => {
  const r = await experiment('https-no-keepalive');
  assert.equal(observer(r, 'wire').totals.syns, 10);
  // node:https without keep-alive asks to close (Connection: close): the server closes first.
  assert.equal(observer(r, 'kernel').totals.timeWait.server, 10);
  assert.equal(r.verdict.code, 'keepalive-disabled');
});

test('https without keep-alive, sessions kept: 1 full handshake, then 9 resumed (TLS 1.3 PSK)', { skip }, async () => {
  const r = await experiment('https-resumption');
  const wire = observer(r, 'wire');
  assert.equal(wire.connections.filter((c) => c.tls?.resumedWith === 'psk').length, 9);
  assert.equal(wire.connections.filter((c) => c.tls?.resumptionOffered === 'psk').length, 9);
  assert.equal(observer(r, 'server').connections[0]!.tls?.handshake, 'full');
});

test('fetch over https (the lab connector trusts the certificate): one connection, 10 requests', { skip }, async () => {
  const r = await experiment('fetch-https');
  assert.deepEqual(observer(r, 'wire').connections[0]!.tls?.alpnOffered, ['http/1.1']);
});

test('http2: 100 concurrent requests, one TLS connection (ALPN h2), streams open at once', { skip }, async () => {
  const r = await experiment('h2-multiplex');
  const server = observer(r, 'server');
  assert.equal(server.connections[0]!.tls?.alpnChosen, 'h2');
  assert.equal(server.connections[0]!.responses, 100);
  assert.ok(server.connections[0]!.http2!.peakConcurrentStreams > 1);
  const wire = observer(r, 'wire').connections[0]!;
  assert.deepEqual(wire.tls?.alpnOffered, ['h2']);
  assert.equal(wire.http2?.start, 'alpn');
  assert.equal(wire.responses, 100);
  assert.ok(wire.http2!.peakConcurrentStreams > 1);
});

test('the http2 client needs the h2 server: a one-line option error', async () => {
  await assert.rejects(runExperiment({ client: 'http2', protocol: 'https', capture: false, kernel: false }), {
    code: 'KAL_ERR_USAGE',
    message: /http2 speaks h2 over TLS/,
  });
});

test('h2 server: an HTTP/1.1 client is served by ALPN; the accounting tells the two connections apart', async (t) => {
  const lab = await startLabServer({ protocol: 'h2', host: HOST, keepAliveTimeoutMs: 0 });
  t.after(() => lab.close());
  const accounting = new ServerAccounting(lab.server);
  await accounting.start();
  // node:https offers no ALPN by default (the server would then choose none): offer http/1.1 only.
  const agent = new https.Agent({ ca: lab.ca!, keepAlive: true, ALPNProtocols: ['http/1.1'] });
  const status = await new Promise<number>((resolve, reject) => {
    https
      .get(lab.url, { agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      })
      .on('error', reject);
  });
  assert.equal(status, 200);
  agent.destroy();
  const session = http2.connect(lab.url, { ca: lab.ca! });
  await Promise.all(
    [1, 2, 3].map(
      () =>
        new Promise<void>((resolve, reject) => {
          const stream = session.request({ ':path': '/' });
          stream.on('error', reject);
          stream.resume();
          stream.on('end', () => resolve());
        }),
    ),
  );
  await new Promise<void>((resolve) => session.close(() => resolve()));
  assert.ok(await waitFor(() => accounting.settled(2), 3000, 10), 'both connections closed');
  const report = await accounting.stop();
  assert.equal(report.totals.connections, 2);
  assert.equal(report.totals.requests, 4);
  const [h1, h2] = report.connections;
  assert.equal(h1!.tls?.alpnChosen, 'http/1.1');
  assert.equal(h1!.http2, undefined);
  assert.equal(h2!.tls?.alpnChosen, 'h2');
  assert.equal(h2!.requests, 3);
  assert.equal(h2!.responses, 3);
  assert.deepEqual(h2!.statusCodes, [200, 200, 200]);
  assert.equal(report.totals.tls?.connections, 2);
});

test('h2 server: an idle session is closed by the server (GOAWAY, then its FIN)', async (t) => {
  const lab = await startLabServer({ protocol: 'h2', host: HOST, keepAliveTimeoutMs: 100 });
  t.after(() => lab.close());
  let idleCloses = 0;
  lab.onIdleClose(() => idleCloses++);
  const session = http2.connect(lab.url, { ca: lab.ca! });
  t.after(() => session.destroy());
  const goaway = new Promise<number>((resolve) => session.once('goaway', (code: number) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const stream = session.request({ ':path': '/' });
    stream.on('error', reject);
    stream.resume();
    stream.on('end', () => resolve());
  });
  assert.equal(await goaway, http2.constants.NGHTTP2_NO_ERROR);
  await new Promise<void>((resolve) => (session.closed ? resolve() : session.once('close', () => resolve())));
  assert.equal(idleCloses, 1);
});
