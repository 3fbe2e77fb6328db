/** model/endpoint.ts: one HOST:PORT parser (with the rules that differ per use), one formatter. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UsageError } from '../../../src/errors.js';
import {
  canonicalAddress,
  formatEndpoint,
  formatHostPort,
  normalizeAddress,
  parseEndpoint,
  parseHostPort,
} from '../../../src/model/endpoint.js';
import type { ParseHostPortOptions } from '../../../src/model/endpoint.js';

/** A UsageError about `option` whose message (naming the option as the API does) matches. */
const invalid = (option: string, message: RegExp) => (e: unknown) =>
  e instanceof UsageError && e.code === 'KAL_ERR_USAGE' && e.option === option && message.test(e.message);

const connect: ParseHostPortOptions = { option: 'target' };
const listen: ParseHostPortOptions = { option: 'listen', allowPortZero: true, defaultHost: '127.0.0.1' };
const match: ParseHostPortOptions = { option: 'server', requireIp: true };

test('endpoint: HOST:PORT, [IPv6]:PORT, host names where they are allowed', () => {
  assert.deepEqual(parseHostPort('127.0.0.1:8080', connect), { host: '127.0.0.1', port: 8080 });
  assert.deepEqual(parseHostPort(' example.com:443 ', connect), { host: 'example.com', port: 443 });
  assert.deepEqual(parseHostPort('my_host-1.local:1', connect), { host: 'my_host-1.local', port: 1 });
  assert.deepEqual(parseHostPort('[::1]:8080', connect), { host: '::1', port: 8080 });
  // Without requireIp the address is kept as written (it is handed to the system as is).
  assert.deepEqual(parseHostPort('[2001:DB8::1]:80', connect), { host: '2001:DB8::1', port: 80 });
  assert.deepEqual(parseHostPort('[fe80::1%lo]:80', connect), { host: 'fe80::1%lo', port: 80 });
  assert.deepEqual(parseHostPort('localhost:80', match), { host: '127.0.0.1', port: 80 });
});

test('endpoint: IPv6 forms are canonical (RFC 5952) when matched against packets', () => {
  const cases: [string, string][] = [
    ['[::1]:80', '::1'],
    ['[0:0:0:0:0:0:0:1]:80', '::1'],
    ['[2001:DB8::1]:80', '2001:db8::1'],
    ['[2001:0db8:0000:0000:0001:0000:0000:0001]:80', '2001:db8::1:0:0:1'],
    ['[2001:db8:0:1:1:1:1:1]:80', '2001:db8:0:1:1:1:1:1'],
    ['[::ffff:127.0.0.1]:80', '::ffff:127.0.0.1'],
    ['[::FFFF:7f00:1]:80', '::ffff:127.0.0.1'],
    ['[fe80::1%eth0]:80', 'fe80::1'],
    ['[::]:80', '::'],
  ];
  for (const [text, address] of cases)
    assert.deepEqual(parseEndpoint(text, { option: 'server' }), { address, port: 80 });
  assert.equal(canonicalAddress('10.0.0.1'), '10.0.0.1');
  assert.equal(canonicalAddress('example.com'), null);
  assert.equal(canonicalAddress('1:2:3:4:5:6:7::'), '1:2:3:4:5:6:7:0');
});

test('endpoint: host names are refused where packets are matched (they carry addresses)', () => {
  for (const text of ['example.com:80', 'my-server:8080', '256.1.1.1:80', '[fe80::zz]:80', '[]:80', 'a b:80']) {
    assert.throws(() => parseHostPort(text, match), invalid('server', /^server needs an IP address/), text);
  }
  assert.throws(() => parseHostPort('a b:80', connect), invalid('target', /'a b' is not a host name or address/));
});

test('endpoint: a URL given by mistake says so, with the address to use instead', () => {
  const cases: [string, RegExp][] = [
    ['http://example.com/', /an address, not a URL: try example\.com:80\b/],
    ['https://example.com/x', /try example\.com:443\b/],
    ['http://127.0.0.1:8080/path', /try 127\.0\.0\.1:8080\b/],
    ['http://[::1]:8080/', /try \[::1\]:8080/],
    ['ftp://example.com/', /an address, not a URL(\)|$)/],
  ];
  for (const [text, message] of cases) {
    for (const options of [connect, listen, match]) {
      assert.throws(() => parseHostPort(text, options), invalid(options.option, message), text);
    }
  }
});

test('endpoint: where packets are matched, the form analyze always printed, then what is wrong', () => {
  assert.throws(
    () => parseHostPort('::1:8080', match),
    invalid(
      'server',
      /^server must be HOST:PORT \(or \[IPv6\]:PORT\), got '::1:8080': put an IPv6 address in brackets/,
    ),
  );
  assert.throws(
    () => parseHostPort('nonsense', match),
    invalid('server', /^server must be HOST:PORT \(or \[IPv6\]:PORT\), got 'nonsense': the port is missing$/),
  );
});

test('endpoint: IPv6 without brackets, missing parts', () => {
  const cases: [string, ParseHostPortOptions, RegExp][] = [
    [
      '::1:80',
      connect,
      /^target must be HOST:PORT \(put an IPv6 address in brackets, e\.g\. \[::1\]:9000\), got '::1:80'$/,
    ],
    ['[::1]', connect, /expected \[IPv6\]:PORT/],
    ['[::1]80', connect, /expected \[IPv6\]:PORT/],
    ['[nope]:80', connect, /'nope' is not an IPv6 address/],
    ['[127.0.0.1]:80', connect, /'127\.0\.0\.1' is not an IPv6 address/],
    ['localhost', connect, /^target must be HOST:PORT \(the port is missing\), got 'localhost'$/],
    ['8080', connect, /the port is missing/],
    ['host:', connect, /the port is missing/],
    [':80', connect, /\(the host is missing\)/],
    [':80', listen, /the host is missing; 0\.0\.0\.0 listens on every interface/],
    ['127.0.0.1:http', connect, /'http' is not a port number/],
  ];
  for (const [text, options, message] of cases) {
    assert.throws(() => parseHostPort(text, options), invalid(options.option, message), text);
  }
});

test('endpoint: port ranges (0 only to listen), a bare port with a default host', () => {
  assert.deepEqual(parseHostPort('0', listen), { host: '127.0.0.1', port: 0 });
  assert.deepEqual(parseHostPort('9000', listen), { host: '127.0.0.1', port: 9000 });
  assert.deepEqual(parseHostPort('0.0.0.0:0', listen), { host: '0.0.0.0', port: 0 });
  assert.deepEqual(parseHostPort('127.0.0.1:65535', connect), { host: '127.0.0.1', port: 65535 });
  for (const [text, options, range] of [
    ['127.0.0.1:0', connect, 'between 1 and 65535'],
    ['127.0.0.1:65536', connect, 'between 1 and 65535'],
    ['127.0.0.1:0', match, 'between 1 and 65535'],
    ['70000', listen, 'between 0 and 65535'],
  ] as const) {
    assert.throws(() => parseHostPort(text, options), invalid(options.option, new RegExp(range)), text);
  }
  assert.throws(() => parseHostPort('127.0.0.1:123456', connect), invalid('target', /'123456' is not a port number/));
  assert.throws(
    () => parseHostPort('70000', listen),
    invalid('listen', /^listen must be HOST:PORT or PORT \(the port must be between 0 and 65535\)/),
  );
});

test('endpoint: errors name the option; the CLI puts its flag in its place', () => {
  try {
    parseHostPort('localhost', { option: 'targetHost' });
    assert.fail('no error');
  } catch (error) {
    assert.ok(error instanceof UsageError);
    assert.equal(error.option, 'targetHost');
    assert.equal(error.message, "targetHost must be HOST:PORT (the port is missing), got 'localhost'");
    assert.equal(error.messageFor('--target'), "--target must be HOST:PORT (the port is missing), got 'localhost'");
  }
});

test('endpoint: one formatter, IPv6 in brackets', () => {
  assert.equal(formatHostPort('127.0.0.1', 80), '127.0.0.1:80');
  assert.equal(formatHostPort('example.com', 443), 'example.com:443');
  assert.equal(formatHostPort('::1', 8080), '[::1]:8080');
  assert.equal(formatHostPort('::', '*'), '[::]:*');
  assert.equal(formatEndpoint({ address: '2001:db8::1', port: 80 }), '[2001:db8::1]:80');
  // What is printed parses back to the same endpoint.
  for (const e of [
    { address: '10.1.2.3', port: 1 },
    { address: '2001:db8::1', port: 65535 },
  ]) {
    assert.deepEqual(parseEndpoint(formatEndpoint(e), { option: 'server' }), e);
  }
  assert.equal(normalizeAddress('::ffff:127.0.0.1'), '127.0.0.1');
  assert.equal(normalizeAddress('::1'), '::1');
  assert.equal(normalizeAddress(undefined), '');
});
