import type { MessageDef, RpcDef } from './catalog.js';
import { defineRpc } from './catalog.js';
import { type SubjectDef, subjectMap } from './subjects.js';

function rpcOf<M extends MessageDef, R extends MessageDef>(row: SubjectDef<string, M, R>): RpcDef<M, R> {
  return defineRpc(row.build({}), row.message, row.reply as R);
}

/**
 * NATS request/reply calls into the cloud API (the portal uses these): subject, request and response, from the map.
 * Every call but `authLogin` is made for a person: send their session token in `Outpost-Authorization`
 * (`encodeMessage(…, { headers, bearerToken })`); the API refuses a call without one (UNAUTHORIZED) or whose role is
 * too low (FORBIDDEN), exactly as over HTTP.
 */
export const rpc = {
  authLogin: rpcOf(subjectMap.apiAuthLogin),
  authLogout: rpcOf(subjectMap.apiAuthLogout),
  authMe: rpcOf(subjectMap.apiAuthMe),
  devicesList: rpcOf(subjectMap.apiDevicesList),
  devicesGet: rpcOf(subjectMap.apiDevicesGet),
  devicesCreate: rpcOf(subjectMap.apiDevicesCreate),
} as const;

export type RpcName = keyof typeof rpc;
