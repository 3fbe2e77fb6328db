/**
 * The register's metrics (src/register.ts): `node --import keepalive-lab/register` runs before the
 * app, so the app's own MeterProvider (an OpenTelemetry SDK it sets up) does not exist yet when the
 * register loads. Hence:
 *  - KEEPALIVE_LAB_METRICS or an OTLP variable set: the metrics start at once (the Prometheus
 *    endpoint is up before the first request), unless the app's provider is already there;
 *  - otherwise the choice waits for the tracker's first event (the app's first request; apps set
 *    their SDK up before that): if an OpenTelemetry API has been registered globally by then, the
 *    metrics go to the app's provider, else the listener goes away and nothing more is done.
 * This file does not import `@opentelemetry/api` or the SDK: an app that asks for no metrics loads none.
 * The events that come while the metrics start (an async import) are kept, up to MAX_BUFFERED, and replayed.
 * Never throws; a failure is one warning line (provider.ts).
 */
import type { InProcessEvent, InProcessListener, InProcessSource } from '../in-process/events.js';
import type { MetricsHandle } from './provider.js';

/** Where `@opentelemetry/api` 1.x keeps its globals (its internal/global-utils.ts). */
const OTEL_API_GLOBAL = Symbol.for('opentelemetry.js.api.1');
/** The variables that ask for metrics (provider.ts reads them). */
const METRICS_VARIABLES = [
  'KEEPALIVE_LAB_METRICS',
  'OTEL_METRICS_EXPORTER',
  'OTEL_EXPORTER_OTLP_ENDPOINT',
  'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT',
];
/** Events kept while the metrics start. */
const MAX_BUFFERED = 1024;
/**
 * At the end of the app (beforeExit), an OTLP exporter's last export keeps the process up this long
 * at most on our side (its own retries are bounded by OTEL_EXPORTER_OTLP_TIMEOUT).
 */
const EXIT_FLUSH_HOLD_MS = 2000;

/** An OpenTelemetry API registered a global MeterProvider in this process. */
function appHasMeterProvider(): boolean {
  const api = (globalThis as Record<symbol, { metrics?: unknown } | undefined>)[OTEL_API_GLOBAL];
  return api?.metrics !== undefined;
}

function metricsAsked(env: Record<string, string | undefined>): boolean {
  return METRICS_VARIABLES.some((name) => (env[name] ?? '').trim() !== '');
}

/** Starts the register's metrics as the file's comment says; `stop` ends them. Never throws. */
export function registerMetrics(
  source: InProcessSource,
  env: Record<string, string | undefined> = process.env,
): { stop(): Promise<void> } {
  let handle: MetricsHandle | null = null;
  let stopped = false;
  let off: (() => void) | null = null;
  const start = (first: InProcessEvent | null) => {
    const buffer: InProcessEvent[] = first === null ? [] : [first];
    const offBuffer = source.subscribe((event) => {
      if (buffer.length < MAX_BUFFERED) buffer.push(event);
    });
    const replaying: InProcessSource = {
      subscribe(listener: InProcessListener) {
        offBuffer();
        for (const event of buffer.splice(0)) listener(event);
        return source.subscribe(listener);
      },
    };
    import('./provider.js')
      .then((provider) => provider.startMetrics(replaying, { env }))
      .then((started) => {
        offBuffer();
        handle = started;
        if (stopped) void started?.stop();
        else if (started?.via === 'otlp') flushBeforeExit(started);
      })
      .catch(() => offBuffer());
  };
  if (metricsAsked(env)) start(null);
  else
    off = source.subscribe((event) => {
      off?.();
      off = null;
      if (appHasMeterProvider()) start(event);
    });
  return {
    stop: async () => {
      stopped = true;
      off?.();
      await handle?.stop();
    },
  };
}

/** The last export of an app that ends on its own (the exporter's sockets do not hold it up). */
function flushBeforeExit(handle: MetricsHandle): void {
  process.once('beforeExit', () => {
    const hold = setTimeout(() => {}, EXIT_FLUSH_HOLD_MS);
    void handle.flush().finally(() => clearTimeout(hold));
  });
}
