import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, constants as fsConstants } from 'node:fs';
import { access, chmod, mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { basename, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { rootCertificates } from 'node:tls';
import { gunzipSync } from 'node:zlib';
import { type ParsedArtifactRef, parseArtifactRef } from '@outpost/protocol';
import type { NatsConnection } from 'nats';
import { errorMessage } from '../errors.js';
import { DriverError } from '../runtime/contracts.js';
import { openObject } from './object-store-reader.js';

/** A process module's artifact as the manifest gives it. */
export interface ArtifactSpec {
  readonly ref: string;
  readonly sha256: string;
}

export interface ArtifactStoreOptions {
  /** The agent's modulesDir: cached artifacts go to `<dir>/.artifacts`, unpacked ones to `<dir>/<module>/<sha16>`. */
  readonly modulesDir: string;
  /** The agent's current NATS connection (null while offline), for os:// refs. */
  readonly connection?: () => NatsConnection | null;
  /** A PEM file of extra CAs trusted for https:// refs, besides the system ones. */
  readonly httpsCaFile?: string;
}

const CACHE_DIR = '.artifacts';
const SHA16 = /^[0-9a-f]{16}$/;
const HTTPS_REDIRECTS = 5;
const STALE_TEMP_MS = 60 * 60 * 1000;

/**
 * Fetches, verifies and unpacks process modules' artifacts. Downloads are content-addressed by their sha256, so a
 * device that fetched an artifact once boots offline from its cached copy, and two modules with the same artifact
 * share it. Nothing unverified is ever left where a module could run it.
 */
export class ArtifactStore {
  readonly #modulesDir: string;
  readonly #connection: () => NatsConnection | null;
  readonly #httpsCaFile: string | undefined;
  /** One fetch per sha256 at a time: concurrent prepares of two modules sharing an artifact wait for the same one. */
  readonly #inflight = new Map<string, Promise<string>>();

  constructor(options: ArtifactStoreOptions) {
    this.#modulesDir = options.modulesDir;
    this.#connection = options.connection ?? (() => null);
    this.#httpsCaFile = options.httpsCaFile;
  }

  /** Where the verified download of `sha256` is kept. */
  cachedPath(sha256: string): string {
    return join(this.#modulesDir, CACHE_DIR, sha256);
  }

  /** Where a module's artifact is unpacked: versioned by the artifact's content. */
  versionDir(moduleName: string, sha256: string): string {
    return join(this.#modulesDir, moduleName, sha256.slice(0, 16));
  }

  /**
   * Makes sure `artifact` is downloaded, verified and unpacked for `moduleName`; returns the unpacked dir (readable
   * by everyone, writable by the agent only). Does nothing when the dir is already there.
   */
  async ensure(moduleName: string, artifact: ArtifactSpec): Promise<string> {
    const dir = this.versionDir(moduleName, artifact.sha256);
    if (await exists(dir)) return dir;
    const cached = await this.fetch(artifact);
    await this.#unpack(cached, artifact.ref, dir);
    return dir;
  }

  /** Downloads the artifact into the cache unless it is there; returns the cached file. */
  async fetch(artifact: ArtifactSpec): Promise<string> {
    const cached = this.cachedPath(artifact.sha256);
    if (await exists(cached)) return cached;
    const running = this.#inflight.get(artifact.sha256);
    if (running) return running;
    const download = this.#download(artifact, cached).finally(() => this.#inflight.delete(artifact.sha256));
    this.#inflight.set(artifact.sha256, download);
    return download;
  }

  async #download(artifact: ArtifactSpec, cached: string): Promise<string> {
    const parsed = parseArtifactRef(artifact.ref);
    if ('error' in parsed) throw new DriverError('ARTIFACT_REF_INVALID', parsed.error);
    const cacheDir = join(this.#modulesDir, CACHE_DIR);
    await mkdir(cacheDir, { recursive: true, mode: 0o700 });
    const temp = join(cacheDir, `.download-${randomBytes(6).toString('hex')}`);
    try {
      const source = await this.#open(parsed, artifact.ref);
      const hash = createHash('sha256');
      const hashing = new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          hash.update(chunk);
          callback(null, chunk);
        },
      });
      await pipeline(source, hashing, createWriteStream(temp, { mode: 0o600 }));
      await fsyncFile(temp);
      const actual = hash.digest('hex');
      if (actual !== artifact.sha256) {
        throw new DriverError(
          'ARTIFACT_SHA256_MISMATCH',
          `artifact ${artifact.ref}: sha256 is ${actual}, the manifest expects ${artifact.sha256}; refused`,
        );
      }
      await rename(temp, cached);
      await fsyncDir(cacheDir);
      return cached;
    } catch (err) {
      await rm(temp, { force: true });
      if (err instanceof DriverError) throw err;
      throw new DriverError('ARTIFACT_UNAVAILABLE', `artifact ${artifact.ref}: ${errorMessage(err)}`, { cause: err });
    }
  }

  /**
   * The artifact's bytes. Every stream returned has an error listener from the moment it exists: an error before
   * `pipeline` is attached (a file that cannot be read, a connection reset) must fail the download, never surface as
   * an uncaught 'error' event; pipeline still sees the error (the stream is then destroyed with it).
   */
  async #open(parsed: ParsedArtifactRef, ref: string): Promise<Readable> {
    switch (parsed.kind) {
      case 'file':
        return guarded(await openRegularFile(parsed.path));
      case 'https':
        return this.#https(parsed.url, HTTPS_REDIRECTS);
      case 'object-store': {
        const nc = this.#connection();
        if (!nc || nc.isClosed()) {
          throw new DriverError(
            'ARTIFACT_UNAVAILABLE',
            `artifact ${ref}: not cached on this device and the agent is not connected to the cloud`,
          );
        }
        // Direct gets only (ADR 0012): a device credential may make no other JetStream call.
        return guarded(await openObject(nc, parsed.bucket, parsed.name, ref));
      }
    }
  }

  async #https(url: string, redirectsLeft: number): Promise<Readable> {
    const ca = this.#httpsCaFile ? [...rootCertificates, await readFile(this.#httpsCaFile, 'utf8')] : undefined;
    const response = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
      const req = httpsRequest(url, { ca, timeout: 30_000 }, (res) => resolve(guarded(res)));
      req.on('timeout', () => req.destroy(new Error('no answer within 30 s')));
      req.on('error', reject);
      req.end();
    });
    const status = response.statusCode ?? 0;
    if (status >= 300 && status < 400 && response.headers.location && redirectsLeft > 0) {
      response.resume();
      const next = new URL(response.headers.location, url);
      if (next.protocol !== 'https:') throw new Error(`redirected to ${next.protocol} (only https is followed)`);
      return this.#https(next.href, redirectsLeft - 1);
    }
    if (status !== 200) {
      response.resume();
      throw new Error(`GET ${url} answered ${status}`);
    }
    return response;
  }

  /** Unpacks into a temp dir next to `dir`, then renames it into place, so `dir` exists only when complete. */
  async #unpack(cached: string, ref: string, dir: string): Promise<void> {
    const tarball = await isTarball(cached);
    if (tarball) await checkTarEntries(cached, ref);
    const parent = join(dir, '..');
    await mkdir(parent, { recursive: true, mode: 0o711 });
    const temp = `${dir}.unpack-${randomBytes(4).toString('hex')}`;
    await mkdir(temp, { mode: 0o755 });
    try {
      if (tarball) {
        await run('tar', ['-x', '--no-same-owner', '-f', cached, '-C', temp], ref);
      } else {
        const parsed = parseArtifactRef(ref);
        const name =
          'error' in parsed
            ? 'artifact'
            : basename(
                parsed.kind === 'https'
                  ? new URL(parsed.url).pathname
                  : parsed.kind === 'file'
                    ? parsed.path
                    : parsed.name,
              ) || 'artifact';
        const target = join(temp, name);
        await pipeline(createReadStream(cached), createWriteStream(target, { mode: 0o755 }));
        await chmod(target, 0o755);
      }
      // Readable (and traversable) by the module's user, writable by nobody but the agent.
      await run('chmod', ['-R', 'u+rwX,go+rX,go-w', temp], ref);
      await chmod(temp, 0o755);
      try {
        await rename(temp, dir);
      } catch (err) {
        // Another prepare of the same module and artifact finished first: its dir is as good as ours.
        if (!(await exists(dir))) throw err;
        await rm(temp, { recursive: true, force: true });
      }
      await fsyncDir(parent);
    } catch (err) {
      await rm(temp, { recursive: true, force: true });
      if (err instanceof DriverError) throw err;
      throw new DriverError('ARTIFACT_UNPACK_FAILED', `artifact ${ref}: ${errorMessage(err)}`, { cause: err });
    }
  }

  /**
   * Deletes unpacked dirs and cached downloads that no module in `keep` uses (module name → its artifact's sha256,
   * or null for a module without one). Module dirs themselves (data, logs) are left to the driver.
   */
  async cleanup(keep: ReadonlyMap<string, string | null>): Promise<void> {
    const keptShas = new Set([...keep.values()].filter((sha): sha is string => sha !== null));
    for (const entry of await readdirOrEmpty(this.#modulesDir)) {
      if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
      const kept = keep.get(entry.name);
      const keptDir = kept ? kept.slice(0, 16) : null;
      for (const sub of await readdirOrEmpty(join(this.#modulesDir, entry.name))) {
        const path = join(this.#modulesDir, entry.name, sub.name);
        const unused = SHA16.test(sub.name) ? sub.name !== keptDir : await isStaleTemp(path, sub.name);
        if (sub.isDirectory() && unused) await rm(path, { recursive: true, force: true });
      }
    }
    for (const entry of await readdirOrEmpty(join(this.#modulesDir, CACHE_DIR))) {
      const path = join(this.#modulesDir, CACHE_DIR, entry.name);
      const unused = entry.name.startsWith('.') ? await isStaleTemp(path, entry.name) : !keptShas.has(entry.name);
      if (unused) await rm(path, { recursive: true, force: true });
    }
  }
}

/** `stream` with an error listener attached, so an error nobody else listens to yet is not thrown as uncaught. */
function guarded<T extends Readable>(stream: T): T {
  stream.on('error', () => {
    // Reported through pipeline (or ignored for a response already discarded).
  });
  return stream;
}

/**
 * A read stream over a regular file, opened (and checked) before any stream exists: a missing or unreadable path
 * rejects here. Opened non-blocking so a FIFO cannot hang the agent before it is refused.
 */
async function openRegularFile(path: string): Promise<Readable> {
  const file = await open(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
  try {
    const info = await file.stat();
    if (!info.isFile()) {
      throw new Error(`${path} is ${info.isDirectory() ? 'a directory' : 'not a regular file'}`);
    }
  } catch (err) {
    await file.close();
    throw err;
  }
  return file.createReadStream();
}

/** A download or unpack left by a crashed agent: temp names, untouched for an hour (a running one is younger). */
async function isStaleTemp(path: string, name: string): Promise<boolean> {
  if (!name.startsWith('.download-') && !/^[0-9a-f]{16}\.unpack-/.test(name)) return false;
  try {
    return Date.now() - (await stat(path)).mtimeMs > STALE_TEMP_MS;
  } catch {
    return false;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

async function readdirOrEmpty(path: string) {
  try {
    return await readdir(path, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

async function fsyncFile(path: string): Promise<void> {
  const file = await open(path, 'r+');
  try {
    await file.sync();
  } finally {
    await file.close();
  }
}

async function fsyncDir(path: string): Promise<void> {
  const dir = await open(path, 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/** A tar archive, plain or gzipped, recognised by its content ("ustar" at offset 257 of the first block). */
async function isTarball(path: string): Promise<boolean> {
  const file = await open(path, 'r');
  let head: Buffer;
  try {
    const buffer = Buffer.alloc(64 * 1024);
    const { bytesRead } = await file.read(buffer, 0, buffer.length, 0);
    head = buffer.subarray(0, bytesRead);
  } finally {
    await file.close();
  }
  if (head[0] === 0x1f && head[1] === 0x8b) {
    try {
      head = gunzipSync(head, { finishFlush: 2 /* Z_SYNC_FLUSH: a truncated stream is fine here */ });
    } catch {
      return false;
    }
  }
  return head.length >= 262 && head.subarray(257, 262).toString('latin1') === 'ustar';
}

/**
 * Refuses archives that would write outside their dir: absolute names, `..` components, and links pointing out.
 * Only files, dirs and symlinks are allowed (no devices, fifos or hard links).
 */
async function checkTarEntries(path: string, ref: string): Promise<void> {
  const listing = await run('tar', ['-t', '-v', '--quoting-style=escape', '-f', path], ref);
  for (const line of listing.split('\n')) {
    if (!line) continue;
    // "drwxr-xr-x user/group 0 2024-01-01 00:00 name[ -> target]"
    const match = /^(\S)\S*\s+\S+\s+\S+\s+\S+\s+\S+\s(.*)$/.exec(line);
    if (!match) throw new DriverError('ARTIFACT_UNPACK_FAILED', `artifact ${ref}: unreadable tar listing "${line}"`);
    const type = match[1];
    let name = match[2] ?? '';
    let target: string | null = null;
    if (type === 'l') {
      const arrow = name.indexOf(' -> ');
      target = name.slice(arrow + 4);
      name = name.slice(0, arrow);
    }
    if (type !== '-' && type !== 'd' && type !== 'l') {
      throw new DriverError('ARTIFACT_UNSAFE', `artifact ${ref}: entry "${name}" is not a file, dir or symlink`);
    }
    for (const path of target === null ? [name] : [name, target]) {
      if (path.startsWith('/') || path.split('/').includes('..')) {
        throw new DriverError('ARTIFACT_UNSAFE', `artifact ${ref}: entry "${path}" points outside the artifact dir`);
      }
    }
  }
}

function run(command: string, args: readonly string[], ref: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(stdout);
      else
        reject(
          new DriverError('ARTIFACT_UNPACK_FAILED', `artifact ${ref}: ${command} failed (${code}): ${stderr.trim()}`),
        );
    });
  });
}
