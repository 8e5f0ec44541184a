import { existsSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { type NatsServerHandle, spawnProcess, startNatsServer, waitFor } from '@outpost/testing';
import { connect, type NatsConnection } from 'nats';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { killAgents, makeTempDir, recordDevice, removeTempDirs, startAgent, uniqueDeviceId } from './helpers.js';

const WORKSPACE_ROOT = new URL('../../../', import.meta.url).pathname;

let server: NatsServerHandle | undefined;
let nc: NatsConnection | undefined;

afterEach(killAgents);

afterAll(async () => {
  await nc?.close();
  await server?.stop();
  removeTempDirs();
});

describe('pnpm deploy', () => {
  it('produces a self-contained directory whose dist/cli.js runs the agent', { timeout: 180_000 }, async () => {
    const target = join(makeTempDir(), 'outpost-agent');
    const deploy = await spawnProcess('pnpm', ['--filter', '@outpost/edge-agent', 'deploy', '--prod', target], {
      cwd: WORKSPACE_ROOT,
    });
    const code = await deploy.exited;
    expect(code, deploy.output()).toBe(0);

    const cli = join(target, 'dist', 'cli.js');
    expect(existsSync(cli)).toBe(true);
    // Workspace packages are copied in, not linked back to the checkout, and dev dependencies stay out.
    expect(realpathSync(join(target, 'node_modules', '@outpost', 'protocol')).startsWith(realpathSync(target))).toBe(
      true,
    );
    expect(existsSync(join(target, 'node_modules', 'vitest'))).toBe(false);

    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    const deviceId = uniqueDeviceId('deployed');
    const recorder = recordDevice(nc, deviceId);
    await nc.flush();
    const agent = await startAgent({ natsUrl: server.url, deviceId, cliPath: cli });
    const hello = await waitFor(() => recorder.hellos()[0], { what: 'hello from the deployed agent' });
    expect(hello.agentVersion).toMatch(/^\d+\.\d+\.\d+/);
    expect(await agent.proc.stop('SIGTERM', 20_000)).toBe(0);
  });
});
