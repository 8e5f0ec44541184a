import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createCa, ensureDevPki, issueServerCert, loadCa } from '../src/pki.js';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('dev PKI', () => {
  it('issues an ECDSA P-256 server certificate for IPs and names, verifiable against the CA', async () => {
    const ca = await createCa({ commonName: 'test CA' });
    const server = await issueServerCert({ ca, hosts: ['127.0.0.1', 'localhost', 'nats.example'] });
    const caCert = new X509Certificate(ca.certPem);
    const cert = new X509Certificate(server.certPem);
    expect(caCert.ca).toBe(true);
    expect(cert.ca).toBe(false);
    expect(cert.checkIssued(caCert)).toBe(true);
    expect(cert.verify(caCert.publicKey)).toBe(true);
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(cert.checkHost('localhost')).toBe('localhost');
    expect(cert.checkHost('nats.example')).toBe('nats.example');
    expect(cert.checkHost('other.example')).toBeUndefined();
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(server.keyPem).toContain('-----BEGIN PRIVATE KEY-----');
    // A CA read back from its PEM files issues certificates the same way.
    const reloaded = await loadCa({ certPem: ca.certPem, keyPem: ca.keyPem });
    const second = new X509Certificate((await issueServerCert({ ca: reloaded, hosts: ['localhost'] })).certPem);
    expect(second.checkIssued(caCert)).toBe(true);
    await expect(issueServerCert({ ca, hosts: [] })).rejects.toThrow(/hosts/);
  });

  it('keeps its CA across runs and re-issues the server certificate when the hosts change', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'outpost-pki-test-'));
    dirs.push(dir);
    const first = await ensureDevPki(join(dir, 'pki'));
    expect(statSync(first.dir).mode & 0o777).toBe(0o700);
    for (const file of [first.caFile, first.caKeyFile, first.certFile, first.keyFile]) {
      expect(statSync(file).mode & 0o777).toBe(0o600);
    }
    const ca = readFileSync(first.caFile, 'utf8');
    const cert = readFileSync(first.certFile, 'utf8');
    await ensureDevPki(join(dir, 'pki'));
    expect(readFileSync(first.certFile, 'utf8')).toBe(cert);
    await ensureDevPki(join(dir, 'pki'), { hosts: ['127.0.0.1', 'localhost', 'hub.local'] });
    expect(readFileSync(first.caFile, 'utf8')).toBe(ca);
    const reissued = new X509Certificate(readFileSync(first.certFile));
    expect(reissued.checkHost('hub.local')).toBe('hub.local');
    expect(reissued.checkIssued(new X509Certificate(ca))).toBe(true);
  });
});
