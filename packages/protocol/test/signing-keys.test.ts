import { describe, expect, it } from 'vitest';
import { RotatedSigningKeys, SigningKey, SigningKeyIdParams, SigningKeyList } from '../src/index.js';

const key = {
  keyId: 'Q2l4mZ0hB7yq1WcX3f2K9A',
  alg: 'ed25519',
  publicKey: 'XvqB_7gkFydbaxrSAfvvInrwrs_k5vxvdF32OPpuyyo',
  status: 'active',
  createdAt: '2026-01-31T12:00:00.000Z',
  retiredAt: null,
};

describe('signing key API schemas', () => {
  it('describes a key by its public parts only', () => {
    expect(SigningKey.parse(key)).toEqual(key);
    // A private key is never part of a response: the schema refuses one rather than passing it on.
    const leaked = SigningKey.safeParse({ ...key, privateKey: '-----BEGIN PRIVATE KEY-----' });
    expect(leaked.success).toBe(false);
    expect(JSON.stringify(leaked.error?.issues)).toMatch(/privateKey/);
  });

  it('checks key ids, public keys, statuses and times', () => {
    expect(SigningKey.safeParse({ ...key, keyId: 'short' }).success).toBe(false);
    expect(SigningKey.safeParse({ ...key, publicKey: `${key.publicKey}=` }).success).toBe(false);
    expect(SigningKey.safeParse({ ...key, alg: 'rsa' }).success).toBe(false);
    expect(SigningKey.safeParse({ ...key, status: 'revoked' }).success).toBe(false);
    const retired = { ...key, status: 'retired', retiredAt: '2026-02-01T00:00:00.000Z' };
    expect(SigningKey.parse(retired)).toEqual(retired);
    expect(SigningKey.safeParse({ ...key, retiredAt: 'yesterday' }).success).toBe(false);
  });

  it('lists keys and reports a rotation', () => {
    const retired = {
      ...key,
      keyId: 'AAAAAAAAAAAAAAAAAAAAAA',
      status: 'retired',
      retiredAt: '2026-02-01T00:00:00.000Z',
    };
    expect(SigningKeyList.parse({ items: [key, retired] }).items).toHaveLength(2);
    expect(RotatedSigningKeys.parse({ active: key, retired })).toEqual({ active: key, retired });
    expect(RotatedSigningKeys.parse({ active: key, retired: null }).retired).toBeNull();
  });

  it('validates the key id in paths', () => {
    expect(SigningKeyIdParams.parse({ keyId: key.keyId })).toEqual({ keyId: key.keyId });
    const bad = SigningKeyIdParams.safeParse({ keyId: '../etc' });
    expect(bad.error?.issues[0]?.message).toBe('must be a 22-character base64url key id');
  });
});
