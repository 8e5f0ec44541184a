import { DevicePresenceChangedV1, DevicesGetRequestV1, DevicesListRequestV1, DevicesPageV1, DeviceV1 } from './api.js';
import type { MessageDef } from './catalog.js';
import { ErrorReplyV1 } from './codec.js';
import {
  AgentGoodbyeV1,
  AgentHeartbeatV1,
  AgentHelloV1,
  DesiredChangedV1,
  DesiredGetReplyV1,
  DesiredGetRequestV1,
  EnrollReplyV1,
  EnrollRequestV1,
  LogsChunkV1,
  LogsRequestV1,
  MethodReplyV1,
  MethodRequestV1,
  ModuleMessageV1,
  ReportedStateV1,
  TelemetryV1,
} from './messages.js';

/** Every message on the wire, at the version this build writes. The README's message table and the tests use it. */
export const messageCatalog: readonly MessageDef[] = [
  AgentHelloV1,
  AgentHeartbeatV1,
  AgentGoodbyeV1,
  DesiredChangedV1,
  DesiredGetRequestV1,
  DesiredGetReplyV1,
  ReportedStateV1,
  TelemetryV1,
  ModuleMessageV1,
  MethodRequestV1,
  MethodReplyV1,
  LogsRequestV1,
  LogsChunkV1,
  EnrollRequestV1,
  EnrollReplyV1,
  DevicesListRequestV1,
  DevicesPageV1,
  DevicesGetRequestV1,
  DeviceV1,
  DevicePresenceChangedV1,
  ErrorReplyV1,
];
