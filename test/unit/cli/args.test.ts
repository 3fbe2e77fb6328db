import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decimal, flag, flagFor, int, oneOf, parse, port, seconds, size, str, toggle } from '../../../src/cli/args.js';
import { UsageError } from '../../../src/errors.js';
import { parseEndpoint } from '../../../src/model/endpoint.js';

const usage = (message: RegExp) => (e: unknown) =>
  e instanceof UsageError && e.code === 'KAL_ERR_USAGE' && message.test(e.message);

test('args: parse strings, booleans and positionals', () => {
  const p = parse(
    ['capture.pcap', '--port', '80', '--json'],
    { port: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    true,
  );
  assert.deepEqual(p.positionals, ['capture.pcap']);
  assert.equal(str(p, 'port'), '80');
  assert.equal(flag(p, 'json'), true);
  assert.equal(flag(p, 'help'), false);
  assert.equal(str(p, 'json'), undefined);
  assert.equal(flag(parse(['-h'], { help: { type: 'boolean', short: 'h' } }), 'help'), true);
});

test('args: unknown options and unexpected positionals are usage errors, in one sentence', () => {
  assert.throws(() => parse(['--bogus'], {}), usage(/^Unknown option '--bogus'$/));
  assert.throws(() => parse(['extra'], {}), usage(/^Unexpected argument 'extra'$/));
  assert.throws(() => parse(['--port'], { port: { type: 'string' } }), usage(/--port/));
});

test('args: a value that looks like an option is a usage error in one line; a negative number is a value', () => {
  const options = { port: { type: 'string' as const }, json: { type: 'boolean' as const } };
  assert.throws(() => parse(['--port', '--json'], options), usage(/^[^\n]*$/));
  assert.throws(() => parse(['--port', '-x'], options), usage(/^[^\n]*$/));
  // A negative number reaches the check that says the range (not parseArgs' "argument is ambiguous").
  for (const value of ['-1', '-0.5', '-.5']) {
    const p = parse(['--port', value, '--json'], options);
    assert.equal(str(p, 'port'), value);
    assert.equal(flag(p, 'json'), true);
    assert.throws(() => port(p), usage(/^--port must be a whole number between 1 and 65535, got '-/));
  }
  // Not after '--' (the watched command's own arguments), and not for a flag that takes no value.
  assert.deepEqual(parse(['--', '--port', '-1'], options, true).positionals, ['--port', '-1']);
  assert.throws(() => parse(['--json', '-1'], options), usage(/^[^\n]*$/));
});

test('args: whole numbers within bounds', () => {
  const p = (v: string) => parse(['--n', v], { n: { type: 'string' } });
  assert.equal(int(p('42'), 'n', 0), 42);
  assert.equal(int(p(' 7 '), 'n', 0), 7);
  assert.equal(int(parse([], { n: { type: 'string' } }), 'n', 0), undefined);
  // Every bad value says the range: text, negative, decimal, too small, too large.
  assert.throws(() => int(p('ten'), 'n', 0), usage(/^--n must be a whole number, 0 or more, got 'ten'$/));
  assert.throws(() => int(parse(['--n=-1'], { n: { type: 'string' } }), 'n', 0), usage(/0 or more, got '-1'$/));
  assert.throws(() => int(p('-1'), 'n', 0), usage(/^--n must be a whole number, 0 or more, got '-1'$/));
  assert.throws(() => int(p('1.5'), 'n', 1, 10), usage(/^--n must be a whole number between 1 and 10, got '1.5'$/));
  assert.throws(() => int(p('0'), 'n', 1, 10), usage(/^--n must be a whole number between 1 and 10, got '0'$/));
  assert.throws(() => int(p('11'), 'n', 1, 10), usage(/^--n must be a whole number between 1 and 10, got '11'$/));
  assert.throws(() => int(p(''), 'n', 1, 10), usage(/between 1 and 10, got ''$/));
});

test('args: seconds (every --duration), decimals allowed, as milliseconds', () => {
  const p = (v: string) => parse(['--duration', v], { duration: { type: 'string' } });
  assert.equal(seconds(p('30'), 'duration'), 30_000);
  assert.equal(seconds(p('0.5'), 'duration'), 500);
  assert.equal(seconds(p('.25'), 'duration'), 250);
  assert.equal(seconds(p('5s'), 'duration'), 5000);
  assert.equal(seconds(p('0.5s'), 'duration'), 500);
  assert.equal(seconds(parse([], { duration: { type: 'string' } }), 'duration'), undefined);
  for (const bad of ['0', '-1', '-0.5', 'ten', '1e3', '604801', '', 's', '5ms', '0s'])
    assert.throws(
      () => seconds(p(bad), 'duration'),
      usage(new RegExp(`^--duration must be a number of seconds above 0 and at most 604800, got '${bad}'$`)),
    );
  assert.throws(() => seconds(p('11'), 'duration', 10), usage(/at most 10, got '11'$/));
});

test('args: decimal numbers with a minimum', () => {
  const p = (v: string) => parse(['--x', v], { x: { type: 'string' } });
  assert.equal(decimal(p('1.5'), 'x', 0), 1.5);
  assert.equal(decimal(p('0'), 'x', 0), 0);
  for (const bad of ['-1', 'x', '', '1e2', 'Infinity'])
    assert.throws(() => decimal(p(bad), 'x', 0), usage(new RegExp(`^--x must be a number, 0 or more, got '${bad}'$`)));
});

test('args: ports', () => {
  const p = (v: string) => parse(['--port', v], { port: { type: 'string' } });
  assert.equal(port(p('1')), 1);
  assert.equal(port(p('65535')), 65535);
  assert.throws(() => port(p('0')), usage(/between 1 and 65535/));
  assert.throws(() => port(p('70000')), usage(/between 1 and 65535/));
});

test('args: sizes with binary multiples', () => {
  const p = (v: string) => parse(['--size', v], { size: { type: 'string' } });
  assert.equal(size(p('11'), 'size'), 11);
  assert.equal(size(p('16k'), 'size'), 16 * 1024);
  assert.equal(size(p('16KB'), 'size'), 16 * 1024);
  assert.equal(size(p('1MiB'), 'size'), 1024 * 1024);
  assert.equal(size(p('1m'), 'size'), 1024 * 1024);
  assert.throws(
    () => size(p('lots'), 'size'),
    usage(/^--size must be a size such as 11, 16k or 1m, at most 1g, got 'lots'$/),
  );
  assert.throws(() => size(p('-1'), 'size'), usage(/at most 1g, got '-1'$/));
  assert.throws(() => size(p('2g'), 'size'), usage(/at most 1g, got '2g'$/));
  assert.throws(() => size(p('2k'), 'size', 1000), usage(/^--size must be .*, at most 1000, got '2k'$/));
  assert.throws(() => size(p('65m'), 'size', 64 * 1024 * 1024), usage(/at most 64m, got '65m'$/));
});

test('args: one of a list; --x / --no-x toggles, the last one wins', () => {
  const p = parse(['--client', 'fetch'], { client: { type: 'string' } });
  assert.equal(oneOf(p, 'client', ['http', 'fetch'] as const), 'fetch');
  assert.throws(() => oneOf(p, 'client', ['http']), usage(/^--client must be one of http, got 'fetch'$/));
  const opts = { 'keep-alive': { type: 'boolean' as const }, 'no-keep-alive': { type: 'boolean' as const } };
  for (const [argv, expected] of [
    [[], undefined],
    [['--keep-alive'], true],
    [['--no-keep-alive'], false],
    [['--keep-alive', '--no-keep-alive'], false],
    [['--no-keep-alive', '--keep-alive'], true],
  ] as const) {
    assert.equal(toggle(parse([...argv], opts), argv, 'keep-alive'), expected, argv.join(' '));
  }
});

/**
 * analyze's --server: the library's parser, its messages with the flag in the option's place (as the CLI prints
 * them).
 */
const parseHostPort = (text: string, flag: string) => {
  try {
    return parseEndpoint(text, { option: 'server' });
  } catch (error) {
    if (error instanceof UsageError && error.option === 'server') throw new UsageError(error.messageFor(flag));
    throw error;
  }
};

test('args: --server HOST:PORT', () => {
  assert.deepEqual(parseHostPort('127.0.0.1:8080', '--server'), { address: '127.0.0.1', port: 8080 });
  assert.deepEqual(parseHostPort('localhost:80', '--server'), { address: '127.0.0.1', port: 80 });
  assert.deepEqual(parseHostPort('[::1]:8080', '--server'), { address: '::1', port: 8080 });
  assert.deepEqual(parseHostPort('[2001:DB8::1]:443', '--server'), { address: '2001:db8::1', port: 443 });
  // The capture's addresses are in RFC 5952 form: any other spelling of the same address matches them.
  assert.deepEqual(parseHostPort('[0:0:0:0:0:0:0:1]:80', '--server'), { address: '::1', port: 80 });
  assert.deepEqual(parseHostPort('[2001:db8:0:0:1:0:0:1]:80', '--server'), { address: '2001:db8::1:0:0:1', port: 80 });
  assert.deepEqual(parseHostPort('[::ffff:127.0.0.1]:80', '--server'), { address: '::ffff:127.0.0.1', port: 80 });
  for (const bad of [
    '8080',
    '127.0.0.1',
    '127.0.0.1:0',
    '127.0.0.1:65536',
    '127.0.0.1:http',
    '::1:8080',
    '[::1]',
    ':80',
  ]) {
    assert.throws(() => parseHostPort(bad, '--server'), usage(/^--server must be HOST:PORT/), bad);
  }
  // A capture holds addresses, never names: a host name would silently match nothing.
  for (const name of ['example.com:80', 'my-server:8080', '256.1.1.1:80', '[fe80::zz]:80', '[]:80']) {
    assert.throws(() => parseHostPort(name, '--server'), usage(/IP address/), name);
  }
});

test('args: the flag of a library option', () => {
  assert.equal(flagFor('target'), '--target');
  assert.equal(flagFor('maxFreeSockets'), '--max-free-sockets');
  assert.equal(flagFor('graceMs'), '--grace');
  assert.equal(flagFor('serverKeepAliveTimeoutMs'), '--server-keep-alive-timeout');
  assert.equal(flagFor('listenPort', { listenPort: '--listen' }), '--listen');
});
