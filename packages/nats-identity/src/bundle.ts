import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Account, type ClaimsData, encodeAccount, encodeOperator, type Operator } from '@nats-io/jwt';
import { createAccount, createOperator, createUser, fromPublic, type KeyPair } from '@nats-io/nkeys';
import { IdentityError } from './errors.js';
import { ensurePrivateDir, readRequiredFile, writePrivateFile } from './files.js';
import {
  type AccountIssuer,
  decodeJwt,
  formatCredsFile,
  keyPairFromSeed,
  mintUserJwt,
  nowSecs,
  parseCredsFile,
} from './jwt.js';
import { cloudApiUserPermissions, portalUserPermissions, type UserPermissions } from './permissions.js';

/**
 * An identity bundle is a directory (mode 0700, every file 0600) holding Outpost's NATS trust chain:
 *
 *   operator ── signs ──> system account (SYS) ── signs ──> system user (account updates, revocations)
 *            └─ signs ──> Outpost account ── its signing key signs ──> cloud-api, portal and device users
 *
 * Every JWT is signed by a *signing key*, never an identity key (the operator JWT sets `strict_signing_key_usage`), so
 * the identity seeds (operator.nk, system-account.nk, account.nk) can live offline in production.
 */
export const IDENTITY_FILES = {
  /** Public keys and names (no secrets). */
  manifest: 'identity.json',
  operatorJwt: 'operator.jwt',
  /** Offline in production: only needed to re-issue the operator JWT (new operator signing keys). */
  operatorSeed: 'operator.nk',
  /** The cloud API's: re-signs the Outpost account JWT to push revocations. */
  operatorSigningSeed: 'operator-signing.nk',
  systemAccountJwt: 'system-account.jwt',
  /** Offline in production. */
  systemAccountSeed: 'system-account.nk',
  /** Offline in production: only needed to mint a new system user. */
  systemAccountSigningSeed: 'system-account-signing.nk',
  /** The Outpost account as first issued (servers preload it; updates live in the server's resolver dir). */
  accountJwt: 'account.jwt',
  /** Offline in production. */
  accountSeed: 'account.nk',
  /** The cloud API's: signs every user JWT (devices, services). */
  accountSigningSeed: 'account-signing.nk',
  /** The cloud API's: a system-account user allowed only to update and inspect the Outpost account. */
  systemUserCreds: 'system-user.creds',
  cloudApiCreds: 'cloud-api.creds',
  portalCreds: 'portal.creds',
} as const;

export type IdentityFileName = keyof typeof IDENTITY_FILES;
export type IdentityPaths = { readonly [K in IdentityFileName]: string };

interface KeyRef {
  readonly name: string;
  readonly publicKey: string;
  readonly signingKey: string;
}

/** `identity.json`: the public half of the bundle. */
export interface IdentityManifest {
  readonly version: 1;
  readonly operator: KeyRef;
  readonly systemAccount: KeyRef;
  readonly account: KeyRef;
  readonly createdAt: string;
}

/** JetStream limits of the Outpost account. An account without non-zero storage has no JetStream. */
export interface AccountJetStreamLimits {
  /** Bytes of memory storage, > 0. */
  readonly memStorage: number;
  /** Bytes of file storage, > 0. */
  readonly diskStorage: number;
  /** -1 for no limit. */
  readonly streams: number;
  /** -1 for no limit. */
  readonly consumers: number;
}

export const DEFAULT_ACCOUNT_JETSTREAM: AccountJetStreamLimits = {
  memStorage: 128 * 1024 * 1024,
  diskStorage: 1024 * 1024 * 1024,
  streams: -1,
  consumers: -1,
};

export const OUTPOST_ACCOUNT_NAME = 'OUTPOST';
export const SYSTEM_ACCOUNT_NAME = 'SYS';
/** Inbox prefix of the system user's connection: it may read nothing else. */
export const SYSTEM_USER_INBOX_PREFIX = '_INBOX_system';
/** Service users (cloud API, portal, system user) are re-issued by `ensureIdentityBundle` before they expire. */
export const SERVICE_JWT_LIFETIME_SECS = 90 * 24 * 3600;
const SERVICE_RENEW_WITHIN_SECS = 30 * 24 * 3600;

export interface CreateIdentityOptions {
  readonly operatorName?: string;
  readonly jetstream?: AccountJetStreamLimits;
  /** Lifetime of the service users' JWTs (cloud-api, portal, system user). */
  readonly serviceJwtLifetimeSecs?: number;
}

/** An identity bundle read from disk. Seeds are read from their files only when asked for. */
export interface IdentityBundle {
  readonly dir: string;
  readonly manifest: IdentityManifest;
  readonly paths: IdentityPaths;
  readonly operatorJwt: string;
  readonly systemAccountJwt: string;
  /** The Outpost account JWT as first issued (what servers preload). */
  readonly accountJwt: string;
  /** Signs user JWTs (reads account-signing.nk). */
  accountIssuer(): AccountIssuer;
  /** Re-signs account JWTs (reads operator-signing.nk). */
  operatorSigningKey(): KeyPair;
}

function pathsOf(dir: string): IdentityPaths {
  return Object.fromEntries(
    Object.entries(IDENTITY_FILES).map(([key, file]) => [key, join(dir, file)]),
  ) as unknown as IdentityPaths;
}

const seedText = (kp: KeyPair): string => new TextDecoder().decode(kp.getSeed());

/** The Outpost account's claims: explicit limits (none are implied), JetStream on, its signing key, no bearer tokens. */
export function outpostAccountClaims(
  signingPublicKey: string,
  jetstream: AccountJetStreamLimits = DEFAULT_ACCOUNT_JETSTREAM,
): Partial<Account> {
  if (!(jetstream.memStorage > 0 && jetstream.diskStorage > 0)) {
    throw new IdentityError(
      'IDENTITY_INVALID',
      'jetstream: memStorage and diskStorage must be > 0 (else no JetStream)',
    );
  }
  return {
    limits: {
      subs: -1,
      data: -1,
      payload: -1,
      imports: -1,
      exports: -1,
      wildcards: true,
      conn: -1,
      leaf: -1,
      disallow_bearer: true,
      mem_storage: jetstream.memStorage,
      disk_storage: jetstream.diskStorage,
      streams: jetstream.streams,
      consumer: jetstream.consumers,
    },
    signing_keys: [signingPublicKey],
  };
}

function systemAccountClaims(signingPublicKey: string): Partial<Account> {
  return {
    limits: { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 },
    signing_keys: [signingPublicKey],
  };
}

/** The system user may update and inspect the Outpost account, and read its own inbox: nothing else. */
export function systemUserPermissions(accountPublicKey: string): UserPermissions {
  return {
    publish: [`$SYS.REQ.ACCOUNT.${accountPublicKey}.CLAIMS.UPDATE`, `$SYS.REQ.ACCOUNT.${accountPublicKey}.INFO`],
    subscribe: [`${SYSTEM_USER_INBOX_PREFIX}.>`],
  };
}

/**
 * Creates a new bundle in `dir` (created 0700). Refuses a directory that already holds one (IDENTITY_EXISTS): a new
 * operator would lock every existing server and credential out.
 */
export async function createIdentityBundle(dir: string, options: CreateIdentityOptions = {}): Promise<IdentityBundle> {
  const root = resolve(dir);
  const paths = pathsOf(root);
  if (existsSync(paths.manifest)) {
    throw new IdentityError('IDENTITY_EXISTS', `an identity bundle already exists in ${root}`);
  }
  ensurePrivateDir(root);
  const operatorName = options.operatorName ?? 'outpost';
  const lifetime = options.serviceJwtLifetimeSecs ?? SERVICE_JWT_LIFETIME_SECS;

  const operator = createOperator();
  const operatorSigning = createOperator();
  const system = createAccount();
  const systemSigning = createAccount();
  const account = createAccount();
  const accountSigning = createAccount();

  const operatorClaims: Partial<Operator> & { strict_signing_key_usage: boolean } = {
    signing_keys: [operatorSigning.getPublicKey()],
    system_account: system.getPublicKey(),
    strict_signing_key_usage: true,
  };
  const operatorJwt = await encodeOperator(operatorName, operator, operatorClaims);
  const systemAccountJwt = await encodeAccount(
    SYSTEM_ACCOUNT_NAME,
    system.getPublicKey(),
    systemAccountClaims(systemSigning.getPublicKey()),
    { signer: operatorSigning },
  );
  const accountJwt = await encodeAccount(
    OUTPOST_ACCOUNT_NAME,
    account.getPublicKey(),
    outpostAccountClaims(accountSigning.getPublicKey(), options.jetstream),
    { signer: operatorSigning },
  );

  const manifest: IdentityManifest = {
    version: 1,
    operator: { name: operatorName, publicKey: operator.getPublicKey(), signingKey: operatorSigning.getPublicKey() },
    systemAccount: {
      name: SYSTEM_ACCOUNT_NAME,
      publicKey: system.getPublicKey(),
      signingKey: systemSigning.getPublicKey(),
    },
    account: {
      name: OUTPOST_ACCOUNT_NAME,
      publicKey: account.getPublicKey(),
      signingKey: accountSigning.getPublicKey(),
    },
    createdAt: new Date().toISOString(),
  };

  writePrivateFile(paths.operatorSeed, seedText(operator));
  writePrivateFile(paths.operatorSigningSeed, seedText(operatorSigning));
  writePrivateFile(paths.systemAccountSeed, seedText(system));
  writePrivateFile(paths.systemAccountSigningSeed, seedText(systemSigning));
  writePrivateFile(paths.accountSeed, seedText(account));
  writePrivateFile(paths.accountSigningSeed, seedText(accountSigning));
  writePrivateFile(paths.operatorJwt, operatorJwt);
  writePrivateFile(paths.systemAccountJwt, systemAccountJwt);
  writePrivateFile(paths.accountJwt, accountJwt);

  const bundle = bundleFrom(root, manifest, { operatorJwt, systemAccountJwt, accountJwt });
  await writeServiceCreds(bundle, systemSigning, lifetime);
  // The manifest goes last: a directory with identity.json is a complete bundle.
  writePrivateFile(paths.manifest, `${JSON.stringify(manifest, null, 2)}\n`);
  return bundle;
}

/** Mints (again) the system user, cloud-api and portal creds, each with a key of its own. */
async function writeServiceCreds(bundle: IdentityBundle, systemSigning: KeyPair, lifetimeSecs: number): Promise<void> {
  const issuer = bundle.accountIssuer();
  for (const [path, name, permissions] of [
    [bundle.paths.cloudApiCreds, 'outpost-cloud-api', cloudApiUserPermissions()],
    [bundle.paths.portalCreds, 'outpost-portal', portalUserPermissions()],
  ] as const) {
    const user = createUser();
    const jwt = await mintUserJwt({
      issuer,
      publicKey: user.getPublicKey(),
      name,
      permissions,
      expiresInSecs: lifetimeSecs,
      tags: ['outpost:service'],
    });
    writePrivateFile(path, formatCredsFile(jwt, seedText(user)));
  }
  const systemUser = createUser();
  const systemJwt = await mintUserJwt({
    issuer: { accountPublicKey: bundle.manifest.systemAccount.publicKey, signingKey: systemSigning },
    publicKey: systemUser.getPublicKey(),
    name: 'outpost-account-updates',
    permissions: systemUserPermissions(bundle.manifest.account.publicKey),
    expiresInSecs: lifetimeSecs,
  });
  writePrivateFile(bundle.paths.systemUserCreds, formatCredsFile(systemJwt, seedText(systemUser)));
}

function bundleFrom(
  dir: string,
  manifest: IdentityManifest,
  jwts: { operatorJwt: string; systemAccountJwt: string; accountJwt: string },
): IdentityBundle {
  const paths = pathsOf(dir);
  return {
    dir,
    manifest,
    paths,
    ...jwts,
    accountIssuer: () => accountIssuerFrom(manifest, paths.accountSigningSeed),
    operatorSigningKey: () => operatorSigningKeyFrom(manifest, paths.operatorSigningSeed),
  };
}

function accountIssuerFrom(manifest: IdentityManifest, seedFile: string): AccountIssuer {
  const signingKey = keyPairFromSeed(readRequiredFile(seedFile, 'account signing key'), seedFile, 'SA');
  if (signingKey.getPublicKey() !== manifest.account.signingKey) {
    throw new IdentityError('IDENTITY_INVALID', `${seedFile} is not the signing key identity.json names`);
  }
  return { accountPublicKey: manifest.account.publicKey, signingKey };
}

function operatorSigningKeyFrom(manifest: IdentityManifest, seedFile: string): KeyPair {
  const kp = keyPairFromSeed(readRequiredFile(seedFile, 'operator signing key'), seedFile, 'SO');
  if (kp.getPublicKey() !== manifest.operator.signingKey) {
    throw new IdentityError('IDENTITY_INVALID', `${seedFile} is not the operator signing key identity.json names`);
  }
  return kp;
}

function readManifest(path: string): IdentityManifest {
  const text = readRequiredFile(path, 'identity manifest');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new IdentityError('IDENTITY_INVALID', `${path} is not JSON`, { cause: err });
  }
  const manifest = value as Partial<IdentityManifest> | null;
  const keyRef = (ref: KeyRef | undefined, prefix: string) =>
    ref !== undefined &&
    typeof ref.name === 'string' &&
    isPublicKey(ref.publicKey, prefix) &&
    isPublicKey(ref.signingKey, prefix);
  if (
    manifest?.version !== 1 ||
    !keyRef(manifest.operator, 'O') ||
    !keyRef(manifest.systemAccount, 'A') ||
    !keyRef(manifest.account, 'A')
  ) {
    throw new IdentityError('IDENTITY_INVALID', `${path} is not an Outpost identity manifest (version 1)`);
  }
  return manifest as IdentityManifest;
}

function isPublicKey(value: unknown, prefix: string): boolean {
  if (typeof value !== 'string' || !value.startsWith(prefix)) return false;
  try {
    fromPublic(value);
    return true;
  } catch {
    return false;
  }
}

function readJwt(path: string, what: string, subject: string, issuers: readonly string[]): string {
  const jwt = readRequiredFile(path, what).trim();
  let claims: ClaimsData<unknown>;
  try {
    claims = decodeJwt(jwt);
  } catch (err) {
    throw new IdentityError('IDENTITY_INVALID', `${path}: ${(err as Error).message}`, { cause: err });
  }
  if (claims.sub !== subject || !issuers.includes(claims.iss)) {
    throw new IdentityError('IDENTITY_INVALID', `${path} does not belong to the keys identity.json names`);
  }
  return jwt;
}

/** Reads a complete bundle (throws IDENTITY_NOT_FOUND or IDENTITY_INVALID naming the file at fault). */
export function loadIdentityBundle(dir: string): IdentityBundle {
  const root = resolve(dir);
  const paths = pathsOf(root);
  const manifest = readManifest(paths.manifest);
  const operators = [manifest.operator.publicKey, manifest.operator.signingKey];
  return bundleFrom(root, manifest, {
    operatorJwt: readJwt(paths.operatorJwt, 'operator JWT', manifest.operator.publicKey, [manifest.operator.publicKey]),
    systemAccountJwt: readJwt(
      paths.systemAccountJwt,
      'system account JWT',
      manifest.systemAccount.publicKey,
      operators,
    ),
    accountJwt: readJwt(paths.accountJwt, 'account JWT', manifest.account.publicKey, operators),
  });
}

/**
 * The bundle in `dir`, created on first use, with service creds re-issued when they expire within 30 days (so a dev
 * stack started now and then keeps working). Needs the full bundle, identity seeds included: a dev and test helper.
 */
export async function ensureIdentityBundle(dir: string, options: CreateIdentityOptions = {}): Promise<IdentityBundle> {
  if (!existsSync(join(resolve(dir), IDENTITY_FILES.manifest))) return createIdentityBundle(dir, options);
  const bundle = loadIdentityBundle(dir);
  const expiresSoon = [bundle.paths.cloudApiCreds, bundle.paths.portalCreds, bundle.paths.systemUserCreds].some(
    (path) => {
      if (!existsSync(path)) return true;
      const { jwt } = parseCredsFile(readRequiredFile(path, 'creds file'), path);
      const exp = decodeJwt(jwt).exp;
      return exp !== undefined && exp - nowSecs() < SERVICE_RENEW_WITHIN_SECS;
    },
  );
  if (expiresSoon) {
    const systemSigning = keyPairFromSeed(
      readRequiredFile(bundle.paths.systemAccountSigningSeed, 'system account signing key'),
      bundle.paths.systemAccountSigningSeed,
      'SA',
    );
    await writeServiceCreds(bundle, systemSigning, options.serviceJwtLifetimeSecs ?? SERVICE_JWT_LIFETIME_SECS);
  }
  return bundle;
}

/**
 * What the cloud API holds, and nothing more: the account signing key (mint users), the operator signing key (re-sign
 * the account JWT with revocations) and the system user's creds (push account updates). Read from a directory laid
 * out like a bundle; the other files may be absent (production keeps identity seeds offline).
 */
export interface CloudAuthority {
  readonly dir: string;
  readonly manifest: IdentityManifest;
  readonly issuer: AccountIssuer;
  readonly operatorSigningKey: KeyPair;
  /** The system user's creds file content (a secret). */
  readonly systemUserCreds: string;
  readonly systemUserCredsFile: string;
}

export function loadCloudAuthority(dir: string): CloudAuthority {
  const root = resolve(dir);
  const paths = pathsOf(root);
  const manifest = readManifest(paths.manifest);
  const systemUserCreds = readRequiredFile(paths.systemUserCreds, 'system user creds');
  const systemUser = parseCredsFile(systemUserCreds, paths.systemUserCreds);
  const claims = decodeJwt<{ issuer_account?: string }>(systemUser.jwt);
  if (claims.nats.issuer_account !== manifest.systemAccount.publicKey) {
    throw new IdentityError('IDENTITY_INVALID', `${paths.systemUserCreds} is not a user of the system account`);
  }
  return {
    dir: root,
    manifest,
    issuer: accountIssuerFrom(manifest, paths.accountSigningSeed),
    operatorSigningKey: operatorSigningKeyFrom(manifest, paths.operatorSigningSeed),
    systemUserCreds,
    systemUserCredsFile: paths.systemUserCreds,
  };
}
