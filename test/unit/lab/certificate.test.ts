/**
 * The lab's run-time certificate, checked by two independent readers: Node's X509Certificate and
 * the openssl CLI (`x509 -text`, `verify`), which .ci/run installs. Outside CI a missing openssl
 * skips those checks, saying so.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createLabCertificate, labCertificate } from '../../../src/lab/certificate.js';

function opensslSkip(): string | false {
  const probe = spawnSync('openssl', ['version'], { encoding: 'utf8' });
  if (!probe.error) return false;
  if (process.env.CI) throw new Error('CI must have openssl (.ci/run installs it)');
  return 'openssl is not installed';
}

test('node:crypto reads it: self-signed, v3, valid now, for 127.0.0.1, ::1 and localhost only', () => {
  const c = createLabCertificate();
  const x = new X509Certificate(c.cert);
  assert.equal(x.subject, 'CN=keepalive-lab');
  assert.equal(x.issuer, x.subject);
  assert.equal(x.verify(x.publicKey), true, 'signed by its own key');
  assert.equal(x.checkPrivateKey(createPrivateKey(c.key)), true, 'the key goes with it');
  assert.equal(x.ca, true);
  assert.equal(x.checkIP('127.0.0.1'), '127.0.0.1');
  assert.equal(x.checkIP('::1'), '::1');
  assert.equal(x.checkHost('localhost'), 'localhost');
  assert.equal(x.checkIP('127.0.0.2'), undefined);
  assert.equal(x.checkHost('example.com'), undefined);
  assert.equal(x.subjectAltName, 'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
  const now = Date.now();
  assert.ok(Date.parse(x.validFrom) < now && now < Date.parse(x.validTo));
  assert.equal(x.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
});

test('a host beside the loopback names is added to them (the lab on 127.0.0.2, or by a name)', () => {
  const byAddress = new X509Certificate(createLabCertificate('127.0.0.2').cert);
  assert.equal(byAddress.checkIP('127.0.0.2'), '127.0.0.2');
  assert.equal(byAddress.checkIP('127.0.0.1'), '127.0.0.1');
  const byName = new X509Certificate(createLabCertificate('lab.test').cert);
  assert.equal(byName.checkHost('lab.test'), 'lab.test');
  assert.equal(byName.subjectAltName?.startsWith('DNS:localhost, DNS:lab.test, IP Address:127.0.0.1'), true);
  assert.equal(labCertificate('127.0.0.2'), labCertificate('127.0.0.2'));
  assert.notEqual(labCertificate('127.0.0.2'), labCertificate());
});

test('each certificate is new (key and serial); the lab shares one per process', () => {
  const a = new X509Certificate(createLabCertificate().cert);
  const b = new X509Certificate(createLabCertificate().cert);
  assert.notEqual(a.serialNumber, b.serialNumber);
  assert.notEqual(a.fingerprint256, b.fingerprint256);
  assert.equal(labCertificate(), labCertificate());
});

test('openssl reads it (x509 -text) and verifies it against itself', { skip: opensslSkip() }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'kal-cert-'));
  try {
    const file = join(dir, 'cert.pem');
    writeFileSync(file, createLabCertificate().cert);
    const text = spawnSync('openssl', ['x509', '-in', file, '-noout', '-text'], { encoding: 'utf8' });
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /Version: 3 \(0x2\)/);
    assert.match(text.stdout, /Signature Algorithm: ecdsa-with-SHA256/);
    assert.match(text.stdout, /DNS:localhost, IP Address:127\.0\.0\.1, IP Address:0:0:0:0:0:0:0:1/);
    assert.match(text.stdout, /TLS Web Server Authentication/);
    const verify = spawnSync('openssl', ['verify', '-CAfile', file, file], { encoding: 'utf8' });
    assert.equal(verify.status, 0, verify.stderr);
    assert.match(verify.stdout, /: OK/);
    // A certificate is not trusted by another one's key.
    const other = join(dir, 'other.pem');
    writeFileSync(other, createLabCertificate().cert);
    const refused = spawnSync('openssl', ['verify', '-CAfile', other, file], { encoding: 'utf8' });
    assert.notEqual(refused.status, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
