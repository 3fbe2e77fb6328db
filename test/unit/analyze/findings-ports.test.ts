/**
 * The port exhaustion outlook (src/analyze/findings/ports.ts) on records built at its boundaries: a
 * rate just under and just over each threshold, the TIME_WAIT on the server (no outlook for the
 * client), tcp_tw_reuse on loopback and off it, a port range given by the user, and a capture from
 * another machine (Linux's defaults assumed, and said so), the last through the whole analyze path.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { detectFindings, headlineFinding } from '../../../src/analyze/findings/index.js';
import type { FindingsOptions } from '../../../src/analyze/findings/index.js';
import {
  PORT_MIN_CONNECTIONS,
  PORT_OUTLOOK_MIN_SHARE,
  PORT_WARNING_SHARE,
} from '../../../src/analyze/findings/thresholds.js';
import { LINUX_DEFAULT_PORTS, LINUX_TIME_WAIT_MS, portCount } from '../../../src/model/host.js';
import type { ClientPortSettings, HostFacts, TwReuse } from '../../../src/model/host.js';
import type { ConnectionRecord, Finding } from '../../../src/model/report.js';
import { analyzeCapture } from '../../../src/observe/capture-file.js';
import { buildPcap } from '../../support/capture-builder.js';
import { Conversation, httpGet, httpResponse } from '../../support/tcp-conversation.js';
import { record } from './records.js';

const T0 = 1_700_000_000_000;
const DEFAULT_PORTS = portCount(LINUX_DEFAULT_PORTS.portRange);
const TW_S = LINUX_TIME_WAIT_MS / 1000;

/**
 * `n` connections from `client` to `server`, the i-th opened at T0 + i * `everyMs`, closed 1 ms
 * later by `closer` (who then holds the TIME_WAIT).
 */
function churn(
  n: number,
  everyMs: number,
  { client = '10.0.0.7', server = { address: '10.0.0.5', port: 80 }, closer = 'client' as 'client' | 'server' } = {},
  fields: Partial<ConnectionRecord> = {},
): ConnectionRecord[] {
  return Array.from({ length: n }, (_, i) => {
    const start = T0 + i * everyMs;
    return record({
      id: i + 1,
      client: { address: client, port: 32768 + (i % 28000) },
      server,
      start,
      end: start + 1,
      lastResponseEndAt: start + 0.5,
      closedFirstBy: closer,
      timeWait: closer,
      ...(closer === 'client' ? { clientFinAt: start + 0.6 } : { serverFinAt: start + 0.6 }),
      ...fields,
    });
  });
}

function host(
  settings: Partial<ClientPortSettings> = {},
  localAddresses = ['127.0.0.1', '::1', '192.0.2.2'],
): HostFacts {
  return {
    localAddresses,
    ports: {
      portRange: { low: 32768, high: 60999 },
      twReuse: 2,
      twReuseDelayMs: 1000,
      source: { portRange: 'host', twReuse: 'host' },
      ...settings,
    },
  };
}

function outlooks(records: ConnectionRecord[], options: FindingsOptions = {}): Finding[] {
  return detectFindings(records, options).filter((f) => f.code === 'port-exhaustion');
}

function only(records: ConnectionRecord[], options: FindingsOptions = {}): Finding {
  const found = outlooks(records, options);
  assert.equal(found.length, 1, `one port outlook: ${JSON.stringify(found.map((f) => f.summary))}`);
  return found[0]!;
}

test('ports: 900 new connections/s for 10 s from this client run out of its 28,232 ports in 31 s', () => {
  const records = churn(9000, 1000 / 900, { client: '192.0.2.2' });
  const f = only(records, { hostFacts: host() });
  assert.equal(f.severity, 'warning');
  assert.equal(
    f.summary,
    'port exhaustion: at 900 new connections/s to 10.0.0.5:80 this client runs out of its 28,232 ephemeral ports ' +
      `in 31 s (TIME_WAIT held by the client for ${TW_S} s)`,
  );
  assert.equal(f.evidence.count, 9000);
  assert.equal(f.evidence.values.newConnections, 9000);
  assert.equal(Math.round(Number(f.evidence.values.ratePerS)), 900);
  assert.equal(f.evidence.values.portRangeSource, 'host');
  assert.equal(f.evidence.values.twReuseApplies, 0, 'tcp_tw_reuse=2 is for loopback; 192.0.2.2 is not');
  assert.match(f.reasoning.join('\n'), /reuses TIME_WAIT ports of loopback connections only: not these/);
  // Its fixes: reuse connections, or the host's settings with their caveats.
  assert.match(f.fixes['node-http']!, /keepAlive: true/);
  assert.match(f.fixes.go!, /MaxIdleConnsPerHost/);
  assert.match(f.fixes['python-requests']!, /requests\.Session\(\)/);
  assert.match(f.fixes['nginx-upstream']!, /keepalive \d+;/);
  assert.match(f.fixes.host!, /ip_local_port_range \(now 32768 60999/);
  assert.match(f.fixes.host!, /net\.ipv4\.tcp_tw_reuse=1/);
  assert.match(f.fixes.host!, /tcp_fin_timeout is the FIN_WAIT_2 timeout/);
  // A warning: outside the lab, the verdict's headline.
  assert.equal(headlineFinding(detectFindings(records, { hostFacts: host() }))?.code, 'port-exhaustion');
});

test('ports: at the warning threshold (the range gone within the TIME_WAIT span) a warning, one connection less info', () => {
  // All within the busiest second: the rate is their number per second.
  const atWarning = Math.ceil((PORT_WARNING_SHARE * DEFAULT_PORTS) / TW_S);
  assert.equal(atWarning, 471);
  const over = only(churn(atWarning, 1));
  assert.equal(over.severity, 'warning');
  assert.match(
    over.summary,
    /^port exhaustion: at 471 new connections\/s to 10\.0\.0\.5:80 the client 10\.0\.0\.7 runs out/,
  );
  const under = only(churn(atWarning - 1, 1));
  assert.equal(under.severity, 'info');
  assert.match(
    under.summary,
    /^port outlook: at 470 new connections\/s .* keeps ~28,200 of its 28,232 ephemeral ports/,
  );
});

test('ports: no outlook below the minimum of connections, nor below the share of the range', () => {
  // A burst of 99 connections in the same second: too few to project.
  assert.deepEqual(outlooks(churn(PORT_MIN_CONNECTIONS - 1, 1)), []);
  assert.equal(only(churn(PORT_MIN_CONNECTIONS, 1)).severity, 'info');
  // Over 15 s, the busiest 10 s decide: one every 21 ms is 47.7/s (2,862 ports, over 10% of 28,232),
  // one every 22 ms 45.5/s (2,730 ports, under it).
  assert.ok((1000 / 21) * TW_S >= PORT_OUTLOOK_MIN_SHARE * DEFAULT_PORTS);
  assert.ok((1000 / 22) * TW_S < PORT_OUTLOOK_MIN_SHARE * DEFAULT_PORTS);
  const over = only(churn(Math.ceil(15_000 / 21), 21));
  assert.equal(over.evidence.values.rateWindowMs, 10_000);
  assert.match(over.summary, /at 47\.7 new connections\/s|at 48 new connections\/s/);
  assert.deepEqual(outlooks(churn(Math.ceil(15_000 / 22), 22)), []);
});

test('ports: TIME_WAIT held by the server costs the client no port: no outlook for the client', () => {
  const serverCloses = churn(2000, 0.5, {
    client: '127.0.0.1',
    server: { address: '127.0.0.1', port: 8080 },
    closer: 'server',
  });
  assert.deepEqual(outlooks(serverCloses, { hostFacts: host({ twReuse: 0 }) }), []);
  // Mixed: only the client's TIME_WAITs count, the others are said.
  const clientCloses = churn(600, 1, { client: '127.0.0.1', server: { address: '127.0.0.1', port: 8080 } });
  const mixed = [...clientCloses, ...serverCloses.slice(0, 50)].map((r, i) => ({ ...r, id: i + 1 }));
  const f = only(mixed, { hostFacts: host({ twReuse: 0 }) });
  assert.equal(f.evidence.values.newConnections, 600);
  assert.equal(f.evidence.values.serverTimeWait, 50);
  assert.match(f.reasoning[0]!, /50 others left their TIME_WAIT on the server/);
});

test('ports: connections that began before the capture are not new ones', () => {
  assert.deepEqual(outlooks(churn(600, 1, {}, { startedBefore: true })), []);
});

test('ports: tcp_tw_reuse=2 on loopback takes ports back after 1 s: information, and what it would cost without', () => {
  const loopback = churn(600, 1, { client: '127.0.0.1', server: { address: '127.0.0.1', port: 8080 } });
  const reused = only(loopback, { hostFacts: host() });
  assert.equal(reused.severity, 'info');
  assert.equal(
    reused.summary,
    'port outlook: at 600 new connections/s to 127.0.0.1:8080 this client would run out of its 28,232 ephemeral ' +
      `ports in 47 s if TIME_WAIT held them for ${TW_S} s; tcp_tw_reuse=2 (loopback) lets it take them back after 1 s`,
  );
  assert.equal(reused.evidence.values.twReuseApplies, 1);
  assert.equal(reused.evidence.values.portHoldMs, 1000);
  assert.equal(reused.evidence.values.portsHeld, 600);
  assert.match(reused.fixes.host!, /tcp_tw_reuse=2 already lets these connections/);
  // tcp_tw_reuse off: the same churn is a warning.
  const off = only(loopback, { hostFacts: host({ twReuse: 0 }) });
  assert.equal(off.severity, 'warning');
  assert.match(off.summary, /runs out of its 28,232 ephemeral ports in 47 s/);
  assert.match(off.reasoning.join('\n'), /tcp_tw_reuse=0 \(read on this machine\): no port in TIME_WAIT is taken back/);
  // tcp_tw_reuse=1 applies off loopback too, after the delay read on the machine.
  const lan = churn(600, 1, { client: '192.0.2.2' });
  assert.equal(only(lan, { hostFacts: host() }).severity, 'warning');
  const on = only(lan, { hostFacts: host({ twReuse: 1 as TwReuse, twReuseDelayMs: 250 }) });
  assert.equal(on.severity, 'info');
  assert.equal(on.evidence.values.portHoldMs, 250);
  assert.match(on.summary, /tcp_tw_reuse=1 lets it take them back after 250 ms/);
});

test('ports: a capture from another machine uses Linux defaults and says so; a given range wins', () => {
  const records = churn(600, 1);
  const unknown = only(records);
  assert.match(unknown.summary, /the client 10\.0\.0\.7 .*; Linux's default port range assumed/);
  assert.equal(unknown.evidence.values.portRangeSource, 'default');
  assert.equal(unknown.evidence.values.twReuseSource, 'default');
  assert.match(unknown.reasoning.join('\n'), /Linux's default, assumed: the client machine's settings were not given/);
  // This machine's facts, but the client is another machine: still the defaults, for that reason.
  const elsewhere = only(records, { hostFacts: host({ portRange: { low: 1024, high: 65535 } }) });
  assert.equal(elsewhere.evidence.values.ephemeralPorts, DEFAULT_PORTS);
  assert.match(elsewhere.reasoning.join('\n'), /assumed: 10\.0\.0\.7 is not this machine/);
  // The user says what the client's range is: 1,000 ports last 1.7 s at 600/s.
  const given: HostFacts = {
    ...host(),
    clientPorts: {
      portRange: { low: 60000, high: 60999 },
      twReuse: 0,
      twReuseDelayMs: 1000,
      source: { portRange: 'given', twReuse: 'given' },
    },
  };
  const f = only(records, { hostFacts: given });
  assert.equal(f.severity, 'warning');
  assert.match(f.summary, /the client 10\.0\.0\.7 runs out of its 1,000 ephemeral ports in 1\.7 s \(TIME_WAIT held/);
  assert.doesNotMatch(f.summary, /assumed/);
  assert.equal(f.evidence.values.portRangeSource, 'given');
});

test('ports: a built capture of 120 connections in a second, client closing first, through analyze', async () => {
  const server = { address: '10.0.0.5', port: 80 };
  const conversations = Array.from({ length: 120 }, (_, i) => {
    const c = new Conversation({ address: '10.0.0.7', port: 40000 + i }, server, {
      start: (T0 + i * 8) * 1000,
    });
    c.handshake();
    c.send('client', httpGet());
    c.send('server', httpResponse(200, 'hello'));
    c.ack('client');
    c.close('client');
    return c;
  });
  const packets = conversations.flatMap((c) => c.packets).sort((a, b) => a.ts! - b.ts!);
  const bytes = Buffer.from(buildPcap({ packets }));
  const run = await analyzeCapture(Readable.from([bytes]));
  const f = run.findings.find((x) => x.code === 'port-exhaustion');
  assert.ok(f, `an outlook: ${JSON.stringify(run.findings.map((x) => x.summary))}`);
  assert.equal(f.severity, 'info');
  assert.equal(
    f.summary,
    'port outlook: at 120 new connections/s to 10.0.0.5:80 the client 10.0.0.7 keeps ~7,200 of its 28,232 ' +
      "ephemeral ports in TIME_WAIT (60 s each; Linux's default port range assumed); at 471/s it would run out",
  );
  assert.equal(f.evidence.values.newConnections, run.observers[0]!.totals.timeWait.client);
  assert.deepEqual(
    f.evidence.events.map((e) => e.connection),
    [1, 120],
  );
  // Told this machine is 10.0.0.7 (a capture taken here), its own settings are used.
  const here = await analyzeCapture(Readable.from([bytes]), {
    hostFacts: host({ portRange: { low: 50000, high: 59999 } }, ['10.0.0.7']),
  });
  const g = here.findings.find((x) => x.code === 'port-exhaustion')!;
  assert.match(g.summary, /this client keeps ~7,200 of its 10,000 ephemeral ports in TIME_WAIT \(60 s each\)/);
  assert.equal(g.evidence.values.portRangeSource, 'host');
});
