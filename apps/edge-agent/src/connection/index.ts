export {
  AgentConnection,
  type AgentConnectionOptions,
  type ConnectedEvent,
  type ConnectedListener,
  FIRST_CONNECT_BACKOFF,
  redactUrl,
} from './agent-connection.js';
export { type BackoffPolicy, backoffDelayMs } from './backoff.js';
