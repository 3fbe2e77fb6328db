/**
 * The probe's response framing (ResponseReader) cut at every offset, the Keep-Alive header's numbers,
 * and the ticket lifetime read from an OpenSSL session's DER.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ResponseReader, parseKeepAlive, requestBytes } from '../../../../src/lab/probe/connection.js';
import { ticketLifetimeHint } from '../../../../src/lab/probe/tls.js';

const RESPONSES = [
  'HTTP/1.1 100 Continue\r\n\r\n',
  'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nKeep-Alive: timeout=5\r\n\r\nhello',
  'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n',
  'HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n',
  'HTTP/1.0 200 OK\r\nServer: x\r\n\r\nto the end',
].join('');

test('responses framed whatever the cut, the close-delimited one at the end', () => {
  const bytes = Buffer.from(RESPONSES, 'latin1');
  for (let cut = 0; cut <= bytes.length; cut++) {
    const reader = new ResponseReader();
    const got = [...reader.push(bytes.subarray(0, cut), 1), ...reader.push(bytes.subarray(cut), 2)];
    const last = reader.end(3);
    const all = last === null ? got : [...got, last];
    assert.deepEqual(
      all.map((r) => `${r.version} ${r.status}`),
      ['HTTP/1.1 200', 'HTTP/1.1 200', 'HTTP/1.1 204', 'HTTP/1.0 200'],
      `cut at ${cut}`,
    );
    assert.equal(all[0]!.headers['keep-alive'], 'timeout=5');
    assert.equal(all[3]!.headers['server'], 'x');
  }
});

test('not HTTP: an error the connection reports', () => {
  assert.throws(() => new ResponseReader().push(Buffer.from('SSH-2.0-OpenSSH\r\n\r\n'), 0), /not an HTTP response/);
});

test('Keep-Alive: timeout and max', () => {
  assert.deepEqual(parseKeepAlive('timeout=5, max=100'), { timeoutS: 5, max: 100, raw: 'timeout=5, max=100' });
  assert.deepEqual(parseKeepAlive('timeout=2'), { timeoutS: 2, max: null, raw: 'timeout=2' });
  assert.equal(parseKeepAlive(undefined), null);
});

test('requests name the tool and ask for what they are told', () => {
  const r = requestBytes('/x?y=1', 'example.test:8080', { version: '1.0', connection: 'keep-alive' });
  assert.match(r, /^GET \/x\?y=1 HTTP\/1\.0\r\nHost: example\.test:8080\r\nUser-Agent: keepalive-lab\/[^ ]+ probe\r\n/);
  assert.match(r, /Connection: keep-alive\r\n\r\n$/);
});

/** A DER TLV (X.690): tag, length (short or long form), content. */
function tlv(tag: number, content: Buffer): Buffer {
  const n = content.length;
  const len = n < 128 ? Buffer.from([n]) : Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), len, content]);
}

test('ticket lifetime: field [9] of the SSL_SESSION sequence, short and long lengths', () => {
  const int = (n: number) => tlv(0x02, Buffer.from([(n >> 8) & 0xff, n & 0xff]));
  const session = (fields: Buffer[]) => tlv(0x30, Buffer.concat(fields));
  const common = [int(1), int(0x0304), tlv(0x04, Buffer.alloc(2)), tlv(0x04, Buffer.alloc(200))];
  assert.equal(ticketLifetimeHint(session([...common, tlv(0xa9, int(300))])), 300);
  assert.equal(ticketLifetimeHint(session([...common, tlv(0xa2, int(7200)), tlv(0xa9, int(7200))])), 7200);
  assert.equal(ticketLifetimeHint(session(common)), null);
  assert.equal(ticketLifetimeHint(Buffer.from([0x30, 0x05, 0x02])), null);
});
