import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { ProcessModule } from '@outpost/manifest';
import { ARTIFACTS_BUCKET, ARTIFACTS_STREAM, artifactRef, subjects } from '@outpost/protocol';
import {
  type NatsServerHandle,
  type SecureNatsServerHandle,
  startNatsServer,
  startSecureNatsServer,
  waitFor,
} from '@outpost/testing';
import { connect, credsAuthenticator, type NatsConnection } from 'nats';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { ArtifactStore } from '../src/artifacts/index.js';
import { ProcessDriver } from '../src/drivers/process/index.js';
import { DriverError } from '../src/runtime/contracts.js';
import { makeTempDir, removeTempDirs } from './helpers.js';

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

/** A dir the `nobody` module user can traverse (mkdtemp makes 0700 dirs). */
function traversableDir(): string {
  const dir = makeTempDir();
  chmodSync(dir, 0o711);
  return dir;
}

/** A tar.gz made with the system tar from `files` (name → content; names ending in '/' are dirs). */
function makeTarball(files: Record<string, string>, extraTarArgs: string[] = []): Buffer {
  const src = makeTempDir();
  for (const [name, content] of Object.entries(files)) {
    const path = join(src, name);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, content, { mode: name.endsWith('.sh') ? 0o700 : 0o600 });
  }
  const out = join(makeTempDir(), 'a.tar.gz');
  execFileSync('tar', ['-czf', out, '-C', src, ...extraTarArgs, ...Object.keys(files)]);
  return readFileSync(out);
}

function storeIn(modulesDir: string, options: Partial<ConstructorParameters<typeof ArtifactStore>[0]> = {}) {
  return new ArtifactStore({ modulesDir, ...options });
}

const isCode = (code: string) => (err: unknown) => err instanceof DriverError && err.code === code;

afterAll(removeTempDirs);

/**
 * A failed fetch must reject with a DriverError and nothing else: no 'error' event or rejection left for the agent's
 * process-wide handlers (which would log it as a crash, or kill the agent). Spied around every test here.
 */
const unhandledRejection = vi.fn();
const uncaughtException = vi.fn();
beforeEach(() => {
  unhandledRejection.mockClear();
  uncaughtException.mockClear();
  process.on('unhandledRejection', unhandledRejection);
  process.on('uncaughtException', uncaughtException);
});
afterEach(() => {
  process.off('unhandledRejection', unhandledRejection);
  process.off('uncaughtException', uncaughtException);
});

/** Lets pending I/O callbacks and ticks run, then checks none of them surfaced an error nobody handled. */
async function expectNothingUnhandled(): Promise<void> {
  for (let turn = 0; turn < 3; turn++) await new Promise<void>((resolve) => setImmediate(resolve));
  expect(unhandledRejection).not.toHaveBeenCalled();
  expect(uncaughtException).not.toHaveBeenCalled();
}

/** Rejects as ARTIFACT_UNAVAILABLE naming the ref and matching `reason`. */
function unavailable(ref: string, reason: RegExp) {
  return (err: unknown) =>
    err instanceof DriverError &&
    err.code === 'ARTIFACT_UNAVAILABLE' &&
    err.message.includes(ref) &&
    reason.test(err.message);
}

describe('ArtifactStore: file refs', () => {
  it('unpacks a tar.gz (detected by content) into a versioned dir readable by modules, and caches it', async () => {
    const tarball = makeTarball({ 'bin/run.sh': '#!/bin/sh\necho from-artifact\n', 'conf/settings.json': '{"a":1}' });
    const file = join(makeTempDir(), 'release-without-extension');
    writeFileSync(file, tarball);
    const modulesDir = join(traversableDir(), 'modules');
    const store = storeIn(modulesDir);
    const digest = sha256(tarball);
    const dir = await store.ensure('sensor', { ref: `file://${file}`, sha256: digest });
    expect(dir).toBe(join(modulesDir, 'sensor', digest.slice(0, 16)));
    expect(readFileSync(join(dir, 'conf', 'settings.json'), 'utf8')).toBe('{"a":1}');
    // 0600/0700 in the archive, but the module user must read them; nobody but the agent writes them.
    expect(statSync(join(dir, 'conf', 'settings.json')).mode & 0o777).toBe(0o644);
    expect(statSync(join(dir, 'bin', 'run.sh')).mode & 0o777).toBe(0o755);
    expect(statSync(join(dir, 'bin', 'run.sh')).uid).toBe(process.getuid?.());
    expect(readFileSync(store.cachedPath(digest))).toEqual(tarball);
  });

  it('stores anything else as one executable file named after the ref', async () => {
    const binary = '#!/bin/sh\necho single\n';
    const file = join(makeTempDir(), 'sensor-bin');
    writeFileSync(file, binary);
    const store = storeIn(join(traversableDir(), 'modules'));
    const dir = await store.ensure('single', { ref: `file://${file}`, sha256: sha256(binary) });
    expect(readdirSync(dir)).toEqual(['sensor-bin']);
    expect(statSync(join(dir, 'sensor-bin')).mode & 0o777).toBe(0o755);
    expect(execFileSync(join(dir, 'sensor-bin'), { encoding: 'utf8' })).toBe('single\n');
  });

  it('refuses an artifact whose sha256 differs, naming both, and leaves nothing behind', async () => {
    const file = join(makeTempDir(), 'tampered');
    writeFileSync(file, 'evil bytes');
    const modulesDir = join(traversableDir(), 'modules');
    const store = storeIn(modulesDir);
    const expected = sha256('good bytes');
    const error = await store.ensure('victim', { ref: `file://${file}`, sha256: expected }).catch((err) => err);
    expect(error).toBeInstanceOf(DriverError);
    expect(error.code).toBe('ARTIFACT_SHA256_MISMATCH');
    expect(error.message).toContain(expected);
    expect(error.message).toContain(sha256('evil bytes'));
    expect(readdirSync(join(modulesDir, '.artifacts'))).toEqual([]);
    expect(existsSync(join(modulesDir, 'victim'))).toBe(false);
  });

  it('refuses archives with entries escaping their dir', async () => {
    const src = makeTempDir();
    writeFileSync(join(src, 'x'), 'x');
    const out = join(makeTempDir(), 'evil.tar');
    // GNU tar keeps `..` in names with -P; the agent must refuse such an archive before extracting anything.
    execFileSync('tar', ['-cPf', out, '-C', src, 'x', `${src}/../${src.split('/').pop()}/x`]);
    const data = readFileSync(out);
    const modulesDir = join(traversableDir(), 'modules');
    const store = storeIn(modulesDir);
    await expect(store.ensure('evil', { ref: `file://${out}`, sha256: sha256(data) })).rejects.toSatisfy(
      isCode('ARTIFACT_UNSAFE'),
    );
    expect(existsSync(join(modulesDir, 'evil'))).toBe(false);

    // A symlink pointing out of the artifact dir (a later entry could write through it).
    const linkSrc = makeTempDir();
    symlinkSync('/etc', join(linkSrc, 'etc-link'));
    const linkTar = join(makeTempDir(), 'link.tar');
    execFileSync('tar', ['-cf', linkTar, '-C', linkSrc, 'etc-link']);
    const linkData = readFileSync(linkTar);
    await expect(store.ensure('linky', { ref: `file://${linkTar}`, sha256: sha256(linkData) })).rejects.toSatisfy(
      (err) => isCode('ARTIFACT_UNSAFE')(err) && (err as Error).message.includes('/etc'),
    );
    expect(existsSync(join(modulesDir, 'linky'))).toBe(false);
  });

  it('a missing file is ARTIFACT_UNAVAILABLE naming the ref and why, nothing unhandled; a bad ref is ARTIFACT_REF_INVALID', async () => {
    const modulesDir = join(traversableDir(), 'modules');
    const store = storeIn(modulesDir);
    const digest = sha256('x');
    const ref = 'file:///no/such/artifact';
    await expect(store.ensure('m', { ref, sha256: digest })).rejects.toSatisfy(unavailable(ref, /ENOENT|no such file/));
    await expectNothingUnhandled();
    await expect(store.ensure('m', { ref: 'ftp://host/a', sha256: digest })).rejects.toSatisfy(
      isCode('ARTIFACT_REF_INVALID'),
    );
    // Nothing half-downloaded is left, and the store still works.
    expect(readdirSync(join(modulesDir, '.artifacts'))).toEqual([]);
    const file = join(makeTempDir(), 'good');
    writeFileSync(file, 'x');
    expect(existsSync(await store.ensure('m', { ref: `file://${file}`, sha256: digest }))).toBe(true);
  });

  it('a path that cannot be read as a file (a dir, a fifo, a read error) is ARTIFACT_UNAVAILABLE, nothing unhandled', async () => {
    const modulesDir = join(traversableDir(), 'modules');
    const store = storeIn(modulesDir);
    const digest = sha256('x');
    const dir = makeTempDir();
    await expect(store.ensure('m', { ref: `file://${dir}`, sha256: digest })).rejects.toSatisfy(
      unavailable(`file://${dir}`, /is a directory/),
    );
    // A fifo nobody writes to would block a plain open forever.
    const fifo = join(makeTempDir(), 'fifo');
    execFileSync('mkfifo', [fifo]);
    await expect(store.ensure('m', { ref: `file://${fifo}`, sha256: digest })).rejects.toSatisfy(
      unavailable(`file://${fifo}`, /not a regular file/),
    );
    // A regular file whose read fails (EIO at offset 0 of a process's memory) once the stream is flowing.
    await expect(store.ensure('m', { ref: 'file:///proc/self/mem', sha256: digest })).rejects.toSatisfy(
      unavailable('file:///proc/self/mem', /EIO/),
    );
    await expectNothingUnhandled();
    expect(readdirSync(join(modulesDir, '.artifacts'))).toEqual([]);
    expect(existsSync(join(modulesDir, 'm'))).toBe(false);
  });

  it('cleanup deletes what no kept module uses', async () => {
    const modulesDir = join(traversableDir(), 'modules');
    const store = storeIn(modulesDir);
    const refs = ['one', 'two'].map((content) => {
      const file = join(makeTempDir(), content);
      writeFileSync(file, content);
      return { ref: `file://${file}`, sha256: sha256(content) };
    });
    const [one, two] = refs as [(typeof refs)[0], (typeof refs)[0]];
    const dirOne = await store.ensure('a', one);
    const dirTwo = await store.ensure('a', two);
    const dirB = await store.ensure('b', two);
    await store.cleanup(new Map([['a', two.sha256]]));
    expect(existsSync(dirOne)).toBe(false);
    expect(existsSync(dirTwo)).toBe(true);
    expect(existsSync(dirB)).toBe(false);
    expect(existsSync(store.cachedPath(one.sha256))).toBe(false);
    expect(existsSync(store.cachedPath(two.sha256))).toBe(true);

    // Work in progress (a download, an unpack) is left alone; the same left over by a crash an hour ago is not.
    const fresh = [join(modulesDir, '.artifacts', '.download-fresh'), `${dirTwo}.unpack-fresh`];
    const stale = [join(modulesDir, '.artifacts', '.download-stale'), `${dirTwo}.unpack-stale`];
    for (const path of [...fresh, ...stale]) mkdirSync(path);
    const hourAgo = new Date(Date.now() - 2 * 3600_000);
    for (const path of stale) utimesSync(path, hourAgo, hourAgo);
    await store.cleanup(new Map([['a', two.sha256]]));
    expect(fresh.map(existsSync)).toEqual([true, true]);
    expect(stale.map(existsSync)).toEqual([false, false]);
  });
});

describe('ArtifactStore: https refs', () => {
  let server: Server;
  let caFile: string;
  let baseUrl: string;
  let requests = 0;
  const body = makeTarball({ 'hello.txt': 'over https' });

  beforeAll(async () => {
    const dir = makeTempDir();
    caFile = join(dir, 'cert.pem');
    const keyFile = join(dir, 'key.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        keyFile,
        '-out',
        caFile,
      ],
      { stdio: 'ignore' },
    );
    server = createServer({ key: readFileSync(keyFile), cert: readFileSync(caFile) }, (req, res) => {
      requests++;
      if (req.url === '/moved') {
        res.writeHead(302, { location: '/artifact.tgz' }).end();
      } else if (req.url === '/artifact.tgz') {
        res.writeHead(200).end(body);
      } else if (req.url === '/truncated') {
        // Promises more than it sends, then drops the connection mid-body.
        res.writeHead(200, { 'content-length': String(body.length * 10) });
        res.write(body, () => res.destroy());
      } else if (req.url === '/moved-to-truncated') {
        res.writeHead(302, { location: '/truncated' }).end();
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return () => new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('downloads over https with an extra CA, following a redirect, and only once', async () => {
    const store = storeIn(join(traversableDir(), 'modules'), { httpsCaFile: caFile });
    const before = requests;
    const dir = await store.ensure('web', { ref: `${baseUrl}/moved`, sha256: sha256(body) });
    expect(readFileSync(join(dir, 'hello.txt'), 'utf8')).toBe('over https');
    expect(requests - before).toBe(2);
    await store.ensure('web', { ref: `${baseUrl}/moved`, sha256: sha256(body) });
    expect(requests - before).toBe(2);
  });

  it('refuses a server it does not trust, and a 404, as ARTIFACT_UNAVAILABLE', async () => {
    const untrusting = storeIn(join(traversableDir(), 'modules'));
    await expect(untrusting.ensure('web', { ref: `${baseUrl}/artifact.tgz`, sha256: sha256(body) })).rejects.toSatisfy(
      (err) => isCode('ARTIFACT_UNAVAILABLE')(err) && /certificate/i.test((err as Error).message),
    );
    const trusting = storeIn(join(traversableDir(), 'modules'), { httpsCaFile: caFile });
    await expect(trusting.ensure('web', { ref: `${baseUrl}/missing`, sha256: sha256(body) })).rejects.toSatisfy(
      (err) => isCode('ARTIFACT_UNAVAILABLE')(err) && (err as Error).message.includes('404'),
    );
    await expectNothingUnhandled();
  });

  it('a body cut off mid-download, or a server that is not there, is ARTIFACT_UNAVAILABLE, nothing unhandled', async () => {
    const modulesDir = join(traversableDir(), 'modules');
    const store = storeIn(modulesDir, { httpsCaFile: caFile });
    for (const path of ['/truncated', '/moved-to-truncated']) {
      const ref = `${baseUrl}${path}`;
      await expect(store.ensure('web', { ref, sha256: sha256(body) })).rejects.toSatisfy(
        unavailable(ref, /aborted|ECONNRESET|socket hang up|premature close/i),
      );
    }
    // A port nobody listens on (a server closed right after it got its port).
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const refused = `https://127.0.0.1:${port}/artifact.tgz`;
    await expect(store.ensure('web', { ref: refused, sha256: sha256(body) })).rejects.toSatisfy(
      unavailable(refused, /ECONNREFUSED/),
    );
    await expectNothingUnhandled();
    expect(readdirSync(join(modulesDir, '.artifacts'))).toEqual([]);
  });
});

describe('ArtifactStore: object store refs', () => {
  let nats: NatsServerHandle;
  let nc: NatsConnection;

  beforeAll(async () => {
    nats = await startNatsServer({ jetstream: true });
    nc = await connect({ servers: nats.url });
    return async () => {
      await nc.close();
      await nats.stop();
    };
  });

  it('fetches os://bucket/name on the current connection, then boots offline from the cached copy', async () => {
    const tarball = makeTarball({ 'run.sh': '#!/bin/sh\necho from-object-store\n' });
    const objects = await nc.jetstream().views.os('outpost-artifacts');
    await objects.putBlob({ name: 'sensor-1.0.tgz' }, tarball);
    const ref = artifactRef('sensor-1.0.tgz');
    const digest = sha256(tarball);

    let connection: NatsConnection | null = nc;
    const modulesDir = join(traversableDir(), 'modules');
    const store = storeIn(modulesDir, { connection: () => connection });
    const dir = await store.ensure('sensor', { ref, sha256: digest });
    expect(readFileSync(join(dir, 'run.sh'), 'utf8')).toContain('from-object-store');

    // Offline, after the unpacked dir was cleaned: the cached download is enough.
    connection = null;
    await store.cleanup(new Map([['sensor', digest]]));
    await store.cleanup(new Map([['other', digest]]));
    expect(existsSync(dir)).toBe(false);
    expect(await store.ensure('sensor', { ref, sha256: digest })).toBe(dir);
    expect(existsSync(join(dir, 'run.sh'))).toBe(true);

    // Offline without a cached copy: unavailable, saying why.
    const fresh = storeIn(join(traversableDir(), 'modules'), { connection: () => null });
    await expect(fresh.ensure('sensor', { ref, sha256: digest })).rejects.toSatisfy(
      (err) => isCode('ARTIFACT_UNAVAILABLE')(err) && (err as Error).message.includes('not connected'),
    );
    // Online, an object that is not there.
    const online = storeIn(join(traversableDir(), 'modules'), { connection: () => nc });
    await expect(online.ensure('sensor', { ref: artifactRef('missing.tgz'), sha256: digest })).rejects.toSatisfy(
      (err) => isCode('ARTIFACT_UNAVAILABLE')(err) && (err as Error).message.includes('missing.tgz'),
    );
    // A connection that has been closed.
    const closed = await connect({ servers: nats.url });
    await closed.close();
    const stale = storeIn(join(traversableDir(), 'modules'), { connection: () => closed });
    await expect(stale.ensure('sensor', { ref, sha256: digest })).rejects.toSatisfy(unavailable(ref, /not connected/));
    await expectNothingUnhandled();
  });

  it('a process module runs its command from its unpacked artifact, as the module user', async () => {
    const tarball = makeTarball({
      'bin/run.sh': '#!/bin/sh\necho "running $(id -u) in $(pwd)"; cat conf.txt\n',
      'conf.txt': 'configured',
    });
    const objects = await nc.jetstream().views.os('outpost-artifacts');
    await objects.putBlob({ name: 'app-2.tgz' }, tarball);
    const modulesDir = join(traversableDir(), 'modules');
    const driver = new ProcessDriver({
      modulesDir,
      deviceId: 'dev-art',
      moduleUser: 'nobody',
      logger: pino({ level: 'silent' }),
      connection: () => nc,
    });
    const exits: Array<number | null> = [];
    driver.onExit((_name, code) => exits.push(code));
    const module = ProcessModule.parse({
      type: 'process',
      process: { command: 'bin/run.sh', artifact: { ref: artifactRef('app-2.tgz'), sha256: sha256(tarball) } },
    });
    try {
      await driver.prepare('app', module);
      await driver.createAndStart('app', module, 'spec-app');
      await waitFor(() => exits.length > 0, { what: 'exit' });
      const dir = join(modulesDir, 'app', sha256(tarball).slice(0, 16));
      const uid = process.getuid?.() === 0 ? 65534 : process.getuid?.();
      expect((await driver.logs('app', {})).map((l) => l.text)).toEqual([`running ${uid} in ${dir}`, 'configured']);
      expect(exits).toEqual([0]);
      // Cleanup keeps what the deployment uses.
      await driver.cleanup(new Map([['app', module]]));
      expect(existsSync(dir)).toBe(true);
      await driver.remove('app', 1_000);
      await driver.cleanup(new Map());
      expect(existsSync(dir)).toBe(false);
      expect(readdirSync(join(modulesDir, '.artifacts'))).toEqual([]);
    } finally {
      await driver.close();
    }
  });
});

describe('ArtifactStore: object store refs with a device credential (operator mode)', () => {
  let nats: SecureNatsServerHandle;
  let cloud: NatsConnection;
  let device: NatsConnection;
  /** Permission violations the server reported on the device's connection. */
  const violations: string[] = [];

  beforeAll(async () => {
    nats = await startSecureNatsServer();
    cloud = await connect({
      servers: nats.url,
      tls: { caFile: nats.caFile },
      authenticator: credsAuthenticator(readFileSync(nats.serviceCreds.cloudApi)),
      inboxPrefix: subjects.cloudApi.inboxPrefix,
    });
    const creds = await nats.mintDeviceCreds('artifact-device-01');
    device = await connect({
      servers: nats.url,
      tls: { caFile: nats.caFile },
      authenticator: credsAuthenticator(readFileSync(creds.credsFile)),
      inboxPrefix: subjects.device.inboxPrefix('artifact-device-01'),
    });
    void (async () => {
      for await (const status of device.status()) {
        if (status.type === 'error' && status.data === 'PERMISSIONS_VIOLATION') violations.push(String(status.data));
      }
    })();
    return async () => {
      await device.close();
      await cloud.close();
      await nats.stop();
    };
  });

  /** Stores `bytes` as the cloud API does (nats.js's object store, here in small chunks). */
  async function put(name: string, bytes: Buffer, chunkSize = 16 * 1024): Promise<void> {
    const objects = await cloud.jetstream().views.os(ARTIFACTS_BUCKET);
    await objects.putBlob({ name, options: { max_chunk_size: chunkSize } }, bytes);
  }

  it('fetches a multi-chunk object with direct gets only, byte for byte', async () => {
    const bytes = randomBytes(1024 * 1024 + 123);
    await put('big-1.0.bin', bytes);
    const store = storeIn(join(traversableDir(), 'modules'), { connection: () => device });
    const cached = await store.fetch({ ref: artifactRef('big-1.0.bin'), sha256: sha256(bytes) });
    expect(readFileSync(cached).equals(bytes)).toBe(true);
    // 65 chunks read without one refused call: the device's grant (DIRECT.GET) is all it takes.
    await device.flush();
    expect(violations).toEqual([]);
    await expectNothingUnhandled();
  });

  it('a missing, deleted or truncated object, or another bucket, is ARTIFACT_UNAVAILABLE naming the ref', async () => {
    const bytes = randomBytes(100 * 1024);
    const digest = sha256(bytes);
    const store = () => storeIn(join(traversableDir(), 'modules'), { connection: () => device });

    const missing = artifactRef('missing-2.0.bin');
    await expect(store().fetch({ ref: missing, sha256: digest })).rejects.toSatisfy(
      unavailable(missing, /no object "missing-2\.0\.bin" in outpost-artifacts/),
    );

    await put('deleted.bin', bytes);
    await (await cloud.jetstream().views.os(ARTIFACTS_BUCKET)).delete('deleted.bin');
    const deleted = artifactRef('deleted.bin');
    await expect(store().fetch({ ref: deleted, sha256: digest })).rejects.toSatisfy(unavailable(deleted, /deleted/));

    // Chunks lost from the stream (purged, all but the last 2 of 7): a 404 part-way through.
    await put('truncated.bin', bytes);
    const info = await (await cloud.jetstream().views.os(ARTIFACTS_BUCKET)).info('truncated.bin');
    await (await cloud.jetstreamManager()).streams.purge(ARTIFACTS_STREAM, {
      filter: `$O.${ARTIFACTS_BUCKET}.C.${info?.nuid}`,
      keep: 2,
    });
    const truncated = artifactRef('truncated.bin');
    await expect(store().fetch({ ref: truncated, sha256: digest })).rejects.toSatisfy(
      unavailable(truncated, /truncated: 2 of 7 chunks/),
    );

    const elsewhere = artifactRef('big-1.0.bin', 'other-bucket');
    await expect(store().fetch({ ref: elsewhere, sha256: digest })).rejects.toSatisfy(
      unavailable(elsewhere, /only the outpost-artifacts bucket/),
    );
    await expectNothingUnhandled();
  });
});
