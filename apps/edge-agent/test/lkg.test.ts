import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateSigningKey, type SigningKeyPair, signDeployment, validateManifest } from '@outpost/manifest';
import { spawnProcess } from '@outpost/testing';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureLocalSigningKey, LastKnownGoodStore, LKG_FILE, LKG_PREVIOUS_FILE } from '../src/desired/index.js';
import type { AcceptedDeployment, DeploymentSource } from '../src/runtime/contracts.js';
import { appManifest } from './desired-fixtures.js';
import { makeTempDir, removeTempDirs } from './helpers.js';

afterAll(removeTempDirs);

const DEVICE = 'lkg-device';
const cloudKey = generateSigningKey();

function signed(
  version: number,
  key: SigningKeyPair = cloudKey,
  source: DeploymentSource = 'cloud',
): AcceptedDeployment {
  const envelope = signDeployment(
    { id: `dep-${version}`, deviceId: DEVICE, version, manifest: appManifest(`v${version}`) },
    key,
  );
  return {
    source,
    id: envelope.deployment.id,
    version,
    createdAt: envelope.deployment.createdAt,
    manifest: envelope.deployment.manifest,
    signed: JSON.parse(JSON.stringify(envelope)),
  };
}

function unsignedLocal(version: number): AcceptedDeployment {
  const valid = validateManifest(appManifest(`local-${version}`), { effective: true });
  if (!valid.ok) throw new Error('test manifest invalid');
  return {
    source: 'local',
    id: `local-${version}`,
    version,
    createdAt: new Date().toISOString(),
    manifest: valid.manifest,
    signed: null,
  };
}

function store(options: { allowUnsignedLocal?: boolean; stateDir?: string; trusted?: SigningKeyPair[] } = {}) {
  const stateDir = options.stateDir ?? makeTempDir();
  writeFileSync(
    join(stateDir, 'trusted-keys.json'),
    JSON.stringify((options.trusted ?? [cloudKey]).map(({ keyId, publicKey }) => ({ keyId, publicKey }))),
  );
  const lines: { msg: string; code?: string; path?: string }[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  const lkg = new LastKnownGoodStore({
    stateDir,
    deviceId: DEVICE,
    allowUnsignedLocal: options.allowUnsignedLocal ?? false,
    log,
  });
  return { lkg, stateDir, lines, path: join(stateDir, LKG_FILE) };
}

describe('last-known-good store', () => {
  it('has nothing before the first save', async () => {
    const { lkg, lines } = store();
    expect(await lkg.load()).toBeNull();
    expect(await lkg.previous()).toBeNull();
    expect(lines.filter((line) => line.code)).toEqual([]);
  });

  it('saves a cloud deployment (0600) and loads it back verified, with its signed envelope', async () => {
    const { lkg, path } = store();
    const deployment = signed(3);
    await lkg.save(deployment);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(await lkg.load()).toEqual(deployment);
  });

  it('keeps the one before as previous(); saving the same deployment again changes nothing', async () => {
    const { lkg } = store();
    await lkg.save(signed(1));
    await lkg.save(signed(2));
    await lkg.save(signed(2));
    expect((await lkg.load())?.version).toBe(2);
    expect((await lkg.previous())?.version).toBe(1);
    await lkg.save(signed(3));
    expect((await lkg.load())?.version).toBe(3);
    expect((await lkg.previous())?.version).toBe(2);
  });

  it('ignores a temp file a crash left between write and rename: the old deployment still loads', async () => {
    const { lkg, stateDir } = store();
    await lkg.save(signed(1));
    // What a power cut between writing the temp file and the rename leaves behind: a half-written new file.
    const half = JSON.stringify({ format: 'outpost.last-known-good.v1', source: 'cloud', signed: signed(2).signed });
    writeFileSync(join(stateDir, `.${LKG_FILE}.4242.deadbeef.tmp`), half.slice(0, half.length / 2));
    expect((await lkg.load())?.version).toBe(1);
    // And the next save still works.
    await lkg.save(signed(2));
    expect((await lkg.load())?.version).toBe(2);
    expect(readdirSync(stateDir).filter((name) => name.endsWith('.tmp') && !name.includes('4242'))).toEqual([]);
  });

  it('ignores a corrupt file with a LKG_CORRUPT log line instead of throwing', async () => {
    const { lkg, path, lines } = store();
    await lkg.save(signed(1));
    writeFileSync(path, readFileSync(path, 'utf8').slice(0, 40));
    expect(await lkg.load()).toBeNull();
    expect(lines).toContainEqual(expect.objectContaining({ code: 'LKG_CORRUPT', path }));
  });

  it('refuses a tampered file (manifest edited on the device) with LKG_UNVERIFIED', async () => {
    const { lkg, path, lines } = store();
    await lkg.save(signed(1));
    const stored = JSON.parse(readFileSync(path, 'utf8'));
    stored.signed.deployment.manifest.modules.app.process.command = 'bin/evil';
    writeFileSync(path, JSON.stringify(stored));
    expect(await lkg.load()).toBeNull();
    expect(lines).toContainEqual(expect.objectContaining({ code: 'LKG_UNVERIFIED', refusal: 'BAD_SIGNATURE' }));
  });

  it('verifies against today’s trust: a key no longer trusted makes the stored deployment unusable', async () => {
    const first = store();
    await first.lkg.save(signed(1));
    const rotated = store({ stateDir: first.stateDir, trusted: [generateSigningKey()] });
    expect(await rotated.lkg.load()).toBeNull();
    expect(rotated.lines).toContainEqual(expect.objectContaining({ code: 'LKG_UNVERIFIED', refusal: 'UNKNOWN_KEY' }));
  });

  it('verifies local deployments against the device-local key only, never the cloud’s', async () => {
    const { lkg, stateDir, lines } = store();
    const { key: localKey } = await ensureLocalSigningKey(stateDir);
    const local = signed(10, localKey, 'local');
    await lkg.save(local);
    expect(await lkg.load()).toEqual(local);
    // A cloud-signed envelope stored as local (or the reverse) does not verify.
    await lkg.save(signed(11, cloudKey, 'local'));
    expect(await lkg.load()).toBeNull();
    await lkg.save(signed(12, localKey, 'cloud'));
    expect(await lkg.load()).toBeNull();
    expect(lines.filter((line) => line.code === 'LKG_UNVERIFIED')).toHaveLength(2);
  });

  it('loads an unsigned local deployment only while allowUnsignedLocal is true', async () => {
    const allowed = store({ allowUnsignedLocal: true });
    const local = unsignedLocal(5);
    await allowed.lkg.save(local);
    expect(await allowed.lkg.load()).toEqual(local);
    const strict = store({ stateDir: allowed.stateDir, allowUnsignedLocal: false });
    expect(await strict.lkg.load()).toBeNull();
    expect(strict.lines).toContainEqual(expect.objectContaining({ code: 'LKG_UNSIGNED_NOT_ALLOWED' }));
  });

  it('re-validates an unsigned local deployment: an invalid manifest on disk is ignored with LKG_INVALID', async () => {
    const { lkg, path, lines } = store({ allowUnsignedLocal: true });
    await lkg.save(unsignedLocal(5));
    const stored = JSON.parse(readFileSync(path, 'utf8'));
    stored.unsigned.manifest.modules.app.type = 'banana';
    writeFileSync(path, JSON.stringify(stored));
    expect(await lkg.load()).toBeNull();
    expect(lines).toContainEqual(expect.objectContaining({ code: 'LKG_INVALID' }));
  });

  it('a corrupt previous file does not affect the current one', async () => {
    const { lkg, stateDir, lines } = store();
    await lkg.save(signed(1));
    await lkg.save(signed(2));
    writeFileSync(join(stateDir, LKG_PREVIOUS_FILE), '{');
    expect((await lkg.load())?.version).toBe(2);
    expect(await lkg.previous()).toBeNull();
    expect(lines).toContainEqual(expect.objectContaining({ code: 'LKG_CORRUPT' }));
  });

  it('survives a SIGKILL in the middle of saving: what loads is always a whole, verified deployment', async () => {
    const { lkg, stateDir } = store();
    const keyFile = join(makeTempDir(), 'cloud-key.pem');
    writeFileSync(keyFile, cloudKey.privateKey, { mode: 0o600 });
    // A child saving ever newer, large (≈300 KB) deployments as fast as it can; killed at some point mid-stream.
    const child = `
      import { readFileSync } from 'node:fs';
      import { signDeployment } from '@outpost/manifest';
      import { pino } from 'pino';
      import { LastKnownGoodStore } from './dist/desired/index.js';
      const key = { keyId: ${JSON.stringify(cloudKey.keyId)}, privateKey: readFileSync(${JSON.stringify(keyFile)}, 'utf8') };
      const env = Object.fromEntries(Array.from({ length: 300 }, (_, i) => ['V' + i, { value: 'x'.repeat(1000) }]));
      const lkg = new LastKnownGoodStore({ stateDir: ${JSON.stringify(stateDir)}, deviceId: ${JSON.stringify(DEVICE)},
        allowUnsignedLocal: false, log: pino({ level: 'silent' }) });
      for (let version = 1; ; version++) {
        const manifest = { schemaVersion: '1.0', modules: { app: { type: 'process', version: 'v' + version, env,
          process: { artifact: { ref: 'os://artifacts/app.tar.gz', sha256: 'b'.repeat(64) }, command: 'bin/app' } } } };
        const envelope = signDeployment({ id: 'dep-' + version, deviceId: ${JSON.stringify(DEVICE)}, version, manifest }, key);
        const d = envelope.deployment;
        await lkg.save({ source: 'cloud', id: d.id, version, createdAt: d.createdAt, manifest: d.manifest, signed: envelope });
        process.stdout.write('saved ' + version + '\\n');
      }`;
    const proc = await spawnProcess(process.execPath, ['--input-type=module', '-e', child], {
      cwd: new URL('..', import.meta.url).pathname,
      readyWhen: /saved 5\n/,
      readyTimeoutMs: 60_000,
    });
    await proc.kill();
    const lastSaved = Math.max(...[...proc.output().matchAll(/saved (\d+)/g)].map((m) => Number(m[1])));
    const loaded = await lkg.load();
    // The last completed save, or the one in flight if its rename had happened: never nothing, never a mix.
    expect(loaded?.version).toBeGreaterThanOrEqual(lastSaved);
    expect(loaded?.version).toBeLessThanOrEqual(lastSaved + 1);
    expect(loaded?.manifest.modules.app?.version).toBe(`v${loaded?.version}`);
    // previous() is the one before, or the same one when the kill fell between the two renames of a save.
    const previous = (await lkg.previous())?.version ?? 0;
    expect(previous).toBeGreaterThanOrEqual((loaded?.version ?? 0) - 1);
    expect(previous).toBeLessThanOrEqual(loaded?.version ?? 0);
  });
});
