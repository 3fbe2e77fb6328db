/**
 * The HPACK decoder (src/decode/hpack.ts) against RFC 7541 (https://www.rfc-editor.org/rfc/rfc7541):
 * the Huffman code against rows of Appendix B, every example of Appendix C (C.1 integers through
 * the size update's 5-bit prefix, C.2 to C.6 with the dynamic table after each block as the RFC lists
 * it), the errors of sections 5 and 6 as values, and random bytes (fast-check): no throw, no hang,
 * a table never above its maximum size.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  HPACK_STATIC_TABLE_LENGTH,
  HpackDecoder,
  hpackStaticEntry,
  huffmanCodes,
  type HpackErrorCode,
} from '../../../src/decode/hpack.js';

/** Hex as the RFC prints it ("8286 8441 0f77 ..."), spaces and line breaks ignored. */
const hex = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text.replace(/\s+/g, ''), 'hex'));

/** A header list as the RFC prints it: "name: value" lines. */
function list(text: string): [string, string][] {
  return text
    .trim()
    .split('\n')
    .map((line) => {
      const at = line.indexOf(': ', 1);
      return [line.slice(0, at).trim(), line.slice(at + 2)];
    });
}

function decodeOk(d: HpackDecoder, block: Uint8Array): [string, string][] {
  const r = d.decode(block);
  assert.equal(r.error, null, r.error?.message);
  return r.headers.map((h) => [h.name, h.value]);
}

/** The dynamic table as the RFC lists it: "[  1] (s =  55) custom-key: custom-header", and its size. */
function table(d: HpackDecoder): { entries: string[]; size: number } {
  return {
    entries: d.dynamicTable.map(
      (e, i) => `[${i + 1}] (s = ${e.name.length + e.value.length + 32}) ${e.name}: ${e.value}`,
    ),
    size: d.tableSize,
  };
}

// ------------------------------------------------------------------------------------------------
// Appendix B

test('Huffman code: the lengths make a complete prefix code (Kraft sum exactly 1) of 257 symbols', () => {
  const codes = huffmanCodes();
  assert.equal(codes.length, 257);
  // Sum of 2^-len over all codes, in units of 2^-30 (the longest code).
  const sum = codes.reduce((n, c) => n + 2 ** (30 - c.length), 0);
  assert.equal(sum, 2 ** 30);
  // No code is a prefix of another: sorted by value left-aligned, each ends before the next starts.
  const aligned = codes.map((c) => c.code * 2 ** (30 - c.length)).sort((a, b) => a - b);
  for (let i = 1; i < aligned.length; i++) assert.ok(aligned[i]! > aligned[i - 1]!);
});

test('Huffman code: rows of RFC 7541 Appendix B (code as hex aligned to LSB, len in bits)', () => {
  // [symbol, code, length] copied from the appendix: the first and last symbol of every length, and more.
  const rows: [number, number, number][] = [
    [0, 0x1ff8, 13],
    [1, 0x7fffd8, 23],
    [2, 0xfffffe2, 28],
    [9, 0xffffea, 24],
    [10, 0x3ffffffc, 30],
    [13, 0x3ffffffd, 30],
    [22, 0x3ffffffe, 30],
    [31, 0xffffffb, 28],
    [32, 0x14, 6],
    [33, 0x3f8, 10],
    [35, 0xffa, 12],
    [36, 0x1ff9, 13],
    [38, 0xf8, 8],
    [39, 0x7fa, 11],
    [47, 0x18, 6],
    [48, 0x0, 5],
    [50, 0x2, 5],
    [58, 0x5c, 7],
    [60, 0x7ffc, 15],
    [62, 0xffb, 12],
    [63, 0x3fc, 10],
    [64, 0x1ffa, 13],
    [65, 0x21, 6],
    [88, 0xfc, 8],
    [90, 0xfd, 8],
    [92, 0x7fff0, 19],
    [94, 0x3ffc, 14],
    [96, 0x7ffd, 15],
    [97, 0x3, 5],
    [116, 0x9, 5],
    [122, 0x7b, 7],
    [123, 0x7ffe, 15],
    [124, 0x7fc, 11],
    [125, 0x3ffd, 14],
    [126, 0x1ffd, 13],
    [127, 0xffffffc, 28],
    [128, 0xfffe6, 20],
    [129, 0x3fffd2, 22],
    [135, 0x7fffd9, 23],
    [142, 0xffffeb, 24],
    [153, 0x1fffdc, 21],
    [192, 0x3ffffe0, 26],
    [195, 0x7fff1, 19],
    [199, 0x1ffffec, 25],
    [203, 0x7ffffde, 27],
    [208, 0x7fff2, 19],
    [220, 0xffffffd, 28],
    [239, 0x7ffff4, 23],
    [249, 0xffffffe, 28],
    [254, 0x7fffff0, 27],
    [255, 0x3ffffee, 26],
    [256, 0x3fffffff, 30],
  ];
  const codes = huffmanCodes();
  for (const [symbol, code, length] of rows) {
    assert.deepEqual(codes[symbol], { code, length }, `symbol ${symbol}`);
  }
});

/** Huffman-codes `bytes` with the decoder's own table, padded with the EOS prefix (ones). */
function huffmanEncode(bytes: Uint8Array): Uint8Array {
  const codes = huffmanCodes();
  const bits: number[] = [];
  for (const b of bytes) {
    const { code, length } = codes[b]!;
    for (let i = length - 1; i >= 0; i--) bits.push(Math.floor(code / 2 ** i) % 2);
  }
  while (bits.length % 8 !== 0) bits.push(1);
  const out = new Uint8Array(bits.length / 8);
  bits.forEach((bit, i) => (out[i >> 3]! |= bit << (7 - (i & 7))));
  return out;
}

/** A literal without indexing, new name "x", Huffman-coded value (lengths below 127). */
function huffmanLiteral(value: Uint8Array): Uint8Array {
  const coded = huffmanEncode(value);
  return Uint8Array.from([0x00, 0x01, 0x78, 0x80 | coded.length, ...coded]);
}

test('Huffman code: any octets round-trip (every symbol of 0..255)', () => {
  const all = Uint8Array.from({ length: 256 }, (_, i) => i);
  for (let at = 0; at < 256; at += 32) {
    const r = new HpackDecoder().decode(huffmanLiteral(all.subarray(at, at + 32)));
    assert.equal(r.error, null);
    assert.equal(r.headers[0]!.value, Buffer.from(all.subarray(at, at + 32)).toString('latin1'));
  }
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 60 }), (value) => {
      const r = new HpackDecoder().decode(huffmanLiteral(value));
      assert.equal(r.error, null);
      assert.equal(r.headers[0]!.value, Buffer.from(value).toString('latin1'));
    }),
    { seed: 7541, numRuns: 300 },
  );
});

// ------------------------------------------------------------------------------------------------
// Appendix A and C.1

test('static table (Appendix A): 61 entries, the first, the pseudo-headers, the last', () => {
  assert.equal(HPACK_STATIC_TABLE_LENGTH, 61);
  assert.deepEqual(hpackStaticEntry(1), { name: ':authority', value: '' });
  assert.deepEqual(hpackStaticEntry(2), { name: ':method', value: 'GET' });
  assert.deepEqual(hpackStaticEntry(8), { name: ':status', value: '200' });
  assert.deepEqual(hpackStaticEntry(14), { name: ':status', value: '500' });
  assert.deepEqual(hpackStaticEntry(16), { name: 'accept-encoding', value: 'gzip, deflate' });
  assert.deepEqual(hpackStaticEntry(61), { name: 'www-authenticate', value: '' });
  assert.equal(hpackStaticEntry(62), undefined);
});

test('C.1 integers, read through the 5-bit prefix of a dynamic table size update', () => {
  // C.1.1: 10 fits the prefix (001 01010). C.1.2: 1337 = 31 + 154 + 10 * 128 (001 11111, 10011010, 00001010).
  const d = new HpackDecoder({ maxTableSize: 4096 });
  assert.deepEqual(decodeOk(d, hex('2a')), []);
  assert.equal(d.maxTableSize, 10);
  assert.deepEqual(decodeOk(d, hex('3f9a0a')), []);
  assert.equal(d.maxTableSize, 1337);
  // A value at the prefix's maximum needs a continuation octet of 0 (001 11111, 00000000): 31.
  assert.deepEqual(decodeOk(d, hex('3f00')), []);
  assert.equal(d.maxTableSize, 31);
});

// ------------------------------------------------------------------------------------------------
// C.2: one representation each

test('C.2.1 literal header field with indexing', () => {
  const d = new HpackDecoder();
  const block = hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572');
  assert.deepEqual(decodeOk(d, block), list('custom-key: custom-header'));
  assert.deepEqual(table(d), { entries: ['[1] (s = 55) custom-key: custom-header'], size: 55 });
});

test('C.2.2 literal header field without indexing', () => {
  const d = new HpackDecoder();
  assert.deepEqual(decodeOk(d, hex('040c 2f73 616d 706c 652f 7061 7468')), list(':path: /sample/path'));
  assert.deepEqual(table(d), { entries: [], size: 0 });
});

test('C.2.3 literal header field never indexed', () => {
  const d = new HpackDecoder();
  assert.deepEqual(decodeOk(d, hex('1008 7061 7373 776f 7264 0673 6563 7265 74')), list('password: secret'));
  assert.deepEqual(table(d), { entries: [], size: 0 });
});

test('C.2.4 indexed header field', () => {
  const d = new HpackDecoder();
  assert.deepEqual(decodeOk(d, hex('82')), list(':method: GET'));
  assert.deepEqual(table(d), { entries: [], size: 0 });
});

// ------------------------------------------------------------------------------------------------
// C.3 to C.6: sequences on one connection (one decoder), with the table after each block.

interface Step {
  block: string;
  headers: string;
  entries: string[];
  size: number;
}

const REQUEST_LISTS = [
  ':method: GET\n:scheme: http\n:path: /\n:authority: www.example.com',
  ':method: GET\n:scheme: http\n:path: /\n:authority: www.example.com\ncache-control: no-cache',
  ':method: GET\n:scheme: https\n:path: /index.html\n:authority: www.example.com\ncustom-key: custom-value',
];
const REQUEST_TABLES: Pick<Step, 'entries' | 'size'>[] = [
  { entries: ['[1] (s = 57) :authority: www.example.com'], size: 57 },
  {
    entries: ['[1] (s = 53) cache-control: no-cache', '[2] (s = 57) :authority: www.example.com'],
    size: 110,
  },
  {
    entries: [
      '[1] (s = 54) custom-key: custom-value',
      '[2] (s = 53) cache-control: no-cache',
      '[3] (s = 57) :authority: www.example.com',
    ],
    size: 164,
  },
];

const RESPONSE_LISTS = [
  ':status: 302\ncache-control: private\ndate: Mon, 21 Oct 2013 20:13:21 GMT\nlocation: https://www.example.com',
  ':status: 307\ncache-control: private\ndate: Mon, 21 Oct 2013 20:13:21 GMT\nlocation: https://www.example.com',
  ':status: 200\ncache-control: private\ndate: Mon, 21 Oct 2013 20:13:22 GMT\nlocation: https://www.example.com\n' +
    'content-encoding: gzip\nset-cookie: foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1',
];
const RESPONSE_TABLES: Pick<Step, 'entries' | 'size'>[] = [
  {
    entries: [
      '[1] (s = 63) location: https://www.example.com',
      '[2] (s = 65) date: Mon, 21 Oct 2013 20:13:21 GMT',
      '[3] (s = 52) cache-control: private',
      '[4] (s = 42) :status: 302',
    ],
    size: 222,
  },
  {
    entries: [
      '[1] (s = 42) :status: 307',
      '[2] (s = 63) location: https://www.example.com',
      '[3] (s = 65) date: Mon, 21 Oct 2013 20:13:21 GMT',
      '[4] (s = 52) cache-control: private',
    ],
    size: 222,
  },
  {
    entries: [
      '[1] (s = 98) set-cookie: foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1',
      '[2] (s = 52) content-encoding: gzip',
      '[3] (s = 65) date: Mon, 21 Oct 2013 20:13:22 GMT',
    ],
    size: 215,
  },
];

const SEQUENCES: {
  name: string;
  maxTableSize: number;
  blocks: string[];
  lists: string[];
  tables: typeof REQUEST_TABLES;
}[] = [
  {
    name: 'C.3 requests without Huffman coding',
    maxTableSize: 4096,
    blocks: [
      '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
      '8286 84be 5808 6e6f 2d63 6163 6865',
      '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65',
    ],
    lists: REQUEST_LISTS,
    tables: REQUEST_TABLES,
  },
  {
    name: 'C.4 requests with Huffman coding',
    maxTableSize: 4096,
    blocks: [
      '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff',
      '8286 84be 5886 a8eb 1064 9cbf',
      '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf',
    ],
    lists: REQUEST_LISTS,
    tables: REQUEST_TABLES,
  },
  {
    name: 'C.5 responses without Huffman coding (SETTINGS_HEADER_TABLE_SIZE 256: evictions)',
    maxTableSize: 256,
    blocks: [
      `4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
         2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d`,
      '4803 3330 37c1 c0bf',
      `88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
         54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
         5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31`,
    ],
    lists: RESPONSE_LISTS,
    tables: RESPONSE_TABLES,
  },
  {
    name: 'C.6 responses with Huffman coding (SETTINGS_HEADER_TABLE_SIZE 256: evictions)',
    maxTableSize: 256,
    blocks: [
      `4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
         2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3`,
      '4883 640e ffc1 c0bf',
      `88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
         77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
         9587 3160 65c0 03ed 4ee5 b106 3d50 07`,
    ],
    lists: RESPONSE_LISTS,
    tables: RESPONSE_TABLES,
  },
];

for (const seq of SEQUENCES) {
  test(seq.name, () => {
    const d = new HpackDecoder({ maxTableSize: seq.maxTableSize });
    seq.blocks.forEach((block, i) => {
      assert.deepEqual(decodeOk(d, hex(block)), list(seq.lists[i]!), `block ${i + 1}`);
      assert.deepEqual(table(d), seq.tables[i], `table after block ${i + 1}`);
    });
  });
}

// ------------------------------------------------------------------------------------------------
// Errors, as values

function errorOf(block: Uint8Array, d = new HpackDecoder()): HpackErrorCode | undefined {
  return d.decode(block).error?.code;
}

test('errors: bad indices (0, past the static table with an empty dynamic table)', () => {
  assert.equal(errorOf(hex('80')), 'bad-index');
  assert.equal(errorOf(hex('be')), 'bad-index');
  // A literal's indexed name too (01 + index 62).
  assert.equal(errorOf(hex('7e 0178')), 'bad-index');
  // 62 is fine once the dynamic table has an entry.
  const d = new HpackDecoder();
  decodeOk(d, hex('400178 0179'));
  assert.deepEqual(decodeOk(d, hex('be')), [['x', 'y']]);
  assert.equal(errorOf(hex('bf'), d), 'bad-index');
});

test('errors: Huffman padding longer than 7 bits, padding not of ones, EOS in the string', () => {
  // 'a' is 00011 (5 bits): 00011111 is 'a' + 3 bits of padding: fine.
  assert.deepEqual(decodeOk(new HpackDecoder(), hex('0001 78 81 1f')), [['x', 'a']]);
  // 'a' then a whole octet of ones: 11 bits of padding.
  assert.equal(errorOf(hex('0001 78 82 1fff')), 'bad-huffman');
  // 'a' then padding 110: not the most significant bits of EOS.
  assert.equal(errorOf(hex('0001 78 81 1e')), 'bad-huffman');
  // EOS (30 ones) then 2 ones of padding: EOS in a string.
  assert.equal(errorOf(hex('0001 78 84 ffffffff')), 'bad-huffman');
});

test('errors: a size update above the SETTINGS limit, and one after a field', () => {
  // 001 11111 + 4065: 4096 is allowed, 4097 is not (the default limit).
  assert.deepEqual(decodeOk(new HpackDecoder(), hex('3fe11f')), []);
  assert.equal(errorOf(hex('3fe21f')), 'table-size');
  const raised = new HpackDecoder();
  raised.setTableSizeLimit(65536);
  assert.equal(errorOf(hex('3fe21f'), raised), undefined);
  assert.equal(raised.maxTableSize, 4097);
  assert.equal(errorOf(hex('82 20')), 'size-update-late');
  // Two updates at the start of a block are fine (4.2: a reduction then the new size).
  assert.deepEqual(decodeOk(new HpackDecoder(), hex('20 3fe11f 82')), [[':method', 'GET']]);
});

test('errors: a block cut inside an integer or a string; an integer beyond 2^32-1', () => {
  assert.equal(errorOf(hex('ff')), 'truncated');
  assert.equal(errorOf(hex('40')), 'truncated');
  assert.equal(errorOf(hex('4005 6162')), 'truncated');
  assert.equal(errorOf(hex('ff ffffffff7f')), 'integer-overflow');
});

test('a size update evicts; a size of 0 empties the table; an entry larger than the table empties it', () => {
  const d = new HpackDecoder();
  decodeOk(d, hex('400178 0179 400161 0162'));
  assert.equal(d.tableSize, 68);
  decodeOk(d, hex('3f 06')); // 37: room for one entry of 34 octets
  assert.deepEqual(table(d), { entries: ['[1] (s = 34) a: b'], size: 34 });
  decodeOk(d, hex('20'));
  assert.deepEqual(table(d), { entries: [], size: 0 });
  const small = new HpackDecoder({ maxTableSize: 40 });
  decodeOk(small, hex('400178 0179'));
  assert.equal(small.tableSize, 34);
  // 'x' + 10 octets + 32 = 43 > 40: emptied, and the field is still decoded.
  assert.deepEqual(decodeOk(small, hex('400178 0a 30313233343536373839')), [['x', '0123456789']]);
  assert.equal(small.tableSize, 0);
});

test('after a failed block the decoder refuses the next ones (its table is not known)', () => {
  const d = new HpackDecoder();
  assert.equal(errorOf(hex('80'), d), 'bad-index');
  assert.equal(errorOf(hex('82'), d), 'desynchronized');
  const lost = new HpackDecoder();
  lost.markDesynchronized('a block too large');
  assert.match(lost.decode(hex('82')).error!.message, /a block too large/);
});

test('a header list over maxHeaderListSize: later fields left out, the table kept in step', () => {
  const d = new HpackDecoder({ maxHeaderListSize: 80 });
  // Three literals with indexing of 34 octets each: the third passes 80.
  const r = d.decode(hex('400161 0131 400162 0132 400163 0133'));
  assert.equal(r.error?.code, 'header-list-too-large');
  assert.deepEqual(
    r.headers.map((h) => h.name),
    ['a', 'b'],
  );
  assert.equal(d.dynamicTable.length, 3);
  assert.deepEqual(decodeOk(d, hex('be')), [['c', '3']]);
});

// ------------------------------------------------------------------------------------------------
// Fuzz

test('fuzz: random blocks never throw, errors are typed, the table stays within its maximum size', () => {
  const codes = new Set<HpackErrorCode>([
    'truncated',
    'integer-overflow',
    'bad-index',
    'bad-huffman',
    'table-size',
    'size-update-late',
    'header-list-too-large',
    'desynchronized',
  ]);
  let runs = 0;
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ maxLength: 200 }), { minLength: 1, maxLength: 6 }),
      fc.integer({ min: 0, max: 8192 }),
      (blocks, limit) => {
        runs++;
        const d = new HpackDecoder({ maxTableSize: limit, maxHeaderListSize: 4096 });
        for (const block of blocks) {
          const r = d.decode(block);
          if (r.error !== null) assert.ok(codes.has(r.error.code), r.error.code);
          assert.ok(d.tableSize <= d.maxTableSize);
          assert.ok(d.maxTableSize <= limit);
          const listSize = r.headers.reduce((n, h) => n + h.name.length + h.value.length + 32, 0);
          assert.ok(listSize <= 4096);
        }
      },
    ),
    { seed: 20260101, numRuns: 2000 },
  );
  assert.equal(runs, 2000);
});

test('fuzz: blocks made of valid representations with random fields decode without error', () => {
  // Literals with indexing of random names and values, then indexed references to them.
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 20 }), fc.uint8Array({ maxLength: 40 })), {
        minLength: 1,
        maxLength: 10,
      }),
      (fields) => {
        const d = new HpackDecoder();
        const parts: number[] = [];
        for (const [name, value] of fields) {
          const n = huffmanEncode(name);
          parts.push(0x40, 0x80 | n.length, ...n, value.length, ...value);
        }
        const r = d.decode(Uint8Array.from(parts));
        assert.equal(r.error, null);
        assert.equal(r.headers.length, fields.length);
        // The newest entry is index 62.
        const last = fields[fields.length - 1]!;
        assert.deepEqual(decodeOk(d, hex('be')), [
          [Buffer.from(last[0]).toString('latin1'), Buffer.from(last[1]).toString('latin1')],
        ]);
      },
    ),
    { seed: 9113, numRuns: 300 },
  );
});
