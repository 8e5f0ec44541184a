import { createAccount } from '@nats-io/nkeys';
import { describe, expect, it } from 'vitest';
import {
  createUserKey,
  decodeUserJwt,
  formatCredsFile,
  IdentityError,
  MAX_USER_JWT_LIFETIME_SECS,
  mintDeviceJwt,
  mintUserJwt,
  nowSecs,
  parseCredsFile,
} from '../src/index.js';

const account = createAccount();
const signingKey = createAccount();
const issuer = { accountPublicKey: account.getPublicKey(), signingKey };

describe('mintUserJwt', () => {
  it('signs with the account signing key, with allow-lists and an expiry in whole seconds', async () => {
    const key = createUserKey();
    const before = nowSecs();
    const jwt = await mintUserJwt({
      issuer,
      publicKey: key.publicKey,
      name: 'press-01',
      permissions: { publish: ['a.b'], subscribe: ['_INBOX_press-01.>'] },
      expiresInSecs: 600,
    });
    const claims = decodeUserJwt(jwt);
    expect(claims.sub).toBe(key.publicKey);
    expect(claims.iss).toBe(signingKey.getPublicKey());
    expect(claims.nats.issuer_account).toBe(account.getPublicKey());
    expect(claims.nats.pub).toEqual({ allow: ['a.b'] });
    expect(claims.nats.sub).toEqual({ allow: ['_INBOX_press-01.>'] });
    expect(claims.nats.allowed_connection_types).toEqual(['STANDARD']);
    expect(Number.isInteger(claims.exp)).toBe(true);
    expect(claims.exp).toBeGreaterThanOrEqual(before + 600);
    expect(claims.exp).toBeLessThanOrEqual(nowSecs() + 600);
  });

  it('refuses keys that are not user keys, silly lifetimes and inbox-reading subscriptions', async () => {
    const base = {
      issuer,
      publicKey: createUserKey().publicKey,
      name: 'x',
      permissions: { publish: ['a'], subscribe: ['b'] },
      expiresInSecs: 60,
    };
    await expect(mintUserJwt({ ...base, publicKey: account.getPublicKey() })).rejects.toThrow(IdentityError);
    await expect(mintUserJwt({ ...base, publicKey: 'Unope' })).rejects.toThrow(/user NKey/);
    await expect(mintUserJwt({ ...base, expiresInSecs: 0 })).rejects.toThrow(/expiresInSecs/);
    await expect(mintUserJwt({ ...base, expiresInSecs: 1.5 })).rejects.toThrow(/expiresInSecs/);
    await expect(mintUserJwt({ ...base, expiresInSecs: MAX_USER_JWT_LIFETIME_SECS + 1 })).rejects.toThrow(
      /expiresInSecs/,
    );
    await expect(mintUserJwt({ ...base, permissions: { publish: ['a'], subscribe: ['_INBOX.>'] } })).rejects.toThrow(
      /_INBOX/,
    );
  });

  it('mints device JWTs for the device’s own subjects, as a client or a leaf node', async () => {
    const key = createUserKey();
    const claims = decodeUserJwt(await mintDeviceJwt({ issuer, deviceId: 'press-01', publicKey: key.publicKey }));
    expect(claims.name).toBe('press-01');
    expect(claims.nats.allowed_connection_types).toEqual(['STANDARD', 'LEAFNODE']);
    expect(claims.nats.sub?.allow).toContain('_INBOX_press-01.>');
    expect((claims.exp ?? 0) - nowSecs()).toBeGreaterThan(29 * 24 * 3600);
    await expect(mintDeviceJwt({ issuer, deviceId: 'no.dots', publicKey: key.publicKey })).rejects.toThrow(/deviceId/);
  });
});

describe('creds files', () => {
  it('round-trip the JWT and seed', async () => {
    const key = createUserKey();
    const jwt = await mintDeviceJwt({ issuer, deviceId: 'd1', publicKey: key.publicKey });
    const text = formatCredsFile(jwt, key.seed);
    expect(text).toContain('-----BEGIN NATS USER JWT-----');
    expect(parseCredsFile(text)).toEqual({ jwt, seed: key.seed, publicKey: key.publicKey });
  });

  it('refuse a JWT that belongs to another key, without quoting the seed', async () => {
    const key = createUserKey();
    const other = createUserKey();
    const jwt = await mintDeviceJwt({ issuer, deviceId: 'd1', publicKey: other.publicKey });
    const text = formatCredsFile(jwt, key.seed);
    let message = '';
    try {
      parseCredsFile(text, 'device.creds');
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/another key/);
    expect(message).not.toContain(key.seed);
    expect(() => parseCredsFile('nothing here')).toThrow(/no JWT and seed/);
    expect(() => formatCredsFile(jwt, 'not a seed')).toThrow(/seed/);
  });
});
