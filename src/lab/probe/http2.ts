/**
 * HTTP/2, when the server picked h2 by ALPN: its SETTINGS_MAX_CONCURRENT_STREAMS (RFC 9113 section
 * 6.5.2) and whether it sends a GOAWAY on an idle connection, and after how long (nginx's
 * keepalive_timeout, Go's http2 Server.IdleTimeout): one stream, then the connection left idle up to
 * `maxIdleMs`. node:http2 over a TLS socket the probe opened itself, so a FIN or RST after the GOAWAY
 * is seen on the raw socket.
 */
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import type { CloseKind, Http2Behaviour } from '../../model/probe.js';
import { USER_AGENT, secondsText, type ProbeContext } from './context.js';
import { EventWaiter } from './waiter.js';

/** What node:http2 reports when the server sent no SETTINGS_MAX_CONCURRENT_STREAMS: no limit (2^32 - 1). */
const UNLIMITED_STREAMS = 2 ** 32 - 1;
/** After a GOAWAY, how long to wait to see the connection end. */
const CLOSE_AFTER_GOAWAY_MS = 1000;

export async function probeHttp2(ctx: ProbeContext, maxIdleMs: number): Promise<Http2Behaviour> {
  ctx.budget.takeConnection();
  const { host, port, url } = ctx.target;
  const socket = tls.connect({
    host,
    port,
    ...(net.isIP(host) === 0 ? { servername: host } : {}),
    rejectUnauthorized: !ctx.target.insecure,
    ALPNProtocols: ['h2'],
  });
  ctx.sockets.add(socket);
  let closeKind: CloseKind | null = null;
  socket.on('end', () => {
    closeKind ??= 'fin';
  });
  socket.on('error', (e: NodeJS.ErrnoException) => {
    closeKind ??= e.code === 'ECONNRESET' ? 'rst' : 'fin';
  });
  socket.on('close', () => ctx.sockets.delete(socket));
  const session = http2.connect(url.origin, { createConnection: () => socket });
  session.on('error', () => undefined);
  let goaway: { at: number; errorCode: number } | null = null;
  const events = new EventWaiter(ctx.signal);
  session.on('goaway', (errorCode: number) => {
    goaway = { at: ctx.now(), errorCode };
    events.wake();
  });
  session.on('close', () => events.wake());
  socket.on('close', () => events.wake());
  try {
    let settings: http2.Settings | null = null;
    session.once('remoteSettings', (s: http2.Settings) => {
      settings = s;
      events.wake();
    });
    await events.until(() => settings !== null || session.closed, ctx.timeoutMs);
    const max = (settings as http2.Settings | null)?.maxConcurrentStreams;
    ctx.budget.takeRequests();
    const stream = session.request({ ':path': ctx.target.path, 'user-agent': USER_AGENT });
    stream.on('error', () => undefined);
    stream.resume();
    let ended = false;
    stream.on('close', () => {
      ended = true;
      events.wake();
    });
    await events.until(() => ended, ctx.timeoutMs);
    const idleStart = ctx.now();
    ctx.progress({ phase: 'http2', what: `an idle HTTP/2 connection: a GOAWAY within ${secondsText(maxIdleMs)}?` });
    await events.until(() => goaway !== null || session.closed || closeKind !== null, maxIdleMs);
    const g = goaway as { at: number; errorCode: number } | null;
    if (g !== null) await events.until(() => closeKind !== null, CLOSE_AFTER_GOAWAY_MS);
    return {
      maxConcurrentStreams: max === undefined || max >= UNLIMITED_STREAMS ? null : max,
      idleGoaway:
        g === null
          ? null
          : {
              afterMs: Math.round(g.at - idleStart),
              errorCode: g.errorCode,
              closeKind,
            },
      waitedMs: Math.round(ctx.now() - idleStart),
    };
  } finally {
    session.destroy();
    socket.destroy();
  }
}
