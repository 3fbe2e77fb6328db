/**
 * The public diagnostics channels the in-process tracker listens to, in one table (as undici keeps
 * its own in lib/core/diagnostics.js). Every one is published only when someone subscribes
 * (`hasSubscribers`), so a process that loads the tracker and subscribes to nothing pays nothing.
 *
 * What exists where (checked on Node 20.20.2 with its bundled undici 6.24.1; the others from Node's
 * doc/api/diagnostics_channel.md and undici's docs/docs/api/DiagnosticsChannel.md):
 *  - `http.client.request.start`, `http.client.response.finish` (the response's headers, despite the
 *    name): since Node 16.18/18.? (nodejs/node#43580), so on 20, 22 and 24.
 *  - `net.client.socket`: every socket net.connect() makes (Node >= 16.18); tls.connect does not call
 *    net.connect, so an https socket is learnt from its request instead.
 *    `http.client.request.start` is published from ClientRequest._finish, a tick after http.request()
 *    returned (Node 20: from the socket's nextTick): the app's frame is not on its stack.
 *  - `http.client.request.created`: Node 22.x and 24 (published in ClientRequest's constructor, so
 *    with the app's frame on the stack), NOT on Node 20: there the call site of a request is read
 *    from `net.client.socket`, published inside the http.request() that opened a new socket (a
 *    request on a reused socket, or over https, whose tls.connect() does not publish it, has none).
 *  - `http.client.request.error`: Node 22.x and 24 (nodejs/node#54054), NOT on Node 20: there a failed
 *    request is told by its 'close' without a response (and the socket's `errored`, or the server's
 *    FIN that node:http turns into "socket hang up", ECONNRESET).
 *  - undici (fetch): `undici:request:create|headers|trailers|error`, `undici:client:beforeConnect`,
 *    `undici:client:connected`, `undici:client:sendHeaders` in undici 5.x to 7.x, so in Node 20's
 *    (6.x), 22's (6.x) and 24's (7.x) fetch. undici >= 6.11 publishes a request's public interface
 *    (the same object for every event of one request) instead of its internal Request; identity is
 *    all the tracker relies on. undici 7 adds `undici:request:bodyChunkSent|bodyChunkReceived`, unused.
 * A channel a Node release lacks is simply never published: `missingChannels()` says which the
 * tracker could not expect, for the one warning line of the register.
 */
import dc from 'node:diagnostics_channel';

export const CHANNELS = {
  httpRequestStart: 'http.client.request.start',
  httpRequestCreated: 'http.client.request.created',
  httpRequestError: 'http.client.request.error',
  httpResponseFinish: 'http.client.response.finish',
  netClientSocket: 'net.client.socket',
  undiciRequestCreate: 'undici:request:create',
  undiciRequestHeaders: 'undici:request:headers',
  undiciRequestTrailers: 'undici:request:trailers',
  undiciRequestError: 'undici:request:error',
  undiciBeforeConnect: 'undici:client:beforeConnect',
  undiciConnected: 'undici:client:connected',
  undiciSendHeaders: 'undici:client:sendHeaders',
} as const;

export type ChannelKey = keyof typeof CHANNELS;

/**
 * Channels without which the tracker misses something it needs (as opposed to `httpRequestError`,
 * which it can do without). Node's own http channels exist since 16.18; on an older or stripped
 * runtime they are missing, and the register says so once.
 */
const REQUIRED: readonly ChannelKey[] = ['httpRequestStart', 'httpResponseFinish'];

/** Node's http.client.request.error came in 22.x (nodejs/node#54054); undici's are read whenever fetch loads. */
export function hasRequestErrorChannel(version = process.versions.node): boolean {
  const major = Number(version.split('.')[0]);
  return major >= 22;
}

/** The required channels this runtime lacks (diagnostics_channel without subscribe, or Node < 16.18). */
export function missingChannels(): string[] {
  if (typeof dc.subscribe !== 'function') return REQUIRED.map((k) => CHANNELS[k]);
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  return major > 16 || (major === 16 && minor >= 18) ? [] : REQUIRED.map((k) => CHANNELS[k]);
}

export type ChannelHandler = (message: unknown, name: string | symbol) => void;

/**
 * Subscribes `handlers` (dc.subscribe: the channel object is then held by Node, unlike
 * channel(name).subscribe on old releases, whose channel could be collected with its subscribers);
 * returns the function that unsubscribes them all.
 */
export function subscribeAll(handlers: Partial<Record<ChannelKey, ChannelHandler>>): () => void {
  const done: (() => void)[] = [];
  for (const [key, handler] of Object.entries(handlers) as [ChannelKey, ChannelHandler][]) {
    const name = CHANNELS[key];
    dc.subscribe(name, handler);
    done.push(() => dc.unsubscribe(name, handler));
  }
  return () => {
    for (const off of done.splice(0)) off();
  };
}
