import { createHash } from 'node:crypto';
import { canonicalJson, type Module } from '@outpost/manifest';

/**
 * The identity of how a module runs: sha256 of the canonical JSON of its definition without `status` and
 * `desiredProperties`. Drivers store it with the instance, so a status-only change (or a twin change) keeps the hash
 * and the running instance is adopted, while any other change gives a new hash and a recreate.
 */
export function moduleSpecHash(module: Module): string {
  const { status: _status, desiredProperties: _desired, ...definition } = module;
  return createHash('sha256').update(canonicalJson(definition)).digest('hex');
}
