/**
 * HTTP conversations for captures with a small snap length (tcpdump -s 68/96/128/200, taken for
 * headers only): keep-alive POSTs with bodies spread over several segments, GETs answered with
 * chunked bodies, HEAD and 304 (no body), one-request connections closed by either side, an HTTP/1.0
 * response delimited by the close. Segments are at most MSS bytes, as a sender on Ethernet writes
 * them, each message starting a segment of its own (as keep-alive clients and servers do), so what
 * survives a snap length is exactly known: `expectedCounts` says what a reader that counts a message
 * from its captured start line (tshark; analyze) must find.
 *
 * Built with tcp-conversation.ts: sequence numbers tell every byte that was sent, as in a real capture.
 */
import { Conversation } from './tcp-conversation.js';
import type { TcpPacketSpec } from './capture-builder.js';

/** The payload of one Ethernet segment (1500 - 20 - 20 - 12 bytes of timestamps). */
export const MSS = 1448;
/** Ethernet (14) + IPv4 (20) + TCP (20): the bytes before the payload without TCP options. */
export const HEADERS_PLAIN = 54;
/** ... with the timestamps option every Linux connection carries (12 bytes): tcpdump -s 68 keeps 2 payload bytes. */
export const HEADERS_TIMESTAMPS = 66;
/** NOP, NOP, timestamps (kind 8, length 10, TSval, TSecr): RFC 7323 section 3. */
const TIMESTAMPS = Uint8Array.of(1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2);

export const SERVER_PORT = 80;

/** One message as sent: its connection (1-based), side, method or status, and its segments' lengths. */
export interface SentMessage {
  connection: number;
  side: 'client' | 'server';
  method: string | null;
  status: number | null;
  segments: number[];
}

export interface CutConversations {
  packets: TcpPacketSpec[];
  messages: SentMessage[];
  /** Client ports, one per connection, in order. */
  clientPorts: number[];
}

/**
 * The conversations, their segments carrying TCP timestamps or not (`timestamps`: the headers are
 * then HEADERS_TIMESTAMPS bytes long, else HEADERS_PLAIN).
 */
export function cutConversations(timestamps: boolean): CutConversations {
  const conversations: Conversation[] = [];
  const messages: SentMessage[] = [];
  const clientPorts: number[] = [];
  let start = 1_700_000_000_000_000;
  const open = (): { c: Conversation; id: number } => {
    const port = 40001 + clientPorts.length;
    clientPorts.push(port);
    const c = new Conversation({ address: '10.0.0.1', port }, { address: '10.0.0.2', port: SERVER_PORT }, { start });
    conversations.push(c);
    start += 1_000_000;
    return { c: c.handshake(), id: clientPorts.length };
  };
  const send = (
    conv: { c: Conversation; id: number },
    side: 'client' | 'server',
    text: string,
    status: number | null,
  ) => {
    const segments: number[] = [];
    for (let at = 0; at < text.length; at += MSS) {
      const piece = text.slice(at, at + MSS);
      conv.c.send(side, piece);
      segments.push(piece.length);
    }
    conv.c.ack(side === 'client' ? 'server' : 'client');
    const method = side === 'client' ? text.slice(0, text.indexOf(' ')) : null;
    messages.push({ connection: conv.id, side, method, status, segments });
  };
  const response = (status: number, fields: string, body = ''): string =>
    `HTTP/1.1 ${status} ${status === 200 ? 'OK' : 'Other'}\r\nServer: cut-test\r\n${fields}\r\n${body}`;

  // 1. Keep-alive POSTs: 3000-byte bodies (3 segments), 5000-byte answers (4 segments).
  const posts = open();
  for (let i = 0; i < 3; i++) {
    const body = 'p'.repeat(3000);
    send(
      posts,
      'client',
      `POST /items/${i} HTTP/1.1\r\nHost: example.test\r\nContent-Length: 3000\r\n\r\n${body}`,
      null,
    );
    send(posts, 'server', response(200, 'Content-Length: 5000\r\n', 'r'.repeat(5000)), 200);
  }
  posts.c.close('client');

  // 2. Keep-alive GETs answered in chunks, then HEAD and a conditional GET (no bodies).
  const gets = open();
  for (let i = 0; i < 3; i++) {
    send(gets, 'client', `GET /page/${i} HTTP/1.1\r\nHost: example.test\r\n\r\n`, null);
    const chunked = `800\r\n${'c'.repeat(0x800)}\r\n0\r\n\r\n`;
    send(gets, 'server', response(200, 'Transfer-Encoding: chunked\r\n', chunked), 200);
  }
  send(gets, 'client', 'HEAD /page/0 HTTP/1.1\r\nHost: example.test\r\n\r\n', null);
  send(gets, 'server', response(200, 'Content-Length: 4000\r\n'), 200);
  send(gets, 'client', 'GET /page/0 HTTP/1.1\r\nHost: example.test\r\nIf-None-Match: "v1"\r\n\r\n', null);
  send(gets, 'server', response(304, 'ETag: "v1"\r\n'), 304);
  gets.c.close('server');

  // 3. One request per connection (Connection: close), the server closes.
  for (let i = 0; i < 3; i++) {
    const once = open();
    send(once, 'client', `GET /once/${i} HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n`, null);
    send(once, 'server', response(200, 'Connection: close\r\nContent-Length: 3000\r\n', 'o'.repeat(3000)), 200);
    once.c.close('server');
  }

  // 4. HTTP/1.0: the body ends with the connection.
  const old = open();
  send(old, 'client', 'GET /old HTTP/1.0\r\nHost: example.test\r\n\r\n', null);
  send(old, 'server', `HTTP/1.0 200 OK\r\nServer: cut-test\r\n\r\n${'z'.repeat(3000)}`, 200);
  old.c.close('server');

  const packets = conversations.flatMap((c) => c.packets);
  if (timestamps) for (const p of packets) p.tcpOptions = TIMESTAMPS;
  return { packets, messages, clientPorts };
}

/** What one connection must show, read from a capture that kept `room` payload bytes of each segment. */
export interface ExpectedConnection {
  clientPort: number;
  requests: number;
  statusCodes: number[];
  /** Of those, the messages that lost bytes to the snap length. */
  partialRequests: number;
  partialResponses: number;
}

/** "HTTP/1.1 200": the captured bytes must reach the status code for a response to count. */
const STATUS_LINE_TO_CODE = 12;

/**
 * The counts a reader must find when each segment kept `room` payload bytes: a message counts when
 * its first segment kept its method and the space after it, or its status code; it is partial when
 * one of its segments was cut.
 */
export function expectedCounts(sent: CutConversations, room: number): ExpectedConnection[] {
  return sent.clientPorts.map((clientPort, i) => {
    const expected: ExpectedConnection = {
      clientPort,
      requests: 0,
      statusCodes: [],
      partialRequests: 0,
      partialResponses: 0,
    };
    for (const m of sent.messages) {
      if (m.connection !== i + 1) continue;
      const cut = m.segments.some((length) => length > room);
      if (m.side === 'client' && room >= m.method!.length + 1) {
        expected.requests++;
        if (cut) expected.partialRequests++;
      } else if (m.side === 'server' && room >= STATUS_LINE_TO_CODE) {
        expected.statusCodes.push(m.status!);
        if (cut) expected.partialResponses++;
      }
    }
    return expected;
  });
}
