/**
 * Parser for the kernel's protocol counters as /proc/net/netstat (and /proc/net/snmp) print them:
 * pairs of lines, a header naming the counters and a line of their values, each starting with the
 * group's name (net/ipv4/proc.c, netstat_seq_show):
 *
 *   TcpExt: SyncookiesSent SyncookiesRecv ... TW TWRecycled TWKilled ... TCPTimeWaitOverflow ...
 *   TcpExt: 0 0 ... 5047182 4067 0 ... 113941 ...
 *
 * Pure: takes the file's text. The counters count since boot, for the whole network namespace.
 */

/** One counter's value, or null when the text does not have it (an older kernel, another file). */
export function netstatCounter(text: string, group: string, name: string): number | null {
  const prefix = `${group}:`;
  const lines = text.split('\n');
  for (let i = 0; i + 1 < lines.length; i++) {
    const header = lines[i]!.trim().split(/\s+/);
    const values = lines[i + 1]!.trim().split(/\s+/);
    if (header[0] !== prefix || values[0] !== prefix) continue;
    const at = header.indexOf(name);
    if (at < 1) return null;
    const value = values[at];
    return value !== undefined && /^\d+$/.test(value) ? Number(value) : null;
  }
  return null;
}
