/**
 * The port outlook, reproduced: a fast churn of short connections that the client closes first, so
 * that each leaves its local port in TIME_WAIT on this machine (issue 9, finding 6). 32 workers share
 * an http.Agent whose idle pool keeps one socket (maxFreeSockets 1, as Go's MaxIdleConnsPerHost 2 in
 * golang/go#13801): after each response the agent closes the socket it has no room for, and the
 * next request opens a new one. The finding weighs that rate against this machine's
 * ip_local_port_range and tcp_tw_reuse (on loopback, tcp_tw_reuse=2 by default takes ports back
 * after 1 s: the finding says what the rate would cost without it).
 *
 * Why not keep-alive off: Node's client then sends Connection: close, and Node's server closes
 * first, so the TIME_WAIT is the server's and the client's ports are free at each close.
 */
import { runExperiment } from '../engine.js';
import type { FindingScenario, FindingScenarioOptions } from './index.js';

/** Bounded: about 60% of the requests need a new connection, a few seconds on a loaded machine. */
const REQUESTS = 600;
const WORKERS = 32;

const NAME = 'port-outlook';
const TITLE = `fast churn: ${WORKERS} workers, idle pool 1, each closed connection in TIME_WAIT on the client`;

export const portOutlookScenario: FindingScenario = {
  name: NAME,
  title: TITLE,
  finding: 'port-exhaustion',
  run(options: FindingScenarioOptions) {
    // The engine reads this machine's host facts (the lab's client is this machine).
    return runExperiment({
      name: NAME,
      title: TITLE,
      client: 'http',
      requests: REQUESTS,
      concurrency: WORKERS,
      // A pause between requests: the agent must find its idle pool full, not hand the socket straight back.
      intervalMs: 1,
      maxFreeSockets: 1,
      ...(options.signal !== undefined ? { signal: options.signal } : {}),
      ...(options.capture !== undefined ? { capture: options.capture } : {}),
      ...(options.kernel !== undefined ? { kernel: options.kernel } : {}),
      ...(options.tcpdump !== undefined ? { tcpdump: options.tcpdump } : {}),
    });
  },
};
