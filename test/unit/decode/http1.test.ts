/**
 * HTTP/1.x framer: every framing rule of RFC 9112 section 6 (https://www.rfc-editor.org/rfc/rfc9112#section-6),
 * a whole conversation fed split at every offset and one byte at a time, gaps, FINs and garbage.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  Http1Connection,
  looksLikeHttpRequest,
  type HttpRequestInfo,
  type HttpResponseInfo,
} from '../../../src/decode/http1.js';
import {
  byteAtATime,
  chunked,
  client,
  cutAt,
  fin,
  gap,
  latin1Bytes,
  play,
  recorder,
  server,
  stepLength,
  type Step,
} from '../../support/http-fixtures.js';

const GET = (target: string, fields = ''): string => `GET ${target} HTTP/1.1\r\nHost: example.test\r\n${fields}\r\n`;
const OK = (body: string, fields = ''): string =>
  `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n${fields}\r\n${body}`;

describe('requests', () => {
  it('a request without body ends with its head', () => {
    const { log, conn } = play([client(GET('/'))]);
    assert.deepEqual(log, ['request GET / HTTP/1.1 keepAlive=true connection=- @0', 'requestEnd @0']);
    assert.equal(conn.requests, 1);
    assert.equal(conn.notHttp, false);
  });

  it('a Content-Length body ends after that many bytes, whatever they hold', () => {
    const { log } = play([
      client('POST /p HTTP/1.1\r\nContent-Length: 16\r\n\r\n'),
      client('GET / HTTP/1'),
      client('.1\r\n'),
      client(GET('/next')),
    ]);
    assert.deepEqual(log, [
      'request POST /p HTTP/1.1 keepAlive=true connection=- @0',
      'requestEnd @2',
      'request GET /next HTTP/1.1 keepAlive=true connection=- @3',
      'requestEnd @3',
    ]);
  });

  it('a chunked body with extensions, trailers and a long last-chunk', () => {
    const body =
      '4;name=value;quoted="a;b"\r\nWiki\r\n5 ; ext\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n' +
      '000\r\nExpires: never\r\nX-Sum: 1\r\n\r\n';
    const { log, conn } = play([
      client('POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n'),
      client(body),
      client(GET('/after')),
    ]);
    assert.deepEqual(log, [
      'request POST /c HTTP/1.1 keepAlive=true connection=- @0',
      'requestEnd @1',
      'request GET /after HTTP/1.1 keepAlive=true connection=- @2',
      'requestEnd @2',
    ]);
    assert.equal(conn.requests, 2);
  });

  it('empty lines before a request line are ignored (RFC 9112 2.2)', () => {
    const { log, conn } = play([client(`\r\n\r\n\n${GET('/')}\r\n${GET('/2')}`), fin('client')]);
    assert.equal(conn.requests, 2);
    assert.equal(conn.incomplete.client, false);
    assert.equal(log.filter((l) => l.startsWith('lost')).length, 0);
  });

  it('bare LF line endings are accepted (RFC 9112 2.2)', () => {
    const { conn, log } = play([
      client('POST / HTTP/1.1\nContent-Length: 3\n\nabcGET / HTTP/1.1\n\n'),
      server('HTTP/1.1 200 OK\nContent-Length: 0\n\n'),
    ]);
    assert.equal(conn.requests, 2);
    assert.equal(conn.responses, 1);
    assert.equal(log.filter((l) => l.startsWith('lost')).length, 0);
  });

  it('field names are case-insensitive and values trimmed', () => {
    const { log } = play([client('PUT /x HTTP/1.1\r\ncontent-LENGTH:   2  \r\nCONNECTION:Close\r\n\r\nhi')]);
    assert.deepEqual(log, ['request PUT /x HTTP/1.1 keepAlive=false connection=Close @0', 'requestEnd @0']);
  });

  it('ignores whitespace-preceded lines (obs-fold) instead of failing', () => {
    const { conn, log } = play([client('GET / HTTP/1.1\r\nX-Long: a\r\n  b\r\n\r\n')]);
    assert.equal(conn.requests, 1);
    assert.equal(log.filter((l) => l.startsWith('lost')).length, 0);
  });

  const obsTextName =
    'an uncommon method, the target and the Connection value keep every byte as one char ' +
    '(obs-text, ISO-8859-1), split or not';
  it(obsTextName, () => {
    const head = 'PROPFIND /caf\xe9?\x80\xff HTTP/1.1\r\nConnection: keep-alive, X-\xe9\r\n\r\n';
    const expected = [
      'request PROPFIND /caf\xe9?\x80\xff HTTP/1.1 keepAlive=true connection=keep-alive, X-\xe9 @0',
      'requestEnd @0',
    ];
    assert.deepEqual(play([client(latin1Bytes(head))]).log, expected);
    for (let at = 1; at < head.length; at++) {
      assert.deepEqual(
        play([client(latin1Bytes(head.slice(0, at)), 0), client(latin1Bytes(head.slice(at)), 0)]).log,
        expected,
        `cut at ${at}`,
      );
    }
  });
});

describe('persistence (RFC 9112 9.3)', () => {
  const keepAliveOf = (head: string): boolean => {
    let seen: HttpRequestInfo | null = null;
    const conn = new Http1Connection({ request: (r) => (seen = r) });
    conn.client(latin1Bytes(head), 0);
    assert.ok(seen, head);
    return (seen as HttpRequestInfo).keepAlive;
  };

  it('HTTP/1.1 persists unless Connection: close', () => {
    assert.equal(keepAliveOf('GET / HTTP/1.1\r\n\r\n'), true);
    assert.equal(keepAliveOf('GET / HTTP/1.1\r\nConnection: close\r\n\r\n'), false);
    assert.equal(keepAliveOf('GET / HTTP/1.1\r\nConnection: Upgrade, CLOSE\r\n\r\n'), false);
    assert.equal(keepAliveOf('GET / HTTP/1.1\r\nConnection: closed\r\n\r\n'), true);
  });

  it('HTTP/1.0 persists only with Connection: keep-alive', () => {
    assert.equal(keepAliveOf('GET / HTTP/1.0\r\n\r\n'), false);
    assert.equal(keepAliveOf('GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n'), true);
    assert.equal(keepAliveOf('GET / HTTP/1.0\r\nConnection: te\r\nConnection: ,keep-alive ,\r\n\r\n'), true);
    assert.equal(keepAliveOf('GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n'), false);
  });

  it('the Connection value is reported exactly as sent, whatever its case', () => {
    for (const value of [
      'keep-alive',
      'Keep-Alive',
      'keep-alivE',
      'close',
      'CLOSE',
      'Upgrade',
      'upgrade, close',
      'keep-alive, Upgrade',
      'keep-alive,Upgrade',
      'x',
    ]) {
      const { log } = play([client(`GET / HTTP/1.1\r\nConnection: ${value}\r\n\r\n`)]);
      assert.match(log[0]!, new RegExp(` connection=${value} @0$`), value);
    }
  });

  it('several Connection fields are joined', () => {
    const { log } = play([client('GET / HTTP/1.1\r\nConnection: te\r\nConnection: keep-alive\r\n\r\n')]);
    assert.equal(log[0], 'request GET / HTTP/1.1 keepAlive=true connection=te, keep-alive @0');
  });

  it('Transfer-Encoding with Content-Length, or in HTTP/1.0, obliges a close (RFC 9112 6.1)', () => {
    assert.equal(keepAliveOf('POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n'), false);
    assert.equal(keepAliveOf('POST / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n'), false);
  });

  it('a close-delimited response does not persist; a HTTP/1.0 one with keep-alive does', () => {
    const { log } = play([
      client(`${GET('/a')}${GET('/b')}`),
      server('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx'),
      server('HTTP/1.1 200 OK\r\n\r\nuntil close'),
      fin('server'),
    ]);
    assert.deepEqual(log.slice(4), [
      'response 200 HTTP/1.0 keepAlive=true connection=keep-alive for=GET /a @1',
      'responseEnd 200 for=GET /a @1',
      'response 200 HTTP/1.1 keepAlive=false connection=- for=GET /b @2',
      'responseEnd 200 for=GET /b @3',
    ]);
  });
});

describe('responses (RFC 9112 6.3)', () => {
  it('pairs pipelined responses with requests first in, first out', () => {
    const seen: HttpResponseInfo[] = [];
    const requests: HttpRequestInfo[] = [];
    const conn = new Http1Connection({ request: (r) => requests.push(r), response: (r) => seen.push(r) });
    conn.client(latin1Bytes(`${GET('/1')}${GET('/2')}${GET('/3')}`), 1);
    conn.server(latin1Bytes(`${OK('one')}${OK('two')}HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n`), 2);
    assert.deepEqual(
      seen.map((r) => r.request),
      requests,
    );
    assert.equal(seen[0]!.request, requests[0]);
    assert.deepEqual(conn.statusCodes, [200, 200, 404]);
    assert.equal(conn.responses, 3);
  });

  it('a response to HEAD has no body, whatever its Content-Length or Transfer-Encoding', () => {
    const { log, conn } = play([
      client(`HEAD /a HTTP/1.1\r\n\r\nHEAD /b HTTP/1.1\r\n\r\n${GET('/c')}`),
      server('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n'),
      server('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'),
      server(OK('body')),
    ]);
    assert.deepEqual(log.slice(6), [
      'response 200 HTTP/1.1 keepAlive=true connection=- for=HEAD /a @1',
      'responseEnd 200 for=HEAD /a @1',
      'response 200 HTTP/1.1 keepAlive=true connection=- for=HEAD /b @2',
      'responseEnd 200 for=HEAD /b @2',
      'response 200 HTTP/1.1 keepAlive=true connection=- for=GET /c @3',
      'responseEnd 200 for=GET /c @3',
    ]);
    assert.equal(conn.responses, 3);
  });

  it('1xx are interim: reported, not counted, followed by the final response (RFC 9110 15.2)', () => {
    const { log, conn } = play([
      client('POST /u HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n'),
      server('HTTP/1.1 100 Continue\r\n\r\n'),
      client('data'),
      server('HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n'),
      server(OK('done')),
    ]);
    assert.deepEqual(log, [
      'request POST /u HTTP/1.1 keepAlive=true connection=- @0',
      'response 100 informational HTTP/1.1 keepAlive=true connection=- for=POST /u @1',
      'requestEnd @2',
      'response 103 informational HTTP/1.1 keepAlive=true connection=- for=POST /u @3',
      'response 200 HTTP/1.1 keepAlive=true connection=- for=POST /u @4',
      'responseEnd 200 for=POST /u @4',
    ]);
    assert.equal(conn.responses, 1);
    assert.deepEqual(conn.statusCodes, [200]);
  });

  it('204 and 304 have no body even with Content-Length or Transfer-Encoding', () => {
    const { log, conn } = play([
      client(`${GET('/a')}${GET('/b')}${GET('/c')}`),
      server('HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n'),
      server('HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n'),
      server(OK('c')),
    ]);
    assert.deepEqual(conn.statusCodes, [204, 304, 200]);
    assert.equal(log.filter((l) => l.startsWith('responseEnd')).length, 3);
  });

  it('a chunked response with trailers', () => {
    const { log } = play([
      client(GET('/')),
      server(
        'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n' +
          chunked(['abc', 'defgh'], { ext: ';x=1', trailers: ['Digest: x'] }),
      ),
      client(GET('/2')),
      server(OK('')),
    ]);
    assert.deepEqual(
      log.filter((l) => l.startsWith('responseEnd')),
      ['responseEnd 200 for=GET / @1', 'responseEnd 200 for=GET /2 @3'],
    );
  });

  it('Transfer-Encoding overrides Content-Length (RFC 9112 6.3 rule 3)', () => {
    const { conn, log } = play([
      client('POST / HTTP/1.1\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'),
      client(GET('/2')),
      server(`HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n${chunked(['x'])}`),
      server(OK('y')),
    ]);
    assert.equal(conn.requests, 2);
    assert.equal(conn.responses, 2);
    assert.equal(log.filter((l) => l.startsWith('lost')).length, 0);
  });

  it('a response whose Transfer-Encoding does not end in chunked is delimited by close', () => {
    const { log } = play([
      client(GET('/')),
      server('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nxxxxx'),
      fin('server', 9),
    ]);
    assert.deepEqual(log.slice(2), [
      'response 200 HTTP/1.1 keepAlive=false connection=- for=GET / @1',
      'responseEnd 200 for=GET / @9',
    ]);
  });

  it('a response without Content-Length or chunked ends at the server FIN', () => {
    const { log, conn } = play([
      client(GET('/')),
      server('HTTP/1.0 200 OK\r\n\r\n'),
      server('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n'),
      fin('server', 7),
    ]);
    assert.equal(log.at(-1), 'responseEnd 200 for=GET / @7');
    assert.equal(conn.incomplete.server, false);
    assert.equal(conn.responses, 1);
  });

  it('a response that comes before any request is framed with request null, and pairing stays aligned', () => {
    const { log } = play([
      server('HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n'),
      client(GET('/late')),
      client(GET('/next')),
      server(OK('n')),
    ]);
    assert.equal(log[0], 'response 408 HTTP/1.1 keepAlive=true connection=- for=- @0');
    assert.equal(log.at(-2), 'response 200 HTTP/1.1 keepAlive=true connection=- for=GET /next @3');
  });

  it('accepts a status line without reason phrase; rejects other versions', () => {
    assert.equal(play([client(GET('/')), server('HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n')]).conn.responses, 1);
    const { log, conn } = play([client(GET('/')), server('HTTP/2.0 200 OK\r\n\r\n')]);
    assert.equal(conn.responses, 0);
    assert.equal(log.at(-1), 'lost server at 0: malformed status line');
  });
});

describe('switching protocols', () => {
  it('101 turns both directions opaque (RFC 9110 7.8)', () => {
    const { log, conn } = play([
      client('GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n'),
      server('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x05hello'),
      client('\x81\x85\x00\x00\x00\x00hello not http at all\r\n\r\n'),
      gap('server', 100),
      server('more frames'),
      fin('client'),
      fin('server'),
    ]);
    assert.deepEqual(log, [
      'request GET /ws HTTP/1.1 keepAlive=true connection=Upgrade @0',
      'requestEnd @0',
      'response 101 HTTP/1.1 keepAlive=true connection=Upgrade for=GET /ws @1',
      'responseEnd 101 for=GET /ws @1',
      'upgrade server @1',
      'upgrade client @1',
    ]);
    assert.deepEqual(conn.statusCodes, [101]);
    assert.deepEqual(conn.incomplete, { client: false, server: false });
  });

  it('client bytes sent before the 101 arrives are opaque too', () => {
    const { log } = play([
      client(
        'GET /h2 HTTP/1.1\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n' +
          'HTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n',
      ),
      client('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00'),
      server('HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n'),
    ]);
    assert.deepEqual(log.slice(-2), ['upgrade server @2', 'upgrade client @2']);
    assert.equal(log.filter((l) => l.startsWith('lost')).length, 0);
  });

  it('a refused Upgrade lets the client go on in HTTP/1.1, held requests included', () => {
    // The held request is framed as soon as the refusal's head is known, with its own timestamp.
    const { log, conn } = play([
      client('GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n'),
      client(GET('/pipelined')),
      server(OK('no upgrade for you')),
      server(OK('p')),
    ]);
    assert.equal(conn.requests, 2);
    assert.deepEqual(conn.statusCodes, [200, 200]);
    assert.deepEqual(log.slice(2), [
      'response 200 HTTP/1.1 keepAlive=true connection=- for=GET /ws @2',
      'request GET /pipelined HTTP/1.1 keepAlive=true connection=- @1',
      'requestEnd @1',
      'responseEnd 200 for=GET /ws @2',
      'response 200 HTTP/1.1 keepAlive=true connection=- for=GET /pipelined @3',
      'responseEnd 200 for=GET /pipelined @3',
    ]);
  });

  it('a 2xx to CONNECT makes a tunnel (RFC 9110 9.3.6), its Content-Length ignored', () => {
    const { log, conn } = play([
      client('CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\n\x16\x03\x01\x02\x00'),
      server('HTTP/1.1 200 Connection Established\r\nContent-Length: 10\r\n\r\n\x16\x03\x03'),
      client('\x17\x03\x03'),
    ]);
    assert.deepEqual(log.slice(2), [
      'response 200 HTTP/1.1 keepAlive=true connection=- for=CONNECT example.test:443 @1',
      'responseEnd 200 for=CONNECT example.test:443 @1',
      'upgrade server @1',
      'upgrade client @1',
    ]);
    assert.equal(conn.notHttp, false);
  });

  it('a refused CONNECT keeps both sides in HTTP', () => {
    const { conn, log } = play([
      client('CONNECT example.test:443 HTTP/1.1\r\n\r\n'),
      server('HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 4\r\n\r\ndeny'),
      client('CONNECT example.test:443 HTTP/1.1\r\nProxy-Authorization: Basic eDp5\r\n\r\n'),
      server('HTTP/1.1 200 OK\r\n\r\n'),
    ]);
    assert.deepEqual(conn.statusCodes, [407, 200]);
    assert.equal(log.filter((l) => l.startsWith('upgrade')).length, 2);
  });

  it('a 101 during a request body switches the client after that body', () => {
    const { log } = play([
      client('POST /up HTTP/1.1\r\nUpgrade: h2c\r\nContent-Length: 6\r\n\r\nabc'),
      server('HTTP/1.1 101 Switching Protocols\r\n\r\n'),
      client('def'),
      client('binary'),
    ]);
    assert.deepEqual(log.slice(-4), [
      'responseEnd 101 for=POST /up @1',
      'upgrade server @1',
      'requestEnd @2',
      'upgrade client @2',
    ]);
  });

  it('bytes held while an upgrade is pending are bounded', () => {
    const { log, maxBuffered } = play(
      [client('GET / HTTP/1.1\r\nUpgrade: x\r\n\r\n'), client('y'.repeat(300)), client('y'.repeat(300))],
      undefined,
      { maxHeadBytes: 512 },
    );
    assert.ok(maxBuffered <= 512, `${maxBuffered}`);
    assert.match(log.at(-1)!, /^lost client at 30: more than 512 bytes sent before the answer/);
  });
});

describe('malformed input', () => {
  it('invalid or conflicting Content-Length loses framing for that direction', () => {
    for (const value of ['abc', '-1', '1e3', '5, 6', '', '99999999999999999999']) {
      const { log, conn } = play([
        client(`POST / HTTP/1.1\r\nContent-Length: ${value}\r\n\r\nhello`),
        client(GET('/2')),
      ]);
      assert.equal(conn.requests, 1, value);
      assert.match(log.at(-1)!, /^lost client at \d+: invalid Content-Length$/, value);
    }
    const conflicting = play([client('POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n')]);
    assert.match(conflicting.log.at(-1)!, /invalid Content-Length/);
  });

  it('identical Content-Length values are accepted (RFC 9110 8.6)', () => {
    const { conn, log } = play([
      client('POST / HTTP/1.1\r\nContent-Length: 5, 5\r\nContent-Length: 5\r\n\r\nhello'),
      client(GET('/2')),
    ]);
    assert.equal(conn.requests, 2);
    assert.equal(log.filter((l) => l.startsWith('lost')).length, 0);
  });

  it('Content-Length with leading zeros, short or long, is its number', () => {
    for (const value of ['000000000000005', '0000000000000005', '0005, 5', '5']) {
      const { conn, log } = play([
        client(`POST / HTTP/1.1\r\nContent-Length: ${value}\r\n\r\nhello`),
        client(GET('/2')),
      ]);
      assert.equal(conn.requests, 2, value);
      assert.equal(log.filter((l) => l.startsWith('lost')).length, 0, value);
    }
  });

  it('a request whose Transfer-Encoding does not end in chunked cannot be framed', () => {
    const { log, conn } = play([client('POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nxx'), client(GET('/'))]);
    assert.equal(conn.requests, 1);
    assert.equal(log.at(-1), 'lost client at 44: request Transfer-Encoding does not end in chunked');
  });

  it('a response with an invalid Content-Length is counted, then framing is lost', () => {
    const { log, conn } = play([
      client(GET('/')),
      server('HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n'),
      server('HTTP/1.1 200 OK\r\n\r\n'),
    ]);
    assert.equal(conn.responses, 1);
    assert.equal(log.at(-1), 'lost server at 39: invalid Content-Length');
  });

  it('a malformed header field loses framing at the start of its head', () => {
    const { log, conn } = play([client(`${GET('/')}GET /2 HTTP/1.1\r\nBad Name: x\r\n\r\n`), client(GET('/3'))]);
    assert.equal(conn.requests, 1);
    assert.equal(conn.notHttp, false);
    assert.equal(log.at(-1), `lost client at ${GET('/').length}: malformed header field`);
  });

  it('a malformed chunk size or missing CRLF after chunk data loses framing', () => {
    const head = 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n';
    assert.equal(play([client(`${head}zz\r\n`)]).log.at(-1), `lost client at ${head.length}: malformed chunk size`);
    assert.equal(play([client(`${head}3 x\r\n`)]).log.at(-1), `lost client at ${head.length}: malformed chunk size`);
    assert.equal(
      play([client(`${head}3\r\nabcX`)]).log.at(-1),
      `lost client at ${head.length + 6}: no CRLF after chunk data`,
    );
    assert.equal(
      play([client(`${head}3\r\nabc\r\r\n`)]).log.at(-1),
      `lost client at ${head.length + 7}: no CRLF after chunk data`,
    );
    assert.match(play([client(`${head}${'f'.repeat(20)}\r\n`)]).log.at(-1)!, /chunk size too large/);
  });

  it('a head larger than maxHeadBytes loses framing; memory stays bounded', () => {
    const big = `GET / HTTP/1.1\r\n${'X-Filler: 0123456789\r\n'.repeat(100)}\r\n`;
    for (const split of [undefined, byteAtATime]) {
      const { log, conn, maxBuffered } = play([client(GET('/ok')), client(big), client(GET('/never'))], split, {
        maxHeadBytes: 1024,
      });
      assert.equal(conn.requests, 1);
      assert.equal(log.at(-1), `lost client at ${GET('/ok').length}: head larger than 1024 bytes`);
      assert.ok(maxBuffered <= 1024, `${maxBuffered}`);
    }
  });

  it('a trailer section larger than maxHeadBytes loses framing', () => {
    const { log } = play(
      [client(`POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n${'T: x\r\n'.repeat(100)}\r\n`)],
      undefined,
      {
        maxHeadBytes: 256,
      },
    );
    assert.match(log.at(-1)!, /^lost client at 50: trailer section larger than 256 bytes$/);
  });

  it('bytes after end() are ignored', () => {
    const { conn } = play([client(GET('/')), fin('client'), client(GET('/after'))]);
    assert.equal(conn.requests, 1);
  });
});

describe('not HTTP', () => {
  const notHttp = (first: string | Uint8Array): Http1Connection => {
    const log: string[] = [];
    const conn = new Http1Connection(recorder(log));
    conn.client(typeof first === 'string' ? latin1Bytes(first) : first, 0);
    conn.server(latin1Bytes('HTTP/1.1 200 OK\r\n\r\n'), 1);
    conn.end('server', 2);
    assert.deepEqual(log, [], 'no events at all');
    return conn;
  };

  it('sets notHttp for TLS, SSH, HTTP/2 prior knowledge, text, and stops both sides', () => {
    for (const first of [
      '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03',
      'SSH-2.0-OpenSSH_9.6\r\n',
      'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
      'hello world\r\n',
      'GET /\r\n',
      'GET / HTTP/1.1 extra\r\n',
      'get / http/1.1\r\n',
      ' GET / HTTP/1.1\r\n',
      `${'A'.repeat(40)} / HTTP/1.1\r\n`,
    ]) {
      assert.equal(notHttp(first).notHttp, true, JSON.stringify(first));
    }
  });

  it('decides from the first bytes, before any line ends', () => {
    const conn = new Http1Connection({});
    conn.client(latin1Bytes('\x16'), 0);
    assert.equal(conn.notHttp, true);
    const http = new Http1Connection({});
    http.client(latin1Bytes('GET /very-long-target'), 0);
    assert.equal(http.notHttp, false);
  });

  it('a first line longer than maxHeadBytes: notHttp if it stops looking like a request line, else lost', () => {
    const garbage = new Http1Connection({}, { maxHeadBytes: 64 });
    garbage.client(latin1Bytes(`GET /${'a'.repeat(30)}\x00${'b'.repeat(100)}`), 0);
    assert.equal(garbage.notHttp, true);
    const lost: string[] = [];
    const long = new Http1Connection({ lost: (_s, reason) => lost.push(reason) }, { maxHeadBytes: 64 });
    long.client(latin1Bytes(`GET /${'a'.repeat(100)}`), 0);
    assert.equal(long.notHttp, false);
    assert.deepEqual(lost, ['head larger than 64 bytes']);
  });

  it('later malformed requests are lost, not notHttp', () => {
    const { conn, log } = play([client(GET('/')), client('\x16\x03\x01')]);
    assert.equal(conn.notHttp, false);
    assert.equal(log.at(-1), `lost client at ${GET('/').length}: malformed request line`);
  });

  it('a server that is not HTTP is lost on the server side only', () => {
    const { conn, log } = play([client(GET('/')), server('220 smtp.example.test ESMTP\r\n'), client(GET('/2'))]);
    assert.equal(conn.notHttp, false);
    assert.equal(conn.requests, 2);
    assert.equal(log.filter((l) => l.startsWith('lost')).join(), 'lost server at 0: malformed status line');
  });
});

describe('looksLikeHttpRequest', () => {
  const yes = [
    'GET / HTTP/1.1\r\n',
    'GET ',
    'POST /x HT',
    '\r\nDELETE /a HTTP/1.0\r\nHost: x\r\n',
    'M-SEARCH * HTTP/1.1\r\n',
    'GET /a HTTP/1.1',
    'get / HTTP/1.1\r\n',
  ];
  const no = [
    '',
    'GET',
    '\r\n',
    '\x16\x03\x01',
    'GET  /',
    'PRI * HTTP/2.0\r\n',
    'GET / HTTP/1.1x',
    'GET /\r\n',
    'GET / http/1.1\r\n',
    `${'X'.repeat(33)} /`,
  ];
  for (const text of yes)
    it(`yes: ${JSON.stringify(text)}`, () => assert.equal(looksLikeHttpRequest(latin1Bytes(text)), true));
  for (const text of no)
    it(`no: ${JSON.stringify(text)}`, () => assert.equal(looksLikeHttpRequest(latin1Bytes(text)), false));
});

describe('gaps', () => {
  it('inside a Content-Length body are counted', () => {
    const { log, conn } = play([
      client('POST / HTTP/1.1\r\nContent-Length: 10000\r\n\r\nabc'),
      gap('client', 9990),
      client('1234567'),
      client(GET('/2')),
    ]);
    assert.equal(conn.requests, 2);
    assert.deepEqual(
      log.filter((l) => l.startsWith('requestEnd')),
      ['requestEnd @2', 'requestEnd @3'],
    );
  });

  it('that end exactly at the end of a body complete the message', () => {
    const { log } = play([
      client(GET('/')),
      server('HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n'),
      gap('server', 5000, 7),
      server(OK('')),
    ]);
    assert.equal(log.filter((l) => l.startsWith('lost')).length, 0);
    assert.ok(log.includes('responseEnd 200 for=GET / @7'));
  });

  it('inside chunk data and close-delimited bodies are counted', () => {
    const head = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n';
    const { log, conn } = play([
      client(`${GET('/a')}${GET('/b')}`),
      server(`${head}1000\r\nab`),
      gap('server', 0x1000 - 2),
      server('\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n\r\nabc'),
      gap('server', 1_000_000),
      fin('server'),
    ]);
    assert.deepEqual(conn.statusCodes, [200, 200]);
    assert.equal(log.filter((l) => l.startsWith('lost')).length, 0);
    assert.equal(log.at(-1), 'responseEnd 200 for=GET /b @5');
  });

  it('running past the end of a body loses framing where the next head began', () => {
    const head = 'POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n';
    const { log } = play([client(`${head}abc`), gap('client', 20)]);
    assert.equal(log.at(-1), `lost client at ${head.length + 10}: bytes missing past the end of a body`);
  });

  it('between messages, or in a head whose start was not captured, lose framing', () => {
    const between = play([client(GET('/')), gap('client', 1)]);
    assert.match(between.log.at(-1)!, /^lost client at 38: /);
    // "GE": no method told yet (tshark does not count it either).
    const noMethod = play([client(GET('/')), client('GE'), gap('client', 30)]);
    assert.equal(noMethod.log.at(-1), 'lost client at 40: 30 bytes missing where a head or chunk framing was expected');
    assert.equal(noMethod.conn.requests, 1);
    // "HTTP/1.1 2": no status told yet.
    const noStatus = play([client(GET('/')), server('HTTP/1.1 2'), gap('server', 30)]);
    assert.equal(noStatus.conn.responses, 0);
    assert.match(noStatus.log.at(-1)!, /^lost server at 10: /);
  });

  it('inside a head after its start: the message counts, cut; the next chunk with a start line is the next', () => {
    const inHead = play([
      client('GET / HTTP/1.1\r\nHo'),
      gap('client', 5),
      client('\r\n\r\n'), // the rest of the same segment's head: not a start line
      server('HTTP/1.1 200 OK\r\nContent-Length: 2'),
      gap('server', 40),
      client(GET('/b')),
      server(OK('hi')),
    ]);
    assert.deepEqual(inHead.log, [
      'request GET / HTTP/1.1 keepAlive=true connection=- cut @1',
      'response 200 HTTP/1.1 keepAlive=true connection=- for=GET / cut @4',
      // Its end: the server's last bytes before the next request.
      'responseEnd 200 for=GET / @4',
      'request GET /b HTTP/1.1 keepAlive=true connection=- @5',
      'requestEnd @5',
      'response 200 HTTP/1.1 keepAlive=true connection=- for=GET /b @6',
      'responseEnd 200 for=GET /b @6',
    ]);
  });

  it('inside a start line: counted once the method or the status is told', () => {
    const { log, conn } = play([
      client('DELETE /items/4'),
      gap('client', 200),
      server('HTTP/1.0 404 Not F'),
      gap('server', 300),
      client('PATCH '),
      gap('client', 100),
      server('HTTP/1.1 204'),
      gap('server', 3),
    ]);
    assert.deepEqual(log, [
      'request DELETE /items/4 HTTP/ keepAlive=true connection=- cut @1',
      'response 404 HTTP/1.0 keepAlive=true connection=- for=DELETE /items/4 cut @3',
      'responseEnd 404 for=DELETE /items/4 @3',
      'request PATCH  HTTP/ keepAlive=true connection=- cut @5',
      'response 204 HTTP/1.1 keepAlive=true connection=- for=PATCH  cut @7',
    ]);
    assert.deepEqual(conn.statusCodes, [404, 204]);
  });

  it('a cut head says close only when its captured part did', () => {
    const { log } = play([
      client('GET / HTTP/1.1\r\nConnection: close\r\nHost: a'),
      gap('client', 10),
      server('HTTP/1.0 200 OK\r\nServer: x'),
      gap('server', 10),
    ]);
    assert.deepEqual(log, [
      'request GET / HTTP/1.1 keepAlive=false connection=close cut @1',
      'response 200 HTTP/1.0 keepAlive=true connection=- for=GET / cut @3',
    ]);
  });

  it('after a cut head, no message starts inside a body whose Content-Length was captured', () => {
    const body = 'GET /not-a-request HTTP/1.1\r\n\r\n'.padEnd(100, 'x');
    const { conn } = play([
      client('POST /upload HTTP/1.1\r\nContent-Length: 200\r\nX-Pad: 1'),
      gap('client', 20),
      client(body), // a later segment of the body that happens to look like a request
      gap('client', 100), // 220 bytes since the cut: the body of 200 may have ended
      client(GET('/next')),
    ]);
    assert.equal(conn.requests, 2);
  });

  it('in chunk framing: the message was counted, its end is the next start line', () => {
    const { log, conn } = play([
      client('POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde'),
      gap('client', 2),
      client('\r\n0\r\n\r\n'),
      client(GET('/b')),
    ]);
    assert.equal(conn.requests, 2);
    assert.equal(log.filter((l) => l.startsWith('lost')).length, 0);
    assert.deepEqual(
      log.filter((l) => l.startsWith('cut')),
      ['cut client'],
    );
  });

  it('of zero bytes do nothing', () => {
    const { log } = play([client('GET / HTTP/1.1\r\n'), gap('client', 0), client('\r\n')]);
    assert.equal(log.length, 2);
  });

  it('bodies of many gigabytes are counted as numbers', () => {
    const size = 5 * 1024 ** 3;
    const { conn, log } = play([
      client(GET('/big')),
      server(`HTTP/1.1 200 OK\r\nContent-Length: ${size}\r\n\r\n`),
      gap('server', size - 3),
      server('xyz'),
      server(OK('')),
    ]);
    assert.equal(conn.responses, 2);
    assert.ok(log.includes('responseEnd 200 for=GET /big @3'));
  });
});

describe('end of stream', () => {
  it('a request cut in its head or body is incomplete; a clean end is not', () => {
    assert.equal(play([client('GET / HTTP/1.1\r\nHost'), fin('client')]).conn.incomplete.client, true);
    assert.equal(
      play([client('POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\nabc'), fin('client')]).conn.incomplete.client,
      true,
    );
    assert.equal(play([client(GET('/')), fin('client')]).conn.incomplete.client, false);
    assert.equal(play([fin('client')]).conn.incomplete.client, false);
  });

  it('a response cut in its body is incomplete and has no responseEnd', () => {
    const { conn, log } = play([
      client(GET('/')),
      server('HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc'),
      fin('server'),
    ]);
    assert.deepEqual(conn.incomplete, { client: false, server: true });
    assert.equal(conn.responses, 1);
    assert.equal(log.filter((l) => l.startsWith('responseEnd')).length, 0);
  });

  it('a chunked response cut before its last chunk is incomplete', () => {
    const { conn } = play([
      client(GET('/')),
      server(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n`),
      fin('server'),
    ]);
    assert.equal(conn.incomplete.server, true);
  });

  it('requests still awaiting an answer when the server closes are not incomplete', () => {
    const { conn } = play([client(`${GET('/a')}${GET('/b')}`), server(OK('a')), fin('server')]);
    assert.deepEqual(conn.incomplete, { client: false, server: false });
    assert.equal(conn.requests - conn.responses, 1);
  });
});

describe('pending queue bound', () => {
  it('plain requests beyond maxPendingRequests are counted and their responses stay aligned', () => {
    const requests = Array.from({ length: 6 }, (_, i) => GET(`/${i}`)).join('');
    const responses = Array.from({ length: 6 }, () => OK('x')).join('');
    const { conn, log } = play([client(requests), server(responses)], undefined, { maxPendingRequests: 2 });
    assert.equal(conn.requests, 6);
    assert.equal(conn.responses, 6);
    assert.deepEqual(
      log.filter((l) => l.startsWith('response ')).map((l) => / for=(.*) @/.exec(l)![1]),
      ['GET /0', 'GET /1', '-', '-', '-', '-'],
    );
  });

  it('a HEAD beyond the bound gives up server framing rather than guess', () => {
    const { log } = play([client(`${GET('/0')}${GET('/1')}HEAD /2 HTTP/1.1\r\n\r\n`)], undefined, {
      maxPendingRequests: 2,
    });
    assert.equal(log.at(-3), 'lost server at 0: more than 2 requests await a response');
  });
});

describe('a whole conversation, split anywhere', () => {
  // Pipelined requests (incl. HEAD), a chunked response with trailers, 100-continue, 204, 304 and a
  // close-delimited response at the end.
  const conversation: Step[] = [
    client(
      `${GET('/a')}HEAD /b HTTP/1.1\r\nHost: x\r\n\r\n` +
        'POST /c HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello world' +
        `${GET('/d')}${GET('/e', 'If-None-Match: "x"\r\n')}`,
    ),
    server(`${OK('aaaa', 'Content-Type: text/plain\r\n')}HTTP/1.1 200 OK\r\nContent-Length: 123\r\n\r\n`),
    server(
      'HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n' +
        chunked(['12345', 'abcdefghijklmnopq'], { ext: ';n=v', trailers: ['X-A: 1', 'X-B: 2'] }),
    ),
    server('HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\nETag: "x"\r\n\r\n'),
    client('PUT /f HTTP/1.1\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n'),
    server('HTTP/1.1 100 Continue\r\n\r\n'),
    client(`${chunked(['part one;', 'part two'], { trailers: ['Checksum: 1'] })}\r\n`),
    server('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'),
    client('GET /g HTTP/1.0\r\n\r\n'),
    server('HTTP/1.0 200 OK\r\nServer: old\r\n\r\nuntil the server closes\r\n\r\nGET / HTTP/1.1\r\n'),
    fin('server'),
    fin('client'),
  ];
  const reference = play(conversation);

  it('gives the expected events whole', () => {
    assert.deepEqual(reference.log, [
      'request GET /a HTTP/1.1 keepAlive=true connection=- @0',
      'requestEnd @0',
      'request HEAD /b HTTP/1.1 keepAlive=true connection=- @0',
      'requestEnd @0',
      'request POST /c HTTP/1.1 keepAlive=true connection=- @0',
      'requestEnd @0',
      'request GET /d HTTP/1.1 keepAlive=true connection=- @0',
      'requestEnd @0',
      'request GET /e HTTP/1.1 keepAlive=true connection=- @0',
      'requestEnd @0',
      'response 200 HTTP/1.1 keepAlive=true connection=- for=GET /a @1',
      'responseEnd 200 for=GET /a @1',
      'response 200 HTTP/1.1 keepAlive=true connection=- for=HEAD /b @1',
      'responseEnd 200 for=HEAD /b @1',
      'response 201 HTTP/1.1 keepAlive=true connection=- for=POST /c @2',
      'responseEnd 201 for=POST /c @2',
      'response 204 HTTP/1.1 keepAlive=true connection=- for=GET /d @3',
      'responseEnd 204 for=GET /d @3',
      'response 304 HTTP/1.1 keepAlive=true connection=- for=GET /e @3',
      'responseEnd 304 for=GET /e @3',
      'request PUT /f HTTP/1.1 keepAlive=true connection=- @4',
      'response 100 informational HTTP/1.1 keepAlive=true connection=- for=PUT /f @5',
      'requestEnd @6',
      'response 200 HTTP/1.1 keepAlive=true connection=- for=PUT /f @7',
      'responseEnd 200 for=PUT /f @7',
      'request GET /g HTTP/1.0 keepAlive=false connection=- @8',
      'requestEnd @8',
      'response 200 HTTP/1.0 keepAlive=false connection=- for=GET /g @9',
      'responseEnd 200 for=GET /g @10',
    ]);
    assert.equal(reference.conn.requests, 7);
    assert.equal(reference.conn.responses, 7);
    assert.deepEqual(reference.conn.statusCodes, [200, 200, 201, 204, 304, 200, 200]);
    assert.deepEqual(reference.conn.incomplete, { client: false, server: false });
    assert.equal(reference.conn.notHttp, false);
  });

  it('gives the same events split at every offset of every step', () => {
    let runs = 0;
    conversation.forEach((step, index) => {
      for (let offset = 0; offset <= stepLength(step); offset++) {
        const { log, conn } = play(conversation, cutAt(index, offset));
        assert.deepEqual(log, reference.log, `step ${index} cut at ${offset}`);
        assert.deepEqual(conn.statusCodes, reference.conn.statusCodes);
        runs++;
      }
    });
    assert.ok(runs > 800, `${runs} runs`);
  });

  it('gives the same events fed one byte at a time', () => {
    const { log, conn, maxBuffered } = play(conversation, byteAtATime);
    assert.deepEqual(log, reference.log);
    assert.deepEqual(conn.incomplete, reference.conn.incomplete);
    assert.ok(maxBuffered <= 2 * 1024, `${maxBuffered}`);
  });

  it('gives the same counts with each stream fed whole, client first', () => {
    const clientBytes = conversation
      .filter((s) => s.side === 'client' && 'data' in s)
      .map((s) => ('data' in s ? s.data : ''))
      .join('');
    const serverBytes = conversation
      .filter((s) => s.side === 'server' && 'data' in s)
      .map((s) => ('data' in s ? s.data : ''))
      .join('');
    const { conn } = play([client(clientBytes), server(serverBytes), fin('server'), fin('client')]);
    assert.deepEqual(conn.statusCodes, reference.conn.statusCodes);
    assert.equal(conn.requests, reference.conn.requests);
  });

  it('with { targets: false } gives the same events, every target empty', () => {
    const log: string[] = [];
    const targets: string[] = [];
    const events = recorder(log);
    const conn = new Http1Connection(
      {
        ...events,
        request: (r) => {
          targets.push(r.target);
          events.request!(r);
        },
      },
      { targets: false },
    );
    conversation.forEach((step, index) => {
      const ts = step.ts ?? index;
      if ('data' in step) conn[step.side](typeof step.data === 'string' ? latin1Bytes(step.data) : step.data, ts);
      else if ('end' in step) conn.end(step.side, ts);
    });
    assert.deepEqual(targets, ['', '', '', '', '', '', '']);
    // The reference log without the targets ("GET /a" -> "GET ").
    assert.deepEqual(
      log,
      reference.log.map((l) => l.replace(/(request |for=)([A-Z]+) \S+/, '$1$2 ')),
    );
    assert.deepEqual(conn.statusCodes, reference.conn.statusCodes);
    assert.deepEqual(conn.incomplete, reference.conn.incomplete);
  });
});
