export { loadConfig } from './load.js';
export {
  type AgentConfig,
  AgentConfigFile,
  HEARTBEAT_INTERVAL_DEFAULT_MS,
  HEARTBEAT_INTERVAL_MAX_MS,
  HEARTBEAT_INTERVAL_MIN_MS,
} from './schema.js';
