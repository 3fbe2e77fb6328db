/**
 * Fuzzing the TLS decoder (src/decode/tls.ts) and the TLS stream (src/analyze/streams/tls.ts) with
 * fast-check: random bytes, real and built conversations truncated, mutated and cut anywhere, with
 * gaps. Nothing may be thrown, every run ends, and the bytes held stay under the hello limit. Each
 * property says how many cases it tried, the last test the total.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { tls } from '../../../src/analyze/streams/tls.js';
import { newConnectionRecord } from '../../../src/analyze/record.js';
import { DEFAULT_MAX_HELLO_BYTES, TlsConnection, parseClientHello, parseServerHello } from '../../../src/decode/tls.js';
import type { Side } from '../../../src/model/report.js';
import { concat } from '../../support/buffer-list.js';
import {
  tls12Full,
  tls12Resumed,
  tls13Full,
  tls13HelloRetry,
  tls13Resumed,
  type Segment,
} from '../../support/tls-builder.js';
import { CURL_CLIENT_HELLO_HEX, NGINX_SERVER_FLIGHT_HEX, hexBytes } from '../../support/tls-fixtures.js';

/** A fixed seed: a failure is reproducible as is. */
const SEED = 20261201;
const MIN_CASES = 1000;
let cases = 0;

const REAL: Segment[] = [
  { side: 'client', bytes: hexBytes(CURL_CLIENT_HELLO_HEX) },
  { side: 'server', bytes: hexBytes(NGINX_SERVER_FLIGHT_HEX) },
];
const CONVERSATIONS: Segment[][] = [
  REAL,
  tls13Full(2),
  tls13Resumed(1),
  tls13HelloRetry(1),
  tls12Full(1),
  tls12Resumed('ticket', 1),
  tls12Resumed('session-id', 1),
];

/** One step fed to a decoder: bytes from a side, or a gap. */
type Step = { side: Side; bytes: Uint8Array } | { side: Side; gap: number };

/** A conversation mutated: bytes flipped, cut short, segments cut in two, gaps put in. */
const mutatedArb: fc.Arbitrary<Step[]> = fc
  .record({
    which: fc.nat({ max: CONVERSATIONS.length - 1 }),
    flips: fc.array(fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }), { maxLength: 8 }),
    cutAt: fc.option(fc.nat(), { nil: undefined }),
    splits: fc.array(fc.nat(), { maxLength: 6 }),
    gaps: fc.array(fc.record({ at: fc.nat(), size: fc.integer({ min: 1, max: 3000 }) }), { maxLength: 2 }),
  })
  .map(({ which, flips, cutAt, splits, gaps }) => {
    const segments = CONVERSATIONS[which]!;
    const steps: Step[] = [];
    segments.forEach((s, i) => {
      const bytes = s.bytes.slice();
      for (const f of flips) if (f.at % segments.length === i) bytes[f.at % bytes.length] = f.value;
      let chunks = [bytes];
      for (const at of splits) {
        const last = chunks.pop()!;
        const k = at % (last.length + 1);
        chunks.push(last.subarray(0, k), last.subarray(k));
      }
      chunks = chunks.filter((c) => c.length > 0);
      for (const c of chunks) steps.push({ side: s.side, bytes: c });
      for (const g of gaps) if (g.at % segments.length === i) steps.push({ side: s.side, gap: g.size });
    });
    return cutAt === undefined ? steps : steps.slice(0, cutAt % (steps.length + 1));
  });

/** Random chunks from random sides, with gaps. */
const randomArb: fc.Arbitrary<Step[]> = fc.array(
  fc.oneof(
    fc.record({ side: fc.constantFrom<Side>('client', 'server'), bytes: fc.uint8Array({ maxLength: 300 }) }),
    fc.record({ side: fc.constantFrom<Side>('client', 'server'), gap: fc.integer({ min: 1, max: 20000 }) }),
  ),
  { maxLength: 12 },
);

/** Random bytes after a valid record header and handshake header (so that the hello parsers run). */
const helloArb: fc.Arbitrary<Step[]> = fc
  .record({ type: fc.constantFrom(1, 2), body: fc.uint8Array({ maxLength: 400 }) })
  .map(({ type, body }) => {
    const message = concat(Uint8Array.of(type, 0, body.length >> 8, body.length & 0xff), body);
    const rec = concat(Uint8Array.of(22, 3, 1, message.length >> 8, message.length & 0xff), message);
    return [{ side: type === 1 ? 'client' : 'server', bytes: rec }];
  });

/** Feeds the steps to a decoder and to a stream; neither may throw, and the decoder holds little. */
function feed(steps: readonly Step[]): void {
  const decoder = new TlsConnection({});
  const stream = tls.create({ http: { serverClose: 0, clientClose: 0 } });
  let ts = 0;
  for (const s of steps) {
    ts += 10;
    if ('gap' in s) {
      decoder.gap(s.side, s.gap, ts);
      stream.gap(s.side, s.gap, ts);
    } else {
      decoder.push(s.side, s.bytes, ts);
      stream.data(s.side, s.bytes, ts);
    }
    assert.ok(decoder.heldBytes <= 2 * DEFAULT_MAX_HELLO_BYTES);
  }
  stream.end('client', ts);
  stream.end('server', ts);
  const record = newConnectionRecord(1, { address: 'a', port: 1 }, { address: 'b', port: 2 }, 0);
  stream.describe(record);
  JSON.stringify(record);
}

for (const [name, arb, runs] of [
  ['mutated, truncated and cut real and built conversations', mutatedArb, 1500],
  ['random bytes from random sides, with gaps', randomArb, 500],
  ['random hello bodies behind valid headers', helloArb, 500],
] as const) {
  test(`fuzz TLS: ${name}`, (t) => {
    let n = 0;
    fc.assert(
      fc.property(arb, (steps) => {
        n++;
        feed(steps);
      }),
      { numRuns: runs, seed: SEED },
    );
    t.diagnostic(`${n} runs`);
    cases += n;
  });
}

test('fuzz TLS: the hello parsers on every truncation and single-byte change of real hellos', (t) => {
  const ch = hexBytes(CURL_CLIENT_HELLO_HEX).subarray(9);
  const sh = hexBytes(NGINX_SERVER_FLIGHT_HEX).subarray(9, 127);
  let n = 0;
  for (const [body, parse] of [
    [ch, parseClientHello],
    [sh, parseServerHello],
  ] as const) {
    assert.notEqual(parse(body), null, 'the real hello parses');
    for (let k = 0; k <= body.length; k++, n++) parse(body.subarray(0, k));
    for (let k = 0; k < body.length; k++)
      for (const value of [0, 0xff, body[k]! ^ 0x80]) {
        const copy = body.slice();
        copy[k] = value;
        parse(copy);
        n++;
      }
  }
  t.diagnostic(`${n} parses`);
  cases += n;
});

test(`fuzz TLS: at least ${MIN_CASES} cases in all`, (t) => {
  t.diagnostic(`${cases} fuzz cases tried in all`);
  assert.ok(cases >= MIN_CASES, `${cases} cases`);
});
