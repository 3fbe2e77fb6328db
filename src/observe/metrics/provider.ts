/**
 * Where the metrics go, chosen once at start:
 *  1. the app's own MeterProvider, when it registered one globally (`metrics.setGlobalMeterProvider`,
 *     what every OpenTelemetry SDK set-up does): our instruments join its readers and exporters, and
 *     only `@opentelemetry/api` is used;
 *  2. else `KEEPALIVE_LAB_METRICS=HOST:PORT`: OpenTelemetry's Prometheus exporter, served at
 *     http://HOST:PORT/metrics;
 *  3. else the standard `OTEL_METRICS_EXPORTER=otlp`, or an `OTEL_EXPORTER_OTLP_ENDPOINT` /
 *     `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`: the OTLP/HTTP exporter, every `OTEL_METRIC_EXPORT_INTERVAL`;
 *  4. else nothing: no SDK loaded, nobody subscribed to the source.
 * The SDK and the exporters (the 2.x line, which supports Node 20; 3.x needs Node >= 22.15) are
 * imported only in cases 2 and 3.
 *
 * Never hurt the app: a bad value, a port in use, a collector out of reach are each one warning line
 * (a KAL_WARN_METRICS_ code) and the app goes on; the endpoint's server and its connections, the
 * export timer and the exporter's sockets are unref'd, so none of them keeps the process alive.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { metrics, createNoopMeter } from '@opentelemetry/api';
import type { Meter, MeterProvider } from '@opentelemetry/api';
import type { MetricReader, PushMetricExporter, ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { KeepaliveLabError, PortInUseError } from '../../errors.js';
import { formatHostPort, parseHostPort } from '../../model/endpoint.js';
import type { WarningCode } from '../../model/report.js';
import { VERSION } from '../../version.js';
import type { InProcessSource } from '../in-process/events.js';
import { METER_NAME } from './instruments.js';
import { MetricsRecorder } from './recorder.js';

/** Our Prometheus endpoint's environment variable: `HOST:PORT` (e.g. 127.0.0.1:9464). */
export const METRICS_ENV = 'KEEPALIVE_LAB_METRICS';
/** The path Prometheus scrapes. */
export const METRICS_PATH = '/metrics';
/** OpenTelemetry's defaults (https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/). */
const DEFAULT_OTLP_ENDPOINT = 'http://localhost:4318';
const OTLP_METRICS_PATH = '/v1/metrics';
const DEFAULT_EXPORT_INTERVAL_MS = 60_000;
const DEFAULT_EXPORT_TIMEOUT_MS = 30_000;
const DEFAULT_OTLP_TIMEOUT_MS = 10_000;

export const MetricsWarning = {
  /** KEEPALIVE_LAB_METRICS or an OTEL_ variable has a value we cannot use. */
  CONFIG: 'KAL_WARN_METRICS_CONFIG',
  /** The Prometheus endpoint could not listen (port in use, address not on this machine). */
  LISTEN: 'KAL_WARN_METRICS_LISTEN',
  /** An OTLP export failed (collector unreachable, refused, timed out); said once. */
  EXPORT: 'KAL_WARN_METRICS_EXPORT',
  /** The SDK or an exporter could not be loaded or started. */
  SDK: 'KAL_WARN_METRICS_SDK',
} as const satisfies Record<string, WarningCode>;

export type MetricsWarningCode = (typeof MetricsWarning)[keyof typeof MetricsWarning];

export interface MetricsOptions {
  /** The environment to read (default process.env). */
  env?: Record<string, string | undefined>;
  /** Each warning, once (default: one line on stderr). */
  onWarning?: (code: MetricsWarningCode, message: string) => void;
}

/** The metrics while they flow. */
export interface MetricsHandle {
  /** Where they go: the app's MeterProvider, our Prometheus endpoint, or OTLP. */
  readonly via: 'app' | 'prometheus' | 'otlp';
  /** The Prometheus endpoint's URL, or the OTLP collector's; null with the app's provider. */
  readonly url: string | null;
  /** Exports what is pending (OTLP); a no-op otherwise. Never rejects. */
  flush(): Promise<void>;
  /** Unsubscribes, stops the endpoint or the exporter (after a last export). Never rejects. */
  stop(): Promise<void>;
}

/** The default warning: one line on stderr. */
export function warnOnStderr(code: MetricsWarningCode, message: string): void {
  process.stderr.write(`keepalive-lab: warning: metrics: ${message} (${code})\n`);
}

/** The app's own MeterProvider, when it registered one globally; null when the global is the API's no-op. */
export function appMeterProvider(): MeterProvider | null {
  const provider = metrics.getMeterProvider();
  return provider.getMeter(METER_NAME) === createNoopMeter() ? null : provider;
}

/**
 * Starts the metrics of `source` where the environment says (see the file's comment); null when
 * nothing asks for them or they could not start (a warning said why). Never rejects.
 */
export async function startMetrics(
  source: InProcessSource,
  options: MetricsOptions = {},
): Promise<MetricsHandle | null> {
  const env = options.env ?? process.env;
  const warn = options.onWarning ?? warnOnStderr;
  try {
    const app = appMeterProvider();
    if (app !== null) return followWith(source, app.getMeter(METER_NAME, VERSION), 'app', null, async () => {});
    const prometheus = env[METRICS_ENV];
    if (prometheus !== undefined && prometheus.trim() !== '') {
      let where: { host: string; port: number };
      try {
        where = parseHostPort(prometheus, { option: METRICS_ENV, allowPortZero: true, defaultHost: '127.0.0.1' });
      } catch (error) {
        warn(MetricsWarning.CONFIG, `${(error as Error).message}: no metrics endpoint`);
        return null;
      }
      try {
        return await startPrometheusEndpoint(source, { ...where, env });
      } catch (error) {
        const code = error instanceof KeepaliveLabError ? MetricsWarning.LISTEN : MetricsWarning.SDK;
        warn(code, `${(error as Error).message}: no metrics endpoint`);
        return null;
      }
    }
    const otlp = otlpUrl(env, warn);
    if (otlp !== null) return await startOtlp(source, otlp, env, warn);
    return null;
  } catch (error) {
    warn(MetricsWarning.SDK, `cannot start: ${(error as Error).message}`);
    return null;
  }
}

/** Subscribes a recorder on `meter`; `close` ends whatever carries the measurements. */
function followWith(
  source: InProcessSource,
  meter: Meter,
  via: MetricsHandle['via'],
  url: string | null,
  close: () => Promise<void>,
  flush: () => Promise<void> = async () => {},
): MetricsHandle {
  const unsubscribe = new MetricsRecorder(meter).follow(source);
  let stopping: Promise<void> | null = null;
  return {
    via,
    url,
    flush: () => flush().catch(() => undefined),
    stop: () => {
      stopping ??= (async () => {
        unsubscribe();
        await close().catch(() => undefined);
      })();
      return stopping;
    },
  };
}

/** A MeterProvider of the SDK with `reader`, and the resource the OTEL_ variables describe. */
async function sdkProvider(reader: MetricReader): Promise<{ meter: Meter; shutdown: () => Promise<void> }> {
  const [{ MeterProvider }, { defaultResource, detectResources, envDetector }] = await Promise.all([
    import('@opentelemetry/sdk-metrics'),
    import('@opentelemetry/resources'),
  ]);
  // OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES (read from process.env by the SDK's detector).
  const resource = defaultResource().merge(detectResources({ detectors: [envDetector] }));
  const provider = new MeterProvider({ resource, readers: [reader] });
  return { meter: provider.getMeter(METER_NAME, VERSION), shutdown: () => provider.shutdown() };
}

export interface PrometheusEndpointOptions {
  host: string;
  /** 0 picks a free port (see the handle's `url`). */
  port: number;
  env?: Record<string, string | undefined>;
}

/**
 * OpenTelemetry's Prometheus exporter behind our own server at http://host:port/metrics (its own
 * server cannot unref the scrapers' keep-alive connections, which would keep the process alive).
 * Rejects with PortInUseError (KAL_ERR_PORT_IN_USE) or KAL_ERR_LISTEN when it cannot listen.
 */
export async function startPrometheusEndpoint(
  source: InProcessSource,
  options: PrometheusEndpointOptions,
): Promise<MetricsHandle> {
  const { PrometheusExporter } = await import('@opentelemetry/exporter-prometheus');
  const exporter = new PrometheusExporter({ preventServerStart: true });
  const server = http.createServer((request, response) => {
    const path = (request.url ?? '').split('?', 1)[0];
    if (path === METRICS_PATH && (request.method === 'GET' || request.method === 'HEAD')) {
      exporter.getMetricsRequestHandler(request, response);
    } else {
      response.statusCode = 404;
      response.end();
    }
  });
  server.on('connection', (socket: Socket) => socket.unref());
  // A bad scraper's connection concerns that connection only.
  server.on('clientError', (_error, socket: Socket) => socket.destroy());
  // The reader is bound to its MeterProvider before the first scrape can come (else: "MetricReader is
  // not bound to a MetricProducer").
  const { meter, shutdown } = await sdkProvider(exporter);
  try {
    await listen(server, options.host, options.port);
  } catch (error) {
    await shutdown().catch(() => undefined);
    throw error;
  }
  server.unref();
  const { port } = server.address() as AddressInfo;
  const url = `http://${formatHostPort(options.host, port)}${METRICS_PATH}`;
  return followWith(source, meter, 'prometheus', url, async () => {
    await shutdown().catch(() => undefined);
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
}

function listen(server: http.Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE')
        reject(
          new PortInUseError(host, port, {
            cause: error,
            option: 'metrics',
            hint: (option) => `choose another port with ${option}`,
          }),
        );
      else
        reject(
          new KeepaliveLabError('KAL_ERR_LISTEN', `cannot listen on ${formatHostPort(host, port)}: ${error.message}`, {
            cause: error,
          }),
        );
    });
    server.listen({ host, port }, () => resolve());
  });
}

/**
 * The OTLP/HTTP metrics URL the standard variables ask for, or null when they ask for none:
 * OTEL_METRICS_EXPORTER lists `otlp` (or is unset and an OTLP endpoint is given).
 */
export function otlpUrl(
  env: Record<string, string | undefined>,
  warn: (code: MetricsWarningCode, message: string) => void = () => {},
): string | null {
  const exporters = (env.OTEL_METRICS_EXPORTER ?? '')
    .split(',')
    .map((e) => e.trim().toLowerCase())
    .filter((e) => e !== '');
  const signal = env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT?.trim();
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  const asked = exporters.length > 0 ? exporters.includes('otlp') : Boolean(signal || base);
  if (!asked) return null;
  const protocol = (env.OTEL_EXPORTER_OTLP_METRICS_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? '').trim();
  if (protocol !== '' && protocol !== 'http/json' && protocol !== 'http/protobuf')
    warn(MetricsWarning.CONFIG, `OTLP protocol '${protocol}' is not supported: sending OTLP/HTTP (JSON)`);
  // The signal's own endpoint is used as is; the base one gets /v1/metrics (the specification's rule).
  const url = signal ? signal : `${(base || DEFAULT_OTLP_ENDPOINT).replace(/\/+$/, '')}${OTLP_METRICS_PATH}`;
  try {
    new URL(url);
  } catch {
    warn(MetricsWarning.CONFIG, `OTLP endpoint '${url}' is not a URL: no metrics exported`);
    return null;
  }
  return url;
}

/** A positive integer from the environment, or the default (a bad value is said once). */
function envMillis(
  env: Record<string, string | undefined>,
  names: string[],
  fallback: number,
  warn: (code: MetricsWarningCode, message: string) => void,
): number {
  for (const name of names) {
    const text = env[name]?.trim();
    if (text === undefined || text === '') continue;
    const value = Number(text);
    if (Number.isInteger(value) && value > 0) return value;
    warn(MetricsWarning.CONFIG, `${name}='${text}' is not a positive number of milliseconds: ${fallback} used`);
    return fallback;
  }
  return fallback;
}

async function startOtlp(
  source: InProcessSource,
  url: string,
  env: Record<string, string | undefined>,
  warn: (code: MetricsWarningCode, message: string) => void,
): Promise<MetricsHandle> {
  const [{ OTLPMetricExporter }, { PeriodicExportingMetricReader }] = await Promise.all([
    import('@opentelemetry/exporter-metrics-otlp-http'),
    import('@opentelemetry/sdk-metrics'),
  ]);
  const intervalMs = envMillis(env, ['OTEL_METRIC_EXPORT_INTERVAL'], DEFAULT_EXPORT_INTERVAL_MS, warn);
  // The reader refuses a timeout longer than its interval.
  const readerTimeoutMs = Math.min(
    intervalMs,
    envMillis(env, ['OTEL_METRIC_EXPORT_TIMEOUT'], DEFAULT_EXPORT_TIMEOUT_MS, warn),
  );
  const requestTimeoutMs = Math.min(
    readerTimeoutMs,
    envMillis(env, ['OTEL_EXPORTER_OTLP_METRICS_TIMEOUT', 'OTEL_EXPORTER_OTLP_TIMEOUT'], DEFAULT_OTLP_TIMEOUT_MS, warn),
  );
  const otlp = new OTLPMetricExporter({
    url,
    timeoutMillis: requestTimeoutMs,
    // The exporter's sockets must not keep the app alive between (or during) exports.
    httpAgentOptions: async (protocol: string) => {
      const module = protocol === 'https:' ? await import('node:https') : await import('node:http');
      return new (unrefAgent(module.Agent))({ keepAlive: true });
    },
  });
  let failed = false;
  const exporter = warnOnFailure(otlp, (error) => {
    if (failed) return;
    failed = true;
    warn(MetricsWarning.EXPORT, `export to ${url} failed: ${error?.message ?? 'unknown error'} (said once)`);
  });
  // The reader's own timer is unref'd by the SDK.
  const reader = new PeriodicExportingMetricReader({
    exporter,
    exportIntervalMillis: intervalMs,
    exportTimeoutMillis: readerTimeoutMs,
  });
  const { meter, shutdown } = await sdkProvider(reader);
  const flush = () => reader.forceFlush();
  return followWith(source, meter, 'otlp', url, shutdown, flush);
}

/** An http(s).Agent class whose sockets never keep the process alive. */
function unrefAgent<A extends typeof http.Agent>(Base: A): A {
  return class extends (Base as typeof http.Agent) {
    override createConnection(...args: Parameters<http.Agent['createConnection']>) {
      const socket = super.createConnection(...args);
      (socket as Socket | undefined)?.unref?.();
      return socket;
    }
  } as unknown as A;
}

/** `exporter`, calling `onFailure` with each export that did not succeed. */
function warnOnFailure(
  exporter: PushMetricExporter,
  onFailure: (error: Error | undefined) => void,
): PushMetricExporter {
  return {
    export(metrics: ResourceMetrics, done) {
      exporter.export(metrics, (result) => {
        // ExportResultCode.SUCCESS is 0 (@opentelemetry/core).
        if (result.code !== 0) onFailure(result.error);
        done(result);
      });
    },
    forceFlush: () => exporter.forceFlush(),
    shutdown: () => exporter.shutdown(),
    ...(exporter.selectAggregationTemporality === undefined
      ? {}
      : { selectAggregationTemporality: exporter.selectAggregationTemporality.bind(exporter) }),
    ...(exporter.selectAggregation === undefined
      ? {}
      : { selectAggregation: exporter.selectAggregation.bind(exporter) }),
  };
}
