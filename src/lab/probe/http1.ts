/**
 * What the server speaks on HTTP/1.x: its answer to a plain HTTP/1.1 request (version, Server,
 * Keep-Alive hint) and whether the connection stays open for a second one; an HTTP/1.0 request asking
 * `Connection: keep-alive`; a request with `Connection: close` (echoed? how is the connection
 * closed?); two requests in one write (pipelining, RFC 9112 section 9.3.2). Three connections.
 */
import { NoResponseError } from '../../errors.js';
import type { CloseKind, Http1Behaviour } from '../../model/probe.js';
import {
  ProbeConnection,
  parseKeepAlive,
  persists,
  saysClose,
  saysKeepAlive,
  type ProbeResponse,
} from './connection.js';
import type { ProbeContext } from './context.js';

export interface Http1Probe {
  behaviour: Http1Behaviour;
  /**
   * The first connection, still open after two answers when the server keeps connections alive: the
   * request cap continues on it.
   */
  open: ProbeConnection | null;
  /** Requests already answered on `open`. */
  answered: number;
}

/** The first response of the probe: its absence is the error that ends the probe (the server never answers). */
async function firstResponse(conn: ProbeConnection, ctx: ProbeContext): Promise<ProbeResponse> {
  conn.send(conn.request());
  const r = await conn.nextResponse();
  if (r.kind === 'response') return r.response;
  const { host, port } = ctx.target;
  conn.destroy();
  if (conn.protocolError !== null)
    throw new NoResponseError(`${host}:${port} did not answer in HTTP/1.x: ${conn.protocolError}`);
  if (r.kind === 'timeout')
    throw new NoResponseError(`${host}:${port} sent no response within ${ctx.timeoutMs} ms (--timeout)`);
  throw new NoResponseError(`${host}:${port} closed the connection (${r.close.kind}) without a response`);
}

export async function probeHttp1(ctx: ProbeContext): Promise<Http1Probe> {
  const a = await ProbeConnection.open(ctx);
  const first = await firstResponse(a, ctx);
  let keepAlive11 = false;
  let open: ProbeConnection | null = null;
  if (persists(first)) {
    a.send(a.request());
    const second = await a.nextResponse();
    keepAlive11 = second.kind === 'response';
    if (keepAlive11 && persists((second as { response: ProbeResponse }).response)) open = a;
  }
  if (open === null) a.destroy();

  const [keepAlive10, connectionClose, pipelining] = await Promise.all([
    http10KeepAlive(ctx),
    connectionCloseBehaviour(ctx),
    pipeliningBehaviour(ctx),
  ]);
  return {
    behaviour: {
      responseVersion: first.version,
      server: first.headers['server'] ?? null,
      keepAlive11,
      keepAlive10,
      connectionClose,
      advertised: parseKeepAlive(first.headers['keep-alive']),
      pipelining,
    },
    open,
    answered: open === null ? 0 : 2,
  };
}

/** HTTP/1.0 with `Connection: keep-alive` (RFC 9112 appendix C.2.2): kept open for a second request? */
async function http10KeepAlive(ctx: ProbeContext): Promise<boolean> {
  const conn = await ProbeConnection.open(ctx);
  try {
    conn.send(conn.request({ version: '1.0', connection: 'keep-alive' }));
    const r = await conn.nextResponse();
    if (r.kind !== 'response' || !saysKeepAlive(r.response)) return false;
    conn.send(conn.request({ version: '1.0', connection: 'keep-alive' }));
    return (await conn.nextResponse()).kind === 'response';
  } finally {
    conn.destroy();
  }
}

/** `Connection: close`: echoed in the response? How does the server end the connection then? */
async function connectionCloseBehaviour(ctx: ProbeContext): Promise<Http1Behaviour['connectionClose']> {
  const conn = await ProbeConnection.open(ctx);
  try {
    conn.send(conn.request({ connection: 'close' }));
    const r = await conn.nextResponse();
    const echoed = r.kind === 'response' && saysClose(r.response);
    const close = await conn.idle(ctx.timeoutMs);
    const closeKind: CloseKind | null = close === null ? null : close.kind;
    return { echoed, closeKind };
  } finally {
    conn.destroy();
  }
}

/** Two requests in one write: both answered, in order, on the connection? */
async function pipeliningBehaviour(ctx: ProbeContext): Promise<Http1Behaviour['pipelining']> {
  const conn = await ProbeConnection.open(ctx);
  const sent = 2;
  try {
    conn.send(conn.request().repeat(sent), sent);
    let answered = 0;
    while (answered < sent) {
      const r = await conn.nextResponse();
      if (r.kind !== 'response') break;
      answered++;
      if (!persists(r.response)) break;
    }
    return { sent, answered, accepted: answered === sent };
  } finally {
    conn.destroy();
  }
}
