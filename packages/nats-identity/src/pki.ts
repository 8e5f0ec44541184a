import 'reflect-metadata';
import { X509Certificate as NodeX509Certificate, randomBytes, webcrypto } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import * as x509 from '@peculiar/x509';
import { IdentityError } from './errors.js';
import { ensurePrivateDir, writePrivateFile } from './files.js';

/*
 * A small PKI for development and tests: an ECDSA P-256 CA and server certificates it issues, made in pure JS
 * (@peculiar/x509 on Node's WebCrypto), so no machine needs openssl. Production brings certificates from its own PKI.
 */

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const crypto = webcrypto;
x509.cryptoProvider.set(crypto as unknown as ReturnType<typeof x509.cryptoProvider.get>);

const KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 24 * 3600 * 1000;

export interface PemPair {
  readonly certPem: string;
  readonly keyPem: string;
}

export interface CertificateAuthority extends PemPair {
  readonly cert: x509.X509Certificate;
  readonly privateKey: CryptoKey;
}

function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f; // positive
  return bytes.toString('hex');
}

async function keyPem(key: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await crypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

function validity(validDays: number): { notBefore: Date; notAfter: Date } {
  if (!Number.isInteger(validDays) || validDays < 1) {
    throw new IdentityError('PKI_INVALID', `validDays must be a whole number ≥ 1, got ${validDays}`);
  }
  // An hour of slack for clocks that run behind.
  const notBefore = new Date(Date.now() - 3600 * 1000);
  return { notBefore, notAfter: new Date(notBefore.getTime() + validDays * DAY_MS) };
}

/** A new CA (self-signed, may sign server certificates only). */
export async function createCa(
  options: { commonName?: string; validDays?: number } = {},
): Promise<CertificateAuthority> {
  const keys = (await crypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
  const name = `CN=${options.commonName ?? 'Outpost development CA'}, O=Outpost`;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name,
    ...validity(options.validDays ?? 3650),
    keys,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert, privateKey: keys.privateKey, certPem: cert.toString('pem'), keyPem: await keyPem(keys.privateKey) };
}

/** Reads a CA back from its PEM files (to issue more certificates later). */
export async function loadCa(pem: PemPair): Promise<CertificateAuthority> {
  try {
    const cert = new x509.X509Certificate(pem.certPem);
    const privateKey = await crypto.subtle.importKey(
      'pkcs8',
      x509.PemConverter.decodeFirst(pem.keyPem),
      KEY_ALGORITHM,
      true,
      ['sign'],
    );
    return { cert, privateKey, ...pem };
  } catch (err) {
    throw new IdentityError('PKI_INVALID', `not a CA certificate and P-256 key: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/** A server certificate for `hosts` (IP addresses and DNS names), signed by `ca`, for TLS server use. */
export async function issueServerCert(options: {
  ca: CertificateAuthority;
  hosts: readonly string[];
  commonName?: string;
  validDays?: number;
}): Promise<PemPair> {
  if (options.hosts.length === 0) throw new IdentityError('PKI_INVALID', 'hosts: name at least one host or IP');
  const keys = (await crypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
  const names = options.hosts.map((host) => ({ type: isIP(host) ? ('ip' as const) : ('dns' as const), value: host }));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: `CN=${options.commonName ?? options.hosts[0]}, O=Outpost`,
    issuer: options.ca.cert.subject,
    ...validity(options.validDays ?? 825),
    publicKey: keys.publicKey,
    signingKey: options.ca.privateKey,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(names),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(options.ca.cert),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await keyPem(keys.privateKey) };
}

/** The PEM files of a dev/test PKI directory. */
export interface DevPkiFiles {
  readonly dir: string;
  /** What clients pin (`tls: { caFile }`) and enrolment hands to devices. */
  readonly caFile: string;
  /** The CA's private key: stays in this directory. */
  readonly caKeyFile: string;
  readonly certFile: string;
  readonly keyFile: string;
}

const DEFAULT_HOSTS = ['127.0.0.1', 'localhost'];

/**
 * The dev/test PKI in `dir` (created 0700, files 0600): a CA made on first use, and a server certificate for `hosts`,
 * issued again when it is missing, does not cover every host, or expires within 30 days.
 */
export async function ensureDevPki(dir: string, options: { hosts?: readonly string[] } = {}): Promise<DevPkiFiles> {
  const root = resolve(dir);
  ensurePrivateDir(root);
  const files: DevPkiFiles = {
    dir: root,
    caFile: join(root, 'ca.pem'),
    caKeyFile: join(root, 'ca-key.pem'),
    certFile: join(root, 'server.pem'),
    keyFile: join(root, 'server-key.pem'),
  };
  const hosts = options.hosts ?? DEFAULT_HOSTS;
  let ca: CertificateAuthority;
  if (existsSync(files.caFile) && existsSync(files.caKeyFile)) {
    ca = await loadCa({ certPem: readFileSync(files.caFile, 'utf8'), keyPem: readFileSync(files.caKeyFile, 'utf8') });
  } else {
    ca = await createCa();
    writePrivateFile(files.caKeyFile, ca.keyPem);
    writePrivateFile(files.caFile, ca.certPem);
  }
  if (!serverCertFits(files, ca, hosts)) {
    const server = await issueServerCert({ ca, hosts });
    writePrivateFile(files.keyFile, server.keyPem);
    writePrivateFile(files.certFile, server.certPem);
  }
  return files;
}

function serverCertFits(files: DevPkiFiles, ca: CertificateAuthority, hosts: readonly string[]): boolean {
  if (!existsSync(files.certFile) || !existsSync(files.keyFile)) return false;
  try {
    const cert = new NodeX509Certificate(readFileSync(files.certFile));
    const issuer = new NodeX509Certificate(ca.certPem);
    if (!cert.checkIssued(issuer) || !cert.verify(issuer.publicKey)) return false;
    if (new Date(cert.validTo).getTime() - Date.now() < 30 * DAY_MS) return false;
    return hosts.every((host) => (isIP(host) ? cert.checkIP(host) : cert.checkHost(host)) !== undefined);
  } catch {
    return false;
  }
}
