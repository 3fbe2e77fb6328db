/**
 * jsonRecordText (src/report/json-record.ts) writes exactly what JSON.stringify(record, null, 2)
 * writes, re-indented: for the records analyze makes, for odd ones, and for any JSON-like value.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { ConnectionRecord } from '../../../src/model/report.js';
import { jsonRecordText } from '../../../src/report/json-record.js';

const reference = (value: unknown, indent: string): string =>
  JSON.stringify(value, null, 2).replaceAll('\n', `\n${indent}`);

const record = (over: Partial<ConnectionRecord> = {}): ConnectionRecord => ({
  id: 7,
  client: { address: '127.0.0.1', port: 51234 },
  server: { address: '::1', port: 8080 },
  start: 1700000000123.456,
  end: 1700000000125,
  handshakeRttMs: 0.034,
  requests: 2,
  responses: 1,
  statusCodes: [200],
  idleGapsMs: [0, 1.5, 1e-7, 12345.678],
  closedFirstBy: 'server',
  resetBy: null,
  timeWait: 'server',
  startedBefore: false,
  openAtEnd: false,
  bytesFromClient: 4294967296,
  bytesFromServer: 0,
  notes: ['3 retransmitted segments', 'not HTTP/1.x'],
  ...over,
});

const INDENTS = ['', '  ', '          '];

function same(value: unknown): void {
  for (const indent of INDENTS) {
    assert.equal(jsonRecordText(value as ConnectionRecord, indent), reference(value, indent));
  }
}

describe('jsonRecordText', () => {
  it('writes a record as JSON.stringify does, at any indentation', () => {
    same(record());
    same(record({ statusCodes: [], idleGapsMs: [], notes: [], handshakeRttMs: null, start: null, end: null }));
  });

  it('writes every number as JSON.stringify does', () => {
    const numbers = [0, -0, 1, 9, 10, 99, 100, 2147483647, 2147483648, -1, -2147483648, 0.1, 1e21, 1e-7, 5e-324];
    same(record({ idleGapsMs: [...numbers, NaN, Infinity, -Infinity], bytesFromClient: NaN, id: -3 }));
  });

  it('writes thousandths and any other double as String() does', () => {
    const thousandths = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }).map((m) => m / 1000);
    const timestamps = fc.integer({ min: 1_000_000_000_000_000, max: 4_398_046_511_103_999 }).map((us) => us / 1000);
    fc.assert(
      fc.property(fc.oneof(thousandths, timestamps, fc.double(), fc.integer(), fc.maxSafeInteger()), (n) => {
        const value = record({ start: n, idleGapsMs: [n, -n, n / 1000] });
        assert.equal(jsonRecordText(value, '  '), reference(value, '  '));
      }),
      { numRuns: 20_000 },
    );
  });

  it('quotes strings as JSON.stringify does, beyond Latin-1 and lone surrogates included', () => {
    same(record({ notes: ['say "hi"\\', 'tab\there\nnewline\u0000\u001f\u007f', 'caf\u00e9 \u00ff'] }));
    same(record({ notes: ['\u2028 \u{1F600} \ud800 end'] }));
    same(record({ client: { address: 'fe80::1%eth0', port: 1 } }));
    same({ ...record(), 'k\u00e9y "q"': 1, 'wide \u{1F600}': [true], '': { '\u0100': null } });
  });

  it('keeps the record key order and leaves out what JSON.stringify leaves out', () => {
    const { notes, id, ...rest } = record();
    same({ notes, ...rest, id });
    same({
      ...record(),
      extra: undefined,
      fn: () => 1,
      sym: Symbol('x'),
      nested: { a: [undefined, () => 1, { b: {} }] },
    });
    same({ ...record(), when: new Date(0), boxed: Object(5), custom: { toJSON: () => 'mine' } });
    same({ ...record(), gone: { toJSON: () => undefined } });
    // Objects of one shape, then others that share their first key.
    same({ ...record(), a: { id: 1, x: 2 }, b: { id: 1, y: undefined, z: 3 }, c: { id: undefined, x: 2 } });
  });

  it('matches JSON.stringify on any JSON value in a record', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.constantFrom(...INDENTS), (extra, indent) => {
        const value = { ...record(), extra, list: [extra, extra] };
        assert.equal(jsonRecordText(value as unknown as ConnectionRecord, indent), reference(value, indent));
      }),
      { numRuns: 500 },
    );
  });

  it('writes a record larger than its first buffer', () => {
    same(record({ idleGapsMs: Array.from({ length: 20_000 }, (_, i) => i / 7) }));
  });
});
