import type { Module } from '@outpost/manifest';
import type { ContainerPolicy } from '../../config/schema.js';

/** What of the device's container policy the checks need. */
export type ContainerPolicyRules = Pick<
  ContainerPolicy,
  'allowPrivileged' | 'allowHostPid' | 'allowCapAdd' | 'registryCredentials'
>;

export interface ContainerPolicyError {
  /** Manifest path, e.g. `modules.x.container.createOptions.HostConfig.Privileged`. */
  readonly path: string;
  readonly message: string;
}

function hostConfigOf(module: Module): Record<string, unknown> {
  if (module.type !== 'container') return {};
  const hostConfig = module.container.createOptions?.HostConfig;
  return hostConfig !== null && typeof hostConfig === 'object' && !Array.isArray(hostConfig)
    ? (hostConfig as Record<string, unknown>)
    : {};
}

/**
 * What in a container module this device's policy refuses, as {path, message} with the manifest path of the
 * offending field. Pure, so the runtime can refuse a deployment (412) before touching anything; the driver checks
 * again before creating a container.
 */
export function containerPolicyErrors(
  name: string,
  module: Module,
  policy: ContainerPolicyRules,
): ContainerPolicyError[] {
  if (module.type !== 'container') return [];
  const base = `modules.${name}.container`;
  const hostConfig = hostConfigOf(module);
  const errors: ContainerPolicyError[] = [];
  if (hostConfig.Privileged === true && !policy.allowPrivileged) {
    errors.push({
      path: `${base}.createOptions.HostConfig.Privileged`,
      message:
        'privileged containers are refused by this device (set containers.allowPrivileged: true in the agent config to allow them)',
    });
  }
  if (hostConfig.PidMode === 'host' && !policy.allowHostPid) {
    errors.push({
      path: `${base}.createOptions.HostConfig.PidMode`,
      message:
        "the host's PID namespace is refused by this device (set containers.allowHostPid: true in the agent config to allow it)",
    });
  }
  const capAdd = hostConfig.CapAdd;
  if (Array.isArray(capAdd) && capAdd.length > 0 && !policy.allowCapAdd) {
    errors.push({
      path: `${base}.createOptions.HostConfig.CapAdd`,
      message: `added capabilities (${capAdd.map(String).join(', ')}) are refused by this device (set containers.allowCapAdd: true in the agent config to allow them)`,
    });
  }
  const ref = module.container.registryCredentialsRef;
  if (ref !== undefined && !Object.hasOwn(policy.registryCredentials, ref)) {
    errors.push({
      path: `${base}.registryCredentialsRef`,
      message: `registry credentials '${ref}' are not configured on this device (containers.registryCredentials in the agent config)`,
    });
  }
  return errors;
}

/** The same checks as `containerPolicyErrors`, each as one `path: message` string (name shown as `modules.<module>`). */
export function containerPolicyProblems(module: Module, policy: ContainerPolicyRules, name = '<module>'): string[] {
  return containerPolicyErrors(name, module, policy).map((error) => `${error.path}: ${error.message}`);
}
