export {
  ContainerDriver,
  type ContainerDriverOptions,
  containerName,
  DEFAULT_DOCKER_HOST,
  dockerConnection,
  LABELS as CONTAINER_LABELS,
  resolveDockerHost,
} from './container-driver.js';
export {
  type ContainerPolicyError,
  type ContainerPolicyRules,
  containerPolicyErrors,
  containerPolicyProblems,
} from './policy.js';
