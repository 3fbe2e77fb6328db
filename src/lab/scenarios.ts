/**
 * The lab's named experiments. The demo's: the article's four (sequential without/with reading the
 * body; 10 workers x 10 requests with an idle pool of 2 and of 10), then what the article could not
 * show. The TLS ones (`demo --tls`): HTTPS with and without keep-alive, with and without resuming
 * TLS sessions, fetch over HTTPS, and HTTP/2's streams on one connection, each with the counts it must
 * show (`expect`, checked by lab/expectations.ts). `run --experiment NAME` runs any of them.
 */
import type { ExperimentConfig } from '../model/report.js';
import { experimentConfig } from './config.js';

export interface Scenario {
  name: string;
  title: string;
  config: ExperimentConfig;
  /** What every observer that can see it must count; absent: the verdict alone tells. */
  expect?: ExperimentExpectation;
}

/** Counts an experiment must show, in every observer that sees them (lab/expectations.ts). */
export interface ExperimentExpectation {
  connections?: number;
  requests?: number;
  /** TLS handshakes, full and resumed (the server's OpenSSL; the wire's hellos). */
  fullHandshakes?: number;
  resumedHandshakes?: number;
  /** HTTP/2: the most streams open at once on a connection, at least. */
  minPeakStreams?: number;
}

export function demoScenarios(overrides: Partial<ExperimentConfig> = {}): Scenario[] {
  const c = (o: Partial<ExperimentConfig>) => experimentConfig({ ...o, ...overrides });
  return [
    { name: 'seq-unread', title: 'sequential, body never read', config: c({ consumeBody: false }) },
    { name: 'seq-read', title: 'sequential, body read to the end', config: c({ consumeBody: true }) },
    {
      name: 'conc-pool-2',
      title: '10 workers x 10, idle pool 2',
      config: c({ requests: 100, concurrency: 10, maxFreeSockets: 2 }),
    },
    {
      name: 'conc-pool-10',
      title: '10 workers x 10, idle pool 10',
      config: c({ requests: 100, concurrency: 10, maxFreeSockets: 10 }),
    },
    {
      name: 'fetch-unread-small',
      title: 'fetch, 11 B body never read',
      config: c({ client: 'fetch', consumeBody: false, bodySize: 11 }),
    },
    {
      name: 'fetch-unread-16k',
      title: 'fetch, 16 KB body never read',
      config: c({ client: 'fetch', consumeBody: false, bodySize: 16384 }),
    },
    { name: 'no-keepalive', title: 'keep-alive disabled (client)', config: c({ keepAlive: false }) },
    { name: 'server-close', title: 'server sends Connection: close', config: c({ serverConnectionClose: true }) },
  ];
}

/** Requests of the HTTP/2 experiment, all sent at once: one stream each. */
const H2_STREAMS = 100;

/**
 * HTTPS and HTTP/2 against the in-process server over TLS (a certificate made at run time), 10
 * sequential requests unless said otherwise. A client without keep-alive that keeps its TLS sessions
 * (node:https's Agent does by default) resumes them: one full handshake, then a resumed one per
 * connection; without them every connection pays a full handshake.
 */
export function tlsScenarios(overrides: Partial<ExperimentConfig> = {}): Scenario[] {
  const c = (o: Partial<ExperimentConfig>) => experimentConfig({ protocol: 'https', ...o, ...overrides });
  return [
    {
      name: 'https-keepalive',
      title: 'https, keep-alive: one TLS connection',
      config: c({}),
      expect: { connections: 1, requests: 10, fullHandshakes: 1, resumedHandshakes: 0 },
    },
    {
      name: 'https-no-keepalive',
      title: 'https, no keep-alive, no TLS resumption',
      config: c({ keepAlive: false, tlsResumption: false }),
      expect: { connections: 10, requests: 10, fullHandshakes: 10, resumedHandshakes: 0 },
    },
    {
      name: 'https-resumption',
      title: 'https, no keep-alive, TLS sessions resumed',
      config: c({ keepAlive: false }),
      expect: { connections: 10, requests: 10, fullHandshakes: 1, resumedHandshakes: 9 },
    },
    {
      name: 'fetch-https',
      title: 'fetch over https, keep-alive',
      config: c({ client: 'fetch' }),
      expect: { connections: 1, requests: 10, fullHandshakes: 1, resumedHandshakes: 0 },
    },
    {
      name: 'h2-multiplex',
      title: `http2, ${H2_STREAMS} concurrent requests: one connection`,
      config: c({ protocol: 'h2', client: 'http2', requests: H2_STREAMS, concurrency: H2_STREAMS }),
      expect: { connections: 1, requests: H2_STREAMS, fullHandshakes: 1, resumedHandshakes: 0, minPeakStreams: 2 },
    },
  ];
}

/** Every named experiment (`run --experiment NAME`): the demo's, then the TLS ones. */
export function labExperiments(overrides: Partial<ExperimentConfig> = {}): Scenario[] {
  return [...demoScenarios(overrides), ...tlsScenarios(overrides)];
}
