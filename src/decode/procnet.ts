/**
 * Parser for the kernel's TCP socket tables, /proc/net/tcp and /proc/net/tcp6: the data `netstat -tn`
 * reads (`ss` asks netlink instead, but falls back to these files and decodes them the same way).
 * Pure: takes the text of one file and returns entries; the I/O lives in observe/socket-table.ts.
 *
 * One line per socket, printed by the kernel in net/ipv4/tcp_ipv4.c (get_tcp4_sock for full sockets,
 * get_openreq4 for embryonic SYN_RECV ones, get_timewait4_sock for TIME_WAIT) and in
 * net/ipv6/tcp_ipv6.c (get_tcp6_sock, get_openreq6, get_timewait6_sock), each padded with spaces to a
 * fixed width. The columns this parser reads, with their printf formats:
 *
 *     sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
 *   "%4d: %08X:%04X     %08X:%04X     %02X %08X:%08X       %02X:%08lX   %08X     %5u  %8d     %lu ..."
 *
 * Everything after the inode (refcount, socket pointer, rto, ato, cwnd, ssthresh) is ignored.
 */
import { formatIpv6, normalizeAddress } from '../model/endpoint.js';
import type { Endpoint, Warning, WarningCode } from '../model/report.js';
import { TCP_STATES, parseTableLines } from './socket-entry.js';
import type { SocketEntry, TcpTimerKind } from './socket-entry.js';

// The entry's shape is shared with the ss parser; re-exported here, where it was first defined.
export { TCP_STATES, tcpStateName } from './socket-entry.js';
export type { SocketEntry, TcpState, TcpTimerKind } from './socket-entry.js';

/**
 * `tr` codes as assigned in get_tcp4_sock / get_tcp6_sock (and get_timewait4_sock for 3). ss calls them
 * off, on, keepalive, timewait, persist.
 */
const TIMER_KINDS: readonly TcpTimerKind[] = [
  'off', // 0  no timer pending
  'retransmit', // 1  ICSK_TIME_RETRANS, ICSK_TIME_REO_TIMEOUT, ICSK_TIME_LOSS_PROBE; request sockets' SYN-ACK timer
  'keepalive', // 2  sk->sk_timer pending (keepalive, or the FIN_WAIT2 timer)
  'timewait', // 3  TIME_WAIT sockets (get_timewait4_sock)
  'probe', // 4  ICSK_TIME_PROBE0: zero-window probe (ss: "persist")
];

/**
 * `tm->when` is not in jiffies but in clock_t ticks: the kernel converts with jiffies_to_clock_t
 * (jiffies_delta_to_clock_t since Linux 3.18), whose unit is USER_HZ, fixed at 100 per second on
 * every architecture whatever the kernel's CONFIG_HZ. ss converts the same way, with hz from
 * sysconf(_SC_CLK_TCK), which is USER_HZ.
 */
export const USER_HZ = 100;

/** Byte order of the kernel that wrote the file (os.endianness(), lower-cased). */
export type ByteOrder = 'le' | 'be';

/** Warning codes this parser can put on its result. */
export const ProcNetWarning = {
  /** A line that is not a socket line: too few columns, bad hex, an address of the wrong width. */
  MALFORMED_LINE: 'KAL_WARN_PROCNET_MALFORMED_LINE',
  /** A well-formed line with a state number outside 1..12 (the line is skipped). */
  UNKNOWN_STATE: 'KAL_WARN_PROCNET_UNKNOWN_STATE',
} as const satisfies Record<string, WarningCode>;

/** Columns up to and including the inode (see the format at the top of the file). */
const MIN_COLUMNS = 10;

/** Hex digits of one address: a 32-bit word for IPv4, four of them for IPv6. */
const ADDRESS_HEX_DIGITS = { 4: 8, 6: 32 } as const;

const SLOT = /^\d+:$/;
const HEX = /^[0-9A-Fa-f]+$/;
const HEX_BYTE = /^[0-9A-Fa-f]{1,2}$/;
const HEX32 = /^[0-9A-Fa-f]{1,8}$/;
const DECIMAL = /^\d+$/;
/** "%08X:%08X": tx_queue, rx_queue. */
const QUEUES = /^([0-9A-Fa-f]{1,8}):([0-9A-Fa-f]{1,8})$/;
/** "%02X:%08lX": tr, tm->when (an unsigned long: up to 16 digits on 64-bit kernels). */
const TIMER = /^([0-9A-Fa-f]{1,2}):([0-9A-Fa-f]{1,16})$/;

/**
 * Parses the text of /proc/net/tcp (family 4) or /proc/net/tcp6 (family 6). The header line and blank
 * lines are skipped; any other line that is not a socket line becomes a warning. Never throws.
 *
 * `byteOrder` is that of the machine whose kernel wrote the text: addresses are printed as host-order
 * 32-bit words (see decodeAddress). Ports are not affected: the kernel prints them after ntohs().
 */
export function parseProcNetTcp(
  text: string,
  family: 4 | 6,
  byteOrder: ByteOrder = 'le',
  /**
   * Only lines with one of these ports (local or remote) are parsed: a busy host lists tens of thousands of
   * sockets.
   */
  ports?: readonly number[],
): { entries: SocketEntry[]; warnings: Warning[] } {
  const lines = ports === undefined ? text.split('\n') : linesWithPorts(text, ports);
  return parseTableLines(
    lines,
    (line) => {
      const columns = line.trim().split(/\s+/);
      if (columns[0] === '' || columns[0] === 'sl') return null; // blank line, header line
      return parseLine(columns, family, byteOrder);
    },
    ProcNetWarning.MALFORMED_LINE,
  );
}

/**
 * The lines that mention one of `ports` as a local or remote port, found without splitting the
 * whole text: a port is printed as ':' + 4 upper-case hex digits + ' ' after each address, and no
 * other column has that shape (the queue and timer columns have 8 hex digits after their ':').
 */
function linesWithPorts(text: string, ports: readonly number[]): string[] {
  const starts = new Set<number>();
  for (const port of ports) {
    const needle = ':' + port.toString(16).toUpperCase().padStart(4, '0') + ' ';
    for (let at = text.indexOf(needle); at >= 0; at = text.indexOf(needle, at + needle.length)) {
      starts.add(text.lastIndexOf('\n', at) + 1);
    }
  }
  return [...starts]
    .sort((a, b) => a - b)
    .map((start) => {
      const end = text.indexOf('\n', start);
      return text.slice(start, end < 0 ? text.length : end);
    });
}

/** One socket line split on whitespace, or a warning (without line number) saying what is wrong. */
function parseLine(columns: string[], family: 4 | 6, byteOrder: ByteOrder): SocketEntry | Warning {
  const malformed = (message: string): Warning => ({ code: ProcNetWarning.MALFORMED_LINE, message });
  if (columns.length < MIN_COLUMNS) return malformed(`expected at least ${MIN_COLUMNS} columns, got ${columns.length}`);
  const [slot, local, remote, st, queues, timer, retransmits, uid, , inode] = columns as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  if (!SLOT.test(slot)) return malformed(`bad slot number "${slot}"`);
  const localEndpoint = parseEndpoint(local, family, byteOrder);
  if (typeof localEndpoint === 'string') return malformed(`local address: ${localEndpoint}`);
  const remoteEndpoint = parseEndpoint(remote, family, byteOrder);
  if (typeof remoteEndpoint === 'string') return malformed(`remote address: ${remoteEndpoint}`);
  if (!HEX_BYTE.test(st)) return malformed(`bad state "${st}"`);
  const queuePair = QUEUES.exec(queues);
  if (queuePair === null) return malformed(`bad tx_queue:rx_queue "${queues}"`);
  const timerPair = TIMER.exec(timer);
  if (timerPair === null) return malformed(`bad tr:tm->when "${timer}"`);
  if (!HEX32.test(retransmits)) return malformed(`bad retrnsmt "${retransmits}"`);
  if (!DECIMAL.test(uid)) return malformed(`bad uid "${uid}"`);
  if (!DECIMAL.test(inode)) return malformed(`bad inode "${inode}"`);
  const state = TCP_STATES[parseInt(st, 16) - 1];
  if (state === undefined) {
    return {
      code: ProcNetWarning.UNKNOWN_STATE,
      message: `state 0x${st} is not a TCP state of include/net/tcp_states.h, line skipped`,
    };
  }
  const [, timerCode = '', when = ''] = timerPair;
  return {
    family,
    local: localEndpoint,
    remote: remoteEndpoint,
    state,
    txQueue: parseInt(queuePair[1] ?? '', 16),
    rxQueue: parseInt(queuePair[2] ?? '', 16),
    timer: { kind: TIMER_KINDS[parseInt(timerCode, 16)] ?? 'unknown', expiresMs: clockTicksToMs(when) },
    retransmits: parseInt(retransmits, 16),
    uid: Number(uid),
    inode: Number(inode),
  };
}

/**
 * Milliseconds from the hex clock_t ticks (USER_HZ) of tm->when. A value with its top bit set is a
 * negative delta (a timer already overdue), which kernels before 3.18 printed as a huge unsigned number
 * (16 digits on 64-bit kernels); newer ones clamp it to 0, and so do we.
 */
function clockTicksToMs(hex: string): number {
  if (hex.length >= 8 && parseInt(hex[0] ?? '0', 16) >= 8) return 0;
  return (parseInt(hex, 16) * 1000) / USER_HZ;
}

/** "ADDRESS:PORT" as printed by the kernel ("%08X:%04X" or "%08X%08X%08X%08X:%04X"). */
function parseEndpoint(text: string, family: 4 | 6, byteOrder: ByteOrder): Endpoint | string {
  const colon = text.indexOf(':');
  const hex = colon < 0 ? text : text.slice(0, colon);
  const port = colon < 0 ? '' : text.slice(colon + 1);
  if (hex.length !== ADDRESS_HEX_DIGITS[family] || !HEX.test(hex)) {
    return `"${text}" is not an IPv${family} address:port of /proc/net/tcp${family === 6 ? '6' : ''}`;
  }
  if (port.length !== 4 || !HEX.test(port)) return `bad port in "${text}"`;
  return { address: formatAddress(decodeAddress(hex, byteOrder)), port: parseInt(port, 16) };
}

/**
 * Address bytes in network order from the kernel's hex. The address is kept in network byte order
 * (__be32 inet_rcv_saddr, struct in6_addr) but printed as host-order 32-bit integers: "%08X" of the
 * __be32 in get_tcp4_sock (net/ipv4/tcp_ipv4.c), and "%08X%08X%08X%08X" of s6_addr32[0..3] in
 * get_tcp6_sock (net/ipv6/tcp_ipv6.c). On a little-endian machine (x86, arm64) each 32-bit word so
 * comes out byte-reversed: 127.0.0.1 is "0100007F", ::1 is "00000000000000000000000001000000".
 * On a big-endian machine the hex is already in network order.
 */
function decodeAddress(hex: string, byteOrder: ByteOrder): number[] {
  const bytes: number[] = [];
  for (let word = 0; word < hex.length; word += 8) {
    const wordBytes: number[] = [];
    for (let i = word; i < word + 8; i += 2) wordBytes.push(parseInt(hex.slice(i, i + 2), 16));
    if (byteOrder === 'le') wordBytes.reverse();
    bytes.push(...wordBytes);
  }
  return bytes;
}

/** Dotted quad for 4 bytes; RFC 5952 for 16, except IPv4-mapped (::ffff:0:0/96, RFC 4291 2.5.5.2) as IPv4. */
function formatAddress(bytes: number[]): string {
  return bytes.length === 4 ? bytes.join('.') : normalizeAddress(formatIpv6(Uint8Array.from(bytes), 0));
}
