/** Secret environment values are stored in the manifest but must never reach a log line or a screen. */
import type { Layer, Manifest, Module } from './schema.js';

/** What a secret value is replaced with. */
export const REDACTED = '[redacted]';

/**
 * A copy of the manifest or layer for logs and display: every env value marked `secret: true` is replaced by
 * REDACTED. The copy still validates, but deploying it would hand modules the placeholder.
 */
export function redactSecrets<T extends Manifest | Layer>(manifest: T): T {
  const modules = manifest.modules;
  if (modules === undefined) return manifest;
  const redacted: Record<string, Module> = {};
  for (const [name, module] of Object.entries(modules)) {
    if (module.env === undefined) {
      redacted[name] = module;
      continue;
    }
    const env = Object.fromEntries(
      Object.entries(module.env).map(([key, variable]) => [
        key,
        variable.secret === true ? { ...variable, value: REDACTED } : variable,
      ]),
    );
    redacted[name] = { ...module, env };
  }
  return { ...manifest, modules: redacted };
}
