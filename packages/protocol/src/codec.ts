import { z } from 'zod';
import {
  defineMessage,
  formatWireVersion,
  type MessageData,
  type MessageDef,
  type MessageInput,
  type ParsedVersion,
  parseWireVersion,
  type WireVersion,
} from './catalog.js';
import { detailsFromZod, ErrorBody, OutpostError, PeerErrorBody } from './errors.js';
import { type HeaderCarrier, type HeaderOptions, type ProtocolHeaders, readHeaders, writeHeaders } from './headers.js';

/*
 * Wire format (JSON, UTF-8; Content-Type application/json):
 *   message:       { "type": "<type>", "v": "<major>.<minor>", "data": <payload> }
 *   reply (ok):    { "ok": true, "type": "<type>", "v": "<major>.<minor>", "data": <payload> }
 *   reply (error): { "ok": false, "type": "error", "v": "1.0", "error": { "code", "message", "details": [...] } }
 *
 * Decoding never throws: `tryDecodeMessage` / `tryDecodeReply` return a result, so a receiver logs and drops what it
 * cannot read instead of using exceptions for control flow. The throwing `decodeMessage` / `decodeReply` are built on
 * them for callers that want an exception (tests, request handlers whose framework turns it into an error reply).
 */

/** The error message: error replies carry a type and version like every other message. */
export const ErrorReplyV1 = defineMessage('error', '1.0', ErrorBody);

export interface Decoded<T> {
  readonly ok: true;
  readonly value: T;
  /** The version the sender wrote (any minor of this build's major). */
  readonly version: WireVersion;
  readonly headers: ProtocolHeaders;
}

export interface DecodeFailure {
  readonly ok: false;
  readonly error: ErrorBody;
}

export type DecodeResult<T> = Decoded<T> | DecodeFailure;

/** A reply that is an error says whether the peer sent it (`{ ok: false }`) or it could not be read here. */
export type ReplyDecodeResult<T> = Decoded<T> | (DecodeFailure & { readonly fromPeer: boolean });

export interface EncodeOptions extends HeaderOptions {
  /** Receives Content-Type and the ids (see writeHeaders); pass nats.js `headers()` and publish with it. */
  readonly headers?: HeaderCarrier;
}

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });

const Envelope = z.object({ type: z.string().max(128), v: z.unknown(), data: z.unknown() });
const ReplyEnvelope = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), type: z.string().max(128), v: z.unknown(), data: z.unknown() }),
  // type and v are optional: Foundation builds sent error replies without them.
  z.object({
    ok: z.literal(false),
    type: z.string().max(128).optional(),
    v: z.unknown().optional(),
    error: z.unknown(),
  }),
]);

function failure(code: ErrorBody['code'], message: string, path: string, detail: string): DecodeFailure {
  return { ok: false, error: { code, message, details: [{ path, message: detail }] } };
}

function toBytes(value: unknown): Uint8Array {
  return textEncoder.encode(JSON.stringify(value));
}

function validateForEncoding<D extends MessageDef>(def: D, data: unknown): MessageData<D> {
  const result = def.schema.safeParse(data);
  if (!result.success) {
    throw new OutpostError(
      'VALIDATION_FAILED',
      `Invalid ${def.type} v${def.version}`,
      detailsFromZod(result.error, 'data'),
    );
  }
  return result.data as MessageData<D>;
}

function applyHeaders(options: EncodeOptions | undefined): void {
  if (options?.headers) writeHeaders(options.headers, options);
}

/** Validates and encodes a message. Throws VALIDATION_FAILED if `data` does not match the schema (a sender's bug). */
export function encodeMessage<D extends MessageDef>(
  def: D,
  data: MessageInput<D>,
  options?: EncodeOptions,
): Uint8Array {
  const valid = validateForEncoding(def, data);
  applyHeaders(options);
  return toBytes({ type: def.type, v: def.version, data: valid });
}

export function encodeReply<D extends MessageDef>(def: D, data: MessageInput<D>, options?: EncodeOptions): Uint8Array {
  const valid = validateForEncoding(def, data);
  applyHeaders(options);
  return toBytes({ ok: true, type: def.type, v: def.version, data: valid });
}

export function encodeErrorReply(error: ErrorBody, options?: EncodeOptions): Uint8Array {
  const body = ErrorBody.safeParse(error);
  applyHeaders(options);
  // An invalid body here is a bug on this side; the peer still gets a well-formed error rather than nothing.
  const valid: ErrorBody = body.success ? body.data : { code: 'INTERNAL', message: 'Internal error', details: [] };
  return toBytes({ ok: false, type: ErrorReplyV1.type, v: ErrorReplyV1.version, error: valid });
}

/** UTF-8 → JSON, or the failure naming which of the two it is not. */
function parseJson(bytes: Uint8Array): { ok: true; value: unknown } | DecodeFailure {
  let text: string;
  try {
    text = textDecoder.decode(bytes);
  } catch {
    return failure('BAD_MESSAGE', 'Message is not valid UTF-8', '', 'not UTF-8');
  }
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    return failure('BAD_MESSAGE', 'Message is not valid JSON', '', err instanceof Error ? err.message : 'not JSON');
  }
}

/** Same type, a readable `v`, and the major this build speaks. */
function checkKind(def: MessageDef, type: string, v: unknown): { ok: true; version: ParsedVersion } | DecodeFailure {
  if (type !== def.type) {
    return failure('BAD_MESSAGE', `Expected a ${def.type} message, got ${type}`, 'type', `expected "${def.type}"`);
  }
  const version = parseWireVersion(v);
  if (!version) {
    return failure(
      'BAD_MESSAGE',
      `Unreadable ${def.type} version ${JSON.stringify(v) ?? 'undefined'}`,
      'v',
      'must be "<major>.<minor>"',
    );
  }
  if (version.major !== def.major) {
    const sent = formatWireVersion(version);
    return failure(
      'UNSUPPORTED_VERSION',
      `Unsupported ${def.type} version ${sent} (this build reads ${def.major}.x)`,
      'v',
      `${sent} is not ${def.major}.x`,
    );
  }
  return { ok: true, version };
}

function validateData<D extends MessageDef>(
  def: D,
  data: unknown,
): { ok: true; value: MessageData<D> } | DecodeFailure {
  const result = def.schema.safeParse(data);
  if (!result.success) {
    return {
      ok: false,
      error: {
        code: 'VALIDATION_FAILED',
        message: `Invalid ${def.type} v${def.version}`,
        details: detailsFromZod(result.error, 'data'),
      },
    };
  }
  return { ok: true, value: result.data as MessageData<D> };
}

/**
 * The last line of defence of the never-throw promise: a schema can still throw on hostile input (zod's recursive JSON
 * schema overflows the stack on deeply nested arrays), and that must become a refused message, not a crash.
 */
function neverThrow<R>(decode: () => R, refuse: (reason: string) => R): R {
  try {
    return decode();
  } catch (err) {
    return refuse(err instanceof RangeError ? 'nested too deeply' : 'could not be decoded');
  }
}

/** Decodes and validates a message; never throws. Accepts every minor of the definition's major. */
export function tryDecodeMessage<D extends MessageDef>(
  def: D,
  bytes: Uint8Array,
  headers?: HeaderCarrier,
): DecodeResult<MessageData<D>> {
  return neverThrow(
    (): DecodeResult<MessageData<D>> => {
      const headerResult = readHeaders(headers);
      if (!headerResult.ok) return headerResult;
      const json = parseJson(bytes);
      if (!json.ok) return json;
      const envelope = Envelope.safeParse(json.value);
      if (!envelope.success) {
        return {
          ok: false,
          error: {
            code: 'BAD_MESSAGE',
            message: 'Message is not an Outpost envelope',
            details: detailsFromZod(envelope.error),
          },
        };
      }
      const kind = checkKind(def, envelope.data.type, envelope.data.v);
      if (!kind.ok) return kind;
      const data = validateData(def, envelope.data.data);
      if (!data.ok) return data;
      return { ok: true, value: data.value, version: formatWireVersion(kind.version), headers: headerResult.value };
    },
    (reason) => failure('BAD_MESSAGE', `Message ${reason}`, '', reason),
  );
}

/**
 * Decodes a reply; never throws. An `{ ok: false }` reply comes back as the peer's error (`fromPeer: true`); a reply
 * that cannot be read comes back as this side's error (`fromPeer: false`).
 */
export function tryDecodeReply<D extends MessageDef>(
  def: D,
  bytes: Uint8Array,
  headers?: HeaderCarrier,
): ReplyDecodeResult<MessageData<D>> {
  const local = (result: DecodeFailure) => ({ ...result, fromPeer: false });
  return neverThrow(
    (): ReplyDecodeResult<MessageData<D>> => {
      const headerResult = readHeaders(headers);
      if (!headerResult.ok) return local(headerResult);
      const json = parseJson(bytes);
      if (!json.ok) return local(json);
      const reply = ReplyEnvelope.safeParse(json.value);
      if (!reply.success) {
        return local({
          ok: false,
          error: {
            code: 'BAD_MESSAGE',
            message: 'Reply is not an Outpost reply envelope',
            details: detailsFromZod(reply.error),
          },
        });
      }
      if (!reply.data.ok) {
        if (reply.data.v !== undefined) {
          const kind = checkKind(ErrorReplyV1, reply.data.type ?? ErrorReplyV1.type, reply.data.v);
          if (!kind.ok) return local(kind);
        }
        const error = PeerErrorBody.safeParse(reply.data.error);
        if (!error.success) {
          return local({
            ok: false,
            error: {
              code: 'BAD_MESSAGE',
              message: 'Error reply has no valid error body',
              details: detailsFromZod(error.error, 'error'),
            },
          });
        }
        return { ok: false, error: error.data, fromPeer: true };
      }
      const kind = checkKind(def, reply.data.type, reply.data.v);
      if (!kind.ok) return local(kind);
      const data = validateData(def, reply.data.data);
      if (!data.ok) return local(data);
      return { ok: true, value: data.value, version: formatWireVersion(kind.version), headers: headerResult.value };
    },
    (reason) => local(failure('BAD_MESSAGE', `Reply ${reason}`, '', reason)),
  );
}

/** Decodes and validates a message. Throws the OutpostError naming what is wrong (built on tryDecodeMessage). */
export function decodeMessage<D extends MessageDef>(
  def: D,
  bytes: Uint8Array,
  headers?: HeaderCarrier,
): MessageData<D> {
  const result = tryDecodeMessage(def, bytes, headers);
  if (!result.ok) throw OutpostError.fromBody(result.error);
  return result.value;
}

/** Decodes a reply: returns its data, or throws the OutpostError the peer sent or the one reading it raised. */
export function decodeReply<D extends MessageDef>(def: D, bytes: Uint8Array, headers?: HeaderCarrier): MessageData<D> {
  const result = tryDecodeReply(def, bytes, headers);
  if (!result.ok) throw OutpostError.fromBody(result.error);
  return result.value;
}

/** Any error → the wire error body. Unknown errors become INTERNAL without leaking their message. */
export function toErrorBody(err: unknown): ErrorBody {
  if (err instanceof OutpostError) return err.toBody();
  return { code: 'INTERNAL', message: 'Internal error', details: [] };
}
