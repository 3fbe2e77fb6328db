/**
 * One socket of the kernel's TCP table, as both of its readers return it: the /proc/net/tcp{,6}
 * parser (procnet.ts) and the `ss` output parser (ss.ts). The two read the same kernel structures
 * (struct sock, inet_timewait_sock, request_sock) through two interfaces; this is the shape they agree
 * on, so that everything above decode/ is the same whichever was read.
 */
import type { Endpoint, Warning, WarningCode } from '../model/report.js';

/** TCP states as the kernel numbers them (include/net/tcp_states.h). */
export type TcpState =
  | 'ESTABLISHED'
  | 'SYN_SENT'
  | 'SYN_RECV'
  | 'FIN_WAIT1'
  | 'FIN_WAIT2'
  | 'TIME_WAIT'
  | 'CLOSE'
  | 'CLOSE_WAIT'
  | 'LAST_ACK'
  | 'LISTEN'
  | 'CLOSING'
  | 'NEW_SYN_RECV';

/**
 * The states in kernel order: TCP_STATES[n - 1] is state n of include/net/tcp_states.h
 * (TCP_ESTABLISHED = 1 ... TCP_NEW_SYN_RECV = 12). TCP_BOUND_INACTIVE (13) is a pseudo-state that
 * only inet_diag queries use (the kernel answers such sockets as TCP_CLOSE); it never appears in
 * /proc/net/tcp. Request sockets (TCP_NEW_SYN_RECV inside the kernel) are shown as SYN_RECV by
 * both /proc (get_openreq4/6) and inet_diag (inet_req_diag_fill).
 */
export const TCP_STATES: readonly TcpState[] = [
  'ESTABLISHED', // 1  TCP_ESTABLISHED
  'SYN_SENT', // 2  TCP_SYN_SENT
  'SYN_RECV', // 3  TCP_SYN_RECV (also printed for request sockets by get_openreq4/6)
  'FIN_WAIT1', // 4  TCP_FIN_WAIT1
  'FIN_WAIT2', // 5  TCP_FIN_WAIT2
  'TIME_WAIT', // 6  TCP_TIME_WAIT
  'CLOSE', // 7  TCP_CLOSE
  'CLOSE_WAIT', // 8  TCP_CLOSE_WAIT
  'LAST_ACK', // 9  TCP_LAST_ACK
  'LISTEN', // 10 TCP_LISTEN
  'CLOSING', // 11 TCP_CLOSING
  'NEW_SYN_RECV', // 12 TCP_NEW_SYN_RECV
];

/** Which kernel timer is pending on the socket (/proc's `tr` column, ss's `timer:(NAME,...)`). */
export type TcpTimerKind = 'off' | 'retransmit' | 'keepalive' | 'timewait' | 'probe' | 'unknown';

export interface SocketEntry {
  /**
   * The socket's address family: 6 for an IPv6 socket (listed in /proc/net/tcp6), also when it talks
   * IPv4 through IPv4-mapped addresses; 4 for an IPv4 socket (/proc/net/tcp).
   */
  family: 4 | 6;
  /**
   * Addresses in text form: IPv4 dotted quad, IPv6 RFC 5952. An IPv4-mapped IPv6 address
   * (::ffff:a.b.c.d, an IPv6 socket talking IPv4) is shown as the plain IPv4 address 'a.b.c.d'.
   */
  local: Endpoint;
  remote: Endpoint;
  state: TcpState;
  /** Bytes sent but not yet acknowledged (write_seq - snd_una); 0 for LISTEN. */
  txQueue: number;
  /** Bytes received but not yet read by the application; for LISTEN, connections waiting for accept(). */
  rxQueue: number;
  /** The pending timer and the milliseconds until it fires (0 when off or already overdue). */
  timer: { kind: TcpTimerKind; expiresMs: number };
  /**
   * Unrecovered retransmission timeouts (icsk_retransmits). From ss, while a keepalive or
   * zero-window probe timer is pending, the probes sent (icsk_probes_out), and 0 when no timer is.
   */
  retransmits: number;
  /** Owner of the socket; 0 for TIME_WAIT sockets (and for request sockets as ss reports them). */
  uid: number;
  /** Socket inode, 0 for TIME_WAIT and request sockets (they have no file). */
  inode: number;
  /**
   * The socket's cookie (sock_diag's idiag_cookie), in hex as ss prints it (`sk:1f3`): a number the
   * kernel gives a socket the first time it is asked for it and never gives again (sock_gen_cookie),
   * so it tells apart two sockets of one 4-tuple at different times. A TIME_WAIT socket keeps its
   * full socket's cookie (inet_twsk_alloc); a request socket has one and its child another. Absent
   * when read from /proc, which does not print it.
   */
  cookie?: string;
}

/** Name of a state number of include/net/tcp_states.h; throws RangeError outside 1..12. */
export function tcpStateName(hex: number): TcpState {
  const name = Number.isInteger(hex) ? TCP_STATES[hex - 1] : undefined;
  if (name === undefined) throw new RangeError(`unknown TCP state ${String(hex)}`);
  return name;
}

/** Malformed lines reported one by one; beyond that, one summary warning (a wrong file is not 10k warnings). */
export const MAX_LINE_WARNINGS = 20;

/**
 * The loop both table parsers share: each line is handed to `parseLine`, which returns an entry, a
 * warning (numbered here with its line) or null for a line to skip silently (blank, header). Warnings
 * with `malformedCode` stop being listed after MAX_LINE_WARNINGS; one more then counts the rest.
 */
export function parseTableLines(
  lines: readonly string[],
  parseLine: (line: string) => SocketEntry | Warning | null,
  malformedCode: WarningCode,
): { entries: SocketEntry[]; warnings: Warning[] } {
  const entries: SocketEntry[] = [];
  const warnings: Warning[] = [];
  let malformed = 0;
  for (let i = 0; i < lines.length; i++) {
    const result = parseLine(lines[i] ?? '');
    if (result === null) continue;
    if ('state' in result) {
      entries.push(result);
    } else if (result.code !== malformedCode || ++malformed <= MAX_LINE_WARNINGS) {
      warnings.push({ code: result.code, message: `line ${i + 1}: ${result.message}` });
    }
  }
  if (malformed > MAX_LINE_WARNINGS) {
    warnings.push({ code: malformedCode, message: `${malformed - MAX_LINE_WARNINGS} more malformed lines not listed` });
  }
  return { entries, warnings };
}
