/**
 * Property tests for the HTTP/1.x framer (src/decode/http1.ts): random valid conversations give the
 * same events and counts however they are chunked; random bytes never throw, give the same events
 * however they are chunked, and never make the framer hold more than maxHeadBytes per direction.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Http1Connection } from '../../../src/decode/http1.js';
import { chunked, client, fin, gap, latin1Bytes, play, server, type Step } from '../../support/http-fixtures.js';

const RUNS = 300;

// ------------------------------------------------------------------------------------------------
// Valid conversations

/** Body bytes that look like framing, to prove bodies are never scanned. */
const bodyText = fc
  .array(
    fc.constantFrom(
      'x',
      '\r\n',
      '\r\n\r\n',
      'HTTP/1.1 200 OK\r\n',
      'GET / HTTP/1.1\r\n',
      '0\r\n\r\n',
      '\x00',
      '\xff',
      'Content-Length: 9\r\n',
    ),
    {
      maxLength: 8,
    },
  )
  .map((parts) => parts.join(''));

const requestArb = fc.record({
  method: fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH'),
  target: fc.constantFrom('/', '/a?b=c', '*', 'http://example.test/x'),
  http10: fc.boolean(),
  upperNames: fc.boolean(),
  leadingCrlf: fc.boolean(),
  bareLf: fc.boolean(),
  body: fc.oneof(
    fc.constant({ kind: 'none' as const, text: '' }),
    bodyText.map((text) => ({ kind: 'length' as const, text })),
    fc
      .array(
        bodyText.filter((t) => t.length > 0),
        { maxLength: 3 },
      )
      .map((chunks) => ({ kind: 'chunked' as const, text: chunks.join(''), chunks })),
  ),
  extraFields: fc.array(
    fc.constantFrom('Accept: */*', 'X-Empty:', 'Cookie: a=b; c=d', 'Connection: keep-alive', 'TE: trailers'),
    { maxLength: 3 },
  ),
});

const responseArb = fc.record({
  status: fc.constantFrom(200, 201, 204, 206, 301, 304, 404, 500),
  interim: fc.array(fc.constantFrom(100, 102, 103), { maxLength: 2 }),
  chunkedBody: fc.boolean(),
  body: bodyText,
  bareLf: fc.boolean(),
});

type RequestSpec = typeof requestArb extends fc.Arbitrary<infer T> ? T : never;
type ResponseSpec = typeof responseArb extends fc.Arbitrary<infer T> ? T : never;

function requestText(r: RequestSpec): string {
  const name = (n: string): string => (r.upperNames ? n.toUpperCase() : n);
  const fields = [`${name('Host')}: example.test`, ...r.extraFields];
  if (r.body.kind === 'length') fields.push(`${name('Content-Length')}: ${r.body.text.length}`);
  if (r.body.kind === 'chunked') fields.push(`${name('Transfer-Encoding')}: chunked`);
  if (r.http10) fields.push('Connection: keep-alive');
  const eol = r.bareLf ? '\n' : '\r\n';
  const head =
    `${r.leadingCrlf ? '\r\n' : ''}${r.method} ${r.target} HTTP/1.${r.http10 ? 0 : 1}${eol}` +
    `${fields.map((f) => f + eol).join('')}${eol}`;
  if (r.body.kind === 'chunked') return head + chunked(r.body.chunks, { ext: ';e=1', trailers: ['X-T: 1'] });
  return head + r.body.text;
}

/** The response text; `last` allows a close-delimited body (ended by the server FIN). */
function responseText(r: ResponseSpec, method: string, closeDelimited: boolean): string {
  const eol = r.bareLf ? '\n' : '\r\n';
  const interim = r.interim.map((s) => `HTTP/1.1 ${s} Interim${eol}${eol}`).join('');
  const noBody = method === 'HEAD' || r.status === 204 || r.status === 304;
  let fields: string;
  let body = '';
  if (closeDelimited && !noBody) {
    fields = '';
    body = r.body;
  } else if (r.chunkedBody) {
    fields = `Transfer-Encoding: chunked${eol}`;
    if (!noBody) body = chunked(r.body.length > 0 ? [r.body] : []);
  } else {
    fields = `Content-Length: ${r.body.length}${eol}`;
    if (!noBody) body = r.body;
  }
  return `${interim}HTTP/1.1 ${r.status} Status${eol}${fields}${eol}${body}`;
}

const conversationArb = fc.record({
  exchanges: fc.array(fc.tuple(requestArb, responseArb), { minLength: 1, maxLength: 6 }),
  closeDelimitedLast: fc.boolean(),
  pipelined: fc.boolean(),
});
type Conversation = typeof conversationArb extends fc.Arbitrary<infer T> ? T : never;

/** Steps exchange by exchange, or (pipelined) every request first; then FINs. */
function stepsOf(c: Conversation): Step[] {
  const requests = c.exchanges.map(([req]) => client(requestText(req)));
  const responses = c.exchanges.map(([req, res], i) =>
    server(responseText(res, req.method, c.closeDelimitedLast && i === c.exchanges.length - 1)),
  );
  const steps: Step[] = c.pipelined ? [...requests, ...responses] : requests.flatMap((r, i) => [r, responses[i]!]);
  return [...steps, fin('server'), fin('client')];
}

/** Splits every data step into pieces whose sizes cycle through `sizes`. */
const piecesOf = (sizes: number[]) => {
  let k = 0;
  return (data: Uint8Array): Uint8Array[] => {
    const out: Uint8Array[] = [];
    for (let at = 0; at < data.length;) {
      const size = sizes[k++ % sizes.length]!;
      out.push(data.subarray(at, at + size));
      at += size;
    }
    return out;
  };
};
/**
 * `split`, but each data step of a side after a gap on that side stays whole: a gap is how a capture
 * says bytes were not captured, and from then on a chunk is a captured segment, where the next
 * message may begin (decode/http1.ts, ST_RESYNC), so there chunk boundaries carry meaning.
 */
function wholeAfterGaps(
  steps: readonly Step[],
  split: (data: Uint8Array, index: number) => Uint8Array[],
): (data: Uint8Array, index: number) => Uint8Array[] {
  const firstGap = { client: Infinity, server: Infinity };
  steps.forEach((step, i) => {
    if ('gap' in step && step.gap > 0) firstGap[step.side] = Math.min(firstGap[step.side], i);
  });
  return (data, index) => (index > firstGap[steps[index]!.side] ? [data] : split(data, index));
}
const sizesArb = fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 30 });

describe('valid conversations', () => {
  it('are framed as generated: counts, status codes, no loss, nothing incomplete', () => {
    fc.assert(
      fc.property(conversationArb, (c) => {
        const { conn, log } = play(stepsOf(c));
        assert.deepEqual(
          log.filter((l) => l.startsWith('lost')),
          [],
        );
        assert.equal(conn.requests, c.exchanges.length);
        assert.deepEqual(
          conn.statusCodes,
          c.exchanges.map(([, res]) => res.status),
        );
        assert.equal(log.filter((l) => l.startsWith('requestEnd')).length, c.exchanges.length);
        assert.equal(log.filter((l) => l.startsWith('responseEnd')).length, c.exchanges.length);
        assert.deepEqual(conn.incomplete, { client: false, server: false });
        assert.equal(conn.notHttp, false);
      }),
      { numRuns: RUNS },
    );
  });

  it('give identical events however they are chunked', () => {
    fc.assert(
      fc.property(conversationArb, sizesArb, (c, sizes) => {
        const steps = stepsOf(c);
        const whole = play(steps);
        const split = play(steps, piecesOf(sizes));
        assert.deepEqual(split.log, whole.log);
        assert.deepEqual(split.conn.statusCodes, whole.conn.statusCodes);
        assert.equal(split.conn.requests, whole.conn.requests);
        assert.deepEqual(split.conn.incomplete, whole.conn.incomplete);
      }),
      { numRuns: RUNS },
    );
  });
});

// ------------------------------------------------------------------------------------------------
// Arbitrary input

/** Fragments that reach deep states (heads, chunked bodies, upgrades) mixed with raw bytes. */
const fragment = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      'GET / HTTP/1.1\r\n\r\n',
      'HEAD / HTTP/1.1\r\n\r\n',
      'POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n',
      'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n',
      'GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n',
      'CONNECT a:1 HTTP/1.1\r\n\r\n',
      'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n',
      'HTTP/1.1 200 OK\r\n\r\n',
      'HTTP/1.1 101 Switching\r\n\r\n',
      'HTTP/1.1 100 Continue\r\n\r\n',
      'HTTP/1.1 204 No\r\n\r\n',
    ),
  },
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      'GET / HTTP/1.1\r\n',
      'HTTP/1.1 200 OK\r\n',
      'Content-Length: 5\r\n',
      'Content-Length: x\r\n',
      'Transfer-Encoding: chunked\r\n',
      'Transfer-Encoding: gzip\r\n',
      'Upgrade: websocket\r\n',
      'Connection: close\r\n',
      '\r\n',
      '\n',
      '\r',
      '5\r\n',
      '5;x=y\r\n',
      '0\r\n',
      'ffffffffffffffffff\r\n',
      'abcde',
      ' ',
      ':',
    ),
  },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 24 }).map((b) => String.fromCharCode(...b)) },
);

const opArb = fc.oneof(
  {
    weight: 8,
    arbitrary: fc
      .tuple(fc.constantFrom('client' as const, 'server' as const), fc.array(fragment, { maxLength: 12 }))
      .map(([side, parts]): Step => ({ side, data: parts.join('') })),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom('client' as const, 'server' as const), fc.integer({ min: 0, max: 70 }))
      .map(([side, n]) => gap(side, n)),
  },
  { weight: 1, arbitrary: fc.constantFrom('client' as const, 'server' as const).map((side) => fin(side)) },
);
/** Half of the time the client starts with a request, so the framer gets past the notHttp check. */
const opsArb = fc
  .tuple(fc.boolean(), fc.array(opArb, { maxLength: 20 }))
  .map(([start, ops]) => (start ? [client('GET / HTTP/1.1\r\n\r\n'), ...ops] : ops));

describe('arbitrary input', () => {
  it('never throws; buffers stay within maxHeadBytes per direction; counts stay consistent', () => {
    fc.assert(
      fc.property(opsArb, fc.constantFrom(16, 64, 1024), sizesArb, (ops, maxHeadBytes, sizes) => {
        const { conn, maxBuffered } = play(ops, piecesOf(sizes), { maxHeadBytes, maxPendingRequests: 4 });
        assert.ok(maxBuffered <= 2 * maxHeadBytes, `buffered ${maxBuffered} > 2 × ${maxHeadBytes}`);
        assert.equal(conn.responses, conn.statusCodes.length);
        // (A server may answer before the client shows it is not HTTP, so responses can be > 0.)
        if (conn.notHttp) assert.equal(conn.requests, 0);
      }),
      { numRuns: RUNS * 3 },
    );
  });

  it('gives identical events however it is chunked (up to a gap: then a chunk is a segment)', () => {
    fc.assert(
      fc.property(opsArb, fc.constantFrom(16, 64, 1024), sizesArb, (ops, maxHeadBytes, sizes) => {
        const whole = play(ops, undefined, { maxHeadBytes, maxPendingRequests: 4 });
        const split = play(ops, wholeAfterGaps(ops, piecesOf(sizes)), { maxHeadBytes, maxPendingRequests: 4 });
        assert.deepEqual(split.log, whole.log);
        assert.equal(split.conn.notHttp, whole.conn.notHttp);
        assert.deepEqual(split.conn.incomplete, whole.conn.incomplete);
      }),
      { numRuns: RUNS * 3 },
    );
  });

  it('raw random bytes on both sides never throw', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.uint8Array({ maxLength: 200 })), { maxLength: 10 }), (chunks) => {
        const conn = new Http1Connection({}, { maxHeadBytes: 128 });
        for (const [isClient, bytes] of chunks) {
          if (isClient) conn.client(bytes, 0);
          else conn.server(bytes, 0);
          assert.ok(conn.bufferedBytes <= 256);
        }
        conn.end('client', 1);
        conn.end('server', 1);
      }),
      { numRuns: RUNS * 3 },
    );
  });

  it('a request-looking prefix followed by random bytes never throws', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (tail) => {
        const conn = new Http1Connection({});
        const head = latin1Bytes('POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n');
        conn.client(head, 0);
        conn.client(tail, 1);
        conn.gap('client', 3, 2);
        conn.end('client', 3);
      }),
      { numRuns: RUNS },
    );
  });
});
