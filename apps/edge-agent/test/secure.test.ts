import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { subjects } from '@outpost/protocol';
import {
  type NatsServerHandle,
  type SecureNatsServerHandle,
  spawnProcess,
  startNatsServer,
  startSecureNatsServer,
  waitFor,
} from '@outpost/testing';
import { connect, credsAuthenticator, type NatsConnection } from 'nats';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  CLI_PATH,
  killAgents,
  makeTempDir,
  recordDevice,
  removeTempDirs,
  runCli,
  uniqueDeviceId,
  waitForLog,
  writeConfig,
} from './helpers.js';

/** The agent against NATS in operator mode with TLS: its creds file and pinned CA, as enrolment leaves them. */
let secure: SecureNatsServerHandle;
let plain: NatsServerHandle;
let cloud: NatsConnection;

beforeAll(async () => {
  secure = await startSecureNatsServer();
  plain = await startNatsServer();
  cloud = await connect({
    servers: secure.url,
    tls: { caFile: secure.caFile },
    authenticator: credsAuthenticator(readFileSync(secure.serviceCreds.cloudApi)),
    inboxPrefix: subjects.cloudApi.inboxPrefix,
  });
});

afterEach(killAgents);

afterAll(async () => {
  await cloud?.close();
  await secure?.stop();
  await plain?.stop();
  removeTempDirs();
});

/** A config dir holding the device's creds and the CA next to agent.json, referenced by relative paths. */
async function enrolledConfig(deviceId: string, natsUrl: string, extra: Record<string, unknown> = {}) {
  const dir = makeTempDir();
  const creds = await secure.mintDeviceCreds(deviceId);
  writeFileSync(join(dir, 'device.creds'), readFileSync(creds.credsFile), { mode: 0o600 });
  writeFileSync(join(dir, 'ca.pem'), readFileSync(secure.caFile));
  const configPath = writeConfig(dir, {
    deviceId,
    natsUrl,
    stateDir: 'state',
    heartbeatIntervalMs: 200,
    credsFile: 'device.creds',
    caFile: 'ca.pem',
    ...extra,
  });
  return { dir, configPath, creds };
}

async function runAgent(configPath: string) {
  return spawnProcess(process.execPath, [CLI_PATH, 'run', '--config', configPath], {
    readyWhen: /"msg":"agent started"/,
    readyTimeoutMs: 30_000,
  });
}

describe('agent with a device credential and a pinned CA', () => {
  it('connects over TLS with its creds file and announces itself on its own subjects', async () => {
    const deviceId = uniqueDeviceId('secure');
    const recorder = recordDevice(cloud, deviceId);
    await cloud.flush();
    const { configPath } = await enrolledConfig(deviceId, secure.url);
    const agent = await runAgent(configPath);
    try {
      await waitForLog(agent, 'connected');
      await waitForLog(agent, 'hello sent');
      await waitFor(() => recorder.hellos().length > 0 && recorder.heartbeats().length > 1, {
        what: 'hello and heartbeats through the secure server',
      });
      // A nats:// URL with a pinned CA still speaks TLS only.
      expect(agent.output()).not.toContain('PERMISSIONS_VIOLATION');
      expect(agent.output()).not.toContain(readFileSync(configPath.replace('agent.json', 'device.creds'), 'utf8'));
    } finally {
      recorder.stop();
      await agent.stop();
    }
  });

  it('refuses a server that offers plaintext only', async () => {
    const deviceId = uniqueDeviceId('plaintext');
    const { configPath } = await enrolledConfig(deviceId, plain.url);
    const agent = await runAgent(configPath);
    const failures = await waitForLog(agent, 'connect failed; retrying');
    expect(JSON.stringify(failures[0])).toMatch(/tls/i);
    expect(agent.output()).not.toContain('"msg":"connected"');
    await agent.stop();
  });

  it('keeps retrying, without crashing, once its credential was revoked', async () => {
    const deviceId = uniqueDeviceId('revoked');
    const { configPath, creds } = await enrolledConfig(deviceId, secure.url);
    const agent = await runAgent(configPath);
    await waitForLog(agent, 'connected');
    await secure.revoke(creds.publicKey);
    await waitForLog(agent, 'disconnected');
    expect(agent.output()).not.toMatch(/"level":60/);
    await agent.stop();
  });

  it('names a missing creds or CA file in its configuration error', async () => {
    const dir = makeTempDir();
    const configPath = writeConfig(dir, {
      deviceId: 'missing-files',
      natsUrl: secure.url,
      stateDir: 'state',
      credsFile: 'nope.creds',
      caFile: 'nope.pem',
    });
    const result = await runCli(['run', '--config', configPath]);
    expect(result.code).toBe(2);
    expect(result.output).toContain(`credsFile: ${join(dir, 'nope.creds')} not found`);
    expect(result.output).toContain(`caFile: ${join(dir, 'nope.pem')} not found`);
  });
});
