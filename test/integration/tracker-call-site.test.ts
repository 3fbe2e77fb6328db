/**
 * The in-process tracker captures a request's stack only when it may leave a body unread (another
 * response's body pending, or an unread body counted before): fetch in a loop that never reads its
 * bodies must still be named by this file's line, and a loop that reads them must give no finding.
 * Loopback only, a server of our own, everything closed at the end. Counts, never wall-clock
 * (the unread responses count because each cost a connection, not by how long they were held).
 */
import assert from 'node:assert/strict';
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
