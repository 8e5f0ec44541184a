import { z } from 'zod';

/**
 * A message kind in the versioned catalog: its type name, its schema version and its zod schema.
 * Every message on the wire names both, so a receiver can refuse (or later upgrade) versions it does not know.
 */
export interface MessageDef<T extends string = string, S extends z.ZodType = z.ZodType> {
  readonly type: T;
  readonly version: number;
  readonly schema: S;
}

export function defineMessage<T extends string, S extends z.ZodType>(
  type: T,
  version: number,
  schema: S,
): MessageDef<T, S> {
  return { type, version, schema };
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
