import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createUser } from '@nats-io/nkeys';
import { permissionsFor, subjects } from '@outpost/protocol';
import { afterAll, describe, expect, it } from 'vitest';
import { formatCredsFile, parseCredsFile, writeFileAtomic } from '../src/credentials/creds-file.js';
import { missingPermissions, RENEW_AT_FRACTION, renewalDueAt } from '../src/credentials/renewal.js';
import { makeTempDir, removeTempDirs } from './helpers.js';

afterAll(removeTempDirs);

/** A user JWT's shape (header.claims.signature); the agent reads claims only, the server verifies. */
function fakeJwt(claims: Record<string, unknown>): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ typ: 'JWT', alg: 'ed25519-nkey' })}.${part(claims)}.c2lnbmF0dXJl`;
}

function userKey() {
  const key = createUser();
  return { seed: new TextDecoder().decode(key.getSeed()), publicKey: key.getPublicKey() };
}

describe('creds files', () => {
  it('reads back what it writes: JWT, seed, the public key and the JWT’s issue and expiry times', () => {
    const { seed, publicKey } = userKey();
    const jwt = fakeJwt({ sub: publicKey, iat: 1_700_000_000, exp: 1_700_000_600 });
    const credential = parseCredsFile(formatCredsFile(jwt, seed), 'device.creds');
    expect(credential).toEqual({
      jwt,
      seed,
      publicKey,
      issuedAt: new Date(1_700_000_000_000),
      expiresAt: new Date(1_700_000_600_000),
    });
    expect(parseCredsFile(formatCredsFile(fakeJwt({ sub: publicKey }), seed), 'x').expiresAt).toBeNull();
  });

  it('names the file and what is wrong, never quoting the seed', () => {
    const { seed } = userKey();
    expect(() => parseCredsFile('nothing here', '/etc/outpost/device.creds')).toThrow(
      'creds file /etc/outpost/device.creds: no user JWT',
    );
    expect(() => parseCredsFile(formatCredsFile(fakeJwt({}), 'SUNOTASEED'), 'a.creds')).toThrow(
      'creds file a.creds: the NKey seed is not valid',
    );
    const bad = (() => {
      try {
        parseCredsFile(formatCredsFile('not-a-jwt', seed), 'b.creds');
        return '';
      } catch (err) {
        return (err as Error).message;
      }
    })();
    expect(bad).toMatch(/^creds file b\.creds: the user JWT cannot be read/);
    expect(bad).not.toContain(seed);
  });

  it('replaces a file atomically with the mode asked for, leaving no temp file behind', () => {
    const dir = makeTempDir();
    const path = join(dir, 'device.creds');
    writeFileSync(path, 'old', { mode: 0o644 });
    writeFileAtomic(path, 'new content', 0o600);
    expect(readFileSync(path, 'utf8')).toBe('new content');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(['device.creds']);
  });
});

describe('renewal schedule', () => {
  it('renews two thirds into the credential’s lifetime, and not at all when it never expires', () => {
    const issuedAt = new Date('2030-01-01T00:00:00Z');
    const expiresAt = new Date('2030-01-01T00:30:00Z');
    expect(RENEW_AT_FRACTION).toBeCloseTo(2 / 3);
    expect(renewalDueAt({ issuedAt, expiresAt })?.toISOString()).toBe('2030-01-01T00:20:00.000Z');
    expect(renewalDueAt({ issuedAt, expiresAt: null })).toBeNull();
    // Without an issue time the lifetime counts from now.
    expect(renewalDueAt({ issuedAt: null, expiresAt }, new Date('2030-01-01T00:00:30Z'))?.toISOString()).toBe(
      '2030-01-01T00:20:10.000Z',
    );
  });
});

describe('a credential minted before an upgrade', () => {
  const jwtWith = (nats: unknown) =>
    ['e30', Buffer.from(JSON.stringify({ sub: 'UKEY', nats })).toString('base64url'), 'sig'].join('.');
  const current = permissionsFor({ role: 'agent', deviceId: 'press-01' });

  it('names each subject this agent uses that the JWT does not allow, so it is renewed at once', () => {
    const older = {
      pub: { allow: current.publish.filter((subject) => !subject.startsWith('$JS.')) },
      sub: { allow: current.subscribe.filter((subject) => subject !== subjects.device.agentMethods('press-01')) },
    };
    expect(missingPermissions(jwtWith(older), 'press-01')).toEqual([
      ...current.publish.filter((subject) => subject.startsWith('$JS.')).map((subject) => `publish ${subject}`),
      `subscribe ${subjects.device.agentMethods('press-01')}`,
    ]);
  });

  it('finds nothing missing in a current credential, or in one without permission lists', () => {
    expect(
      missingPermissions(jwtWith({ pub: { allow: current.publish }, sub: { allow: current.subscribe } }), 'press-01'),
    ).toEqual([]);
    expect(missingPermissions(jwtWith(undefined), 'press-01')).toEqual([]);
    expect(missingPermissions('not-a-jwt', 'press-01')).toEqual([]);
  });
});
