/**
 * Requests per connection (nginx keepalive_requests, Node server.maxRequestsPerSocket): requests one
 * after another on one connection until the server says `Connection: close` or closes it, up to a limit.
 */
import type { RequestCapResult } from '../../model/probe.js';
import { BudgetExhausted, type ProbeContext } from './context.js';
import { ProbeConnection, persists } from './connection.js';

/**
 * Continues on `conn` (which has carried `answered` requests already) or a new connection, up to
 * `limit` requests on it in all.
 */
export async function probeRequestCap(
  ctx: ProbeContext,
  limit: number,
  from: { conn: ProbeConnection; answered: number } | null,
): Promise<RequestCapResult> {
  const conn = from?.conn ?? (await ProbeConnection.open(ctx));
  let answered = from?.answered ?? 0;
  try {
    while (answered < limit) {
      try {
        conn.send(conn.request());
      } catch (error) {
        if (error instanceof BudgetExhausted) break;
        throw error;
      }
      const r = await conn.nextResponse();
      if (r.kind !== 'response') return { requests: answered, how: 'closed', maxRequests: limit };
      answered++;
      if (!persists(r.response)) return { requests: answered, how: 'connection-close', maxRequests: limit };
    }
    return { requests: null, how: null, maxRequests: answered };
  } finally {
    conn.destroy();
  }
}
