import type { ExperimentConfig } from '../model/report.js';

/** The article's 1 s pauses, shortened so the whole demo runs in seconds. */
export const DEFAULT_INTERVAL_MS = 20;

/** Every knob's default (frozen: experimentConfig() makes a config of one's own). */
export const DEFAULT_CONFIG: Readonly<ExperimentConfig> = Object.freeze({
  client: 'http',
  protocol: 'http',
  requests: 10,
  concurrency: 1,
  intervalMs: DEFAULT_INTERVAL_MS,
  keepAlive: true,
  consumeBody: true,
  bodySize: 11,
  maxSockets: null,
  // Node's own default for Agent maxFreeSockets.
  maxFreeSockets: 256,
  tlsResumption: true,
  serverKeepAliveTimeoutMs: 5000,
  serverKeepAliveHint: true,
  serverConnectionClose: false,
  serverMaxRequests: null,
  target: null,
  timeoutMs: 20000,
});

const KNOBS = Object.keys(DEFAULT_CONFIG) as (keyof ExperimentConfig)[];

/**
 * The defaults with the knobs `overrides` sets (undefined leaves a default; other fields, such as
 * runExperiment's own options, are not knobs and are left out), in the defaults' key order.
 */
export function experimentConfig(overrides: Partial<ExperimentConfig> = {}): ExperimentConfig {
  const config: Record<string, unknown> = { ...DEFAULT_CONFIG };
  for (const knob of KNOBS) if (overrides[knob] !== undefined) config[knob] = overrides[knob];
  return config as unknown as ExperimentConfig;
}

/** The client and what it speaks: `http`, `fetch`, `https` (node:https), `fetch over https`, `http2`. */
function clientOverProtocol(c: ExperimentConfig): string {
  if (c.protocol === 'http' || c.client === 'http2') return c.client;
  const name = c.client === 'http' ? 'https' : `${c.client} over https`;
  return c.protocol === 'h2' ? `${name} (h2 server)` : name;
}

/** A short title from the knobs: the client, the workers, and what differs from the defaults. */
export function describeConfig(c: ExperimentConfig): string {
  const parts = [
    clientOverProtocol(c),
    c.concurrency > 1
      ? `${c.concurrency} workers x ${Math.ceil(c.requests / c.concurrency)}`
      : `${c.requests} sequential`,
  ];
  if (!c.keepAlive) parts.push('no keep-alive');
  if (!c.consumeBody) parts.push('body unread');
  if (c.protocol !== 'http' && !c.tlsResumption) parts.push('no TLS resumption');
  if (c.maxFreeSockets !== DEFAULT_CONFIG.maxFreeSockets) parts.push(`idle pool ${c.maxFreeSockets}`);
  if (c.maxSockets !== null) parts.push(`max ${c.maxSockets} sockets`);
  if (c.serverConnectionClose) parts.push('server close');
  if (c.serverMaxRequests !== null) parts.push(`server closes after ${c.serverMaxRequests} requests`);
  if (c.serverKeepAliveTimeoutMs !== DEFAULT_CONFIG.serverKeepAliveTimeoutMs)
    parts.push(`server idle timeout ${c.serverKeepAliveTimeoutMs} ms`);
  if (!c.serverKeepAliveHint) parts.push('no Keep-Alive hint');
  return parts.join(', ');
}
