/**
 * The port outlook, reproduced: a fast churn of short connections that the client closes first, so
 * that each leaves its local port in TIME_WAIT on this machine (issue 9, finding 6). 32 workers share
 * an http.Agent whose idle pool keeps one socket (maxFreeSockets 1, as Go's MaxIdleConnsPerHost 2 in
 * golang/go#13801): after each response the agent closes the socket it has no room for, and the
 * next request opens a new one. The finding weighs that rate against this machine's
 * ip_local_port_range and tcp_tw_reuse (on loopback, tcp_tw_reuse=2 by default takes ports back
 * after 1 s: the finding says what the rate would cost without it).
 *
 * The client is weighed as one with a narrow ephemeral range (SCENARIO_PORT_RANGE, 1,024 ports, as a
 * container or a host that reserves most of its ports may have), this machine's tcp_tw_reuse kept:
 * against the default 28,232 ports the finding would need some 47 new connections/s, which makes
 * whether it shows a matter of this machine's speed; against 1,024 it needs 2.
 *
 * Why not keep-alive off: Node's client then sends Connection: close, and Node's server closes
 * first, so the TIME_WAIT is the server's and the client's ports are free at each close.
 */
import type { PortRange } from '../../model/host.js';
import { readHostFacts } from '../../observe/host-facts.js';
import { runExperiment } from '../engine.js';
import type { FindingScenario, FindingScenarioOptions } from './index.js';

/** Bounded: about 60% of the requests need a new connection, a few seconds on a loaded machine. */
const REQUESTS = 600;
const WORKERS = 32;

/** The client's ephemeral ports in this scenario (see the top of the file). */
export const SCENARIO_PORT_RANGE: Readonly<PortRange> = Object.freeze({ low: 60000, high: 61023 });

const NAME = 'port-outlook';
const TITLE =
  `fast churn: ${WORKERS} workers, idle pool 1, ` + 'each closed connection in TIME_WAIT on a client of 1,024 ports';

export const portOutlookScenario: FindingScenario = {
  name: NAME,
  title: TITLE,
  finding: 'port-exhaustion',
  async run(options: FindingScenarioOptions) {
    const facts = await readHostFacts();
    const clientPorts = {
      ...facts.ports,
      portRange: { ...SCENARIO_PORT_RANGE },
      source: { ...facts.ports.source, portRange: 'given' as const },
    };
    return runExperiment({
      hostFacts: { ...facts, clientPorts },
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
