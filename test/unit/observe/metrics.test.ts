/**
 * The metrics recorder against the SDK's own reader: events in, the SDK's collected data points out
 * (names, units, attributes, values); the provider choice (the app's global MeterProvider, the
 * OTEL_ variables); the instrument table against docs/metrics.md.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { metrics } from '@opentelemetry/api';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import type { DataPoint, Histogram, MetricData } from '@opentelemetry/sdk-metrics';
import type { InProcessEvent, InProcessListener, TrackedConnection } from '../../../src/observe/in-process/events.js';
import { proxyClose } from '../../../src/observe/in-process/proxy-events.js';
import { INSTRUMENTS, METER_NAME } from '../../../src/observe/metrics/instruments.js';
import { appMeterProvider, otlpUrl, startMetrics } from '../../../src/observe/metrics/provider.js';
import { MetricsRecorder } from '../../../src/observe/metrics/recorder.js';
import type { Finding } from '../../../src/model/report.js';

/** A reader that collects when asked (the SDK's in-memory path, no exporter, no timer). */
class TestReader extends MetricReader {
  protected async onShutdown(): Promise<void> {}
  protected async onForceFlush(): Promise<void> {}
}

class TestSource {
  private readonly listeners = new Set<InProcessListener>();
  subscribe(listener: InProcessListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  emit(event: InProcessEvent): void {
    for (const l of this.listeners) l(event);
  }
  get subscribers(): number {
    return this.listeners.size;
  }
}

function connection(id: number, over: Partial<TrackedConnection> = {}): TrackedConnection {
  return {
    id,
    origin: 'http://api.internal:8080',
    serverAddress: 'api.internal',
    serverPort: 8080,
    local: null,
    remote: null,
    protocolVersion: '1.1',
    tls: false,
    client: 'node:http',
    ...over,
  };
}

function setup() {
  const reader = new TestReader();
  const provider = new MeterProvider({ readers: [reader] });
  const recorder = new MetricsRecorder(provider.getMeter(METER_NAME));
  const collect = async (): Promise<Map<string, MetricData>> => {
    const { resourceMetrics } = await reader.collect();
    const all = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics);
    return new Map(all.map((m) => [m.descriptor.name, m]));
  };
  return { recorder, collect };
}

/** The data points whose attributes include `where`. */
function points<T>(m: MetricData | undefined, where: Record<string, unknown> = {}): DataPoint<T>[] {
  assert.ok(m !== undefined, 'metric collected');
  return (m.dataPoints as DataPoint<T>[]).filter((p) => Object.entries(where).every(([k, v]) => p.attributes[k] === v));
}

function sum(m: MetricData | undefined, where: Record<string, unknown> = {}): number {
  return points<number>(m, where).reduce((s, p) => s + p.value, 0);
}

const finding = (code: string) => ({ code }) as unknown as Finding;

test('a keep-alive connection and a short one: counts, states, durations and reasons as the SDK collects them', async () => {
  const { recorder, collect } = setup();
  const a = connection(1);
  const b = connection(2, { serverAddress: 'auth.internal', serverPort: 443, tls: true });
  const events: InProcessEvent[] = [
    { type: 'connection-open', at: 0, connection: a },
    { type: 'request', at: 1, connection: a, reused: false, idleMs: null, method: 'GET' },
    { type: 'response', at: 2, connection: a, status: 200, ttfbMs: 1 },
    { type: 'connection-state', at: 3, connection: a, state: 'idle' },
    { type: 'connection-open', at: 4, connection: b },
    { type: 'request', at: 4, connection: b, reused: false, idleMs: null, method: 'POST' },
    { type: 'request', at: 5, connection: a, reused: true, idleMs: 2, method: 'GET' },
  ];
  for (const e of events) recorder.record(e);

  let m = await collect();
  const open = m.get('http.client.open_connections');
  assert.equal(open?.descriptor.unit, '{connection}');
  // a and b both busy now.
  assert.equal(sum(open, { 'http.connection.state': 'active' }), 2);
  assert.equal(sum(open, { 'http.connection.state': 'idle' }), 0);
  assert.equal(sum(open, { 'server.address': 'auth.internal', 'url.scheme': 'https', 'server.port': 443 }), 1);

  recorder.record({ type: 'connection-state', at: 6, connection: a, state: 'idle' });
  recorder.record({
    type: 'request-error',
    at: 7,
    connection: b,
    code: 'ECONNRESET',
    reused: false,
    idleMs: null,
  });
  recorder.record({
    type: 'connection-close',
    at: 7,
    connection: b,
    reason: 'error',
    initiator: 'server',
    requests: 1,
    durationMs: 3,
  });
  recorder.record({
    type: 'connection-close',
    at: 2506,
    connection: a,
    reason: 'timeout',
    initiator: 'client',
    requests: 2,
    durationMs: 2506,
  });
  recorder.record({ type: 'finding', at: 2507, finding: finding('keepalive-race') });
  recorder.record({ type: 'finding', at: 2508, finding: finding('keepalive-race') });
  assert.equal(recorder.openConnections, 0);

  m = await collect();
  assert.equal(sum(m.get('http.client.open_connections')), 0, 'every state back to 0 once closed');
  assert.equal(sum(m.get('keepalive_lab.connections')), 2);
  const requests = m.get('keepalive_lab.requests');
  assert.equal(sum(requests, { 'keepalive_lab.request.reused': true }), 1);
  assert.equal(sum(requests, { 'keepalive_lab.request.reused': false }), 2);
  const closes = m.get('keepalive_lab.connection.closes');
  assert.equal(sum(closes, { 'keepalive_lab.close.reason': 'timeout', 'keepalive_lab.close.initiator': 'client' }), 1);
  assert.equal(sum(closes, { 'keepalive_lab.close.reason': 'error', 'keepalive_lab.close.initiator': 'server' }), 1);
  assert.equal(sum(m.get('keepalive_lab.request.errors'), { 'error.type': 'ECONNRESET' }), 1);
  assert.equal(sum(m.get('keepalive_lab.findings'), { 'keepalive_lab.finding.code': 'keepalive-race' }), 2);

  const duration = m.get('http.client.connection.duration');
  assert.equal(duration?.descriptor.unit, 's');
  const [aDuration] = points<Histogram>(duration, { 'server.address': 'api.internal' });
  assert.equal(aDuration?.value.sum, 2.506, 'milliseconds recorded as seconds');
  assert.deepEqual(aDuration?.value.buckets.boundaries, INSTRUMENTS.connectionDuration.buckets);
  const perConnection = points<Histogram>(m.get('keepalive_lab.connection.requests'));
  assert.deepEqual(perConnection.map((p) => [p.attributes['server.address'], p.value.sum, p.value.count]).sort(), [
    ['api.internal', 2, 1],
    ['auth.internal', 1, 1],
  ]);
});

test('a connection heard of first by its request (opened before the subscription) counts as open, once', async () => {
  const { recorder, collect } = setup();
  const c = connection(7);
  recorder.record({ type: 'request', at: 0, connection: c, reused: true, idleMs: 5, method: 'GET' });
  recorder.record({ type: 'connection-state', at: 1, connection: c, state: 'idle' });
  let m = await collect();
  assert.equal(sum(m.get('http.client.open_connections'), { 'http.connection.state': 'idle' }), 1);
  assert.equal(m.get('keepalive_lab.connections'), undefined, 'its opening was not seen: not a new connection');
  recorder.record({
    type: 'connection-close',
    at: 2,
    connection: c,
    reason: 'server-closed',
    initiator: 'server',
    requests: 4,
    durationMs: 10,
  });
  // A close of a connection never seen at all leaves the open count alone.
  recorder.record({
    type: 'connection-close',
    at: 3,
    connection: connection(8),
    reason: 'unknown',
    initiator: 'unknown',
    requests: 1,
    durationMs: 1,
  });
  m = await collect();
  assert.equal(sum(m.get('http.client.open_connections')), 0);
  assert.equal(sum(m.get('keepalive_lab.connection.closes')), 2);
});

test('the app registered a MeterProvider: our instruments go to its readers; unsubscribed at stop', async (t) => {
  assert.equal(appMeterProvider(), null, 'no global provider yet');
  const reader = new TestReader();
  const provider = new MeterProvider({ readers: [reader] });
  assert.ok(metrics.setGlobalMeterProvider(provider));
  t.after(() => metrics.disable());
  assert.equal(appMeterProvider(), provider);
  const source = new TestSource();
  const warnings: string[] = [];
  // KEEPALIVE_LAB_METRICS is not used when the app has its own provider.
  const handle = await startMetrics(source, {
    env: { KEEPALIVE_LAB_METRICS: '127.0.0.1:1' },
    onWarning: (code) => warnings.push(code),
  });
  assert.equal(handle?.via, 'app');
  assert.equal(handle?.url, null);
  assert.equal(source.subscribers, 1);
  source.emit({ type: 'connection-open', at: 0, connection: connection(1) });
  const { resourceMetrics } = await reader.collect();
  const scope = resourceMetrics.scopeMetrics.find((s) => s.scope.name === METER_NAME);
  const names = scope?.metrics.map((m) => m.descriptor.name);
  assert.ok(names?.includes('keepalive_lab.connections'), `collected: ${names?.join(', ')}`);
  await handle!.stop();
  assert.equal(source.subscribers, 0);
  assert.deepEqual(warnings, []);
});

test('nothing asks for metrics: no handle, nobody subscribed', async () => {
  const source = new TestSource();
  assert.equal(await startMetrics(source, { env: {} }), null);
  assert.equal(source.subscribers, 0);
});

test('a bad KEEPALIVE_LAB_METRICS is one warning, and no metrics', async () => {
  const source = new TestSource();
  const warnings: string[] = [];
  const handle = await startMetrics(source, {
    env: { KEEPALIVE_LAB_METRICS: 'http://127.0.0.1:9464/metrics' },
    onWarning: (code, message) => warnings.push(`${code} ${message}`),
  });
  assert.equal(handle, null);
  assert.equal(source.subscribers, 0);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /^KAL_WARN_METRICS_CONFIG KEEPALIVE_LAB_METRICS must be HOST:PORT/);
});

test('the OTLP URL the standard variables ask for', () => {
  assert.equal(otlpUrl({}), null);
  assert.equal(otlpUrl({ OTEL_METRICS_EXPORTER: 'otlp' }), 'http://localhost:4318/v1/metrics');
  assert.equal(otlpUrl({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }), 'http://collector:4318/v1/metrics');
  assert.equal(
    otlpUrl({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
      OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://metrics:9000/ingest',
    }),
    'http://metrics:9000/ingest',
    "the signal's own endpoint is taken as is",
  );
  assert.equal(otlpUrl({ OTEL_METRICS_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }), null);
  assert.equal(otlpUrl({ OTEL_METRICS_EXPORTER: 'prometheus,otlp' }), 'http://localhost:4318/v1/metrics');
  const warned: string[] = [];
  assert.equal(
    otlpUrl({ OTEL_EXPORTER_OTLP_ENDPOINT: 'not a url' }, (code) => warned.push(code)),
    null,
  );
  assert.equal(
    otlpUrl({ OTEL_METRICS_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, (code) => warned.push(code)),
    'http://localhost:4318/v1/metrics',
  );
  assert.deepEqual(warned, ['KAL_WARN_METRICS_CONFIG', 'KAL_WARN_METRICS_CONFIG']);
});

test("a proxied connection's close: reason and initiator from its record", () => {
  const r = { resetBy: null, openAtEnd: false, closedFirstBy: null } as const;
  assert.deepEqual(proxyClose({ ...r, closedFirstBy: 'server' }, false), {
    reason: 'server-closed',
    initiator: 'server',
  });
  assert.deepEqual(proxyClose({ ...r, closedFirstBy: 'client' }, false), {
    reason: 'client-closed',
    initiator: 'client',
  });
  assert.deepEqual(proxyClose({ ...r, resetBy: 'client', closedFirstBy: 'server' }, false), {
    reason: 'error',
    initiator: 'client',
  });
  assert.deepEqual(proxyClose({ ...r, openAtEnd: true }, false), { reason: 'process-exit', initiator: 'unknown' });
  assert.deepEqual(proxyClose(r, true), { reason: 'error', initiator: 'unknown' });
  assert.deepEqual(proxyClose(r, false), { reason: 'unknown', initiator: 'unknown' });
});

test('docs/metrics.md lists every instrument with its kind, unit and attributes', () => {
  const doc = readFileSync(new URL('../../../../docs/metrics.md', import.meta.url), 'utf8');
  const rows = doc
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .map((line) => line.split('|').map((cell) => cell.trim()));
  const documented = rows.map(([, name, kind, unit, , attributes]) => ({
    name: name!.replaceAll('`', ''),
    kind: kind!,
    unit: unit!.replaceAll('`', ''),
    attributes: attributes!.replaceAll('`', '').split(/,\s*/),
  }));
  const table = Object.values(INSTRUMENTS).map((spec) => ({
    name: spec.name,
    kind: spec.kind,
    unit: spec.unit,
    attributes: [...spec.attributes],
  }));
  assert.deepEqual(documented, table);
});
