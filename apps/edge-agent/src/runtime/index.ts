export * from './contracts.js';
export {
  type Plan,
  type PlanAction,
  type PlanInput,
  type PlanStep,
  planDeployment,
  type SupervisedModule,
} from './planner.js';
export {
  DEFAULT_STOP_GRACE_MS,
  type DeploymentStatus,
  type DriverSource,
  MAX_SETTLE_MS,
  Runtime,
  RuntimeError,
  type RuntimeErrorCode,
  type RuntimeOptions,
} from './runtime.js';
export { moduleSpecHash } from './spec-hash.js';
