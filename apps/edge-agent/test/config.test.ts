import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/index.js';
import { StartupError } from '../src/errors.js';
import { makeTempDir, removeTempDirs, writeConfig } from './helpers.js';

afterAll(removeTempDirs);

const valid = { deviceId: 'dev-01', natsUrl: 'nats://127.0.0.1:4222', stateDir: 'state' };

async function loadError(content: Record<string, unknown> | string): Promise<{ path: string; error: StartupError }> {
  const path = writeConfig(makeTempDir(), content);
  const error = await loadConfig(path).then(
    () => {
      throw new Error('expected the config to be rejected');
    },
    (err: unknown) => err,
  );
  if (!(error instanceof StartupError)) throw error;
  return { path, error };
}

describe('loadConfig', () => {
  it('applies defaults and resolves a relative stateDir against the config file directory', async () => {
    const dir = makeTempDir();
    const config = await loadConfig(writeConfig(dir, valid));
    expect(config).toEqual({
      configPath: join(dir, 'agent.json'),
      deviceId: 'dev-01',
      natsServers: ['nats://127.0.0.1:4222'],
      stateDir: join(dir, 'state'),
      heartbeatIntervalMs: 5000,
      logLevel: 'info',
      credsFile: null,
      caFile: null,
      modulesDir: join(dir, 'state', 'modules'),
      moduleUser: 'outpost-modules',
      modulesOnAgentStop: 'keep',
      allowUnsignedLocal: false,
      desiredRefreshIntervalMs: 300_000,
      controlSocket: join(dir, 'state', 'agent.sock'),
      containers: {
        dockerHost: null,
        allowPrivileged: false,
        allowHostPid: false,
        allowCapAdd: false,
        registryCredentials: {},
      },
    });
  });

  it('resolves modulesDir, controlSocket and registry password files against the config file directory', async () => {
    const dir = makeTempDir();
    const config = await loadConfig(
      writeConfig(dir, {
        ...valid,
        modulesDir: 'modules',
        controlSocket: '/run/outpost/agent.sock',
        containers: {
          allowPrivileged: true,
          registryCredentials: {
            acr: { serveraddress: 'example.azurecr.io', username: 'puller', passwordFile: 'secrets/acr' },
          },
        },
      }),
    );
    expect(config.modulesDir).toBe(join(dir, 'modules'));
    expect(config.controlSocket).toBe('/run/outpost/agent.sock');
    expect(config.containers.allowPrivileged).toBe(true);
    expect(config.containers.allowHostPid).toBe(false);
    expect(config.containers.registryCredentials.acr?.passwordFile).toBe(join(dir, 'secrets', 'acr'));
  });

  it('names a misspelt container policy key', async () => {
    const { path, error } = await loadError(JSON.stringify({ ...valid, containers: { allowPriviledged: true } }));
    expect(error.lines).toEqual([`config ${path}: containers.allowPriviledged: unknown key`]);
  });

  it('takes a list of servers, an absolute stateDir, an interval and a log level', async () => {
    const config = await loadConfig(
      writeConfig(makeTempDir(), {
        deviceId: 'dev-01',
        natsUrls: ['nats://a.example:4222', 'tls://b.example:4443'],
        stateDir: '/var/lib/outpost',
        heartbeatIntervalMs: 100,
        logLevel: 'debug',
      }),
    );
    expect(config.natsServers).toEqual(['nats://a.example:4222', 'tls://b.example:4443']);
    expect(config.stateDir).toBe('/var/lib/outpost');
    expect(config.heartbeatIntervalMs).toBe(100);
    expect(config.logLevel).toBe('debug');
  });

  it('names the file when it does not exist', async () => {
    const path = join(makeTempDir(), 'missing.json');
    await expect(loadConfig(path)).rejects.toMatchObject({
      code: 'CONFIG_NOT_FOUND',
      lines: [`config ${path}: file not found`],
    });
  });

  it('names the file when it is not JSON', async () => {
    const { path, error } = await loadError('{ "deviceId": ');
    expect(error.code).toBe('CONFIG_INVALID_JSON');
    expect(error.lines[0]).toMatch(new RegExp(`^config ${path}: not valid JSON: `));
  });

  it('refuses JSON that is not an object', async () => {
    const { path, error } = await loadError('["dev-01"]');
    expect(error.lines).toEqual([`config ${path}: must be a JSON object`]);
  });

  it.each([
    ['a device id that is not one subject token', { ...valid, deviceId: 'a.b' }, /^deviceId: must be 1-128 letters/],
    [
      'a heartbeat interval under 100 ms',
      { ...valid, heartbeatIntervalMs: 50 },
      /^heartbeatIntervalMs: must be ≥ 100$/,
    ],
    [
      'a fractional heartbeat interval',
      { ...valid, heartbeatIntervalMs: 150.5 },
      /^heartbeatIntervalMs: must be a whole/,
    ],
    [
      'a heartbeat interval given as text',
      { ...valid, heartbeatIntervalMs: '5000' },
      /^heartbeatIntervalMs: must be a number$/,
    ],
    ['an unknown key', { ...valid, colour: 'blue' }, /^colour: unknown key \(allowed: deviceId, natsUrl, natsUrls,/],
    ['a missing deviceId', { natsUrl: valid.natsUrl, stateDir: 'state' }, /^deviceId: required$/],
    ['a missing stateDir', { deviceId: 'dev-01', natsUrl: valid.natsUrl }, /^stateDir: required$/],
    ['no server at all', { deviceId: 'dev-01', stateDir: 'state' }, /^natsUrl: required \(or natsUrls/],
    [
      'both natsUrl and natsUrls',
      { ...valid, natsUrls: [valid.natsUrl] },
      /^natsUrls: give natsUrl or natsUrls, not both$/,
    ],
    ['an http URL', { ...valid, natsUrl: 'http://127.0.0.1:4222' }, /^natsUrl: must be a nats:\/\/host/],
    ['an empty server list', { ...valid, natsUrl: undefined, natsUrls: [] }, /^natsUrls: must list at least one URL$/],
    [
      'a bad URL in the list',
      { ...valid, natsUrl: undefined, natsUrls: ['nats://ok:4222', 'nope'] },
      /^natsUrls\.1: must be/,
    ],
    ['an unknown log level', { ...valid, logLevel: 'loud' }, /^logLevel: /],
  ])('rejects %s, naming the file and the field', async (_what, content, expected) => {
    const { path, error } = await loadError(content);
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.lines).toHaveLength(1);
    const prefix = `config ${path}: `;
    expect(error.lines[0]?.startsWith(prefix)).toBe(true);
    expect(error.lines[0]?.slice(prefix.length)).toMatch(expected);
  });

  it('reports every problem at once', async () => {
    const { error } = await loadError({ deviceId: 'a b', natsUrl: valid.natsUrl, stateDir: '', extra: 1 });
    expect(error.lines.map((line) => line.split(': ')[1])).toEqual(
      expect.arrayContaining(['deviceId', 'stateDir', 'extra']),
    );
  });
});
