import type { z } from 'zod';

/**
 * A wire version, `"<major>.<minor>"`. Within a major, a newer minor may only add optional fields, so readers accept
 * every minor of their major (docs/adr/0005-wire-protocol-versioning.md).
 */
export type WireVersion = `${number}.${number}`;

export interface ParsedVersion {
  readonly major: number;
  readonly minor: number;
}

const VERSION_TEXT = /^(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})$/;

/**
 * Reads the `v` of an envelope: `"1.0"`, or a bare positive integer `1`, which Foundation builds (0.1.x) sent and which
 * means `1.0`. Anything else is null.
 */
export function parseWireVersion(v: unknown): ParsedVersion | null {
  if (typeof v === 'number') {
    return Number.isSafeInteger(v) && v > 0 && v < 1_000_000 ? { major: v, minor: 0 } : null;
  }
  if (typeof v !== 'string') return null;
  const match = VERSION_TEXT.exec(v);
  if (!match) return null;
  const major = Number(match[1]);
  const minor = Number(match[2]);
  return major > 0 ? { major, minor } : null;
}

export function formatWireVersion(version: ParsedVersion): WireVersion {
  return `${version.major}.${version.minor}`;
}

/**
 * A message kind in the versioned catalog: its type name, its wire version and its zod schema. Every message on the
 * wire names both, so a receiver can refuse a major it does not speak.
 */
export interface MessageDef<T extends string = string, S extends z.ZodType = z.ZodType> {
  readonly type: T;
  readonly version: WireVersion;
  readonly major: number;
  readonly minor: number;
  readonly schema: S;
}

/** Type names are dotted lower-case words (`agent.hello`); they never change within a major. */
const TYPE_NAME = /^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)*$/;

export function defineMessage<T extends string, S extends z.ZodType>(
  type: T,
  version: WireVersion,
  schema: S,
): MessageDef<T, S> {
  if (!TYPE_NAME.test(type)) throw new TypeError(`message type "${type}" must be dotted lower-case words`);
  const parsed = typeof version === 'string' ? parseWireVersion(version) : null;
  if (!parsed) throw new TypeError(`message ${type}: version "${String(version)}" is not "<major>.<minor>"`);
  return { type, version, major: parsed.major, minor: parsed.minor, schema };
}

/** A request/reply call: where it goes, what it sends, what comes back. */
export interface RpcDef<Req extends MessageDef = MessageDef, Res extends MessageDef = MessageDef> {
  readonly subject: string;
  readonly request: Req;
  readonly response: Res;
}

export function defineRpc<Req extends MessageDef, Res extends MessageDef>(
  subject: string,
  request: Req,
  response: Res,
): RpcDef<Req, Res> {
  return { subject, request, response };
}

export type MessageData<D extends MessageDef> = z.output<D['schema']>;
export type MessageInput<D extends MessageDef> = z.input<D['schema']>;
