/**
 * The finding scenarios (src/lab/findings-scenarios/), each run once on real loopback sockets with
 * the capture on: the finding must come from the wire's records (computed again here from them),
 * with the evidence counted, and the keep-alive race must make Node's clients fail for real
 * (ECONNRESET from node:http, UND_ERR_SOCKET from fetch), counted by code in the report. Counts and
 * events only, never times.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { detectFindings } from '../../src/analyze/findings/index.js';
import { clientFailure } from '../../src/lab/engine.js';
import { findingScenario, missedFinding } from '../../src/lab/findings-scenarios/index.js';
import type { FindingScenarioOptions } from '../../src/lab/findings-scenarios/index.js';
import { RACE_LATE_REQUESTS } from '../../src/lab/findings-scenarios/race.js';
import { REQUEST_CAP } from '../../src/lab/findings-scenarios/close-audit.js';
import type { Finding, RunReport } from '../../src/model/report.js';
import { assertNothingLeft } from '../support/leaks.js';
import { observer } from '../support/run-report.js';
import { captureSkip } from '../support/capture-env.js';

const skip = captureSkip();

/** On 127.0.0.2, as the experiments' tests: ports found free elsewhere are not ours (experiments.test.ts). */
const HOST = '127.0.0.2';

/**
 * Runs the scenario, checks it raised its finding from the wire's records and left nothing behind,
 * and returns the run and that finding.
 */
async function scenario(
  name: string,
  options: FindingScenarioOptions = {},
): Promise<{ run: RunReport; finding: Finding }> {
  const s = findingScenario(name);
  assert.ok(s, name);
  const run = await s.run({ host: HOST, ...options });
  // Where the client sent its requests (a hop's port for idle-reset), and the server behind it.
  const server = observer(run, 'server').connections[0]?.server;
  await assertNothingLeft({ host: HOST, port: Number(new URL(run.subject).port) });
  if (server !== undefined) await assertNothingLeft({ host: HOST, port: server.port });
  assert.equal(missedFinding(s, run), null);
  const wire = observer(run, 'wire');
  assert.equal(wire.incomplete, undefined, 'the capture missed nothing');
  // The report's findings are the wire's: computed again from its records, the same.
  const found = run.findings.filter((f) => f.code === s.finding);
  assert.equal(found.length, 1, `one ${s.finding}: ${JSON.stringify(run.findings.map((f) => f.summary))}`);
  const fromWire = detectFindings(wire.connections).filter((f) => f.code === s.finding);
  assert.deepEqual(fromWire, found);
  return { run, finding: found[0]! };
}

const LATE = RACE_LATE_REQUESTS.length;

test(
  'scenario race (node:http): every late request is lost with ECONNRESET, and the wire shows the race',
  { skip },
  async () => {
    const { run, finding } = await scenario('race');
    assert.equal(finding.evidence.count, LATE);
    assert.equal(finding.evidence.values.requestsLost, LATE);
    assert.equal(finding.evidence.values.resets, LATE, 'each lost request drew a RST');
    assert.equal(finding.evidence.values.nonIdempotent, 1, 'the POST');
    assert.equal(finding.evidence.values.advertisedKeepAliveTimeoutS, null, 'no Keep-Alive hint');
    assert.match(finding.summary, /\(1 was not idempotent, so not safe to retry\)/);
    for (const e of finding.evidence.events) assert.match(e.what, /after the server's FIN/);
    // The client's real errors, counted by code; they are the scenario's point, not a failure.
    assert.equal(run.client?.requests, 2 * LATE);
    assert.equal(run.client?.completed, LATE);
    assert.deepEqual(run.client?.errorCodes, { ECONNRESET: LATE });
    assert.equal(run.client?.expectedFailures, LATE);
    assert.equal(clientFailure(run), null);
    assert.equal(run.verdict.code, 'keepalive-race');
  },
);

test('scenario race (fetch): every late request is lost with UND_ERR_SOCKET', { skip }, async () => {
  const { run, finding } = await scenario('race', { client: 'fetch' });
  assert.equal(finding.evidence.count, LATE);
  assert.equal(finding.evidence.values.requestsLost, LATE);
  assert.deepEqual(run.client?.errorCodes, { UND_ERR_SOCKET: LATE });
  assert.equal(run.client?.expectedFailures, LATE);
  assert.match(run.client?.errors[0] ?? '', /other side closed/);
  assert.equal(clientFailure(run), null);
});

test('scenario idle-reset: requests after the middlebox dropped the flow draw a RST, no FIN', { skip }, async () => {
  const { run, finding } = await scenario('idle-reset');
  assert.equal(finding.evidence.count, 2);
  assert.equal(finding.evidence.values.requestsLost, 2);
  assert.equal(finding.evidence.values.serverKeepsIdleMs, 5000, "the server's Keep-Alive: timeout=5");
  assert.equal(finding.severity, 'error');
  assert.deepEqual(run.client?.errorCodes, { ECONNRESET: 2 });
  assert.equal(run.client?.expectedFailures, 2);
  assert.equal(clientFailure(run), null);
  const wire = observer(run, 'wire');
  assert.equal(wire.totals.resetsBy.server, 2);
  assert.equal(wire.totals.closedFirstBy.client + wire.totals.closedFirstBy.server, 0, 'no FIN before the RSTs');
  // The server never saw the lost requests: the proxy dropped them.
  assert.equal(observer(run, 'server').totals.requests, 2);
  assert.equal(run.findings.filter((f) => f.code === 'keepalive-race').length, 0, 'not the race');
});

test('scenario body-not-read: connections left with the body unread while new ones opened', { skip }, async () => {
  const { run, finding } = await scenario('body-not-read');
  assert.equal(observer(run, 'wire').totals.connections, 10);
  // Each connection but the last sat idle, its response unread, while the next one was opened: 9
  // (8 seen once on a busy host, where one of them ended otherwise).
  assert.ok(finding.evidence.count >= 8 && finding.evidence.count <= 9, `${finding.evidence.count} connections`);
  assert.equal(clientFailure(run), null);
});

test('scenario pool-churn: closes after responses while other connections were busy', { skip }, async () => {
  const { run, finding } = await scenario('pool-churn');
  const wire = observer(run, 'wire');
  assert.equal(wire.totals.requests, 64);
  assert.ok(wire.totals.connections > 8, `churn: ${wire.totals.connections} connections`);
  assert.ok(finding.evidence.count >= 3, `${finding.evidence.count} closes`);
  // 8 workers started at once: at least 8 connections were open together.
  assert.ok(Number(finding.evidence.values.concurrencySeen) >= 8, String(finding.evidence.values.concurrencySeen));
  assert.equal(clientFailure(run), null);
});

test('scenario close-audit: every connection closed by the server after exactly the cap', { skip }, async () => {
  const { run, finding } = await scenario('close-audit');
  assert.equal(finding.evidence.count, 4);
  assert.equal(finding.evidence.values.requestCap, REQUEST_CAP);
  assert.equal(finding.evidence.values.serverConnectionClose, 4);
  assert.equal(observer(run, 'wire').totals.closedFirstBy.server, 4);
  assert.equal(run.verdict.code, 'server-closes');
});

test('scenario pool-churn refuses fetch: a usage error about client', async () => {
  await assert.rejects(findingScenario('pool-churn')!.run({ client: 'fetch', capture: false }), {
    code: 'KAL_ERR_USAGE',
    option: 'client',
  });
});
