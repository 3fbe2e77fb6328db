/**
 * The in-process tracker on node:http without a listener on any request or response (its moments
 * come from the channels and the socket's 'free' and 'close'), and the Keep-Alive hint read from the
 * raw headers of both clients. Loopback only, a server of our own, everything closed at the end.
 * Counts and events, never wall-clock.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { trackConnections } from '../../src/observe/in-process/tracker.js';
import type { ConnectionTracker, ProcessView } from '../../src/observe/in-process/tracker.js';
import { withCountingServer } from '../support/counting-server.js';

/** The tracker's server, with the Keep-Alive hint these tests read unless one says otherwise. */
function withServer(
  fn: (url: string, accepted: () => number) => Promise<void>,
  bodySize = 64,
  keepAlive = 'timeout=7',
): Promise<void> {
  return withCountingServer(fn, { bodySize, keepAlive });
}

/**
 * `fn` with a keep-alive Agent and `track()`, which starts the tracker (after any untracked requests
 * `fn` makes first); both are ended when `fn` ends, failed or not.
 */
async function withAgent(
  fn: (agent: http.Agent, track: () => ConnectionTracker) => Promise<void>,
  options: http.AgentOptions = {},
): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, ...options });
  const trackers: ConnectionTracker[] = [];
  try {
    await fn(agent, () => trackers[trackers.push(trackConnections()) - 1]!);
  } finally {
    for (const tracker of trackers) tracker.dispose();
    agent.destroy();
  }
}

function assertNoUnreadBody(view: ProcessView): void {
  assert.equal(
    view.findings.find((f) => f.code === 'body-not-read'),
    undefined,
  );
}

/** One GET read to its end; `seen` gets the request and its response before the body is read. */
function get(
  url: string,
  agent: http.Agent,
  seen?: (req: http.ClientRequest, res: http.IncomingMessage) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent }, (res) => {
      seen?.(req, res);
      res.resume();
      res.on('end', resolve);
    });
    req.on('error', reject);
  });
}

test('node:http: the tracker adds no listener to a request or a response; reads counted, reuse as the server saw', async () => {
  await withServer((url, accepted) =>
    withAgent(
      async (agent, track) => {
        const counts = (req: http.ClientRequest, res: http.IncomingMessage) =>
          [...req.eventNames(), ...res.eventNames()].map((name) => req.listenerCount(name) + res.listenerCount(name));
        let untracked: number[] = [];
        // Twice: the second on the reused socket, as the tracked ones are.
        for (let i = 0; i < 2; i++) await get(url, agent, (req, res) => (untracked = counts(req, res)));
        const tracker = track();
        let tracked: number[] = [];
        for (let i = 0; i < 5; i++) await get(url, agent, (req, res) => (tracked = counts(req, res)));
        assert.deepEqual(tracked, untracked);
        const view = tracker.report();
        const origin = view.process.origins[0]!;
        assert.equal(origin.requests, 5);
        assert.equal(origin.responses, 5);
        // The socket opened before tracking is learnt at its first tracked request: the next four reuse it.
        assert.equal(origin.reusedRequests, 4);
        assert.equal(accepted(), 1);
        assertNoUnreadBody(view);
      },
      { maxSockets: 1 },
    ),
  );
});

test('node:http: the next request started in the previous one\'s "end" handler (its socket not free yet) is no unread body', async () => {
  await withServer((url, accepted) =>
    withAgent(async (agent, track) => {
      const tracker = track();
      // Callback style: each request starts inside the previous response's 'end', before node:http
      // frees the socket (a tick later), so the Agent opens a new connection for it.
      await new Promise<void>((resolve, reject) => {
        let left = 6;
        const next = (): void => {
          if (left-- === 0) return resolve();
          http
            .get(url, { agent }, (res) => {
              res.resume();
              res.on('end', next);
            })
            .on('error', reject);
        };
        next();
      });
      const view = tracker.report();
      assert.equal(view.process.origins[0]!.requests, 6);
      assert.equal(view.observer.totals.connections, accepted());
      assertNoUnreadBody(view);
    }),
  );
});

test('node:http: bodies left unread and dropped are counted with their extra connections', async () => {
  await withServer(
    (url, accepted) =>
      withAgent(async (agent, track) => {
        const tracker = track();
        const kept: http.IncomingMessage[] = [];
        for (let i = 0; i < 4; i++)
          kept.push(
            await new Promise<http.IncomingMessage>((resolve, reject) =>
              http.get(url, { agent }, resolve).on('error', reject),
            ),
          );
        assert.equal(accepted(), 4);
        const closed = kept.map((res) => new Promise((resolve) => res.socket!.once('close', resolve)));
        for (const res of kept) res.destroy();
        await Promise.all(closed);
        const view = tracker.report();
        const f = view.findings.find((x) => x.code === 'body-not-read');
        assert.ok(f, 'a body-not-read finding');
        assert.equal(view.process.origins[0]!.connectionsClosed, 4);
        assert.equal(f.evidence.values.extraConnections, 3);
        // The first request's stack was not taken (no body was pending yet); the next ones name this file.
        assert.match(String(f.evidence.values.callSite), /tracker-http\.test\.js:\d+:\d+$/);
      }),
    65_536,
  );
});

test('the Keep-Alive hint is read from the raw headers, node:http and fetch alike', async () => {
  await withServer(
    (url) =>
      withAgent(async (agent, track) => {
        const tracker = track();
        await get(url, agent);
        const viaHttp = tracker.report().process.origins[0]!;
        assert.equal(viaHttp.keepAliveHintS, 9);
        await (await fetch(url)).arrayBuffer();
        const origins = tracker.report().process.origins;
        assert.equal(origins.length, 1);
        assert.deepEqual(origins[0]!.clients, ['node:http', 'undici']);
        assert.equal(origins[0]!.keepAliveHintS, 9);
      }),
    64,
    'max=100, TimeOut=9',
  );
});
