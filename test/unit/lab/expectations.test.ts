import assert from 'node:assert/strict';
import { test } from 'node:test';
import { missedExpectation, unmetExpectations } from '../../../src/lab/expectations.js';
import { experimentConfig } from '../../../src/lab/config.js';
import type { ObserverReport, RunReport } from '../../../src/model/report.js';
import type { Scenario } from '../../../src/lab/scenarios.js';
import { tlsScenarios } from '../../../src/lab/scenarios.js';
import { observer, records } from '../analyze/records.js';

function run(observers: ObserverReport[]): RunReport {
  return {
    name: 'x',
    title: 'x',
    subject: 'https://127.0.0.1:1/',
    config: experimentConfig({ protocol: 'https' }),
    client: null,
    observers,
    agreement: { agree: true, differences: [] },
    verdict: { code: 'reuse', summary: '' },
    findings: [],
    warnings: [],
  };
}

const facts = (handshake: 'full' | 'resumed') => ({
  version: 'TLS 1.3',
  cipherSuite: 'TLS_AES_128_GCM_SHA256',
  sni: null,
  alpnOffered: [],
  alpnChosen: null,
  handshake,
  resumptionOffered: null,
  handshakeMs: null,
  applicationData: { client: { records: 0, bytes: 0 }, server: { records: 0, bytes: 0 } },
  estimatedExchanges: 0,
});

const resumption: Scenario = tlsScenarios().find((s) => s.name === 'https-resumption')!;

test('expectations: every observer that sees a count must show it; the kernel is not asked about TLS', () => {
  const tlsRecords = () => [...records(1, 1, { tls: facts('full') }), ...records(9, 1, { tls: facts('resumed') })];
  const good = run([
    observer('server', tlsRecords()),
    observer('kernel', records(10, 0)),
    observer('wire', tlsRecords()),
  ]);
  assert.deepEqual(unmetExpectations(resumption, good), []);
  assert.equal(missedExpectation(resumption, good), null);
});

test('expectations: what did not hold is named, observer by observer; a wire that cannot read requests is not asked', () => {
  const wire = observer('wire', records(10, 0, { tls: facts('full') }), { seesRequests: false });
  const bad = run([observer('server', records(10, 1, { tls: facts('full') })), wire]);
  assert.deepEqual(unmetExpectations(resumption, bad), [
    'full TLS handshakes: expected 1, server 10',
    'full TLS handshakes: expected 1, wire 10',
    'resumed TLS handshakes: expected 9, server 0',
    'resumed TLS handshakes: expected 9, wire 0',
  ]);
  const error = missedExpectation(resumption, bad);
  assert.equal(error?.code, 'KAL_ERR_EXPECTATION_FAILED');
  assert.match(error!.message, /^experiment https-resumption: full TLS handshakes: expected 1, server 10; /);
});

test('expectations: HTTP/2 peak streams, from the observers that saw HTTP/2 only', () => {
  const h2 = tlsScenarios().find((s) => s.name === 'h2-multiplex')!;
  const http2 = (peak: number) => ({
    start: 'prior-knowledge' as const,
    pushed: 0,
    peakConcurrentStreams: peak,
    maxConcurrentStreams: { client: null, server: null },
    rstStream: { client: 0, server: 0, codes: {} },
    goaway: [],
    refused: { rstStream: 0, afterGoaway: 0 },
  });
  const server = observer('server', records(1, 100, { tls: facts('full'), http2: http2(1) }));
  const wire = observer('wire', records(1, 0, { tls: facts('full') }), { seesRequests: false });
  assert.deepEqual(unmetExpectations(h2, run([server, wire])), [
    'peak concurrent HTTP/2 streams: expected at least 2, server 1',
  ]);
  const multiplexed = observer('server', records(1, 100, { tls: facts('full'), http2: http2(100) }));
  assert.deepEqual(unmetExpectations(h2, run([multiplexed, wire])), []);
});
