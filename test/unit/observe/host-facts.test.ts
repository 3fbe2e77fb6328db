/**
 * readHostFacts (src/observe/host-facts.ts): the sysctls read from a directory of files as /proc/sys
 * holds them, Linux's defaults (marked so) for what cannot be read, the machine's addresses in
 * canonical form; and this machine's own /proc where there is one.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LINUX_DEFAULT_PORTS } from '../../../src/model/host.js';
import { SYSCTL_IPV4_DIR, parsePortRange, parseTwReuse, readHostFacts } from '../../../src/observe/host-facts.js';

function sysctls(t: { after: (fn: () => void) => void }, files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'kal-sysctl-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

const NO_INTERFACES = () => ({});

test('host facts: the three sysctls read as /proc/sys prints them', async (t) => {
  const dir = sysctls(t, { ip_local_port_range: '1024\t65535\n', tcp_tw_reuse: '1\n', tcp_tw_reuse_delay: '250\n' });
  const facts = await readHostFacts({ sysctlDir: dir, interfaces: NO_INTERFACES });
  assert.deepEqual(facts.ports, {
    portRange: { low: 1024, high: 65535 },
    twReuse: 1,
    twReuseDelayMs: 250,
    source: { portRange: 'host', twReuse: 'host' },
  });
});

test("host facts: what cannot be read is Linux's default, marked so; an older kernel's delay is 1 s", async (t) => {
  // No directory at all (not Linux, no /proc/sys in a container).
  const none = await readHostFacts({ sysctlDir: join(tmpdir(), 'kal-no-such-dir'), interfaces: NO_INTERFACES });
  assert.deepEqual(none.ports, { ...LINUX_DEFAULT_PORTS, portRange: { ...LINUX_DEFAULT_PORTS.portRange } });
  assert.deepEqual(none.ports.source, { portRange: 'default', twReuse: 'default' });
  // A range out of order, a tw_reuse out of range; no tcp_tw_reuse_delay (before Linux 6.13).
  const bad = sysctls(t, { ip_local_port_range: '60999 32768\n', tcp_tw_reuse: '0\n' });
  const facts = await readHostFacts({ sysctlDir: bad, interfaces: NO_INTERFACES });
  assert.deepEqual(facts.ports.portRange, { low: 32768, high: 60999 });
  assert.deepEqual(facts.ports.source, { portRange: 'default', twReuse: 'host' });
  assert.equal(facts.ports.twReuse, 0);
  assert.equal(facts.ports.twReuseDelayMs, 1000);
  const odd = sysctls(t, { tcp_tw_reuse: '3\n' });
  assert.equal((await readHostFacts({ sysctlDir: odd, interfaces: NO_INTERFACES })).ports.source.twReuse, 'default');
});

test('host facts: the parsers take exactly two ports in order, and 0, 1 or 2', () => {
  assert.deepEqual(parsePortRange('32768\t60999\n'), { low: 32768, high: 60999 });
  assert.deepEqual(parsePortRange('  5000   5000 '), { low: 5000, high: 5000 });
  for (const text of ['', '32768', '0 100', '100 65536', '1 2 3', 'a b', '-1 5'])
    assert.equal(parsePortRange(text), null, text);
  assert.equal(parseTwReuse('2\n'), 2);
  assert.equal(parseTwReuse('0'), 0);
  for (const text of ['', '3', '-1', 'yes', '1.0']) assert.equal(parseTwReuse(text), null, text);
});

test("host facts: the interfaces' addresses, canonical and without their zone", async (t) => {
  const dir = sysctls(t, {});
  const facts = await readHostFacts({
    sysctlDir: dir,
    interfaces: () => ({
      lo: [
        {
          address: '127.0.0.1',
          netmask: '255.0.0.0',
          family: 'IPv4',
          mac: '00:00:00:00:00:00',
          internal: true,
          cidr: null,
        },
        {
          address: '::1',
          netmask: 'ffff::',
          family: 'IPv6',
          mac: '00:00:00:00:00:00',
          internal: true,
          cidr: null,
          scopeid: 0,
        },
      ],
      eth0: [
        {
          address: 'FE80:0:0:0:0:0:0:1%eth0',
          netmask: 'ffff::',
          family: 'IPv6',
          mac: '02:00:00:00:00:01',
          internal: false,
          cidr: null,
          scopeid: 2,
        },
        {
          address: '127.0.0.1',
          netmask: '255.0.0.0',
          family: 'IPv4',
          mac: '02:00:00:00:00:01',
          internal: false,
          cidr: null,
        },
      ],
    }),
  });
  assert.deepEqual(facts.localAddresses, ['127.0.0.1', '::1', 'fe80::1']);
});

test(
  "host facts: on Linux, this machine's own /proc/sys",
  { skip: !existsSync(join(SYSCTL_IPV4_DIR, 'ip_local_port_range')) && 'no /proc/sys here' },
  async () => {
    const facts = await readHostFacts();
    const [low, high] = readFileSync(join(SYSCTL_IPV4_DIR, 'ip_local_port_range'), 'utf8')
      .trim()
      .split(/\s+/)
      .map(Number);
    assert.deepEqual(facts.ports.portRange, { low, high });
    assert.equal(facts.ports.source.portRange, 'host');
    assert.equal(facts.ports.twReuse, Number(readFileSync(join(SYSCTL_IPV4_DIR, 'tcp_tw_reuse'), 'utf8')));
    assert.ok(facts.localAddresses.includes('127.0.0.1'));
  },
);
