import 'server-only';
import {
  type DevicePage,
  decodeReply,
  encodeMessage,
  type ListDevicesQuery,
  type MessageData,
  type MessageInput,
  OutpostError,
  type RpcDef,
  rpc,
} from '@outpost/protocol';
import { headers, type NatsConnection, NatsError, ErrorCode as NatsErrorCode } from 'nats';
import { type NatsConnectionProvider, sharedNatsConnection } from '@/server/nats';

/**
 * Typed calls into the cloud API over NATS request/reply, using the protocol's `rpc` definitions for the subject and
 * both message schemas. Every failure surfaces as an OutpostError so pages can show its code.
 *
 * Every call is made for a person: it carries their session token in `Outpost-Authorization`, and the API applies
 * their role (the portal's own NATS credential grants nothing). Only login goes without one.
 */

export const DEFAULT_RPC_TIMEOUT_MS = 5_000;

/** Who a call is made for. */
export interface Caller {
  /** The signed-in person's session token; null only for login, which has none yet. */
  readonly token: string | null;
  /** The address the person's browser connected from (per-address login limits). */
  readonly clientAddress?: string;
}

export interface ApiClient {
  call<D extends RpcDef>(
    def: D,
    request: MessageInput<D['request']>,
    caller: Caller,
  ): Promise<MessageData<D['response']>>;
  /** The client bound to one signed-in person: every call carries their session token. */
  forPerson(token: string): PersonApiClient;
  /** The NATS connection the client talks over (the live stream subscribes to events on it). */
  connection(): Promise<NatsConnection>;
}

export interface PersonApiClient {
  call<D extends RpcDef>(def: D, request: MessageInput<D['request']>): Promise<MessageData<D['response']>>;
  listDevices(query: Partial<ListDevicesQuery>): Promise<DevicePage>;
  connection(): Promise<NatsConnection>;
}

/** Turns what connecting or `nc.request` throws into the error the portal shows. */
export function toRequestError(err: unknown, subject: string, timeoutMs: number): OutpostError {
  if (err instanceof NatsError) {
    switch (err.code) {
      case NatsErrorCode.NoResponders:
        return new OutpostError('UNAVAILABLE', `Cloud API is not answering on ${subject} (no responders)`, [], {
          cause: err,
        });
      case NatsErrorCode.Timeout:
        return new OutpostError('TIMEOUT', `Cloud API did not reply on ${subject} within ${timeoutMs} ms`, [], {
          cause: err,
        });
      case NatsErrorCode.ConnectionRefused:
      case NatsErrorCode.ConnectionTimeout:
      case NatsErrorCode.ConnectionClosed:
      case NatsErrorCode.ConnectionDraining:
      case NatsErrorCode.Disconnect:
        return new OutpostError('UNAVAILABLE', `Cannot reach NATS (${err.code})`, [], { cause: err });
    }
  }
  return new OutpostError('INTERNAL', `Request on ${subject} failed`, [], { cause: err });
}

export function createApiClient(
  getConnection: NatsConnectionProvider,
  options: { timeoutMs?: number } = {},
): ApiClient {
  const timeoutMs = options.timeoutMs ?? DEFAULT_RPC_TIMEOUT_MS;

  async function call<D extends RpcDef>(
    def: D,
    request: MessageInput<D['request']>,
    caller: Caller,
  ): Promise<MessageData<D['response']>> {
    // Encoding validates the request (a bad filter fails here as VALIDATION_FAILED, before anything is sent) and
    // writes the person's token and address into the headers.
    const h = headers();
    const payload = encodeMessage(def.request, request, {
      headers: h,
      ...(caller.token !== null ? { bearerToken: caller.token } : {}),
      ...(caller.clientAddress !== undefined ? { clientAddress: caller.clientAddress } : {}),
    });
    let reply: Uint8Array;
    try {
      const nc = await getConnection();
      reply = (await nc.request(def.subject, payload, { timeout: timeoutMs, headers: h })).data;
    } catch (err) {
      throw toRequestError(err, def.subject, timeoutMs);
    }
    // Throws the API's own OutpostError for `{ ok: false }` replies, BAD_MESSAGE / VALIDATION_FAILED for bad ones.
    return decodeReply<D['response']>(def.response, reply);
  }

  return {
    call,
    forPerson(token) {
      const caller: Caller = { token };
      return {
        call: (def, request) => call(def, request, caller),
        listDevices: (query) => call(rpc.devicesList, query, caller),
        connection: getConnection,
      };
    },
    connection: getConnection,
  };
}

/** The client every server component and route handler uses: the process-wide NATS connection. */
export const apiClient: ApiClient = createApiClient(sharedNatsConnection);
