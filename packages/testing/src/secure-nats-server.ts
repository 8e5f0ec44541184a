import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  connectSystemUser,
  createIdentityBundle,
  createUserKey,
  formatCredsFile,
  type IdentityBundle,
  mintDeviceJwt,
  type RevokeUsersResult,
  renderHubConfig,
  revokeUsers,
  writePrivateFile,
} from '@outpost/nats-identity';
import { ensureDevPki } from '@outpost/nats-identity/pki';
import { natsServerBinary, superviseNatsServer } from './nats-server.js';
import { getFreePort } from './ports.js';

export interface SecureNatsServerOptions {
  /** Open a leaf-node listener (TLS, device creds) too. */
  leafnodes?: boolean;
  /** Echo the server's log to stderr. */
  echo?: boolean;
  /** Use this port instead of a free one. */
  port?: number;
}

export interface DeviceCreds {
  /** A creds file (mode 0600) in the server's temp dir: what `outpost-agent enroll` would write. */
  readonly credsFile: string;
  readonly seed: string;
  readonly publicKey: string;
  readonly jwt: string;
}

export interface SecureNatsServerHandle {
  /** `tls://127.0.0.1:<port>`: clients need `tls: { caFile }` and a creds file. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** `tls://127.0.0.1:<leafPort>` when `leafnodes` was asked for. */
  readonly leafUrl: string | undefined;
  /** Temp dir holding the identity bundle, PKI, config, JetStream store and resolver dir. */
  readonly dir: string;
  /** The CA certificate clients pin. */
  readonly caFile: string;
  /** The fresh identity (operator, system account, Outpost account, service users). */
  readonly identity: IdentityBundle;
  /** Creds files of the service users. */
  readonly serviceCreds: { readonly cloudApi: string; readonly portal: string; readonly systemUser: string };
  readonly pid: number;
  output(): string;
  /** A device credential as the cloud would issue it at enrolment: a fresh NKey and a user JWT for `deviceId`. */
  mintDeviceCreds(deviceId: string, options?: { expiresInSecs?: number }): Promise<DeviceCreds>;
  /** Revokes a user through the system account (full revocation list, confirmed with INFO). */
  revoke(publicKey: string): Promise<RevokeUsersResult>;
  /** Graceful stop (SIGTERM), then the temp dir is removed. */
  stop(): Promise<void>;
  /** SIGKILL; the temp dir stays so `restart()` recovers JetStream and the resolver dir. */
  kill(): Promise<void>;
  /** Starts again on the same port, config, JetStream store and resolver dir (stops it first when running). */
  restart(): Promise<void>;
}

/**
 * A private nats-server the way Outpost runs NATS in production: operator/JWT mode with the full resolver, a fresh
 * identity (operator, system account, Outpost account with JetStream) and dev PKI in a temp dir, TLS required on every
 * listener, JetStream in domain `cloud`. Plaintext and unauthenticated clients are refused.
 */
export async function startSecureNatsServer(options: SecureNatsServerOptions = {}): Promise<SecureNatsServerHandle> {
  const binary = natsServerBinary();
  const dir = mkdtempSync(join(tmpdir(), 'outpost-secure-nats-'));
  try {
    const identity = await createIdentityBundle(join(dir, 'identity'));
    const pki = await ensureDevPki(join(dir, 'pki'));
    const port = options.port ?? (await getFreePort());
    const leafPort = options.leafnodes ? await getFreePort() : undefined;
    const configFile = join(dir, 'nats.conf');
    writeFileSync(
      configFile,
      renderHubConfig({
        identity,
        serverName: `test-${port}`,
        host: '127.0.0.1',
        port,
        leafPort,
        storeDir: join(dir, 'js'),
        resolverDir: join(dir, 'jwt'),
        tls: pki,
        jetstreamDomain: 'cloud',
        maxMemoryStore: '256MB',
        maxFileStore: '2GB',
      }),
    );

    const server = await superviseNatsServer(binary, configFile, dir, options.echo);
    const url = `tls://127.0.0.1:${port}`;
    const credsDir = join(dir, 'devices');
    let minted = 0;

    return {
      url,
      host: '127.0.0.1',
      port,
      leafUrl: leafPort === undefined ? undefined : `tls://127.0.0.1:${leafPort}`,
      dir,
      caFile: pki.caFile,
      identity,
      serviceCreds: {
        cloudApi: identity.paths.cloudApiCreds,
        portal: identity.paths.portalCreds,
        systemUser: identity.paths.systemUserCreds,
      },
      get pid() {
        return server.pid;
      },
      output: server.output,
      stop: server.stop,
      kill: server.kill,
      restart: server.restart,
      async mintDeviceCreds(deviceId, mintOptions = {}) {
        const key = createUserKey();
        const jwt = await mintDeviceJwt({
          issuer: identity.accountIssuer(),
          deviceId,
          publicKey: key.publicKey,
          expiresInSecs: mintOptions.expiresInSecs,
        });
        minted += 1;
        const credsFile = join(credsDir, `${deviceId}-${minted}.creds`);
        writePrivateFile(credsFile, formatCredsFile(jwt, key.seed));
        return { credsFile, seed: key.seed, publicKey: key.publicKey, jwt };
      },
      async revoke(publicKey) {
        const nc = await connectSystemUser({
          servers: url,
          creds: readFileSync(identity.paths.systemUserCreds, 'utf8'),
          caFile: pki.caFile,
        });
        try {
          return await revokeUsers(nc, {
            accountPublicKey: identity.manifest.account.publicKey,
            operatorSigningKey: identity.operatorSigningKey(),
            publicKeys: [publicKey],
          });
        } finally {
          await nc.close();
        }
      },
    };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
