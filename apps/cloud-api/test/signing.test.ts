import { createPrivateKey, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DEPLOYMENT_TYPE,
  type DeviceDeploymentInput,
  generateSigningKey,
  type SignedDeployment,
  signDeployment,
  signingPublicKey,
  verifyDeployment,
} from '@outpost/manifest';
import { OutpostError, RotatedSigningKeys, SigningKey, SigningKeyList } from '@outpost/protocol';
import { createTestDatabase, type NatsServerHandle, startNatsServer, type TestDatabase } from '@outpost/testing';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config/config.js';
import { DATABASE, type Database, executeRows } from '../src/database/database.js';
import { routes } from '../src/openapi/routes.js';
import { openPrivateKey, SigningKeyUnreadableError, sealPrivateKey } from '../src/signing/key-encryption.js';
import { SigningService } from '../src/signing/signing.service.js';
import { SigningKeysRepository, SigningKeyWriteError } from '../src/signing/signing-keys.repository.js';
import { api, apiTokenWithRole, startTestApp, type TestApp } from './helpers.js';

let nats: NatsServerHandle;
const databases: TestDatabase[] = [];
const apps: TestApp[] = [];
const tempDirs: string[] = [];

/** A database of its own for each scenario, dropped at the end. */
async function freshDatabase(): Promise<TestDatabase> {
  const database = await createTestDatabase();
  databases.push(database);
  return database;
}

/** Starts the API; every app shares one token file per database so restarts keep the admin token. */
async function start(database: TestDatabase, env: Record<string, string> = {}): Promise<TestApp> {
  const app = await startTestApp({
    natsUrl: nats.url,
    databaseUrl: database.url,
    env,
    tokenFile: tokenFileFor(database),
  });
  apps.push(app);
  return app;
}

const tokenFiles = new Map<TestDatabase, string>();
function tokenFileFor(database: TestDatabase): string {
  let file = tokenFiles.get(database);
  if (!file) {
    const dir = mkdtempSync(join(tmpdir(), 'outpost-signing-'));
    tempDirs.push(dir);
    file = join(dir, 'admin-token');
    tokenFiles.set(database, file);
  }
  return file;
}

async function stop(app: TestApp): Promise<void> {
  await app.close();
  apps.splice(apps.indexOf(app), 1);
}

interface KeyRow {
  key_id: string;
  public_key: string;
  private_key: string;
  private_key_encryption: string;
  status: string;
}

/** The rows as stored, read straight from the database the app uses. */
async function keyRows(app: TestApp): Promise<KeyRow[]> {
  const db = app.running.app.get<symbol, Database>(DATABASE);
  const rows = await executeRows(
    db,
    sql`select key_id, public_key, private_key, private_key_encryption, status from deployment_signing_keys order by created_at, key_id`,
  );
  return rows as unknown as KeyRow[];
}

function deployment(overrides: Partial<DeviceDeploymentInput> = {}): DeviceDeploymentInput {
  return {
    id: 'dep-1',
    deviceId: 'press-01',
    version: 1,
    manifest: {
      schemaVersion: '1.0',
      modules: { sensor: { type: 'container', container: { image: 'registry.example.com/sensor:1.0' } } },
      routes: { up: 'FROM /messages/modules/sensor/outputs/* INTO $upstream' },
    },
    ...overrides,
  };
}

/** Every piece of private key material a row holds, in the forms a leak could take. */
function secretForms(row: KeyRow, encryptionKey?: Buffer): string[] {
  const key =
    row.private_key_encryption === 'none'
      ? createPrivateKey(row.private_key)
      : openPrivateKey(
          row.key_id,
          { privateKey: row.private_key, privateKeyEncryption: 'aes-256-gcm' },
          encryptionKey ?? null,
        );
  const der = key.export({ type: 'pkcs8', format: 'der' });
  const seed = der.subarray(der.length - 32);
  const pemBody = key.export({ type: 'pkcs8', format: 'pem' }).toString().split('\n')[1] ?? '';
  return [pemBody, der.toString('base64'), der.toString('hex'), seed.toString('base64url'), seed.toString('hex')];
}

beforeAll(async () => {
  nats = await startNatsServer();
});

afterAll(async () => {
  await Promise.all(apps.map((app) => app.close()));
  await Promise.all(databases.map((database) => database.drop()));
  await nats?.stop();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

describe('OUTPOST_SIGNING_KEY_ENCRYPTION_KEY', () => {
  const base = { DATABASE_URL: 'pglite:memory' };

  it('takes 32 bytes as base64, base64url or hex', () => {
    const key = randomBytes(32);
    for (const text of [key.toString('base64'), key.toString('base64url'), key.toString('hex')]) {
      expect(loadConfig({ ...base, OUTPOST_SIGNING_KEY_ENCRYPTION_KEY: text }).signing.keyEncryptionKey).toEqual(key);
    }
    expect(loadConfig(base).signing.keyEncryptionKey).toBeNull();
  });

  it('refuses anything else, naming the variable and never quoting the value', () => {
    for (const bad of ['hunter2', randomBytes(16).toString('base64'), randomBytes(33).toString('hex')]) {
      let error: unknown;
      try {
        loadConfig({ ...base, OUTPOST_SIGNING_KEY_ENCRYPTION_KEY: bad });
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).problems).toEqual([
        {
          variable: 'OUTPOST_SIGNING_KEY_ENCRYPTION_KEY',
          message: 'must be 32 random bytes as base64 or 64 hex digits',
        },
      ]);
      expect((error as Error).message).not.toContain(bad);
    }
  });
});

describe('private keys sealed at rest', () => {
  const encryptionKey = randomBytes(32);
  const pem = generateSigningKey().privateKey;

  it('round-trips with the key it was sealed with', () => {
    const stored = sealPrivateKey('key-a', pem, encryptionKey);
    expect(stored.privateKeyEncryption).toBe('aes-256-gcm');
    expect(stored.privateKey).toMatch(/^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/);
    expect(openPrivateKey('key-a', stored, encryptionKey).export({ type: 'pkcs8', format: 'pem' })).toBe(pem);
    // A fresh IV each time: sealing twice never gives the same text.
    expect(sealPrivateKey('key-a', pem, encryptionKey).privateKey).not.toBe(stored.privateKey);
  });

  it('does not open with another encryption key, under another key id, or after tampering', () => {
    const stored = sealPrivateKey('key-a', pem, encryptionKey);
    const attempts: [string, Buffer | null, string][] = [
      ['key-a', randomBytes(32), stored.privateKey],
      ['key-b', encryptionKey, stored.privateKey],
      ['key-a', encryptionKey, `${stored.privateKey.slice(0, -2)}AA`],
      ['key-a', encryptionKey, 'v2.abc.def'],
    ];
    for (const [keyId, key, text] of attempts) {
      expect(() => openPrivateKey(keyId, { privateKey: text, privateKeyEncryption: 'aes-256-gcm' }, key)).toThrow(
        SigningKeyUnreadableError,
      );
    }
    expect(() => openPrivateKey('key-a', stored, null)).toThrow(/set OUTPOST_SIGNING_KEY_ENCRYPTION_KEY/);
  });

  it('stores the PEM as it is only when there is no encryption key', () => {
    expect(sealPrivateKey('key-a', pem, null)).toEqual({ privateKey: pem, privateKeyEncryption: 'none' });
  });
});

describe('signing keys without an encryption key (development)', () => {
  let database: TestDatabase;
  let app: TestApp;
  const allLogs: TestApp['logs'][] = [];

  beforeAll(async () => {
    database = await freshDatabase();
    app = await start(database);
    allLogs.push(app.logs);
  });

  it('makes one key on first start, warns that it is stored unencrypted, and keeps it across restarts', async () => {
    expect(app.logs.find((line) => line.code === 'SIGNING_KEYS_UNENCRYPTED' && line.level === 40)).toBeDefined();
    const created = app.logs.find((line) => line.msg === 'deployment signing key created');
    expect(created).toBeDefined();
    const [row] = await keyRows(app);
    expect(row).toMatchObject({ status: 'active', private_key_encryption: 'none', key_id: created?.keyId });
    expect(row?.private_key).toMatch(/^-----BEGIN PRIVATE KEY-----/);

    await stop(app);
    app = await start(database);
    allLogs.push(app.logs);
    expect(app.logs.find((line) => line.msg === 'deployment signing key created')).toBeUndefined();
    expect(app.logs.find((line) => line.msg === 'deployment signing key ready')?.keyId).toBe(row?.key_id);
    expect(await keyRows(app)).toEqual([row]);
  });

  it('lists the public parts of the keys to any signed-in role', async () => {
    const viewer = await apiTokenWithRole(app, 'viewer');
    const { status, body } = await api(app, '/api/v1/signing-keys', { token: viewer });
    expect(status).toBe(200);
    const list = SigningKeyList.parse(body);
    const [row] = await keyRows(app);
    expect(list.items).toEqual([
      {
        keyId: row?.key_id,
        alg: 'ed25519',
        publicKey: row?.public_key,
        status: 'active',
        createdAt: expect.any(String),
        retiredAt: null,
      },
    ]);
    expect((await api(app, '/api/v1/signing-keys')).status).toBe(401);
  });

  it('signs deployments that devices verify with trustedKeys(), and refuses invalid ones', async () => {
    const signing = app.running.app.get(SigningService);
    const signed = await signing.sign(deployment());
    expect(signed.deployment).toMatchObject({ type: DEPLOYMENT_TYPE, deviceId: 'press-01', version: 1 });
    const trusted = await signing.trustedKeys();
    expect(trusted).toEqual([{ keyId: signed.signature.keyId, publicKey: (await keyRows(app))[0]?.public_key }]);
    const result = verifyDeployment(JSON.parse(JSON.stringify(signed)), trusted, { expectedDeviceId: 'press-01' });
    expect(result).toMatchObject({ ok: true, keyId: signed.signature.keyId });

    const invalid = signing.sign(deployment({ deviceId: 'no.dots', version: 0 }));
    await expect(invalid).rejects.toBeInstanceOf(OutpostError);
    await expect(invalid).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      details: expect.arrayContaining([expect.objectContaining({ path: 'deviceId' })]),
    });
  });

  it('rotates (admin only): new deployments use the new key, and old signatures keep verifying', async () => {
    const signing = app.running.app.get(SigningService);
    const before = await signing.sign(deployment({ version: 1 }));

    for (const role of ['viewer', 'operator'] as const) {
      const token = await apiTokenWithRole(app, role);
      const refused = await api(app, '/api/v1/signing-keys/rotate', { method: 'POST', token });
      expect(refused.status).toBe(403);
    }
    const { status, body } = await api(app, '/api/v1/signing-keys/rotate', { method: 'POST', token: app.adminToken });
    expect(status).toBe(201);
    const rotated = RotatedSigningKeys.parse(body);
    expect(rotated.retired).toMatchObject({ keyId: before.signature.keyId, status: 'retired' });
    expect(rotated.retired?.retiredAt).not.toBeNull();
    expect(rotated.active).toMatchObject({ status: 'active', retiredAt: null });
    expect(rotated.active.keyId).not.toBe(before.signature.keyId);

    const after = await signing.sign(deployment({ version: 2 }));
    expect(after.signature.keyId).toBe(rotated.active.keyId);
    const trusted = await signing.trustedKeys();
    expect(trusted.map((key) => key.keyId)).toEqual([rotated.active.keyId, before.signature.keyId]);
    expect(verifyDeployment(wire(before), trusted)).toMatchObject({ ok: true, keyId: before.signature.keyId });
    expect(verifyDeployment(wire(after), trusted, { minVersion: 2 })).toMatchObject({ ok: true });

    const listed = SigningKeyList.parse((await api(app, '/api/v1/signing-keys', { token: app.adminToken })).body);
    expect(listed.items.map((key) => [key.keyId, key.status])).toEqual([
      [rotated.active.keyId, 'active'],
      [before.signature.keyId, 'retired'],
    ]);
    expect(app.logs.find((line) => line.msg === 'deployment signing key rotated')).toMatchObject({
      keyId: rotated.active.keyId,
      retiredKeyId: before.signature.keyId,
    });
    const audit = await api(app, '/api/v1/audit?action=signing-key.rotate', { token: app.adminToken });
    expect(audit.status).toBe(200);
    expect((audit.body as { items: unknown[] }).items).toEqual([
      expect.objectContaining({
        action: 'signing-key.rotate',
        target: { type: 'signing-key', id: rotated.active.keyId },
        details: expect.objectContaining({ retiredKeyId: before.signature.keyId }),
      }),
    ]);
  });

  it('removes retired keys only (admin only); what they signed then no longer verifies', async () => {
    const signing = app.running.app.get(SigningService);
    const [active, retired] = (await signing.list()) as [SigningKey, SigningKey];
    expect(retired.status).toBe('retired');
    const oldSignature = await signRetired(retired.keyId);

    const operator = await apiTokenWithRole(app, 'operator');
    expect(
      (await api(app, `/api/v1/signing-keys/${retired.keyId}`, { method: 'DELETE', token: operator })).status,
    ).toBe(403);
    const activeRemoval = await api(app, `/api/v1/signing-keys/${active.keyId}`, {
      method: 'DELETE',
      token: app.adminToken,
    });
    expect(activeRemoval.status).toBe(409);
    expect(activeRemoval.body).toMatchObject({ code: 'CONFLICT', details: [{ path: 'keyId' }] });
    const unknown = await api(app, '/api/v1/signing-keys/AAAAAAAAAAAAAAAAAAAAAA', {
      method: 'DELETE',
      token: app.adminToken,
    });
    expect(unknown.status).toBe(404);
    const bad = await api(app, '/api/v1/signing-keys/not-a-key', { method: 'DELETE', token: app.adminToken });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ code: 'VALIDATION_FAILED', details: [{ path: 'keyId' }] });

    const removed = await api(app, `/api/v1/signing-keys/${retired.keyId}`, {
      method: 'DELETE',
      token: app.adminToken,
    });
    expect(removed.status).toBe(200);
    expect(SigningKey.parse(removed.body)).toMatchObject({ keyId: retired.keyId, status: 'retired' });
    const trusted = await signing.trustedKeys();
    expect(trusted.map((key) => key.keyId)).toEqual([active.keyId]);
    expect(verifyDeployment(oldSignature, trusted)).toMatchObject({ ok: false, code: 'UNKNOWN_KEY' });
    const audit = await api(app, '/api/v1/audit?action=signing-key.remove', { token: app.adminToken });
    expect((audit.body as { items: unknown[] }).items).toEqual([
      expect.objectContaining({ target: { type: 'signing-key', id: retired.keyId } }),
    ]);
  });

  /** A deployment signed with a retired key, as a device might still hold one: signed before the rotation. */
  async function signRetired(keyId: string): Promise<SignedDeployment> {
    const row = (await keyRows(app)).find((candidate) => candidate.key_id === keyId);
    if (!row) throw new Error(`no key ${keyId}`);
    return wire(signDeployment(deployment(), { keyId, privateKey: row.private_key }));
  }

  it('never returns a private key from any route, nor logs one', async () => {
    await api(app, '/api/v1/signing-keys/rotate', { method: 'POST', token: app.adminToken });
    const bodies: string[] = [];
    for (const route of Object.values(routes)) {
      if (route.method !== 'get' || route.path.includes('{')) continue;
      const { body } = await api(app, route.path, { token: app.adminToken });
      bodies.push(JSON.stringify(body));
    }
    bodies.push(
      JSON.stringify((await api(app, '/api/v1/signing-keys/rotate', { method: 'POST', token: app.adminToken })).body),
    );
    bodies.push(JSON.stringify((await api(app, '/api/docs/openapi.json')).body));
    const rows = await keyRows(app);
    const secrets = rows.flatMap((row) => secretForms(row));
    const retired = rows.filter((row) => row.status === 'retired');
    expect(retired.length).toBeGreaterThanOrEqual(2);
    const removal = await api(app, `/api/v1/signing-keys/${retired[0]?.key_id}`, {
      method: 'DELETE',
      token: app.adminToken,
    });
    expect(removal.status).toBe(200);
    bodies.push(JSON.stringify(removal.body));

    expect(bodies.join('\n')).not.toMatch(/privateKey|private_key/);
    const everything = [...bodies, ...allLogs.flatMap((logs) => logs.lines.map((line) => JSON.stringify(line)))];
    expect(everything.join('\n')).not.toMatch(/PRIVATE KEY/);
    for (const secret of secrets) {
      expect(secret.length).toBeGreaterThanOrEqual(32);
      for (const text of everything) expect(text).not.toContain(secret);
    }
  });

  it('keeps the private key out of the error of a failed write', async () => {
    const repository = app.running.app.get(SigningKeysRepository);
    const key = generateSigningKey();
    // A second active key breaks the one-active index: the insert fails with the key among its parameters.
    const error = await repository
      .withLock((tx) => repository.insertActive({ ...key, privateKeyEncryption: 'none' }, tx))
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(SigningKeyWriteError);
    const written = error as SigningKeyWriteError;
    expect(written.message).toMatch(/^storing signing key .* failed: .*deployment_signing_keys_one_active/);
    expect(written.sqlState).toBe('23505');
    expect(written.cause).toBeUndefined();
    const pemBody = key.privateKey.split('\n')[1] ?? '';
    expect(`${written.message}\n${written.stack}\n${JSON.stringify(written)}`).not.toContain(pemBody);
  });

  it('encrypts the keys stored unencrypted once an encryption key is set', async () => {
    const plain = await keyRows(app);
    expect(plain.every((row) => row.private_key_encryption === 'none')).toBe(true);
    await stop(app);
    const encryptionKey = randomBytes(32);
    app = await start(database, { OUTPOST_SIGNING_KEY_ENCRYPTION_KEY: encryptionKey.toString('base64') });
    allLogs.push(app.logs);
    expect(app.logs.find((line) => line.code === 'SIGNING_KEYS_UNENCRYPTED')).toBeUndefined();
    expect(app.logs.find((line) => line.msg === 'signing keys encrypted at rest')?.keyIds).toEqual(
      expect.arrayContaining(plain.map((row) => row.key_id)),
    );
    const sealed = await keyRows(app);
    expect(sealed.map((row) => [row.key_id, row.private_key_encryption])).toEqual(
      plain.map((row) => [row.key_id, 'aes-256-gcm']),
    );
    for (const [index, row] of sealed.entries()) {
      expect(row.private_key).not.toContain('PRIVATE KEY');
      expect(secretForms(row, encryptionKey)).toEqual(secretForms(plain[index] as KeyRow));
    }
    const signed = await app.running.app.get(SigningService).sign(deployment());
    expect(verifyDeployment(wire(signed), await app.running.app.get(SigningService).trustedKeys()).ok).toBe(true);
  });
});

describe('signing keys with an encryption key', () => {
  const encryptionKey = randomBytes(32);
  let database: TestDatabase;
  let app: TestApp;

  beforeAll(async () => {
    database = await freshDatabase();
    app = await start(database, { OUTPOST_SIGNING_KEY_ENCRYPTION_KEY: encryptionKey.toString('hex') });
  });

  it('stores the private key sealed, never as PKCS #8', async () => {
    const [row] = await keyRows(app);
    if (!row) throw new Error('no signing key was made');
    expect(row.private_key_encryption).toBe('aes-256-gcm');
    expect(row.private_key).toMatch(/^v1\./);
    expect(row.private_key).not.toContain('PRIVATE KEY');
    const key = openPrivateKey(
      row.key_id,
      { privateKey: row.private_key, privateKeyEncryption: 'aes-256-gcm' },
      encryptionKey,
    );
    expect(signingPublicKey(key)).toBe(row.public_key);
    // Neither the DER nor the key's seed appears in the stored text, in any encoding.
    for (const secret of secretForms(row, encryptionKey)) expect(row.private_key).not.toContain(secret);
    expect(app.logs.find((line) => line.code === 'SIGNING_KEYS_UNENCRYPTED')).toBeUndefined();

    const signed = await app.running.app.get(SigningService).sign(deployment());
    expect(verifyDeployment(wire(signed), [{ keyId: row.key_id, publicKey: row.public_key }]).ok).toBe(true);
    const rotated = await app.running.app.get(SigningService).rotate();
    const rows = await keyRows(app);
    expect(rows.map((r) => r.private_key_encryption)).toEqual(['aes-256-gcm', 'aes-256-gcm']);
    expect(rows.find((r) => r.status === 'active')?.key_id).toBe(rotated.active.keyId);
  });

  it('refuses to start without the encryption key, or with another one, saying why', async () => {
    await stop(app);
    await expect(start(database)).rejects.toThrow(/is encrypted at rest; set OUTPOST_SIGNING_KEY_ENCRYPTION_KEY/);
    await expect(
      start(database, { OUTPOST_SIGNING_KEY_ENCRYPTION_KEY: randomBytes(32).toString('hex') }),
    ).rejects.toThrow(/does not decrypt with OUTPOST_SIGNING_KEY_ENCRYPTION_KEY/);
    app = await start(database, { OUTPOST_SIGNING_KEY_ENCRYPTION_KEY: encryptionKey.toString('base64') });
    expect(app.logs.find((line) => line.msg === 'deployment signing key ready')).toBeDefined();
  });
});

describe('two replicas starting together on PostgreSQL', () => {
  it('make exactly one signing key', async (ctx) => {
    const database = await freshDatabase();
    if (database.kind === 'pglite') {
      ctx.skip('PGlite is one process’s embedded database: two replicas need PostgreSQL');
      return;
    }
    const replicas = await Promise.all([start(database), start(database)]);
    const rows = await keyRows(replicas[0] as TestApp);
    expect(rows).toHaveLength(1);
    const created = replicas.filter((replica) => replica.logs.find((l) => l.msg === 'deployment signing key created'));
    expect(created).toHaveLength(1);
    const trusted = await Promise.all(replicas.map((replica) => replica.running.app.get(SigningService).trustedKeys()));
    expect(trusted[0]).toEqual([{ keyId: rows[0]?.key_id, publicKey: rows[0]?.public_key }]);
    expect(trusted[1]).toEqual(trusted[0]);
    // The race itself, over and over: several start-ups on both replicas find no key at the same moment.
    const db = replicas[0]?.running.app.get<symbol, Database>(DATABASE) as Database;
    for (let round = 0; round < 10; round++) {
      await executeRows(db, sql`delete from deployment_signing_keys`);
      const services = replicas.map((replica) => replica.running.app.get(SigningService));
      await Promise.all(services.flatMap((service) => [service, service, service].map((s) => s.onModuleInit())));
      expect(await keyRows(replicas[1] as TestApp)).toHaveLength(1);
    }
    // Rotating on one replica is what the other signs with next.
    const rotated = await replicas[0]?.running.app.get(SigningService).rotate();
    const signed = await replicas[1]?.running.app.get(SigningService).sign(deployment());
    expect(signed?.signature.keyId).toBe(rotated?.active.keyId);
  });
});

function wire<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}
