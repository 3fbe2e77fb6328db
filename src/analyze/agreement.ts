import type { ObserverName, ObserverReport, WarningCode } from '../model/report.js';

/** The kernel observer's warnings that it could not follow the socket-destroy events (observe/kernel.ts). */
const KERNEL_WITHOUT_EVENTS: ReadonlySet<WarningCode> = new Set([
  'KAL_WARN_SOCKET_EVENTS_UNAVAILABLE',
  'KAL_WARN_SOCKET_EVENTS_INCOMPLETE',
]);

/** Whether a difference line gives this observer's count ("connections: kernel 20, wire 11", "wire: 9 SYNs..."). */
function mentions(difference: string, observer: ObserverName): boolean {
  return difference.startsWith(`${observer}:`) || new RegExp(`(: |, )${observer} \\d`).test(difference);
}

/**
 * Do the observers that could run tell the same story? Each compares what it can see:
 * connections (all), requests (those that see HTTP), TLS handshakes full and resumed (the server and
 * the wire), SYNs (the wire), and the TIME_WAIT side (the kernel's socket table against the wire's
 * first FIN). Differences are spelled out.
 */
export function compareObservers(observers: readonly ObserverReport[]): { agree: boolean; differences: string[] } {
  const available = observers.filter((o) => o.available);
  const differences: string[] = [];
  const describe = (pick: (o: ObserverReport) => number | null, what: string, among: ObserverReport[]) => {
    const values = among.map((o) => ({ name: o.observer, value: pick(o) })).filter((v) => v.value !== null);
    if (values.length < 2) return;
    const first = values[0]!.value;
    if (values.some((v) => v.value !== first)) {
      differences.push(`${what}: ${values.map((v) => `${v.name} ${v.value}`).join(', ')}`);
    }
  };
  describe((o) => o.totals.connections, 'connections', available);
  const kernelSeen = available.find((o) => o.observer === 'kernel');
  const resets = Math.max(0, ...available.map((o) => o.totals.resets));
  // With the kernel's socket-destroy events (ss -E), a reset connection is seen: no excuse then.
  const withoutEvents = kernelSeen?.warnings.some((w) => KERNEL_WITHOUT_EVENTS.has(w.code)) === true;
  if (
    kernelSeen &&
    withoutEvents &&
    resets > 0 &&
    differences.length > 0 &&
    available.some((o) => o.totals.connections > kernelSeen.totals.connections)
  ) {
    differences[differences.length - 1] +=
      ' (a connection reset between two snapshots of the socket table leaves no TIME_WAIT socket behind,' +
      ' so the kernel can miss it)';
  }
  const before = differences.length;
  describe(
    (o) => o.totals.requests,
    'requests',
    available.filter((o) => o.seesRequests),
  );
  if (differences.length > before) differences[differences.length - 1] += lostRequestsNote(available);
  // TLS handshakes: the server's OpenSSL (isSessionReused) against the wire's hellos; the kernel's
  // table and the proxy know nothing of TLS.
  const tlsAware = available.filter((o) => o.observer === 'server' || o.observer === 'wire');
  if (tlsAware.some((o) => o.totals.tls !== undefined)) {
    describe((o) => o.totals.tls?.fullHandshakes ?? 0, 'full TLS handshakes', tlsAware);
    describe((o) => o.totals.tls?.resumedHandshakes ?? 0, 'resumed TLS handshakes', tlsAware);
  }
  const wire = available.find((o) => o.observer === 'wire');
  if (wire && wire.totals.syns !== null && wire.totals.syns !== wire.totals.connections) {
    // Connections that began before the capture started have no SYN: say so rather than hide it.
    differences.push(`wire: ${wire.totals.syns} SYNs for ${wire.totals.connections} connections`);
  }
  const kernel = available.find((o) => o.observer === 'kernel');
  if (kernel && wire) {
    for (const side of ['client', 'server'] as const) {
      if (kernel.totals.timeWait[side] !== wire.totals.timeWait[side]) {
        differences.push(
          `TIME_WAIT on the ${side} side: kernel ${kernel.totals.timeWait[side]}, wire ${wire.totals.timeWait[side]}`,
        );
      }
    }
  }
  // An observer that knows it missed evidence explains the differences it is part of.
  for (const o of available) {
    if (!o.incomplete) continue;
    const note = ` (the ${o.observer}'s counts are lower bounds: ${o.incomplete.reason})`;
    for (let i = 0; i < differences.length; i++) {
      if (mentions(differences[i]!, o.observer)) differences[i] += note;
    }
  }
  return { agree: differences.length === 0, differences };
}

/**
 * Requests the server's own accounting never saw, when they are exactly those another observer saw
 * go unanswered on connections the server closed or something reset: they reached a socket already
 * closed (the keep-alive race) or were dropped on the path (an idle reset), so the server never read
 * them. Said, not hidden: the counts do differ.
 */
function lostRequestsNote(available: readonly ObserverReport[]): string {
  const server = available.find((o) => o.observer === 'server');
  if (server === undefined) return '';
  for (const o of available) {
    if (o === server || !o.seesRequests || o.connectionsOmitted !== undefined) continue;
    let lost = 0;
    for (const r of o.connections)
      if (r.unanswered !== undefined && (r.closedFirstBy === 'server' || r.resetBy !== null))
        lost += r.requests - r.responses;
    if (lost > 0 && o.totals.requests - server.totals.requests === lost)
      return lost === 1
        ? ` (the request the ${o.observer} saw unanswered reached a connection the server had closed, or was ` +
            'reset on the way: the server never read it)'
        : ` (the ${lost} requests the ${o.observer} saw unanswered reached connections the server had closed, ` +
            'or were reset on the way: the server never read them)';
  }
  return '';
}
