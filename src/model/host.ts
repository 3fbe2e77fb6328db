/**
 * What a machine's kernel settings say about the connections it can open: the facts the port
 * exhaustion outlook (analyze/findings/ports.ts) and `sockets` weigh a churn against. Plain values:
 * observe/host-facts.ts reads them from /proc, the CLI takes them from flags, the analyzer only
 * reads them (without them it assumes Linux's defaults, and says so).
 */

/** Where a setting came from: read on this machine, given by the user, or Linux's default assumed. */
export type SettingSource = 'host' | 'given' | 'default';

/** Where a setting came from, for a sentence. */
export const SETTING_SOURCE_WORDS: Readonly<Record<SettingSource, string>> = Object.freeze({
  host: 'read on this machine',
  given: 'as given',
  default: "Linux's default",
});

/** A range of ports, both ends included. */
export interface PortRange {
  low: number;
  high: number;
}

/**
 * net.ipv4.tcp_tw_reuse (Documentation/networking/ip-sysctl.rst): 0 off; 1 on; 2 on for loopback
 * traffic only (a 127.0.0.0/8 or ::1 address at either end, or a socket bound to lo), the default
 * since mid-2018 (0 before). With it, connect() may take a 4-tuple still in TIME_WAIT on this side, once the
 * TIME_WAIT socket is old enough (see twReuseDelayMs) and both sides use TCP timestamps.
 */
export type TwReuse = 0 | 1 | 2;

/** The settings of a Linux client that decide how many connections it can open to one server per minute. */
export interface ClientPortSettings {
  /**
   * net.ipv4.ip_local_port_range: the ephemeral ports connect() picks a local port from. Linux may
   * give the same port to connections to different servers (only the 4-tuple must be unique), so the
   * whole range is available again for each server address and port.
   */
  portRange: PortRange;
  twReuse: TwReuse;
  /**
   * How old a TIME_WAIT socket must be before tcp_tw_reuse lets connect() take its 4-tuple:
   * net.ipv4.tcp_tw_reuse_delay (milliseconds, Linux 6.13 and later), fixed at 1 s before.
   */
  twReuseDelayMs: number;
  /** Where portRange and twReuse come from (twReuseDelayMs follows twReuse). */
  source: { portRange: SettingSource; twReuse: SettingSource };
}

/** What the analyzer is told about the machine it runs on and the clients of what it analyzes. */
export interface HostFacts {
  /** This machine's addresses (canonical text): a client among them, or on loopback, is this machine. */
  localAddresses: string[];
  /** This machine's settings (source 'host'), or Linux's defaults where they could not be read. */
  ports: ClientPortSettings;
  /** Settings the user gave for the clients of a capture, whatever their address: they win over `ports`. */
  clientPorts?: ClientPortSettings;
}

/**
 * How long a socket stays in TIME_WAIT on Linux: TCP_TIMEWAIT_LEN (include/net/tcp.h, 60 * HZ),
 * fixed when the kernel is built. No sysctl changes it: net.ipv4.tcp_fin_timeout, often tuned in
 * its name, is how long an orphaned connection may stay in FIN_WAIT_2.
 */
export const LINUX_TIME_WAIT_MS = 60_000;

/** Linux's defaults: ip_local_port_range 32768 60999 (28,232 ports), tcp_tw_reuse 2, a 1 s reuse delay. */
export const LINUX_DEFAULT_PORTS: Readonly<ClientPortSettings> = Object.freeze({
  portRange: Object.freeze({ low: 32768, high: 60999 }),
  twReuse: 2,
  twReuseDelayMs: 1000,
  source: Object.freeze({ portRange: 'default', twReuse: 'default' }),
});

/** How many ports a range holds. */
export function portCount(range: PortRange): number {
  return range.high - range.low + 1;
}

export function inPortRange(port: number, range: PortRange): boolean {
  return port >= range.low && port <= range.high;
}
