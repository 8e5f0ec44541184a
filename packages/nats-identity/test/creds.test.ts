import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { formatCredsArmour, parseCredsArmour, readJwtClaims } from '../src/creds.js';
import { createUserKey } from '../src/jwt.js';

function unsignedJwt(claims: Record<string, unknown>): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ typ: 'JWT', alg: 'ed25519-nkey' })}.${part(claims)}.c2ln`;
}

describe('the ./creds entry (no JWT library, for the bundled agent)', () => {
  it('writes the armour nsc writes and reads back the JWT and seed', () => {
    const { seed } = createUserKey();
    const jwt = unsignedJwt({ sub: 'U1' });
    const text = formatCredsArmour(jwt, `${seed}\n`);
    expect(text).toMatch(/^-----BEGIN NATS USER JWT-----\n/);
    expect(text).toContain('------END USER NKEY SEED------');
    expect(parseCredsArmour(text)).toEqual({ jwt, seed });
    // CRLF line ends (a file edited on Windows) read the same.
    expect(parseCredsArmour(text.replaceAll('\n', '\r\n'))).toEqual({ jwt, seed });
  });

  it('says which block is missing rather than guessing', () => {
    expect(parseCredsArmour('nothing here')).toEqual({ jwt: null, seed: null });
    const onlyJwt = formatCredsArmour('a.b.c', 'SUX').replace(/-----BEGIN USER NKEY SEED-----[\s\S]*/, '');
    expect(parseCredsArmour(onlyJwt)).toEqual({ jwt: 'a.b.c', seed: null });
  });

  it('reads sub, iat and exp without verifying, and refuses what is not a JWT', () => {
    expect(readJwtClaims(unsignedJwt({ sub: 'UABC', iat: 10, exp: 20, name: 'x' }))).toEqual({
      sub: 'UABC',
      iat: 10,
      exp: 20,
    });
    expect(readJwtClaims(unsignedJwt({ exp: 'soon' }))).toEqual({});
    expect(() => readJwtClaims('not-a-jwt')).toThrow('no payload part');
    expect(() => readJwtClaims('a.%%%.c')).toThrow('not JSON');
  });

  it('imports nothing but Node built-ins, so a bundle that uses it does not pull the JWT library in', () => {
    const source = readFileSync(new URL('../src/creds.ts', import.meta.url), 'utf8');
    expect(source.match(/^import .*$/gm) ?? []).toEqual([]);
  });
});
