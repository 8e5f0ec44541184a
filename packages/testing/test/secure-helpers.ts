import { readFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { encodeUser } from '@nats-io/jwt';
import { createUser } from '@nats-io/nkeys';
import { formatCredsFile } from '@outpost/nats-identity';
import { type ConnectionOptions, connect, credsAuthenticator, type NatsConnection } from 'nats';
import type { SecureNatsServerHandle } from '../src/index.js';

const encoder = new TextEncoder();

/** A TLS connection with a creds file (or creds text), as the agent, cloud API and portal make them. */
export function connectWithCreds(
  server: Pick<SecureNatsServerHandle, 'url' | 'caFile'>,
  creds: { file: string } | { text: string },
  options: Partial<ConnectionOptions> = {},
): Promise<NatsConnection> {
  const text = 'file' in creds ? readFileSync(creds.file, 'utf8') : creds.text;
  return connect({
    servers: server.url,
    tls: { caFile: server.caFile },
    authenticator: credsAuthenticator(encoder.encode(text)),
    reconnect: false,
    ...options,
  });
}

/**
 * A test-only observer that may read every subject of the Outpost account (`>`, inboxes included). No Outpost
 * credential looks like this (mintUserJwt refuses it); the matrix test uses it to prove nothing reached anyone.
 */
export async function connectObserver(server: SecureNatsServerHandle): Promise<NatsConnection> {
  const user = createUser();
  const issuer = server.identity.accountIssuer();
  const jwt = await encodeUser(
    'test-observer',
    user,
    issuer.accountPublicKey,
    { sub: { allow: ['>'] }, pub: { allow: ['_INBOX_observer.>'] } },
    {
      signer: issuer.signingKey,
      exp: Math.floor(Date.now() / 1000) + 3600,
    },
  );
  return connectWithCreds(
    server,
    { text: formatCredsFile(jwt, new TextDecoder().decode(user.getSeed())) },
    { inboxPrefix: '_INBOX_observer' },
  );
}

/**
 * Talks NATS in plaintext to `port`: reads INFO, sends CONNECT and PING without TLS, and reports what the server said
 * and whether it closed the connection (within 10 s).
 */
export function plaintextAttempt(port: number): Promise<{ said: string; closedByServer: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host: '127.0.0.1', port });
    let said = '';
    let sent = false;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      socket.destroy();
    }, 10_000);
    socket.on('data', (chunk) => {
      said += chunk.toString('latin1');
      if (!sent && said.includes('\r\n')) {
        sent = true;
        socket.write('CONNECT {"verbose":false,"pedantic":false,"tls_required":false,"name":"plaintext"}\r\nPING\r\n');
      }
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ said, closedByServer: !timedOut });
    });
    socket.on('error', (err) => {
      if (!said) {
        clearTimeout(timer);
        reject(err);
      }
    });
  });
}
