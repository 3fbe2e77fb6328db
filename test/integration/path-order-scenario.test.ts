/**
 * The lab scenario 'path-order' (src/lab/findings-scenarios/path-order.ts): a Node client, a load
 * balancer whose upstream pool keeps idle connections 4 s, a backend that closes them far sooner.
 * Its requests timed to the backend's close must come back as 502s from the balancer, counted by
 * the client, and the wire must name the order of idle timeouts as the cause; everything it opened
 * (tcpdump, the servers) is gone at the end. And aborted, it closes everything at once.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pathOrderScenario } from '../../src/lab/findings-scenarios/path-order.js';
import { captureSkip } from '../support/capture-env.js';
import { assertNothingLeft } from '../support/leaks.js';

const skip = captureSkip();
/** Rounds the scenario runs: each loses one request. */
const ROUNDS = 3;

test('lab scenario path-order: 502s from the balancer, idle-timeout-order from the wire', { skip }, async () => {
  const run = await pathOrderScenario.run({});
  assert.equal(run.name, 'path-order');
  // The client's own count: every late request drew a 502, every other one a 200.
  assert.equal(run.client!.requests, 2 * ROUNDS);
  assert.equal(run.client!.completed, ROUNDS);
  assert.equal(
    run.client!.errors[0],
    `${ROUNDS} of ${2 * ROUNDS} responses were 502 Bad Gateway (the load balancer's)`,
  );
  const wire = run.observers.find((o) => o.observer === 'wire')!;
  assert.ok(wire.available, wire.reason);
  assert.deepEqual(wire.warnings, []);
  // The client's one connection to the balancer, and one upstream connection per round.
  assert.equal(wire.totals.connections, 1 + ROUNDS);
  const f = run.findings.find((g) => g.code === pathOrderScenario.finding);
  assert.ok(f, JSON.stringify(run.findings.map((g) => g.summary)));
  assert.equal(f.severity, 'error');
  assert.equal(f.evidence.values.hop, 2);
  assert.equal(f.evidence.values.requestsLost, ROUNDS);
  assert.equal(f.evidence.values.hop2ServerIdleCloses, ROUNDS);
  assert.equal(f.evidence.values.hop1BadGateway, ROUNDS);
  assert.match(f.summary, new RegExp(`answered ${ROUNDS} requests with 502 Bad Gateway`));
  assert.equal(run.verdict.code, 'idle-timeout-order');
  const balancer = f.evidence.values.hop1Server as string;
  await assertNothingLeft({ host: '127.0.0.1', port: Number(balancer.split(':')[1]) });
});

test('lab scenario path-order: aborted, it rejects with the reason and leaves nothing', { skip }, async () => {
  const stop = new AbortController();
  const reason = new Error('stop here');
  setTimeout(() => stop.abort(reason), 300);
  await assert.rejects(pathOrderScenario.run({ signal: stop.signal }), (e) => e === reason);
  await assertNothingLeft();
});
