/**
 * The HTTP/2 frame decoder (src/decode/http2.ts, RFC 9113): a conversation with every frame type,
 * fed whole, split at every offset of each direction and byte by byte (the same events); the
 * bounds (SETTINGS_MAX_FRAME_SIZE, MAX_HEADER_BLOCK_SIZE); frames a peer would refuse, as problems;
 * what is not HTTP/2; lost bytes; and random bytes (fast-check): no throw, bounded buffers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  Http2Connection,
  MAX_HEADER_BLOCK_SIZE,
  http2ErrorName,
  http2SettingName,
  looksLikeServerPreface,
  startsHttp2Preface,
} from '../../../src/decode/http2.js';
import { concat } from '../../support/http-fixtures.js';
import {
  FrameFlag,
  FrameType,
  HTTP2_CLIENT_PREFACE,
  continuation,
  data,
  frame,
  goaway,
  headerBlock,
  headers,
  ping,
  priority,
  pushPromise,
  recordHttp2,
  requestBlock,
  responseBlock,
  rstStream,
  settings,
  settingsAck,
  sizeUpdate,
  windowUpdate,
} from '../../support/h2-frames.js';

type Side = 'client' | 'server';
type Piece = [Side, Uint8Array];

/** Feeds the pieces in order, each side's bytes cut into chunks by `split`; returns the event log. */
function play(pieces: Piece[], split: (side: Side, bytes: Uint8Array) => Uint8Array[] = (_, b) => [b]): string[] {
  const log: string[] = [];
  const h2 = new Http2Connection(recordHttp2(log));
  for (const [side, bytes] of pieces) {
    for (const chunk of split(side, bytes)) {
      if (side === 'client') h2.client(chunk, 0);
      else h2.server(chunk, 0);
    }
  }
  return log;
}

/** The RFC 7541 C.3 requests: the dynamic table carries from one HEADERS to the next. */
const C3 = [
  '828684410f7777772e6578616d706c652e636f6d',
  '828684be58086e6f2d6361636865',
  '828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565',
].map((h) => Uint8Array.from(Buffer.from(h, 'hex')));

const block1 = requestBlock('POST', '/upload', [['content-length', '10']]);

/** A conversation with every frame type, as two byte streams. */
const CONVERSATION: Piece[] = [
  [
    'client',
    concat([
      HTTP2_CLIENT_PREFACE,
      settings([
        [3, 100],
        [4, 65535],
      ]),
      windowUpdate(0, 1000),
    ]),
  ],
  [
    'server',
    concat([
      settings([
        [3, 128],
        [1, 4096],
        [0x99, 7],
      ]),
      settingsAck(),
    ]),
  ],
  [
    'client',
    concat([
      settingsAck(),
      // A block split over HEADERS (padded, with priority) and a CONTINUATION.
      headers(1, block1.subarray(0, 5), {
        endHeaders: false,
        padding: 3,
        priority: { exclusive: true, dependency: 0, weight: 16 },
      }),
      continuation(1, block1.subarray(5)),
      data(1, 10, { endStream: true, padding: 4 }),
      headers(3, C3[0]!, { endStream: true }),
      headers(5, C3[1]!, { endStream: true }),
      priority(5, 3, 200),
      frame(0xfa, 0xff, 7, Uint8Array.of(1, 2, 3)),
      headers(7, C3[2]!, { endStream: true }),
      ping(),
    ]),
  ],
  [
    'server',
    concat([
      headers(1, responseBlock(201, [['content-type', 'text/plain']])),
      data(1, 5),
      data(1, 0, { endStream: true }),
      pushPromise(3, 2, requestBlock('GET', '/style.css')),
      headers(3, responseBlock(200), { endStream: true }),
      headers(2, responseBlock(200), { endStream: true }),
      rstStream(5, 8),
      ping(true),
      headers(7, responseBlock(404), { endStream: true }),
      goaway(7, 0, 'bye'),
    ]),
  ],
  ['client', concat([rstStream(9, 7), goaway(0, 2)])],
];

const EXPECTED = [
  'client SETTINGS MAX_CONCURRENT_STREAMS=100 INITIAL_WINDOW_SIZE=65535',
  'client WINDOW_UPDATE 0 +1000',
  'server SETTINGS MAX_CONCURRENT_STREAMS=128 HEADER_TABLE_SIZE=4096 0x99=7',
  'server SETTINGS ACK',
  'client SETTINGS ACK',
  'client HEADERS 1 prio=0/16x :method=POST :scheme=http :path=/upload :authority=example.test content-length=10',
  'client DATA 1 10 END_STREAM',
  'client HEADERS 3 END_STREAM :method=GET :scheme=http :path=/ :authority=www.example.com',
  'client HEADERS 5 END_STREAM :method=GET :scheme=http :path=/ :authority=www.example.com cache-control=no-cache',
  'client PRIORITY 5 on 3/200',
  'client HEADERS 7 END_STREAM :method=GET :scheme=https :path=/index.html :authority=www.example.com custom-key=custom-value',
  'client PING',
  'server HEADERS 1 :status=201 content-type=text/plain',
  'server DATA 1 5',
  'server DATA 1 0 END_STREAM',
  'server PUSH_PROMISE 3 promised=2 GET /style.css',
  'server HEADERS 3 END_STREAM :status=200',
  'server HEADERS 2 END_STREAM :status=200',
  'server RST_STREAM 5 8',
  'server PING ACK',
  'server HEADERS 7 END_STREAM :status=404',
  'server GOAWAY last=7 code=0 debug=3',
  'client RST_STREAM 9 7',
  'client GOAWAY last=0 code=2 debug=0',
];

test('a conversation with every frame type: events in order, fields decoded', () => {
  assert.deepEqual(play(CONVERSATION), EXPECTED);
});

test('the same events however the bytes are split: at every offset of each piece, and byte by byte', () => {
  for (let p = 0; p < CONVERSATION.length; p++) {
    const bytes = CONVERSATION[p]![1];
    for (let at = 1; at < bytes.length; at++) {
      const log = play(CONVERSATION, (_, b) => (b === bytes ? [b.subarray(0, at), b.subarray(at)] : [b]));
      assert.deepEqual(log, EXPECTED, `piece ${p} split at ${at}`);
    }
  }
  const oneByOne = play(CONVERSATION, (_, b) => Array.from(b, (_x, i) => b.subarray(i, i + 1)));
  assert.deepEqual(oneByOne, EXPECTED);
});

test('the header block decoded gives method, path, authority, status and content-length', () => {
  const blocks: { method: string | null; path: string | null; authority: string | null; status: number | null }[] = [];
  const h2 = new Http2Connection({
    headers: (_side, b) => blocks.push({ method: b.method, path: b.path, authority: b.authority, status: b.status }),
  });
  h2.client(
    concat([HTTP2_CLIENT_PREFACE, settings([]), headers(1, requestBlock('GET', '/a?b'), { endStream: true })]),
    0,
  );
  h2.server(concat([settings([]), headers(1, responseBlock(204))]), 0);
  assert.deepEqual(blocks, [
    { method: 'GET', path: '/a?b', authority: 'example.test', status: null },
    { method: null, path: null, authority: null, status: 204 },
  ]);
});

test('names: error codes and settings', () => {
  assert.equal(http2ErrorName(0), 'NO_ERROR');
  assert.equal(http2ErrorName(7), 'REFUSED_STREAM');
  assert.equal(http2ErrorName(8), 'CANCEL');
  assert.equal(http2ErrorName(0xd), 'HTTP_1_1_REQUIRED');
  assert.equal(http2ErrorName(0x1f), '0x1f');
  assert.equal(http2SettingName(3), 'MAX_CONCURRENT_STREAMS');
  assert.equal(http2SettingName(1), 'HEADER_TABLE_SIZE');
  assert.equal(http2SettingName(0x42), '0x42');
});

test('a frame above SETTINGS_MAX_FRAME_SIZE is a problem and is skipped; allowed once the receiver raised it', () => {
  const big = data(1, 20_000);
  const log = play([
    ['client', concat([HTTP2_CLIENT_PREFACE, settings([]), headers(1, requestBlock('POST', '/')), big, ping()])],
    ['server', settings([[5, 0xffffff]])],
    ['client', concat([big, ping()])],
  ]);
  assert.deepEqual(log, [
    'client SETTINGS',
    'client HEADERS 1 :method=POST :scheme=http :path=/ :authority=example.test',
    'client problem frame-size on 1: a frame of 20000 octets, above SETTINGS_MAX_FRAME_SIZE 16384',
    'client PING',
    'server SETTINGS MAX_FRAME_SIZE=16777215',
    'client DATA 1 20000',
    'client PING',
  ]);
  // Out of range: ignored, a problem.
  const bad = play([['server', settings([[5, 100]])]]);
  assert.deepEqual(bad, [
    'server problem bad-frame on 0: SETTINGS_MAX_FRAME_SIZE 100, outside 2^14..2^24-1',
    'server SETTINGS MAX_FRAME_SIZE=100',
  ]);
});

test('a header block over MAX_HEADER_BLOCK_SIZE is not kept: a problem, and that side`s HPACK is lost', () => {
  const fragment = new Uint8Array(0x100000 - 1).fill(0x82);
  const h2log: string[] = [];
  const h2 = new Http2Connection(recordHttp2(h2log));
  h2.server(settings([[5, 0xffffff]]), 0);
  h2.client(concat([HTTP2_CLIENT_PREFACE, headers(1, fragment.subarray(0, 200_000), { endHeaders: false })]), 0);
  h2.client(continuation(1, fragment.subarray(0, 100_000), false), 0);
  assert.ok(h2.buffered <= 2 * MAX_HEADER_BLOCK_SIZE + 64, `${h2.buffered}`);
  h2.client(continuation(1, fragment.subarray(0, 100_000)), 0);
  h2.client(headers(3, requestBlock('GET', '/')), 0);
  h2.server(headers(3, responseBlock(200)), 0);
  assert.deepEqual(h2log, [
    'server SETTINGS MAX_FRAME_SIZE=16777215',
    `client problem header-block on 1: a header block over ${MAX_HEADER_BLOCK_SIZE} octets`,
    'client problem hpack on 3: HPACK: header table not known: a header block over 262144 octets',
    'client HEADERS 3  error=desynchronized',
    'server HEADERS 3 :status=200',
  ]);
});

test('a header block cut by another frame; a CONTINUATION with no block; padding longer than the frame', () => {
  const block = requestBlock('GET', '/');
  const log = play([
    [
      'client',
      concat([
        HTTP2_CLIENT_PREFACE,
        headers(1, block.subarray(0, 3), { endHeaders: false }),
        ping(),
        continuation(1, block.subarray(3)),
      ]),
    ],
    ['server', concat([settings([]), frame(FrameType.DATA, FrameFlag.PADDED, 1, Uint8Array.of(9, 1, 2))])],
  ]);
  assert.deepEqual(log, [
    'client problem header-block on 1: a header block was cut by another frame before END_HEADERS',
    'client PING',
    'client problem bad-frame on 1: CONTINUATION without a header block',
    'server SETTINGS',
    'server problem bad-frame on 1: DATA padding longer than the frame',
  ]);
});

test('frames a peer would refuse are problems, and decoding goes on', () => {
  const log = play([
    [
      'server',
      concat([
        settings([]),
        frame(FrameType.SETTINGS, 0, 0, new Uint8Array(5)),
        frame(FrameType.SETTINGS, FrameFlag.ACK, 0, new Uint8Array(6)),
        frame(FrameType.SETTINGS, 0, 1),
        frame(FrameType.PING, 0, 0, new Uint8Array(7)),
        frame(FrameType.RST_STREAM, 0, 0, new Uint8Array(4)),
        frame(FrameType.WINDOW_UPDATE, 0, 1, new Uint8Array(3)),
        frame(FrameType.GOAWAY, 0, 0, new Uint8Array(7)),
        frame(FrameType.PRIORITY, 0, 0, new Uint8Array(5)),
        frame(FrameType.DATA, 0, 0, new Uint8Array(1)),
        headers(0, responseBlock(200)),
        frame(FrameType.HEADERS, FrameFlag.END_HEADERS | FrameFlag.PRIORITY, 1, new Uint8Array(3)),
        ping(true),
      ]),
    ],
  ]);
  assert.deepEqual(log, [
    'server SETTINGS',
    'server problem bad-frame on 0: SETTINGS of 5 octets',
    'server problem bad-frame on 0: SETTINGS ACK of 6 octets',
    'server problem bad-frame on 0: SETTINGS on stream 1',
    'server problem bad-frame on 0: PING of 7 octets on stream 0',
    'server problem bad-frame on 0: RST_STREAM of 4 octets on stream 0',
    'server problem bad-frame on 1: WINDOW_UPDATE of 3 octets',
    'server problem bad-frame on 0: GOAWAY of 7 octets on stream 0',
    'server problem bad-frame on 0: PRIORITY of 5 octets on stream 0',
    'server problem bad-frame on 0: DATA on stream 0',
    'server problem header-block on 0: HEADERS on stream 0',
    'server problem header-block on 1: HEADERS too short for its priority fields',
    'server PING ACK',
  ]);
});

test('SETTINGS_HEADER_TABLE_SIZE of one side bounds the size updates of the other', () => {
  const log = play([
    ['server', settings([[1, 256]])],
    [
      'client',
      concat([
        HTTP2_CLIENT_PREFACE,
        headers(1, concat([sizeUpdate(256), headerBlock([[':method', 'GET']])])),
        headers(3, concat([sizeUpdate(257), headerBlock([[':method', 'GET']])])),
      ]),
    ],
  ]);
  assert.deepEqual(log, [
    'server SETTINGS HEADER_TABLE_SIZE=256',
    'client HEADERS 1 :method=GET',
    'client problem hpack on 3: HPACK: a dynamic table size update to 257 octets, above the limit of 256',
    'client HEADERS 3  error=table-size',
  ]);
});

test('not HTTP/2: a client without the preface, a server whose first frame is not SETTINGS', () => {
  const log: string[] = [];
  const h2 = new Http2Connection(recordHttp2(log));
  h2.client(Buffer.from('GET / HTTP/1.1\r\n\r\n'), 0);
  h2.server(Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n'), 0);
  assert.equal(h2.notHttp2, true);
  assert.deepEqual(log, [
    'client lost at 0: not the HTTP/2 client connection preface',
    'server lost at 0: the first frame from the server is not SETTINGS',
  ]);
  // The preface cut at its 5th octet.
  const cut = play([['client', Buffer.from('PRI * HTTP/1.1\r\n')]]);
  assert.deepEqual(cut, ['client lost at 11: not the HTTP/2 client connection preface']);
});

test('lost bytes: inside a DATA payload decoding goes on; where a header was due, framing of that side stops', () => {
  const log: string[] = [];
  const h2 = new Http2Connection(recordHttp2(log));
  const opening = concat([HTTP2_CLIENT_PREFACE, settings([]), headers(1, requestBlock('POST', '/'))]);
  h2.client(opening, 0);
  const body = data(1, 1000, { endStream: true });
  h2.client(body.subarray(0, 100), 0);
  h2.gap('client', 800, 0);
  h2.client(body.subarray(900), 0);
  h2.client(ping(), 0);
  h2.gap('client', 10, 0);
  h2.client(ping(), 0);
  assert.deepEqual(log, [
    'client SETTINGS',
    'client HEADERS 1 :method=POST :scheme=http :path=/ :authority=example.test',
    'client DATA 1 1000 END_STREAM',
    'client PING',
    `client lost at ${opening.length + body.length + ping().length}: 10 bytes missing where a frame header was expected`,
  ]);
  assert.equal(h2.lostOn('client'), true);
  assert.equal(h2.lostOn('server'), false);
});

test('sniffing: the client preface (at least its first line), a server SETTINGS frame', () => {
  assert.equal(startsHttp2Preface(HTTP2_CLIENT_PREFACE), true);
  assert.equal(startsHttp2Preface(concat([HTTP2_CLIENT_PREFACE, settings([])])), true);
  assert.equal(startsHttp2Preface(HTTP2_CLIENT_PREFACE.subarray(0, 16)), true);
  assert.equal(startsHttp2Preface(HTTP2_CLIENT_PREFACE.subarray(0, 15)), false);
  assert.equal(startsHttp2Preface(Buffer.from('PRI * HTTP/1.1\r\n\r\n')), false);
  assert.equal(startsHttp2Preface(Buffer.from('GET / HTTP/1.1\r\n\r\n')), false);
  assert.equal(
    looksLikeServerPreface(
      settings([
        [3, 100],
        [4, 65535],
      ]),
    ),
    true,
  );
  assert.equal(looksLikeServerPreface(settingsAck()), false);
  assert.equal(looksLikeServerPreface(ping()), false);
  assert.equal(looksLikeServerPreface(Buffer.from('HTTP/1.1 200 OK\r\n')), false);
  assert.equal(looksLikeServerPreface(Buffer.from('SSH-2.0-OpenSSH_9.2\r\n')), false);
});

// ------------------------------------------------------------------------------------------------
// Fuzz

const frameArb = fc.oneof(
  fc
    .record({ type: fc.integer({ min: 0, max: 12 }), flags: fc.integer({ min: 0, max: 255 }) })
    .chain(({ type, flags }) =>
      fc
        .tuple(fc.integer({ min: 0, max: 9 }), fc.uint8Array({ maxLength: 60 }))
        .map(([stream, payload]) => frame(type, flags, stream, payload)),
    ),
  fc.uint8Array({ maxLength: 30 }),
  fc.constant(headers(1, requestBlock('GET', '/'))),
  fc.constant(settings([[5, 0xffffff]])),
);

test('fuzz: random frames and bytes never throw, give the same events however split, and buffers stay bounded', () => {
  let runs = 0;
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.boolean(), frameArb), { maxLength: 12 }),
      fc.integer({ min: 1, max: 40 }),
      (items, chunk) => {
        runs++;
        const pieces: Piece[] = [
          ['client', HTTP2_CLIENT_PREFACE],
          ['server', settings([])],
        ];
        for (const [fromClient, bytes] of items) pieces.push([fromClient ? 'client' : 'server', bytes]);
        const whole = play(pieces);
        const split = play(pieces, (_, b) =>
          Array.from({ length: Math.ceil(b.length / chunk) }, (_x, i) => b.subarray(i * chunk, (i + 1) * chunk)),
        );
        assert.deepEqual(split, whole);
        const h2 = new Http2Connection({});
        for (const [side, bytes] of pieces) {
          if (side === 'client') h2.client(bytes, 0);
          else h2.server(bytes, 0);
          assert.ok(h2.buffered <= 2 * (2 * MAX_HEADER_BLOCK_SIZE + 64));
        }
      },
    ),
    { seed: 9113, numRuns: 1500 },
  );
  assert.equal(runs, 1500);
});
