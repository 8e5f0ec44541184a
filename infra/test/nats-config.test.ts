import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type HubConfigOptions, renderHubConfig } from '@outpost/nats-identity';
import { describe, expect, it } from 'vitest';
import { repoRoot } from './stack.js';

/** What `pnpm dev` renders, with placeholders where the real config has keys, JWTs and paths. */
const placeholders: HubConfigOptions = {
  identity: {
    manifest: {
      version: 1,
      operator: { name: 'outpost', publicKey: '<OPERATOR_PUBLIC_KEY>', signingKey: '<OPERATOR_SIGNING_KEY>' },
      systemAccount: { name: 'SYS', publicKey: '<SYSTEM_ACCOUNT_PUBLIC_KEY>', signingKey: '<SYS_SIGNING_KEY>' },
      account: { name: 'OUTPOST', publicKey: '<OUTPOST_ACCOUNT_PUBLIC_KEY>', signingKey: '<ACCOUNT_SIGNING_KEY>' },
      createdAt: '1970-01-01T00:00:00.000Z',
    },
    paths: { operatorJwt: '.outpost/identity/operator.jwt' } as HubConfigOptions['identity']['paths'],
    systemAccountJwt: '<SYSTEM_ACCOUNT_JWT>',
    accountJwt: '<OUTPOST_ACCOUNT_JWT>',
  },
  serverName: 'outpost-dev',
  host: '127.0.0.1',
  port: 4223,
  monitorPort: 8223,
  storeDir: '.outpost/nats/jetstream',
  resolverDir: '.outpost/nats/jwt',
  tls: { certFile: '.outpost/pki/server.pem', keyFile: '.outpost/pki/server-key.pem' },
  jetstreamDomain: 'cloud',
};

describe('infra/nats/hub.conf.template', () => {
  it('is exactly what renderHubConfig writes for pnpm dev (with placeholders), so the documentation cannot drift', () => {
    const template = readFileSync(join(repoRoot, 'infra/nats/hub.conf.template'), 'utf8');
    const body = template
      .split('\n')
      .filter((line) => !line.startsWith('## '))
      .join('\n');
    expect(body).toBe(renderHubConfig(placeholders));
  });
});
