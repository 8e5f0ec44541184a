export {
  ControlClient,
  type ControlRequestInput,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEPLOY_REQUEST_TIMEOUT_MS,
} from './client.js';
export {
  type AgentStatus,
  CONTROL_PROTOCOL_VERSION,
  ControlError,
  type ControlOp,
  ControlRequest,
  type ControlResponse,
  type ControlResults,
  type ListResult,
  type LogsResult,
  type ModuleListEntry,
  type RestartResult,
} from './protocol.js';
export { ControlServer, type ControlServerOptions, listResult } from './server.js';
