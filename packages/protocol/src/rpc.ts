import type { MessageDef, RpcDef } from './catalog.js';
import { defineRpc } from './catalog.js';
import { type SubjectDef, subjectMap } from './subjects.js';

function rpcOf<M extends MessageDef, R extends MessageDef>(row: SubjectDef<string, M, R>): RpcDef<M, R> {
  return defineRpc(row.build({}), row.message, row.reply as R);
}

/** NATS request/reply calls into the cloud API (the portal uses these): subject, request and response, from the map. */
export const rpc = {
  devicesList: rpcOf(subjectMap.apiDevicesList),
  devicesGet: rpcOf(subjectMap.apiDevicesGet),
} as const;
