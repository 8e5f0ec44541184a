import { Readable } from 'node:stream';
import { ARTIFACTS_BUCKET, ARTIFACTS_STREAM, subjectMap } from '@outpost/protocol';
import type { Msg, NatsConnection } from 'nats';
import { z } from 'zod';
import { errorMessage } from '../errors.js';
import { DriverError } from '../runtime/contracts.js';

/** Per direct get: one object-store chunk (128 KiB by default) must arrive within this, even over a slow link. */
const DIRECT_GET_TIMEOUT_MS = 30_000;

/**
 * An object's metadata as nats.js 2.29's object store writes it (the last message on the object's meta subject). Only
 * what reading needs; a link (an object pointing to another) is refused, the cloud API never makes one.
 */
const ObjectInfo = z.object({
  nuid: z.string().regex(/^[A-Za-z0-9]+$/, 'must be one subject token of letters and digits'),
  size: z.number().int().nonnegative(),
  chunks: z.number().int().nonnegative(),
  deleted: z.boolean().optional(),
  options: z.object({ link: z.unknown().optional() }).passthrough().optional(),
});

/**
 * The object store's layout on its stream (nats.js 2.29 `objectstore.js`): metadata on `$O.<bucket>.M.<name as
 * base64url, padded>` (nats.js keeps the `=` padding), chunks on `$O.<bucket>.C.<nuid>`. These are the store's
 * message subjects, read through direct gets, never published or subscribed to by the agent.
 */
function metaSubject(bucket: string, name: string): string {
  const encoded = Buffer.from(name, 'latin1').toString('base64').replaceAll('+', '-').replaceAll('/', '_');
  return `$O.${bucket}.M.${encoded}`;
}

function chunkSubject(bucket: string, nuid: string): string {
  return `$O.${bucket}.C.${nuid}`;
}

type DirectGetQuery = { readonly last_by_subj: string } | { readonly seq: number; readonly next_by_subj: string };

interface StoredMessage {
  readonly seq: number;
  readonly data: Uint8Array;
}

/**
 * Reads one object of the artifacts bucket with JetStream direct gets only (ADR 0012): a request to
 * `$JS.API.DIRECT.GET.OBJ_<bucket>` with the query in the body, answered on the agent's own inbox. That is the only
 * JetStream call a device credential may make — no consumer, no stream info — so this does not use nats.js's object
 * store view. Resolves once the metadata is read (a missing or deleted object rejects here); the chunks are then read
 * one request at a time as the returned stream is consumed, and the stream fails unless exactly `size` bytes in
 * `chunks` chunks arrive. The bytes are not trusted: the caller checks the manifest's sha256.
 */
export async function openObject(nc: NatsConnection, bucket: string, name: string, ref: string): Promise<Readable> {
  if (bucket !== ARTIFACTS_BUCKET) {
    throw new DriverError(
      'ARTIFACT_UNAVAILABLE',
      `artifact ${ref}: devices may read only the ${ARTIFACTS_BUCKET} bucket, not ${bucket}`,
    );
  }
  const fail = (why: string, cause?: unknown) =>
    new DriverError('ARTIFACT_UNAVAILABLE', `artifact ${ref}: ${why}`, cause === undefined ? undefined : { cause });

  const meta = await directGet(nc, { last_by_subj: metaSubject(bucket, name) }, fail);
  if (!meta) throw fail(`no object "${name}" in ${bucket}`);
  let info: z.infer<typeof ObjectInfo>;
  try {
    info = ObjectInfo.parse(JSON.parse(new TextDecoder().decode(meta.data)));
  } catch (err) {
    throw fail(`the metadata of "${name}" in ${bucket} is unreadable: ${errorMessage(err)}`, err);
  }
  if (info.deleted) throw fail(`object "${name}" in ${bucket} was deleted`);
  if (info.options?.link !== undefined) throw fail(`object "${name}" in ${bucket} is a link, which is not supported`);

  const subject = chunkSubject(bucket, info.nuid);
  async function* chunks(): AsyncGenerator<Uint8Array> {
    let received = 0;
    let seq = 1;
    for (let index = 0; index < info.chunks; index++) {
      const chunk = await directGet(nc, { seq, next_by_subj: subject }, fail);
      if (!chunk) {
        throw fail(`object "${name}" in ${bucket} is truncated: ${index} of ${info.chunks} chunks are stored`);
      }
      received += chunk.data.length;
      if (received > info.size) throw fail(`object "${name}" in ${bucket} holds more than its ${info.size} bytes`);
      seq = chunk.seq + 1;
      yield chunk.data;
    }
    if (received !== info.size) {
      throw fail(`object "${name}" in ${bucket} holds ${received} bytes, its metadata says ${info.size}`);
    }
  }
  return Readable.from(chunks(), { objectMode: false });
}

/**
 * One direct get: the stored message, or null when the server answers 404 (no such message). Any other status, no
 * answer in time or a closed connection is an error built by `fail`.
 */
async function directGet(
  nc: NatsConnection,
  query: DirectGetQuery,
  fail: (why: string, cause?: unknown) => DriverError,
): Promise<StoredMessage | null> {
  let reply: Msg;
  try {
    reply = await nc.request(subjectMap.artifactsDirectGet.build({}), JSON.stringify(query), {
      timeout: DIRECT_GET_TIMEOUT_MS,
    });
  } catch (err) {
    throw fail(`direct get on ${ARTIFACTS_STREAM} failed: ${errorMessage(err)}`, err);
  }
  const headers = reply.headers;
  // An error is a status line without a body; a stored message always carries its sequence.
  if (headers && reply.data.length === 0 && headers.code !== 0) {
    if (headers.code === 404) return null;
    throw fail(`direct get on ${ARTIFACTS_STREAM} answered ${headers.code} ${headers.description}`.trimEnd());
  }
  const seq = Number(headers?.get('Nats-Sequence'));
  if (!Number.isSafeInteger(seq) || seq <= 0) {
    throw fail(`direct get on ${ARTIFACTS_STREAM} answered without a message sequence`);
  }
  return { seq, data: reply.data };
}
