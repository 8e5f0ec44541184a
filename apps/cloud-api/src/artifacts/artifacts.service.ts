import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { Inject, Injectable, PayloadTooLargeException } from '@nestjs/common';
import {
  ARTIFACTS_BUCKET,
  ARTIFACTS_STREAM,
  artifactRef,
  OutpostError,
  type UploadedArtifact,
} from '@outpost/protocol';
import type { NatsConnection, NatsError, ObjectStore } from 'nats';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { LOGGER, type Logger } from '../logging/logger.js';
import { NATS_CONNECTION, type NatsConnectionService } from '../nats/nats-connection.js';

/** The object name: the given name and the content's sha256, so different contents never overwrite each other. */
export function artifactObjectName(name: string, sha256: string): string {
  return `${name}-sha256-${sha256}`;
}

/**
 * Module artifacts in the JetStream object store bucket ARTIFACTS_BUCKET (created on first use). An upload is
 * streamed to a temporary file while it is hashed and counted — never held in memory, refused (413) once it passes
 * the size limit — then stored under a name that includes its sha256. The same bytes uploaded twice are stored once.
 * Devices read the bucket with their own credentials, by JetStream direct gets only (ADR 0012), so the bucket's stream
 * must allow them: made sure of on every (re)connection for a bucket that exists, and after opening or creating it.
 */
@Injectable()
export class ArtifactsService {
  private readonly log: Logger;
  private readonly maxBytes: number;

  constructor(
    @Inject(NATS_CONNECTION) private readonly nats: NatsConnectionService,
    @Inject(APP_CONFIG) config: AppConfig,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.log = logger.child({ component: 'artifacts' });
    this.maxBytes = config.artifacts.maxBytes;
    this.nats.onConnect((connection) => {
      this.allowDirectGets(connection).catch((err: unknown) =>
        this.log.error(
          { code: 'ARTIFACTS_DIRECT_GET_NOT_ALLOWED', stream: ARTIFACTS_STREAM, err: errorText(err) },
          'could not allow direct gets on the artifacts stream; devices cannot read artifacts until it is fixed',
        ),
      );
    });
  }

  async upload(name: string, body: Readable, declaredLength: number | undefined): Promise<UploadedArtifact> {
    if (declaredLength !== undefined && declaredLength > this.maxBytes) throw this.tooLarge();
    const dir = await mkdtemp(join(tmpdir(), 'outpost-artifact-'));
    try {
      const file = join(dir, 'upload');
      const { sha256, size } = await this.spool(body, file);
      const object = artifactObjectName(name, sha256);
      const store = await this.store();
      const existing = await store.info(object);
      if (existing && !existing.deleted && existing.size === size) {
        this.log.info({ object, size }, 'artifact already stored');
      } else {
        await store.put({ name: object, description: name }, toWebStream(createReadStream(file)));
        this.log.info({ object, size }, 'artifact stored');
      }
      return { ref: artifactRef(object), sha256, size, bucket: ARTIFACTS_BUCKET, object };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** The bucket, created when missing (js.views.os creates it), its stream allowing direct gets. */
  private async store(): Promise<ObjectStore> {
    const connection = this.nats.connectionOrThrow();
    try {
      const store = await connection.jetstream().views.os(ARTIFACTS_BUCKET);
      await this.allowDirectGets(connection);
      return store;
    } catch (err) {
      throw new OutpostError('UNAVAILABLE', 'The artifacts object store is not available', [
        { path: '', message: errorText(err) },
      ]);
    }
  }

  /**
   * Sets `allow_direct` on the bucket's stream unless it is set (nats.js sets it on the streams it creates; a bucket
   * made by another client may lack it). Does nothing when the bucket (or JetStream) does not exist yet.
   */
  private async allowDirectGets(connection: NatsConnection): Promise<void> {
    const jsm = await connection.jetstreamManager({ checkAPI: false });
    let config: Awaited<ReturnType<typeof jsm.streams.info>>['config'];
    try {
      config = (await jsm.streams.info(ARTIFACTS_STREAM)).config;
    } catch (err) {
      // 404: no bucket yet; 503: no JetStream on this server (no responders), so no bucket either.
      const code = (err as NatsError).code;
      if (code === '404' || code === '503') return;
      throw err;
    }
    if (config.allow_direct) return;
    await jsm.streams.update(ARTIFACTS_STREAM, { ...config, allow_direct: true });
    this.log.info({ stream: ARTIFACTS_STREAM }, 'direct gets allowed on the artifacts stream');
  }

  /** Writes the body to `file`, hashing and counting; 413 as soon as it passes the limit. */
  private async spool(body: Readable, file: string): Promise<{ sha256: string; size: number }> {
    const hash = createHash('sha256');
    const out = createWriteStream(file, { mode: 0o600 });
    let size = 0;
    try {
      for await (const chunk of body) {
        const bytes = chunk as Buffer;
        size += bytes.length;
        if (size > this.maxBytes) throw this.tooLarge();
        hash.update(bytes);
        if (!out.write(bytes)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
      }
    } finally {
      out.end();
      await finished(out);
    }
    if (size === 0) {
      throw new OutpostError('VALIDATION_FAILED', 'The artifact is empty', [
        { path: 'body', message: 'send the artifact bytes as the request body' },
      ]);
    }
    return { sha256: hash.digest('hex'), size };
  }

  private tooLarge(): PayloadTooLargeException {
    return new PayloadTooLargeException(
      `The artifact is larger than the limit of ${this.maxBytes} bytes (OUTPOST_ARTIFACT_MAX_BYTES)`,
    );
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A Node stream as the web ReadableStream nats.js's object store takes. */
function toWebStream(stream: Readable): ReadableStream<Uint8Array> {
  const iterator = stream[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await iterator.next();
      if (done) controller.close();
      else controller.enqueue(new Uint8Array(value as Buffer));
    },
    async cancel() {
      stream.destroy();
    },
  });
}
