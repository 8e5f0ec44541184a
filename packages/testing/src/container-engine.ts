import { execFile, spawnSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killByPid, type SpawnedProcess, spawnProcess } from './process.js';
import { waitFor } from './wait.js';

export interface ContainerEngineOptions {
  /** Tag of the busybox image built for the tests (default `localhost/outpost-test/busybox:1`). */
  image?: string;
  /** Echo the engine's log to stderr. */
  echo?: boolean;
}

export interface ContainerEngineHandle {
  /** For DOCKER_HOST or the agent's `containers.dockerHost`: `unix://<dir>/podman.sock`. */
  readonly dockerHost: string;
  readonly socketPath: string;
  /** A local image with busybox and its applets (sh, sleep, echo, cat, nc, httpd, wget, ...) in /bin. */
  readonly image: string;
  /** Temp dir holding the engine's storage, config and socket. */
  readonly dir: string;
  readonly pid: number;
  /** Runs the podman CLI against this engine's storage; resolves with stdout, rejects with stderr on failure. */
  podman(args: readonly string[]): Promise<string>;
  /** Builds another image (its own id) from the busybox rootfs under this tag, e.g. to have an image to clean up. */
  importImage(tag: string): Promise<void>;
  /** The engine's log so far. */
  output(): string;
  /** Removes every container of this engine, stops the service (by PID) and deletes the temp dir. */
  stop(): Promise<void>;
}

export const CONTAINER_ENGINE_UNAVAILABLE = 'CONTAINER ENGINE UNAVAILABLE:';
const INSTALL_HINT =
  'install it with `apt-get install podman runc netavark iptables busybox-static` (Debian) and run the tests as root';
const BUSYBOX = '/bin/busybox';

function unavailable(why: string): Error {
  return new Error(`${CONTAINER_ENGINE_UNAVAILABLE} ${why}; ${INSTALL_HINT}`);
}

function onPath(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' }).status === 0;
}

function ping(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: '/_ping', method: 'GET', timeout: 2_000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

/**
 * Starts a private rootful `podman system service` (Docker Engine API) with its own storage under a temp dir and
 * builds a busybox image locally (no registry is reachable from CI).
 *
 * podman 4.3 + runc from Debian runs containers on this kind of machine only with `--runtime runc` and raised ulimits.
 * Containers created through the API get the ulimits from a containers.conf (`default_ulimits`, given to every podman
 * call through CONTAINERS_CONF), so the driver under test passes no test-only HostConfig. Throws an error starting
 * with `CONTAINER ENGINE UNAVAILABLE:` saying why and how to fix it when the engine cannot run: tests fail, never skip.
 */
export async function startContainerEngine(options: ContainerEngineOptions = {}): Promise<ContainerEngineHandle> {
  if (process.platform !== 'linux') throw unavailable(`podman system service needs Linux, not ${process.platform}`);
  for (const tool of ['podman', 'runc']) {
    if (!onPath(tool)) throw unavailable(`${tool} is not on PATH`);
  }
  // The private test network is written in netavark's format; a CNI-only podman would not find it.
  if (!existsSync('/usr/lib/podman/netavark') && !onPath('netavark')) {
    throw unavailable("netavark (podman's network backend) is missing");
  }
  if (!existsSync(BUSYBOX))
    throw unavailable(`${BUSYBOX} (busybox-static) is missing, the test image is built from it`);
  if (process.getuid?.() !== 0) throw unavailable('the tests run rootful podman and need root (uid 0)');

  const image = options.image ?? 'localhost/outpost-test/busybox:1';
  const dir = mkdtempSync(join(tmpdir(), 'outpost-podman-'));
  const socketPath = join(dir, 'podman.sock');
  const confPath = join(dir, 'containers.conf');
  const network = writePrivateNetwork(dir);
  writeFileSync(
    confPath,
    [
      '[containers]',
      'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]',
      '[engine]',
      'runtime = "runc"',
      '[network]',
      `default_network = "${network.name}"`,
      `network_config_dir = "${network.configDir}"`,
      '',
    ].join('\n'),
  );
  const env = { ...process.env, CONTAINERS_CONF: confPath };
  // --tmpdir too: podman's default (/run/libpod) is shared by every podman on the machine.
  const globalArgs = [
    ...['--root', join(dir, 'root'), '--runroot', join(dir, 'runroot'), '--tmpdir', join(dir, 'tmp')],
    ...['--runtime', 'runc'],
  ];

  const podman = (args: readonly string[]): Promise<string> =>
    new Promise((resolve, reject) => {
      execFile('podman', [...globalArgs, ...args], { env, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`podman ${args.join(' ')} failed: ${stderr.trim() || err.message}`));
        else resolve(stdout);
      });
    });

  let service: SpawnedProcess;
  try {
    service = await spawnProcess(
      'podman',
      [...globalArgs, 'system', 'service', '--time', '0', `unix://${socketPath}`],
      { env, echo: options.echo },
    );
  } catch (err) {
    cleanupDir(dir);
    throw unavailable(`podman system service could not be started (${(err as Error).message})`);
  }

  const stopService = async () => {
    await service.stop('SIGTERM', 10_000);
  };
  try {
    await waitFor(
      async () => {
        if (service.child.exitCode !== null || service.child.signalCode !== null) {
          throw new Error(`podman system service exited: ${service.output().slice(-2000)}`);
        }
        return ping(socketPath);
      },
      { timeoutMs: 30_000, intervalMs: 100, what: `podman system service answering GET /_ping on ${socketPath}` },
    );
  } catch (err) {
    await stopService();
    cleanupDir(dir);
    throw unavailable((err as Error).message);
  }

  const rootfsTar = buildBusyboxRootfs(dir);
  const importImage = async (tag: string) => {
    // The label gives each tag its own image id: one rootfs imported twice in a second is otherwise the same image.
    await podman(['import', '--change', `LABEL io.outpost.test.image=${tag}`, rootfsTar, tag]);
  };
  try {
    await importImage(image);
  } catch (err) {
    await stopService();
    cleanupDir(dir);
    throw unavailable(`the test image could not be built with podman import: ${(err as Error).message}`);
  }

  let stopped = false;
  return {
    dockerHost: `unix://${socketPath}`,
    socketPath,
    image,
    dir,
    pid: service.pid,
    podman,
    importImage,
    output: () => service.output(),
    async stop() {
      if (stopped) return;
      stopped = true;
      // Containers run under conmon, outside the service process: remove them through the engine, or they outlive it.
      await podman(['rm', '--all', '--force', '--time', '0']).catch(() => {});
      await stopService();
      killLeftovers(dir);
      cleanupDir(dir);
    },
  };
}

/**
 * Each engine gets its own bridge (interface and subnet): engines of test files running in parallel would otherwise
 * share podman0 and hand out the same addresses from 10.88.0.0/16. podman 4.3 has no `network create --interface-name`,
 * so the network's definition is written as netavark reads it.
 */
function writePrivateNetwork(dir: string): { name: string; configDir: string } {
  const configDir = join(dir, 'networks');
  mkdirSync(configDir, { recursive: true });
  const suffix = randomBytes(3).toString('hex');
  const name = `outpost-test-${suffix}`;
  const inUse = spawnSync('ip', ['-4', '-o', 'addr'], { encoding: 'utf8' }).stdout ?? '';
  let subnet = '';
  for (let attempt = 0; attempt < 50 && subnet === ''; attempt++) {
    const prefix = `10.${90 + randomInt(10)}.${randomInt(256)}`;
    if (!inUse.includes(` ${prefix}.`)) subnet = prefix;
  }
  if (subnet === '') throw unavailable('no free 10.9x.y.0/24 subnet for a private test network');
  writeFileSync(
    join(configDir, `${name}.json`),
    JSON.stringify({
      name,
      id: randomBytes(32).toString('hex'),
      driver: 'bridge',
      network_interface: `outpost${suffix}`,
      created: new Date().toISOString(),
      subnets: [{ subnet: `${subnet}.0/24`, gateway: `${subnet}.1` }],
      ipv6_enabled: false,
      internal: false,
      dns_enabled: false,
      ipam_options: { driver: 'host-local' },
    }),
  );
  return { name, configDir };
}

/**
 * conmon processes of exec sessions linger (podman's exit delay) after their container is gone; they are ours when
 * their command line names our temp dir. Killed by PID.
 */
function killLeftovers(dir: string): void {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (cmdline.includes(`${dir}/`)) killByPid(Number(entry), 'SIGKILL');
  }
}

/** A rootfs tar with /bin/busybox and a link for each applet, for `podman import`. */
function buildBusyboxRootfs(dir: string): string {
  const rootfs = join(dir, 'rootfs');
  for (const sub of ['bin', 'tmp', 'etc', 'proc', 'sys', 'dev', 'www'])
    mkdirSync(join(rootfs, sub), { recursive: true });
  writeFileSync(join(rootfs, 'bin', 'busybox'), readFileSync(BUSYBOX), { mode: 0o755 });
  const applets = spawnSync(BUSYBOX, ['--list'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
  for (const applet of applets) {
    if (applet !== 'busybox') symlinkSync('busybox', join(rootfs, 'bin', applet));
  }
  writeFileSync(join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/sh\n');
  writeFileSync(join(rootfs, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
  const tarPath = join(dir, 'rootfs.tar');
  const tar = spawnSync('tar', ['-C', rootfs, '-cf', tarPath, '.'], { encoding: 'utf8' });
  if (tar.status !== 0) throw unavailable(`tar could not pack the busybox rootfs: ${tar.stderr}`);
  return tarPath;
}

/**
 * containers/storage keeps its overlay dir mounted privately; unmount what is left under our temp dir (deepest first)
 * before deleting it, so no mount of ours outlives the test.
 */
function cleanupDir(dir: string): void {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((mountPoint) => mountPoint === dir || mountPoint.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const mountPoint of mounts) spawnSync('umount', ['-l', mountPoint]);
  try {
    rmSync(dir, { recursive: true, force: true });
  } catch (err) {
    process.stderr.write(`container engine fixture: could not remove ${dir}: ${(err as Error).message}\n`);
  }
}
