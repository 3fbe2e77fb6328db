/**
 * The lab's port-outlook scenario (src/lab/findings-scenarios/port-outlook.ts) on real loopback
 * sockets: a fast churn whose connections the client closes first raises the port outlook from the
 * wire's records, weighed against this machine's own settings. Assertions are on counts and on the
 * finding's agreement with the records, never on time.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SCENARIO_PORT_RANGE, portOutlookScenario } from '../../src/lab/findings-scenarios/port-outlook.js';
import { portCount } from '../../src/model/host.js';
import { readHostFacts } from '../../src/observe/host-facts.js';
import { captureSkip } from '../support/capture-env.js';
import { assertNothingLeft } from '../support/leaks.js';

test(
  'port-outlook: the churn left in TIME_WAIT on this client is weighed against its ports',
  { skip: captureSkip() },
  async () => {
    // The wire gives the finding; the kernel observer (its socket table polled all along) is left out
    // to keep the churn fast on a loaded machine.
    const run = await portOutlookScenario.run({ kernel: false });
    await assertNothingLeft({ host: '127.0.0.1', port: Number(new URL(run.subject).port) });
    assert.equal(run.client?.completed, run.config?.requests, JSON.stringify(run.client?.errors));
    const wire = run.observers.find((o) => o.observer === 'wire');
    assert.ok(wire?.available, wire?.reason);
    const finding = run.findings.find((f) => f.code === portOutlookScenario.finding);
    assert.ok(finding, `the port outlook: ${JSON.stringify(run.findings.map((f) => f.summary))}`);
    // Its figures are the wire's records: connections opened and left in TIME_WAIT on the client.
    const opened = wire.connections.filter((c) => !c.startedBefore && c.timeWait === 'client');
    assert.ok(opened.length >= 100, `${opened.length} connections closed by the client first`);
    assert.equal(finding.evidence.values.newConnections, opened.length);
    assert.equal(finding.evidence.count, opened.length);
    assert.equal(finding.evidence.values.client, '127.0.0.1');
    assert.match(finding.summary, /to 127\.0\.0\.1:\d+ this client /);
    // The scenario's narrow port range, and this machine's tcp_tw_reuse as read from /proc.
    const facts = await readHostFacts();
    const v = finding.evidence.values;
    assert.equal(v.portRangeSource, 'given');
    assert.equal(v.ephemeralPorts, portCount(SCENARIO_PORT_RANGE));
    assert.equal(v.twReuse, facts.ports.twReuse);
    // Loopback: tcp_tw_reuse 1 or 2 (the default) applies, and the finding says what it changes.
    assert.equal(v.twReuseApplies, facts.ports.twReuse === 0 ? 0 : 1);
    if (facts.ports.twReuse !== 0) assert.match(finding.summary, /tcp_tw_reuse=\d.* take them back after/);
    assert.ok(finding.fixes['node-http']);
    assert.ok(finding.fixes.host);
  },
);
