/**
 * Layered deployments, as in Azure IoT Edge: a base manifest plus layers that add or replace modules and routes and
 * patch module twins. mergeLayers computes the effective manifest a device runs.
 */
import { formatJsonPath, parseJsonPath } from './json-path.js';
import type { JsonObject, JsonValue, Layer, Manifest, Module, Route } from './schema.js';
import { isPlainObject, type ManifestIssue, type ValidationResult, validateManifest } from './validate.js';

/** A layer as deployed: its content plus the deployment's priority and creation time, which decide conflicts. */
export interface LayerDeployment {
  readonly layer: Layer;
  /** Higher wins (Azure's deployment priority: a non-negative integer). */
  readonly priority: number;
  /** On equal priority the newer layer wins. An ISO-8601 string or a Date. */
  readonly createdAt: string | Date;
  /** Shown in messages about this layer (e.g. the deployment id); defaults to `layers[<index>]`. */
  readonly name?: string;
}

interface Origin {
  readonly label: string;
}

/**
 * Applies layers to a base manifest: lowest priority first (then oldest first, then in the order given), so for
 * each module and route the highest-priority, newest layer wins. A layer's module replaces the module of the same
 * name whole; its routes replace routes of the same name; its `moduleDesiredProperties` are JSON merge patches
 * (RFC 7386) on the module twin, applied in the same order.
 *
 * The result is validated as an effective deployment, so a route naming a module no layer supplies is an error
 * here. Errors in the inputs are reported with paths prefixed `base.` or `layers[<index>].layer.`. Never throws.
 */
export function mergeLayers(base: Manifest, layers: readonly LayerDeployment[]): ValidationResult<Manifest> {
  try {
    return merge(base, layers);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return { ok: false, errors: [{ path: '', message: `the layers could not be merged: ${reason}` }] };
  }
}

function merge(base: Manifest, layers: readonly LayerDeployment[]): ValidationResult<Manifest> {
  const errors: ManifestIssue[] = [];
  const checkedBase = validateManifest(base);
  if (!checkedBase.ok) errors.push(...prefixed(checkedBase.errors, ['base']));

  const ordered: { layer: Layer; priority: number; time: number; index: number; label: string }[] = [];
  if (!Array.isArray(layers)) {
    errors.push({ path: 'layers', message: 'expected an array of layers' });
  } else {
    layers.forEach((entry: unknown, index) => {
      const at = (...rest: (string | number)[]) => formatJsonPath(['layers', index, ...rest]);
      if (!isPlainObject(entry)) {
        errors.push({ path: at(), message: 'expected { layer, priority, createdAt }' });
        return;
      }
      const checked = validateManifest(entry.layer, { layer: true });
      if (!checked.ok) errors.push(...prefixed(checked.errors, ['layers', index, 'layer']));
      const priority = entry.priority;
      if (typeof priority !== 'number' || !Number.isInteger(priority) || priority < 0) {
        errors.push({ path: at('priority'), message: 'expected a non-negative integer' });
      }
      const time = timeOf(entry.createdAt);
      if (time === undefined)
        errors.push({ path: at('createdAt'), message: 'expected an ISO-8601 date-time or a Date' });
      if (checked.ok && typeof priority === 'number' && time !== undefined) {
        const label = typeof entry.name === 'string' && entry.name !== '' ? entry.name : `layers[${index}]`;
        ordered.push({ layer: checked.manifest, priority, time, index, label });
      }
    });
  }
  if (errors.length > 0 || !checkedBase.ok) return { ok: false, errors };

  ordered.sort((a, b) => a.priority - b.priority || a.time - b.time || a.index - b.index);

  const effective = checkedBase.manifest;
  const modules: Record<string, Module> = { ...effective.modules };
  const routes: Record<string, Route> = { ...effective.routes };
  const routeOrigins = new Map<string, Origin>(Object.keys(routes).map((name) => [name, { label: 'base' }]));
  const patchOrigins = new Map<string, Origin>();
  // Twins are kept apart from module definitions while merging: in Azure, replacing a module leaves its twin alone.
  const desired = new Map<string, JsonObject>();
  for (const [name, module] of Object.entries(modules)) {
    if (module.desiredProperties !== undefined) desired.set(name, module.desiredProperties);
  }

  for (const { layer, label } of ordered) {
    for (const [name, module] of Object.entries(layer.modules ?? {})) {
      modules[name] = module;
      if (module.desiredProperties !== undefined) desired.set(name, module.desiredProperties);
    }
    for (const [name, route] of Object.entries(layer.routes ?? {})) {
      routes[name] = route;
      routeOrigins.set(name, { label });
    }
    for (const [name, patch] of Object.entries(layer.moduleDesiredProperties ?? {})) {
      desired.set(name, mergePatch(desired.get(name) ?? {}, patch) as JsonObject);
      patchOrigins.set(name, { label });
    }
  }

  const warnings: ManifestIssue[] = [];
  const merged: Record<string, Module> = {};
  for (const [name, module] of Object.entries(modules)) {
    const properties = desired.get(name);
    const { desiredProperties: _replaced, ...rest } = module;
    merged[name] = properties === undefined ? rest : { ...rest, desiredProperties: properties };
  }
  for (const [name, origin] of patchOrigins) {
    if (modules[name] === undefined) {
      warnings.push({
        path: formatJsonPath(['moduleDesiredProperties', name]),
        message: `${origin.label} sets desired properties of module ${JSON.stringify(name)}, which the effective deployment does not define; they are ignored`,
      });
    }
  }

  const result = validateManifest({ ...effective, modules: merged, routes }, { effective: true });
  if (!result.ok) {
    // Say which layer a bad route came from: the merged manifest is not something anyone wrote.
    return { ok: false, errors: result.errors.map((issue) => withRouteOrigin(issue, routeOrigins)) };
  }
  return { ok: true, manifest: result.manifest, warnings: [...warnings, ...result.warnings] };
}

/** RFC 7386 JSON merge patch: objects merge member by member, null deletes, anything else replaces. */
export function mergePatch(target: JsonValue, patch: JsonValue): JsonValue {
  if (!isPlainObject(patch)) return patch;
  const result: Record<string, JsonValue> = isPlainObject(target) ? { ...(target as JsonObject) } : {};
  for (const [key, value] of Object.entries(patch as JsonObject)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key] ?? null, value);
  }
  return result;
}

function timeOf(value: unknown): number | undefined {
  const time = value instanceof Date ? value.getTime() : typeof value === 'string' ? Date.parse(value) : Number.NaN;
  return Number.isFinite(time) ? time : undefined;
}

function prefixed(issues: readonly ManifestIssue[], prefix: (string | number)[]): ManifestIssue[] {
  return issues.map((issue) => ({
    path: formatJsonPath([...prefix, ...(issue.path === '' ? [] : parseJsonPath(issue.path))]),
    message: issue.message,
  }));
}

function withRouteOrigin(issue: ManifestIssue, origins: ReadonlyMap<string, Origin>): ManifestIssue {
  const segments = issue.path === '' ? [] : parseJsonPath(issue.path);
  if (segments[0] !== 'routes' || typeof segments[1] !== 'string') return issue;
  const origin = origins.get(segments[1]);
  return origin === undefined ? issue : { path: issue.path, message: `${issue.message} (route from ${origin.label})` };
}
