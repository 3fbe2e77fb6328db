import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatDuration } from '../../../src/analyze/findings/facts.js';
import { formatMs } from '../../../src/report/text.js';

test('durations that round to a whole second are written in seconds, not "1000 ms"', () => {
  for (const format of [formatMs, formatDuration]) {
    assert.equal(format(0.5), '0.50 ms');
    assert.equal(format(999.4), '999 ms');
    assert.equal(format(999.6), '1.00 s');
    assert.equal(format(1000), '1.00 s');
    assert.equal(format(1504), '1.50 s');
  }
});
