/**
 * The stream registry (src/analyze/streams/index.ts): the first payload of a connection picks the
 * built-in that recognises it, and says which side sends such bytes (so a connection seen without
 * its SYN learns who the client is).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  BUILT_IN_STREAMS,
  notProtocolNote,
  sniffStream,
  type StreamKind,
} from '../../../../src/analyze/streams/index.js';
import { http1 } from '../../../../src/analyze/streams/http1.js';
import { http2 } from '../../../../src/analyze/streams/http2.js';
import { tls } from '../../../../src/analyze/streams/tls.js';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

test('streams: the built-ins, in the order they are tried', () => {
  assert.deepEqual(
    BUILT_IN_STREAMS.map((k) => k.label),
    ['HTTP/1.x', 'HTTP/2', 'TLS'],
  );
});

test('streams: an HTTP/1.x request is sent by the client, a status line by the server', () => {
  assert.deepEqual(sniffStream(BUILT_IN_STREAMS, bytes('GET / HTTP/1.1\r\nHost: x\r\n\r\n')), {
    kind: http1,
    sender: 'client',
  });
  // Only the start of a request line, and after empty lines (RFC 9112 2.2).
  assert.equal(sniffStream(BUILT_IN_STREAMS, bytes('\r\nPOST /upl'))?.sender, 'client');
  assert.deepEqual(sniffStream(BUILT_IN_STREAMS, bytes('HTTP/1.1 200 OK\r\n')), { kind: http1, sender: 'server' });
  assert.equal(sniffStream(BUILT_IN_STREAMS, bytes('HTTP/'))?.sender, 'server');
});

test('streams: a TLS ClientHello is sent by the client, a ServerHello by the server', () => {
  assert.deepEqual(sniffStream(BUILT_IN_STREAMS, bytes('\u0016\u0003\u0001\u0002\u0000\u0001')), {
    kind: tls,
    sender: 'client',
  });
  assert.equal(sniffStream(BUILT_IN_STREAMS, bytes('\u0016\u0003\u0003\u0000\u007a\u0002'))?.sender, 'server');
});

test('streams: the HTTP/2 client preface (h2c by prior knowledge) is sent by the client, a SETTINGS frame first by the server', () => {
  assert.deepEqual(sniffStream(BUILT_IN_STREAMS, bytes('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')), {
    kind: http2,
    sender: 'client',
  });
  // Not HTTP/1.x although it has the form of a request line: its version is 2.0.
  assert.equal(http1.sniff(bytes('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')), null);
  const settings = Uint8Array.of(0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 100);
  assert.deepEqual(sniffStream(BUILT_IN_STREAMS, settings), { kind: http2, sender: 'server' });
});

test('streams: each built-in recognises only its own first bytes (the order steals nothing)', () => {
  const firsts: [StreamKind, Uint8Array][] = [
    [http1, bytes('GET / HTTP/1.1\r\n')],
    [http1, bytes('HTTP/1.1 200 OK\r\n')],
    [http2, bytes('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')],
    [http2, Uint8Array.of(0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 100)],
    [http2, Uint8Array.of(0, 0, 0, 4, 0, 0, 0, 0, 0)], // an empty SETTINGS
    [tls, bytes('\u0016\u0003\u0001\u0002\u0000\u0001')],
    [tls, bytes('\u0016\u0003\u0003\u0000\u007a\u0002')],
  ];
  for (const [owner, payload] of firsts) {
    const claimed = BUILT_IN_STREAMS.filter((k) => k.sniff(payload) !== null).map((k) => k.label);
    assert.deepEqual(claimed, [owner.label], Buffer.from(payload).toString('hex'));
  }
});

test('streams: other bytes are no built-in', () => {
  for (const payload of [
    '\u0016\u0003\u0001\u0002\u0000\u000b', // a TLS record that does not begin with a hello
    '\u0017\u0003\u0003\u0000\u0010', // TLS application data (a connection joined midway)
    'SSH-2.0-OpenSSH_9.6\r\n',
    'GET',
    'hello world, no request line here',
    '',
  ]) {
    assert.equal(sniffStream(BUILT_IN_STREAMS, bytes(payload)), null, JSON.stringify(payload));
  }
});

test('streams: kinds are tried in order, the first that recognises wins; none tried, none found', () => {
  const seen: string[] = [];
  const kind = (label: string, sender: 'client' | 'server' | null): StreamKind => ({
    label,
    sniff: () => {
      seen.push(label);
      return sender;
    },
    create: () => {
      throw new Error('not made by sniffing');
    },
  });
  const found = sniffStream([kind('A', null), kind('B', 'server'), kind('C', 'client')], bytes('x'));
  assert.equal(found?.kind.label, 'B');
  assert.equal(found?.sender, 'server');
  assert.deepEqual(seen, ['A', 'B']);
  assert.equal(sniffStream([], bytes('GET / HTTP/1.1\r\n')), null);
});

test('streams: the note of bytes none of the kinds recognised names them', () => {
  assert.equal(notProtocolNote(BUILT_IN_STREAMS), 'not HTTP/1.x or HTTP/2 or TLS');
  assert.equal(notProtocolNote([http1]), 'not HTTP/1.x');
});
