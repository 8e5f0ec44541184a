import type { IdentityBundle } from './bundle.js';
import { IdentityError } from './errors.js';

export interface HubTlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
}

export interface HubConfigOptions {
  readonly identity: Pick<IdentityBundle, 'manifest' | 'paths' | 'systemAccountJwt' | 'accountJwt'>;
  readonly serverName?: string;
  readonly host: string;
  readonly port: number;
  /** Leaf-node listener (devices' hubs connect here with their creds), TLS like the client port. */
  readonly leafPort?: number;
  /** Monitoring endpoint (plain HTTP; keep it on loopback). */
  readonly monitorPort?: number;
  /** JetStream store. */
  readonly storeDir: string;
  /** The full resolver's directory: account JWTs and every update pushed later (revocations) live here. */
  readonly resolverDir: string;
  readonly tls: HubTlsFiles;
  readonly jetstreamDomain: string;
  /** nats-server sizes, e.g. `256MB`, `4GB`. They must cover the account's JetStream limits. */
  readonly maxMemoryStore?: string;
  readonly maxFileStore?: string;
  readonly maxPayload?: string;
}

/** A quoted nats-server config string. */
function quote(value: string): string {
  if (/[\r\n]/.test(value)) throw new IdentityError('IDENTITY_INVALID', `config values cannot span lines: ${value}`);
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

const SIZE = /^\d+(B|KB|MB|GB|TB|K|M|G|T)?$/i;
const TOKEN = /^[A-Za-z0-9_-]+$/;

function checkPort(value: number | undefined, what: string): void {
  if (value !== undefined && !(Number.isInteger(value) && value > 0 && value < 65536)) {
    throw new IdentityError('IDENTITY_INVALID', `${what} must be a port number 1-65535, got ${value}`);
  }
}

/**
 * The cloud hub's nats-server config: operator/JWT mode with the full resolver (account updates persist across
 * restarts; deletes refused), the system and Outpost accounts preloaded, TLS required on the client and leaf-node
 * listeners, and JetStream in `jetstreamDomain`. No `no_auth_user`: a client without a valid user JWT is refused.
 */
export function renderHubConfig(options: HubConfigOptions): string {
  checkPort(options.port, 'port');
  checkPort(options.leafPort, 'leafPort');
  checkPort(options.monitorPort, 'monitorPort');
  if (!TOKEN.test(options.jetstreamDomain)) {
    throw new IdentityError(
      'IDENTITY_INVALID',
      `jetstreamDomain must be letters, digits, - or _, got "${options.jetstreamDomain}"`,
    );
  }
  const sizes = {
    maxMemoryStore: options.maxMemoryStore ?? '256MB',
    maxFileStore: options.maxFileStore ?? '4GB',
    maxPayload: options.maxPayload ?? '8MB',
  };
  for (const [name, value] of Object.entries(sizes)) {
    if (!SIZE.test(value))
      throw new IdentityError('IDENTITY_INVALID', `${name} must be a size like 256MB, got "${value}"`);
  }
  const { manifest, paths } = options.identity;
  const serverName = options.serverName ?? `outpost-hub-${options.port}`;
  if (!TOKEN.test(serverName)) {
    throw new IdentityError('IDENTITY_INVALID', `serverName must be letters, digits, - or _, got "${serverName}"`);
  }
  const tls = (indent: string) =>
    [
      `${indent}tls {`,
      `${indent}  cert_file: ${quote(options.tls.certFile)}`,
      `${indent}  key_file: ${quote(options.tls.keyFile)}`,
      `${indent}  timeout: 5`,
      `${indent}}`,
    ].join('\n');
  const lines = [
    '# Outpost cloud hub: operator/JWT mode, full resolver, TLS on every listener. Rendered by @outpost/nats-identity.',
    `server_name: ${quote(serverName)}`,
    `listen: ${quote(`${options.host}:${options.port}`)}`,
    options.monitorPort !== undefined ? `http: ${quote(`127.0.0.1:${options.monitorPort}`)}` : '',
    `max_payload: ${sizes.maxPayload}`,
    '',
    '# Clients must speak TLS; no client certificates (users authenticate with JWT + NKey signatures).',
    tls(''),
    '',
    `operator: ${quote(paths.operatorJwt)}`,
    `system_account: ${manifest.systemAccount.publicKey}`,
    'resolver {',
    '  type: full',
    `  dir: ${quote(options.resolverDir)}`,
    '  allow_delete: false',
    '  interval: "2m"',
    '}',
    '# Used only until the resolver dir holds a newer JWT for the account (updates such as revocations win).',
    'resolver_preload {',
    `  ${manifest.systemAccount.publicKey}: ${quote(options.identity.systemAccountJwt)}`,
    `  ${manifest.account.publicKey}: ${quote(options.identity.accountJwt)}`,
    '}',
    '',
    'jetstream {',
    `  store_dir: ${quote(options.storeDir)}`,
    `  domain: ${options.jetstreamDomain}`,
    `  max_memory_store: ${sizes.maxMemoryStore}`,
    `  max_file_store: ${sizes.maxFileStore}`,
    '}',
    options.leafPort !== undefined
      ? ['', 'leafnodes {', `  listen: ${quote(`${options.host}:${options.leafPort}`)}`, tls('  '), '}'].join('\n')
      : '',
  ];
  return `${lines
    .filter((line, index, all) => line !== '' || all[index - 1] !== '')
    .join('\n')
    .trim()}\n`;
}
