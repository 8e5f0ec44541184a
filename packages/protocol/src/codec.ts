import { z } from 'zod';
import type { MessageData, MessageDef, MessageInput } from './catalog.js';
import { detailsFromZod, ErrorBody, OutpostError } from './errors.js';

/**
 * Wire format (JSON, UTF-8):
 *   message:       { "type": "<type>", "v": <version>, "data": <payload> }
 *   reply (ok):    { "type": "<type>", "v": <version>, "ok": true, "data": <payload> }
 *   reply (error): { "ok": false, "error": { "code", "message", "details": [{ "path", "message" }] } }
 */
const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });

const Envelope = z.object({
  type: z.string(),
  v: z.number().int().positive(),
  data: z.unknown(),
});

const ReplyEnvelope = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), type: z.string(), v: z.number().int().positive(), data: z.unknown() }),
  z.object({ ok: z.literal(false), error: ErrorBody }),
]);

function toBytes(value: unknown): Uint8Array {
  return textEncoder.encode(JSON.stringify(value));
}

function parseJson(bytes: Uint8Array): unknown {
  let text: string;
  try {
    text = textDecoder.decode(bytes);
  } catch {
    throw new OutpostError('BAD_MESSAGE', 'Message is not valid UTF-8', [{ path: '', message: 'not UTF-8' }]);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new OutpostError('BAD_MESSAGE', 'Message is not valid JSON', [
      { path: '', message: err instanceof Error ? err.message : 'not JSON' },
    ]);
  }
}

function validateData<D extends MessageDef>(def: D, data: unknown): MessageData<D> {
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

function checkKind(def: MessageDef, type: string, v: number): void {
  if (type !== def.type) {
    throw new OutpostError('BAD_MESSAGE', `Expected a ${def.type} message, got ${type}`, [
      { path: 'type', message: `expected "${def.type}"` },
    ]);
  }
  if (v !== def.version) {
    throw new OutpostError('BAD_MESSAGE', `Unsupported ${def.type} version ${v} (this build speaks v${def.version})`, [
      { path: 'v', message: `expected ${def.version}` },
    ]);
  }
}

/** Validates and encodes a message. Throws VALIDATION_FAILED if `data` does not match the schema. */
export function encodeMessage<D extends MessageDef>(def: D, data: MessageInput<D>): Uint8Array {
  const valid = validateData(def, data);
  return toBytes({ type: def.type, v: def.version, data: valid });
}

/** Decodes and validates a message. Throws BAD_MESSAGE / VALIDATION_FAILED naming what is wrong. */
export function decodeMessage<D extends MessageDef>(def: D, bytes: Uint8Array): MessageData<D> {
  const envelope = Envelope.safeParse(parseJson(bytes));
  if (!envelope.success) {
    throw new OutpostError('BAD_MESSAGE', 'Message is not an Outpost envelope', detailsFromZod(envelope.error));
  }
  checkKind(def, envelope.data.type, envelope.data.v);
  return validateData(def, envelope.data.data);
}

export function encodeReply<D extends MessageDef>(def: D, data: MessageInput<D>): Uint8Array {
  const valid = validateData(def, data);
  return toBytes({ ok: true, type: def.type, v: def.version, data: valid });
}

export function encodeErrorReply(error: ErrorBody): Uint8Array {
  return toBytes({ ok: false, error });
}

/** Decodes a reply: returns its data, or throws the OutpostError the other side sent. */
export function decodeReply<D extends MessageDef>(def: D, bytes: Uint8Array): MessageData<D> {
  const reply = ReplyEnvelope.safeParse(parseJson(bytes));
  if (!reply.success) {
    throw new OutpostError('BAD_MESSAGE', 'Reply is not an Outpost reply envelope', detailsFromZod(reply.error));
  }
  if (!reply.data.ok) throw OutpostError.fromBody(reply.data.error);
  checkKind(def, reply.data.type, reply.data.v);
  return validateData(def, reply.data.data);
}

/** Any error → the wire error body. Unknown errors become INTERNAL without leaking their message. */
export function toErrorBody(err: unknown): ErrorBody {
  if (err instanceof OutpostError) return err.toBody();
  return { code: 'INTERNAL', message: 'Internal error', details: [] };
}
