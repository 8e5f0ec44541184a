import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Account, Operator } from '@nats-io/jwt';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createIdentityBundle,
  decodeJwt,
  decodeUserJwt,
  ensureIdentityBundle,
  IDENTITY_FILES,
  loadCloudAuthority,
  loadIdentityBundle,
  nowSecs,
  parseCredsFile,
  renderHubConfig,
} from '../src/index.js';

const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'outpost-identity-test-'));
  dirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('identity bundle', () => {
  it('writes every file 0600 in a 0700 dir, with a trust chain signed by signing keys only', async () => {
    const dir = join(tempDir(), 'identity');
    const bundle = await createIdentityBundle(dir);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    for (const file of Object.values(IDENTITY_FILES)) {
      expect(statSync(join(dir, file)).mode & 0o777, file).toBe(0o600);
    }
    const { manifest } = bundle;
    const operator = decodeJwt<Operator & { strict_signing_key_usage?: boolean }>(bundle.operatorJwt);
    expect(operator.nats.system_account).toBe(manifest.systemAccount.publicKey);
    expect(operator.nats.signing_keys).toEqual([manifest.operator.signingKey]);
    expect(operator.nats.strict_signing_key_usage).toBe(true);

    const account = decodeJwt<Account>(bundle.accountJwt);
    expect(account.iss).toBe(manifest.operator.signingKey);
    expect(account.nats.signing_keys).toEqual([manifest.account.signingKey]);
    expect(account.nats.limits?.mem_storage).toBeGreaterThan(0);
    expect(account.nats.limits?.disk_storage).toBeGreaterThan(0);
    expect(account.nats.limits?.conn).toBe(-1);
    expect(account.nats.limits?.disallow_bearer).toBe(true);
    const system = decodeJwt<Account>(bundle.systemAccountJwt);
    expect(system.nats.limits?.conn).toBe(-1);
    expect(system.nats.limits?.disk_storage ?? 0).toBe(0);

    for (const [file, name] of [
      [bundle.paths.cloudApiCreds, 'outpost-cloud-api'],
      [bundle.paths.portalCreds, 'outpost-portal'],
    ] as const) {
      const claims = decodeUserJwt(parseCredsFile(readFileSync(file, 'utf8')).jwt);
      expect(claims.name).toBe(name);
      expect(claims.iss).toBe(manifest.account.signingKey);
      expect(claims.exp).toBeGreaterThan(nowSecs());
    }
    const cloud = parseCredsFile(readFileSync(bundle.paths.cloudApiCreds, 'utf8'));
    const portal = parseCredsFile(readFileSync(bundle.paths.portalCreds, 'utf8'));
    expect(cloud.publicKey).not.toBe(portal.publicKey);
    const systemUser = decodeUserJwt(parseCredsFile(readFileSync(bundle.paths.systemUserCreds, 'utf8')).jwt);
    expect(systemUser.iss).toBe(manifest.systemAccount.signingKey);

    expect(loadIdentityBundle(dir).manifest).toEqual(manifest);
    await expect(createIdentityBundle(dir)).rejects.toThrow(/already exists/);
  });

  it('loads only what the cloud API holds, naming a missing or foreign file', async () => {
    const full = await createIdentityBundle(join(tempDir(), 'full'));
    const cloudDir = tempDir();
    for (const file of ['manifest', 'accountSigningSeed', 'operatorSigningSeed', 'systemUserCreds'] as const) {
      copyFileSync(full.paths[file], join(cloudDir, IDENTITY_FILES[file]));
    }
    const authority = loadCloudAuthority(cloudDir);
    expect(authority.issuer.accountPublicKey).toBe(full.manifest.account.publicKey);
    expect(authority.issuer.signingKey.getPublicKey()).toBe(full.manifest.account.signingKey);
    expect(authority.operatorSigningKey.getPublicKey()).toBe(full.manifest.operator.signingKey);

    const other = await createIdentityBundle(join(tempDir(), 'other'));
    copyFileSync(other.paths.accountSigningSeed, join(cloudDir, IDENTITY_FILES.accountSigningSeed));
    expect(() => loadCloudAuthority(cloudDir)).toThrow(/account-signing\.nk is not the signing key/);
    rmSync(join(cloudDir, IDENTITY_FILES.systemUserCreds));
    expect(() => loadCloudAuthority(cloudDir)).toThrow(/system user creds not found/);
    writeFileSync(join(cloudDir, IDENTITY_FILES.manifest), '{"version":2}');
    expect(() => loadCloudAuthority(cloudDir)).toThrow(/not an Outpost identity manifest/);
  });

  it('re-issues service creds that are about to expire, keeping the trust chain', async () => {
    const dir = join(tempDir(), 'renew');
    const created = await createIdentityBundle(dir, { serviceJwtLifetimeSecs: 3600 });
    const before = parseCredsFile(readFileSync(created.paths.cloudApiCreds, 'utf8'));
    const again = await ensureIdentityBundle(dir);
    expect(again.manifest).toEqual(created.manifest);
    const after = parseCredsFile(readFileSync(created.paths.cloudApiCreds, 'utf8'));
    expect(after.jwt).not.toBe(before.jwt);
    expect((decodeUserJwt(after.jwt).exp ?? 0) - nowSecs()).toBeGreaterThan(60 * 24 * 3600);
    // Nothing due: left alone.
    await ensureIdentityBundle(dir);
    expect(parseCredsFile(readFileSync(created.paths.cloudApiCreds, 'utf8')).jwt).toBe(after.jwt);
  });
});

describe('renderHubConfig', () => {
  it('writes operator mode with the full resolver, preloads, TLS on both listeners and JetStream', async () => {
    const bundle = await createIdentityBundle(join(tempDir(), 'hub'));
    const text = renderHubConfig({
      identity: bundle,
      host: '127.0.0.1',
      port: 4223,
      leafPort: 7422,
      storeDir: '/var/lib/nats/js',
      resolverDir: '/var/lib/nats/jwt',
      tls: { certFile: '/etc/nats/server "x".pem', keyFile: '/etc/nats/key.pem' },
      jetstreamDomain: 'cloud',
    });
    expect(text).toContain(`operator: "${bundle.paths.operatorJwt}"`);
    expect(text).toContain(`system_account: ${bundle.manifest.systemAccount.publicKey}`);
    expect(text).toMatch(/resolver \{\n {2}type: full\n {2}dir: "\/var\/lib\/nats\/jwt"\n {2}allow_delete: false/);
    expect(text).toContain(`${bundle.manifest.account.publicKey}: "${bundle.accountJwt}"`);
    expect(text).toContain(`${bundle.manifest.systemAccount.publicKey}: "${bundle.systemAccountJwt}"`);
    expect(text).toContain('cert_file: "/etc/nats/server \\"x\\".pem"');
    expect(text.match(/tls \{/g)).toHaveLength(2);
    expect(text).toMatch(/leafnodes \{\n {2}listen: "127\.0\.0\.1:7422"/);
    expect(text).toContain('domain: cloud');
    expect(text).not.toContain('no_auth_user');
    expect(text).not.toMatch(/^\s*authorization/m);
  });

  it('refuses values that would break or bend the config', async () => {
    const bundle = await createIdentityBundle(join(tempDir(), 'bad'));
    const base = {
      identity: bundle,
      host: '127.0.0.1',
      port: 4223,
      storeDir: '/s',
      resolverDir: '/r',
      tls: { certFile: '/c', keyFile: '/k' },
      jetstreamDomain: 'cloud',
    };
    expect(() => renderHubConfig({ ...base, port: 0 })).toThrow(/port/);
    expect(() => renderHubConfig({ ...base, jetstreamDomain: 'a b' })).toThrow(/jetstreamDomain/);
    expect(() => renderHubConfig({ ...base, storeDir: '/s\ninclude /etc/passwd' })).toThrow(/lines/);
    expect(() => renderHubConfig({ ...base, maxFileStore: 'lots' })).toThrow(/maxFileStore/);
  });
});
