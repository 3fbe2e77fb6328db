/**
 * How the proxy's connection records read as in-process events (events.ts): the one rule for a
 * record's close reason and initiator, kept apart from the forwarding code (observe/proxy.ts).
 */
import type { ConnectionRecord } from '../../model/report.js';
import type { CloseInitiator, CloseReason } from './events.js';

/**
 * Why and by whom a proxied connection closed: a reset is an error of the side that sent it; the
 * proxy closing it at stop is the process ending; otherwise the side whose FIN came first.
 */
export function proxyClose(
  r: Pick<ConnectionRecord, 'resetBy' | 'openAtEnd' | 'closedFirstBy'>,
  unreachable: boolean,
): { reason: CloseReason; initiator: CloseInitiator } {
  if (unreachable) return { reason: 'error', initiator: 'unknown' };
  if (r.resetBy !== null) return { reason: 'error', initiator: r.resetBy };
  if (r.openAtEnd) return { reason: 'process-exit', initiator: 'unknown' };
  if (r.closedFirstBy === 'server') return { reason: 'server-closed', initiator: 'server' };
  if (r.closedFirstBy === 'client') return { reason: 'client-closed', initiator: 'client' };
  return { reason: 'unknown', initiator: 'unknown' };
}
