/**
 * The register in a command watch runs: NODE_OPTIONS and the report directory (the merge of the
 * reports: process-views.test.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { commandRegister, REGISTER_URL } from '../../../src/observe/command-register.js';

test('command register: NODE_OPTIONS gets --import after what was there; the directory goes with remove()', async () => {
  const register = await commandRegister(8080);
  try {
    const env = register.env({ NODE_OPTIONS: '--max-old-space-size=100', PATH: '/bin' });
    assert.equal(env.NODE_OPTIONS, `--max-old-space-size=100 --import=${REGISTER_URL}`);
    assert.match(REGISTER_URL, /^file:\/\/\/\S+\/src\/register\.js$/);
    assert.equal(env.KEEPALIVE_LAB_REPORT_DIR, register.dir);
    assert.equal(env.KEEPALIVE_LAB_SUMMARY, '0');
    assert.equal(env.PATH, '/bin');
    assert.equal((await register.report()).observer.available, false);
  } finally {
    await register.remove();
  }
  await assert.rejects(
    import('node:fs/promises').then((fs) => fs.stat(register.dir)),
    { code: 'ENOENT' },
  );
});
