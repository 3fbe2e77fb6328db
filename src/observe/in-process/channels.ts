/**
 * The public diagnostics channels the in-process tracker listens to, in one table (as undici keeps
 * its own in lib/core/diagnostics.js). Every one is published only when someone subscribes
 * (`hasSubscribers`), so a process that loads the tracker and subscribes to nothing pays nothing.
 *
 * What exists where, as run on Node 20.20.2 (undici 6.24.1), 22.23.5 (undici 6.29.1) and 24.22.3
 * (undici 7.30.2), each channel subscribed while node:http, https and fetch made requests, one failing
 * (test/integration/node-versions.test.ts runs the tracker's tests on all three):
 *
 *   channel                                    20.20.2  22.23.5  24.22.3
 *   http.client.request.start                  yes      yes      yes
 *   http.client.response.finish                yes      yes      yes
 *   http.client.request.created                no       yes      yes
 *   http.client.request.error                  yes      yes      yes   (read from 22 on: hasRequestErrorChannel)
 *   net.client.socket, net.connect()           yes      yes      yes
 *   net.client.socket, an https request's      no       yes      yes
 *   undici:request:create|headers|trailers|error, undici:client:beforeConnect|connected|connectError|
 *   sendHeaders                                yes      yes      yes
 *   undici:request:bodyChunkReceived           no       no       yes   (undici 7; unused)
 *   http2.client.stream.*                      no       yes      yes   (unused: node:http2 is not tracked)
 *
 *  - `http.client.request.start` is published from ClientRequest._finish, a tick after http.request()
 *    returned (Node 20: from the socket's nextTick): the app's frame is not on its stack.
 *    `http.client.response.finish` tells the response's headers, despite the name.
 *  - `http.client.request.created` is published in ClientRequest's constructor, with the app's frame
 *    on the stack. On Node 20 the call site of a request is read from `net.client.socket`, published
 *    inside the http.request() that opened a new plain-TCP socket: a request on a reused socket, or
 *    over https (whose tls.connect() does not publish it there), has none.
 *  - `http.client.request.error` (nodejs/node#54054) is read from Node 22 on; on Node 20 (20.20.2
 *    publishes it, earlier 20.x releases were not run) a failed request is told by its 'close' without
 *    a response (and the socket's `errored`, or the server's FIN that node:http turns into "socket hang
 *    up", ECONNRESET).
 *  - undici >= 6.11 publishes a request's public interface (the same object for every event of one
 *    request) instead of its internal Request; identity is all the tracker relies on.
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

/**
 * Whether the tracker reads http.client.request.error (nodejs/node#54054): from Node 22 on. 20.20.2
 * publishes it too, but the close without a response tells a failure on every 20.x (see the table).
 */
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
