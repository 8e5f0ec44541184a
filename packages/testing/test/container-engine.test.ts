import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONTAINER_ENGINE_UNAVAILABLE, isAlive, startContainerEngine } from '../src/index.js';

function get(socketPath: string, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path }, (res) => {
      let body = '';
      res.on('data', (chunk) => {
        body += chunk;
      });
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('startContainerEngine', () => {
  it('runs a private podman with a busybox image, raised ulimits and its own network, and leaves nothing behind', async () => {
    const engine = await startContainerEngine();
    let stopped = false;
    try {
      expect(engine.dockerHost).toBe(`unix://${engine.socketPath}`);
      expect(JSON.parse(await get(engine.socketPath, '/v1.40/version')).Version).toMatch(/^\d+\.\d+/);
      const output = await engine.podman([
        'run',
        '--rm',
        engine.image,
        'sh',
        '-c',
        'echo "nofile=$(ulimit -n)"; ip -4 -o addr show eth0 2>/dev/null || ip -4 -o addr',
      ]);
      expect(output).toContain('nofile=20000');
      // Its own subnet, not podman's shared default 10.88.0.0/16.
      expect(output).toMatch(/inet 10\.9\d\.\d+\.\d+\/24/);
      await engine.podman(['run', '-d', '--name', 'left-running', engine.image, 'sleep', '600']);
      const dir = engine.dir;
      const pid = engine.pid;
      await engine.stop();
      stopped = true;
      expect(isAlive(pid)).toBe(false);
      expect(existsSync(dir)).toBe(false);
      expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(dir);
      // No conmon or container process of this engine is left.
      const leftovers = readdirSync('/proc')
        .filter((entry) => /^\d+$/.test(entry))
        .filter((entry) => {
          try {
            return readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(`${dir}/`);
          } catch {
            return false;
          }
        });
      expect(leftovers).toEqual([]);
    } finally {
      if (!stopped) await engine.stop();
    }
  });

  it('fails loudly, saying why and how to fix it, when podman is missing', () => {
    // A PATH with a shell and nothing else: the fixture must not find podman.
    const bin = mkdtempSync(join(tmpdir(), 'outpost-no-podman-'));
    try {
      symlinkSync('/bin/sh', join(bin, 'sh'));
      const script = `import(${JSON.stringify(new URL('../dist/index.js', import.meta.url).pathname)}).then((m) => m.startContainerEngine()).then(() => console.log('started'), (e) => console.log(e.message))`;
      const message = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
        env: { PATH: bin },
        encoding: 'utf8',
      });
      expect(message.startsWith(`${CONTAINER_ENGINE_UNAVAILABLE} podman is not on PATH`)).toBe(true);
      expect(message).toContain('apt-get install podman runc');
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });
});
