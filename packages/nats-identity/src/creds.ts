/*
 * The NATS creds-file armour (what `nsc` writes and the nats clients and leaf nodes read), with no JWT library and no
 * NKey code, so a device agent bundled into one file carries only this. It neither validates the seed nor verifies
 * the JWT: `formatCredsFile` / `parseCredsFile` in the package's main entry do, on top of these.
 */

const JWT_BLOCK = 'NATS USER JWT';
const SEED_BLOCK = 'USER NKEY SEED';

/** The creds file text for a user JWT and its seed, in the standard armour. */
export function formatCredsArmour(jwt: string, seed: string): string {
  return `-----BEGIN ${JWT_BLOCK}-----
${jwt.trim()}
------END ${JWT_BLOCK}------

************************* IMPORTANT *************************
NKEY Seed printed below can be used to sign and prove identity.
NKEYs are sensitive and should be treated as secrets.

-----BEGIN ${SEED_BLOCK}-----
${seed.trim()}
------END ${SEED_BLOCK}------

*************************************************************
`;
}

// A block: `-----BEGIN <NAME>-----`, its body, `------END <NAME>------` (nsc writes one more dash on the END line).
const BLOCK = /-{3,}BEGIN ([A-Z ]+?)-{3,}\r?\n([\s\S]*?)\r?\n\s*-{3,}END \1-{3,}/g;

/** The JWT and seed blocks of a creds file, each null when missing or empty. Never throws (callers name the file). */
export function parseCredsArmour(text: string): { jwt: string | null; seed: string | null } {
  const blocks = new Map<string, string>();
  for (const match of text.matchAll(BLOCK)) {
    const body = (match[2] ?? '').trim();
    if (match[1] && body !== '' && !blocks.has(match[1])) blocks.set(match[1], body);
  }
  return { jwt: blocks.get(JWT_BLOCK) ?? null, seed: blocks.get(SEED_BLOCK) ?? null };
}

/** The claims a holder schedules by (subject, issue and expiry times, in seconds), read WITHOUT checking the signature. */
export interface UnverifiedJwtClaims {
  readonly sub?: string;
  readonly iat?: number;
  readonly exp?: number;
}

/**
 * A JWT's `sub`, `iat` and `exp`, unverified: for a holder that only needs to know when its own credential expires
 * (the server verifies it). Throws a message naming what is wrong, never quoting the token.
 */
export function readJwtClaims(jwt: string): UnverifiedJwtClaims {
  const payload = jwt.trim().split('.')[1];
  if (!payload) throw new Error('not a JWT (no payload part)');
  let claims: unknown;
  try {
    claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    throw new Error('the JWT payload is not JSON');
  }
  if (typeof claims !== 'object' || claims === null) throw new Error('JWT payload is not an object');
  const { sub, iat, exp } = claims as Record<string, unknown>;
  return {
    ...(typeof sub === 'string' ? { sub } : {}),
    ...(typeof iat === 'number' ? { iat } : {}),
    ...(typeof exp === 'number' ? { exp } : {}),
  };
}
