/**
 * The persistence rule of RFC 9112 section 9.3 (https://www.rfc-editor.org/rfc/rfc9112#section-9.3),
 * written once in decode/http1.ts: `isPersistent(minor, options)`, with the Connection options
 * (RFC 9110 7.6.1) parsed from bytes by the framer and from strings by `connectionOptions` (what the
 * lab server's accounting sees in Node's messages). Both parsers must agree on every value.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ConnectionOption,
  Http1Connection,
  connectionOptions,
  isPersistent,
  type HttpRequestInfo,
  type HttpResponseInfo,
} from '../../../src/decode/http1.js';

const { CLOSE, KEEP_ALIVE } = ConnectionOption;

describe('isPersistent (RFC 9112 9.3)', () => {
  it('HTTP/1.1 persists unless "close"', () => {
    assert.equal(isPersistent(1, 0), true);
    assert.equal(isPersistent(1, KEEP_ALIVE), true);
    assert.equal(isPersistent(1, CLOSE), false);
    assert.equal(isPersistent(1, CLOSE | KEEP_ALIVE), false);
  });

  it('HTTP/1.0 persists only with "keep-alive", and never with "close"', () => {
    assert.equal(isPersistent(0, 0), false);
    assert.equal(isPersistent(0, KEEP_ALIVE), true);
    assert.equal(isPersistent(0, CLOSE), false);
    assert.equal(isPersistent(0, CLOSE | KEEP_ALIVE), false);
  });

  it('a later HTTP/1.x minor version is taken as 1.1', () => {
    assert.equal(isPersistent(2, 0), true);
    assert.equal(isPersistent(9, CLOSE), false);
  });
});

describe('connectionOptions: Connection values as strings', () => {
  it('no field, an empty one, or other options: none', () => {
    assert.equal(connectionOptions(undefined), 0);
    assert.equal(connectionOptions(null), 0);
    assert.equal(connectionOptions(''), 0);
    assert.equal(connectionOptions('Upgrade, te'), 0);
  });

  it('tokens in any case, in a list with empty elements and whitespace', () => {
    assert.equal(connectionOptions('close'), CLOSE);
    assert.equal(connectionOptions('Close'), CLOSE);
    assert.equal(connectionOptions('KEEP-ALIVE'), KEEP_ALIVE);
    assert.equal(connectionOptions(' , Upgrade ,\tkeep-alive ,'), KEEP_ALIVE);
    assert.equal(connectionOptions('keep-alive, close'), CLOSE | KEEP_ALIVE);
  });

  it('whole tokens only: "closed", "not-close" and "keep-alive=5" are other options', () => {
    assert.equal(connectionOptions('closed'), 0);
    assert.equal(connectionOptions('not-close'), 0);
    assert.equal(connectionOptions('keep-alive=5'), 0);
    assert.equal(connectionOptions('x-close, keepalive'), 0);
  });

  it('several fields (an array of values) add up', () => {
    assert.equal(connectionOptions(['te', 'close']), CLOSE);
    assert.equal(connectionOptions(['keep-alive', 'Upgrade']), KEEP_ALIVE);
    assert.equal(connectionOptions([]), 0);
  });
});

describe('the framer and connectionOptions agree', () => {
  const VALUES = [
    'close',
    'CLOSE',
    'keep-alive',
    'Keep-Alive',
    'keep-alive, close',
    ' ,close, ',
    'Upgrade',
    'closed',
    'keep-alive=1',
    'te,\tkeep-alive',
  ];

  /** keepAlive of a request and of its response, each with this Connection value, as the framer says. */
  function framed(version: '1.0' | '1.1', value: string): { request: boolean; response: boolean } {
    let request: HttpRequestInfo | null = null;
    let response: HttpResponseInfo | null = null;
    const conn = new Http1Connection({ request: (r) => (request = r), response: (r) => (response = r) });
    const bytes = (s: string) => new TextEncoder().encode(s);
    conn.client(bytes(`GET / HTTP/${version}\r\nConnection: ${value}\r\n\r\n`), 0);
    conn.server(bytes(`HTTP/${version} 200 OK\r\nContent-Length: 0\r\nConnection: ${value}\r\n\r\n`), 0);
    return { request: request!.keepAlive, response: response!.keepAlive };
  }

  for (const version of ['1.0', '1.1'] as const) {
    for (const value of VALUES) {
      it(`HTTP/${version}, Connection: ${JSON.stringify(value)}`, () => {
        const expected = isPersistent(version === '1.1' ? 1 : 0, connectionOptions(value));
        assert.deepEqual(framed(version, value), { request: expected, response: expected });
      });
    }
  }
});
