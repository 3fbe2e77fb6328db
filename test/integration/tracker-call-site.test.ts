/**
 * The in-process tracker captures a request's stack only when it may leave a body unread (another
 * response's body pending, or an unread body counted before): fetch in a loop that never reads its
 * bodies must still be named by this file's line, and a loop that reads them must give no finding.
 * A node:http request on a reused socket has a call site from Node 22 on (http.client.request.created)
 * and none on Node 20 (channels.ts): each release is held to its own. Loopback only, a server of our
 * own, everything closed at the end. Counts, never wall-clock (the unread responses count because
 * each cost a connection, not by how long they were held).
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { setImmediate as turn } from 'node:timers/promises';
import { test } from 'node:test';
import { trackConnections } from '../../src/observe/in-process/tracker.js';
import { withCountingServer } from '../support/counting-server.js';

/** 64 KB bodies: more than undici drains by itself, so an unread body holds its socket. */
function withServer(fn: (url: string, accepted: () => number) => Promise<void>): Promise<void> {
  return withCountingServer(fn, { bodySize: 65_536 });
}

test('fetch, bodies never read: the unread body is named by this file, each costing a connection', async () => {
  await withServer(async (url) => {
    const tracker = trackConnections();
    const kept: Response[] = [];
    try {
      for (let i = 0; i < 5; i++) kept.push(await fetch(url));
      const f = tracker.report().findings.find((x) => x.code === 'body-not-read');
      assert.ok(f, 'a body-not-read finding');
      assert.match(String(f.evidence.values.callSite), /tracker-call-site\.test\.js:\d+:\d+$/);
      assert.equal(f.evidence.values.extraConnections, 4);
    } finally {
      for (const res of kept) await res.body?.cancel();
      tracker.dispose();
    }
  });
});

test('fetch, bodies read: no unread finding, the connections the server saw', async () => {
  await withServer(async (url, accepted) => {
    const tracker = trackConnections();
    try {
      for (let i = 0; i < 5; i++) await (await fetch(url)).arrayBuffer();
      const view = tracker.report();
      assert.equal(
        view.findings.find((x) => x.code === 'body-not-read'),
        undefined,
      );
      assert.equal(view.observer.totals.connections, accepted());
    } finally {
      tracker.dispose();
    }
  });
});

/** A node:http GET's response, its body not read, and whether its request went on a reused socket. */
function get(url: string, agent: http.Agent): Promise<http.IncomingMessage & { reusedSocket: boolean }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent }, (res) => resolve(Object.assign(res, { reusedSocket: req.reusedSocket })));
    req.on('error', reject);
  });
}

/** Node 22 publishes http.client.request.created (in ClientRequest's constructor); Node 20 does not. */
const REQUEST_CREATED = Number(process.versions.node.split('.')[0]) >= 22;

test(`node:http, a reused socket's request left unread: ${REQUEST_CREATED ? 'named by this file' : 'no call site (Node 20)'}`, async () => {
  await withServer(async (url) => {
    const agent = new http.Agent({ keepAlive: true });
    const tracker = trackConnections();
    const kept: http.IncomingMessage[] = [];
    try {
      // Two connections: the first's body read to its end (its socket back in the pool), the second's left unread.
      const [read, unread] = await Promise.all([get(url, agent), get(url, agent)]);
      kept.push(unread);
      await new Promise((resolve) => read.resume().on('end', resolve));
      await turn(); // the Agent frees the socket a tick after the body's end
      // On the pooled socket, while a body is pending: its stack is taken (Node 22+) or there is none to take.
      const reused = await get(url, agent);
      kept.push(reused);
      assert.equal(reused.reusedSocket, true);
      // A new connection while it sits unread: charged to it, so it counts now.
      kept.push(await get(url, agent));
      const view = tracker.report();
      const twice = view.observer.connections.filter((c) => c.requests === 2);
      assert.equal(twice.length, 1, 'one socket reused');
      const f = view.findings.find((x) => x.code === 'body-not-read');
      assert.ok(f, 'a body-not-read finding');
      const event = f.evidence.events.find((e) => e.connection === twice[0]!.id);
      assert.ok(event, `the reused socket's unread response in ${JSON.stringify(f.evidence.events)}`);
      if (REQUEST_CREATED) assert.match(event.what, /request made at .*tracker-call-site\.test\.js:\d+:\d+$/);
      else assert.match(event.what, /request made at \?$/);
    } finally {
      for (const res of kept) res.destroy();
      agent.destroy();
      tracker.dispose();
    }
  });
});
