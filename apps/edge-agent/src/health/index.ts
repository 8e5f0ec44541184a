export {
  HealthMonitor,
  type HealthMonitorOptions,
  isRunnableProbe,
  type ProbeResult,
  type RunnableProbe,
  runProbe,
} from './probes.js';
