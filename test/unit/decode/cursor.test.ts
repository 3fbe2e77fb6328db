import { test } from 'node:test';
import assert from 'node:assert/strict';
import { u16, u16be, u16le, u32, u32be, u32le } from '../../../src/decode/cursor.js';

test('cursor: 16- and 32-bit reads in both byte orders are unsigned', () => {
  const b = Uint8Array.of(0xff, 0xfe, 0xfd, 0xfc, 0x01);
  assert.equal(u16be(b, 0), 0xfffe);
  assert.equal(u16le(b, 0), 0xfeff);
  assert.equal(u32be(b, 0), 0xfffefdfc);
  assert.equal(u32le(b, 0), 0xfcfdfeff);
  assert.equal(u32be(b, 1), 0xfefdfc01);
  assert.equal(u16(b, 3, true), 0x01fc);
  assert.equal(u16(b, 3, false), 0xfc01);
  assert.equal(u32(b, 1, true), 0x01fcfdfe);
  assert.equal(u32(b, 1, false), 0xfefdfc01);
});
