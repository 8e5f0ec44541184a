export {
  CONTAINER_ENGINE_UNAVAILABLE,
  type ContainerEngineHandle,
  type ContainerEngineOptions,
  startContainerEngine,
} from './container-engine.js';
export { createTestDatabase, type TestDatabase } from './database.js';
export { type NatsServerHandle, type NatsServerOptions, natsServerBinary, startNatsServer } from './nats-server.js';
export { getFreePort } from './ports.js';
export {
  isAlive,
  killByPid,
  pidsWithMarker,
  type SpawnedProcess,
  type SpawnOptions,
  spawnProcess,
} from './process.js';
export {
  type DeviceCreds,
  type SecureNatsServerHandle,
  type SecureNatsServerOptions,
  startSecureNatsServer,
} from './secure-nats-server.js';
export { startTcpProxy, type TcpProxy } from './tcp-proxy.js';
export { waitFor } from './wait.js';
