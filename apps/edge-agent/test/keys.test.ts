import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateSigningKey, signDeployment, verifyDeployment } from '@outpost/manifest';
import { subjects } from '@outpost/protocol';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { AgentConnection } from '../src/connection/index.js';
import { DesiredStateClient } from '../src/desired/index.js';
import { appManifest, RecordingSink } from './desired-fixtures.js';
import { makeTempDir, removeTempDirs, runCli, uniqueDeviceId, writeConfig } from './helpers.js';

afterAll(removeTempDirs);

const INVALID_MANIFEST = {
  schemaVersion: '1.0',
  modules: { app: { type: 'banana' }, web: { type: 'process', restartPolicy: 'sometimes', process: { command: 'x' } } },
};

/** A device dir with its agent config; nothing is started. */
function device(options: { allowUnsignedLocal?: boolean } = {}) {
  const dir = makeTempDir();
  const deviceId = uniqueDeviceId('keys');
  const configPath = writeConfig(dir, {
    deviceId,
    natsUrl: 'nats://127.0.0.1:1',
    stateDir: 'state',
    ...(options.allowUnsignedLocal ? { allowUnsignedLocal: true } : {}),
  });
  return { dir, deviceId, configPath, stateDir: join(dir, 'state') };
}

/** The desired-state client of that device, never connected: local deployments need no cloud. */
async function localClient(dev: ReturnType<typeof device>, allowUnsignedLocal = false) {
  const log = pino({ level: 'silent' });
  const connection = new AgentConnection({
    servers: ['nats://127.0.0.1:1'],
    name: 'test',
    inboxPrefix: subjects.device.inboxPrefix(dev.deviceId),
    log,
  });
  const sink = new RecordingSink();
  const client = new DesiredStateClient({
    config: { deviceId: dev.deviceId, stateDir: dev.stateDir, allowUnsignedLocal, desiredRefreshIntervalMs: 600_000 },
    connection,
    sink,
    log,
  });
  await client.start();
  return { client, sink, stop: () => client.stop() };
}

async function keysJson(configPath: string) {
  const result = await runCli(['keys', '--config', configPath, '--json']);
  expect(result.code, result.output).toBe(0);
  return JSON.parse(result.output) as {
    deviceId: string;
    keyId: string;
    publicKey: string;
    keyFile: string;
    created: boolean;
  };
}

async function signWithCli(dev: ReturnType<typeof device>, input: unknown): Promise<Record<string, unknown>> {
  const file = join(dev.dir, 'manifest.json');
  const out = join(dev.dir, 'signed.json');
  writeFileSync(file, JSON.stringify(input));
  const result = await runCli(['keys', 'sign', '--config', dev.configPath, '--file', file, '--out', out]);
  expect(result.code, result.output).toBe(0);
  return JSON.parse(readFileSync(out, 'utf8')) as Record<string, unknown>;
}

describe('outpost-agent keys', () => {
  it('makes the device-local key on first use (0600) and prints the same public key afterwards', async () => {
    const dev = device();
    const first = await keysJson(dev.configPath);
    expect(first).toMatchObject({
      deviceId: dev.deviceId,
      created: true,
      keyFile: join(dev.stateDir, 'local-signing-key.pem'),
    });
    expect(first.publicKey).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(statSync(first.keyFile).mode & 0o777).toBe(0o600);
    const second = await keysJson(dev.configPath);
    expect(second).toEqual({ ...first, created: false });
    const text = await runCli(['keys', '--config', dev.configPath]);
    expect(text.code).toBe(0);
    expect(text.output).toContain(first.publicKey);
    expect(text.output).toContain(first.keyId);
  });

  it('signs a manifest for this device with that key; each signature gets a higher version', async () => {
    const dev = device();
    const key = await keysJson(dev.configPath);
    const first = await signWithCli(dev, appManifest('one'));
    const second = await signWithCli(dev, appManifest('two'));
    const trusted = [{ keyId: key.keyId, publicKey: key.publicKey }];
    const a = verifyDeployment(first, trusted, { expectedDeviceId: dev.deviceId });
    const b = verifyDeployment(second, trusted, { expectedDeviceId: dev.deviceId });
    if (!a.ok || !b.ok) throw new Error('the signed deployments do not verify');
    expect(a.deployment.id).toMatch(/^local-/);
    expect(b.deployment.version).toBeGreaterThan(a.deployment.version);
    expect(statSync(join(dev.dir, 'signed.json')).mode & 0o777).toBe(0o600);
  });

  it('refuses to sign an invalid manifest, naming every path (exit 2)', async () => {
    const dev = device();
    const file = join(dev.dir, 'bad.json');
    writeFileSync(file, JSON.stringify(INVALID_MANIFEST));
    const result = await runCli([
      'keys',
      'sign',
      '--config',
      dev.configPath,
      '--file',
      file,
      '--out',
      join(dev.dir, 'x.json'),
    ]);
    expect(result.code).toBe(2);
    expect(result.output).toContain('modules.app.type');
    expect(result.output).toContain('modules.web.restartPolicy');
  });

  it('says what is missing: --config, --file for sign, an unknown action', async () => {
    expect((await runCli(['keys'])).output).toContain('--config <file> is required');
    const dev = device();
    expect((await runCli(['keys', 'sign', '--config', dev.configPath])).output).toContain(
      '--file <manifest.json> is required',
    );
    const unknown = await runCli(['keys', 'rotate', '--config', dev.configPath]);
    expect(unknown.code).toBe(2);
    expect(unknown.output).toContain('rotate');
  });
});

describe('local deployments (applyLocal)', () => {
  it('applies a manifest signed with the device-local key as a local deployment; the same file twice is stale', async () => {
    const dev = device();
    await keysJson(dev.configPath);
    const signed = await signWithCli(dev, appManifest('local-one'));
    const { client, sink, stop } = await localClient(dev);
    try {
      const outcome = await client.applyLocal(signed);
      expect(outcome.code).toBe(200);
      expect(sink.applied).toHaveLength(1);
      expect(sink.applied[0]).toMatchObject({ source: 'local', signed });
      expect(sink.applied[0]?.manifest.modules.app?.version).toBe('local-one');

      const again = await client.applyLocal(signed);
      expect(again.code).toBe(412);
      expect(again.description).toMatch(/STALE/);
      expect(sink.applied).toHaveLength(1);

      const newer = await client.applyLocal(await signWithCli(dev, appManifest('local-two')));
      expect(newer.code).toBe(200);
      expect(sink.applied.map((d) => d.manifest.modules.app?.version)).toEqual(['local-one', 'local-two']);
    } finally {
      stop();
    }
  });

  it('refuses a deployment signed by the cloud’s key or another device’s local key (412), applying nothing', async () => {
    const dev = device();
    await keysJson(dev.configPath);
    const { client, sink, stop } = await localClient(dev);
    try {
      const cloudSigned = signDeployment(
        { id: 'dep-1', deviceId: dev.deviceId, version: Date.now() + 1_000, manifest: appManifest('cloud') },
        generateSigningKey(),
      );
      const outcome = await client.applyLocal(JSON.parse(JSON.stringify(cloudSigned)));
      expect(outcome.code).toBe(412);
      expect(outcome.description).toMatch(/UNKNOWN_KEY/);

      const other = device();
      await keysJson(other.configPath);
      const forOther = await signWithCli(other, appManifest('other'));
      const wrong = await client.applyLocal(forOther);
      expect(wrong.code).toBe(412);

      expect(sink.applied).toEqual([]);
      expect(sink.refused.map((r) => [r.source, r.outcome.code])).toEqual([
        ['local', 412],
        ['local', 412],
      ]);
    } finally {
      stop();
    }
  });

  it('refuses an unsigned manifest with 412 naming allowUnsignedLocal while it is false', async () => {
    const dev = device();
    const { client, sink, stop } = await localClient(dev, false);
    try {
      const outcome = await client.applyLocal(appManifest('bare'));
      expect(outcome.code).toBe(412);
      expect(outcome.description).toContain('allowUnsignedLocal');
      expect(sink.applied).toEqual([]);
    } finally {
      stop();
    }
  });

  it('applies an unsigned manifest when allowUnsignedLocal is true (signed: null, growing versions); invalid → 400 with paths', async () => {
    const dev = device({ allowUnsignedLocal: true });
    const { client, sink, stop } = await localClient(dev, true);
    try {
      expect((await client.applyLocal(appManifest('a'))).code).toBe(200);
      expect((await client.applyLocal(appManifest('b'))).code).toBe(200);
      expect(sink.applied.map((d) => [d.source, d.signed])).toEqual([
        ['local', null],
        ['local', null],
      ]);
      expect(sink.applied[1]?.version).toBeGreaterThan(sink.applied[0]?.version ?? Infinity);
      expect(sink.applied[0]?.id).toMatch(/^local-/);

      const invalid = await client.applyLocal(INVALID_MANIFEST);
      expect(invalid.code).toBe(400);
      expect(invalid.errors?.map((e) => e.path)).toEqual(
        expect.arrayContaining(['modules.app.type', 'modules.web.restartPolicy']),
      );
      expect(sink.applied).toHaveLength(2);
      expect(sink.refused).toEqual([{ version: null, source: 'local', outcome: invalid }]);
    } finally {
      stop();
    }
  });
});
