/**
 * validateManifest: every problem in a manifest or layer, each with the JSON path of the value it is about. It never
 * throws: the portal runs it on every keystroke and the agent on whatever arrives from the network.
 */
import { compileRoutes, RouteSyntaxError } from '@outpost/routing';
import { z } from 'zod';
import { formatJsonPath, type JsonPathSegment } from './json-path.js';
import { Layer, MANIFEST_SCHEMA_MINOR, MANIFEST_SCHEMA_VERSION, Manifest, Module, ModuleName } from './schema.js';

/** One problem: where (`modules.filter.restartPolicy`, `""` for the whole document) and what is wrong. */
export interface ManifestIssue {
  readonly path: string;
  readonly message: string;
}

export type ValidationResult<T> =
  | { readonly ok: true; readonly manifest: T; readonly warnings: ManifestIssue[] }
  | { readonly ok: false; readonly errors: ManifestIssue[] };

export interface ValidateOptions {
  /** Validate a layer (a partial manifest) instead of a whole manifest. */
  readonly layer?: boolean;
  /**
   * The manifest is the effective deployment a device runs (the base merged with its layers): a route naming a
   * module the manifest lacks is then an error rather than a warning.
   */
  readonly effective?: boolean;
}

/** Beyond this depth a value is rejected before zod sees it, so no input can exhaust the stack. */
export const MAX_NESTING_DEPTH = 64;

export function validateManifest(input: unknown, options: { readonly layer: true }): ValidationResult<Layer>;
export function validateManifest(
  input: unknown,
  options?: { readonly layer?: false; readonly effective?: boolean },
): ValidationResult<Manifest>;
export function validateManifest(input: unknown, options?: ValidateOptions): ValidationResult<Manifest | Layer>;
export function validateManifest(input: unknown, options?: ValidateOptions): ValidationResult<Manifest | Layer> {
  const layer = options?.layer === true;
  const effective = !layer && options?.effective === true;
  try {
    return validate(input, layer, effective);
  } catch (error) {
    // Only exotic inputs get here (a Proxy or getter that throws while being read): report, never propagate.
    const reason = error instanceof Error ? error.message : String(error);
    return { ok: false, errors: [{ path: '', message: `the manifest could not be read: ${reason}` }] };
  }
}

function validate(input: unknown, layer: boolean, effective: boolean): ValidationResult<Manifest | Layer> {
  const what = layer ? 'layer' : 'manifest';
  if (!isPlainObject(input)) {
    return { ok: false, errors: [{ path: '', message: `expected a ${what} object, got ${describeValue(input)}` }] };
  }
  const versionProblem = unsupportedMajorVersion(input.schemaVersion);
  if (versionProblem !== undefined) return { ok: false, errors: [{ path: 'schemaVersion', message: versionProblem }] };

  const structure = inspectStructure(input);
  if (structure.fatal.length > 0) return { ok: false, errors: structure.fatal };

  const errors: ManifestIssue[] = [...structure.errors];
  const warnings: ManifestIssue[] = [];
  const schema = layer ? Layer : Manifest;
  const parsed = schema.safeParse(input, { reportInput: true });
  if (!parsed.success) {
    const newerMinor = newerMinorVersion(input.schemaVersion);
    // A value already reported by inspectStructure (a Date, say) would otherwise be reported twice.
    const reported = new Set(structure.errors.map((issue) => issue.path));
    for (const issue of parsed.error.issues) {
      for (const described of describeIssue(issue, [], { schema, input, newerMinor })) {
        if (!reported.has(described.path)) errors.push(described);
      }
    }
  }
  checkModulesUnderBadNames(input, errors, { schema, input, newerMinor: newerMinorVersion(input.schemaVersion) });
  checkModuleNameCase(input, errors);
  checkRoutes(input, layer, effective, errors, warnings);

  if (errors.length > 0) return { ok: false, errors: unique(errors) };
  if (!parsed.success) {
    // Unreachable in practice (every zod issue becomes an error above), but never report ok without a manifest.
    return { ok: false, errors: [{ path: '', message: `the ${what} is invalid` }] };
  }
  return { ok: true, manifest: parsed.data, warnings: unique(warnings) };
}

// --- schema version ------------------------------------------------------------------------------------------------

function unsupportedMajorVersion(version: unknown): string | undefined {
  if (typeof version !== 'string') return undefined;
  const match = /^\s*(\d+)(?:\.\d+)*\s*$/.exec(version);
  if (match === null || Number(match[1]) === 1) return undefined;
  return (
    `schema version ${JSON.stringify(version)} is not supported: this version of Outpost reads 1.x manifests ` +
    `(it writes ${MANIFEST_SCHEMA_VERSION})`
  );
}

/** The minor version when it is newer than the one this package knows, to explain unknown keys. */
function newerMinorVersion(version: unknown): string | undefined {
  if (typeof version !== 'string') return undefined;
  const match = /^1\.(\d+)$/.exec(version);
  return match !== null && Number(match[1]) > MANIFEST_SCHEMA_MINOR ? version : undefined;
}

// --- structure: what zod cannot be trusted with --------------------------------------------------------------------

/**
 * Walks the input once before zod does. Cycles and absurd nesting are fatal (zod would recurse until the stack
 * overflows); `__proto__` keys and non-plain objects are errors because zod silently drops or empties them, which
 * would change the manifest without saying so.
 */
function inspectStructure(input: unknown): { fatal: ManifestIssue[]; errors: ManifestIssue[] } {
  const fatal: ManifestIssue[] = [];
  const errors: ManifestIssue[] = [];
  const ancestors = new Set<object>();
  const visit = (value: unknown, path: JsonPathSegment[]): void => {
    if (typeof value !== 'object' || value === null) return;
    if (ancestors.has(value)) {
      fatal.push({
        path: formatJsonPath(path),
        message: 'the value contains itself (a cycle), which JSON cannot hold',
      });
      return;
    }
    if (path.length > MAX_NESTING_DEPTH) {
      fatal.push({ path: formatJsonPath(path), message: `nested more than ${MAX_NESTING_DEPTH} levels deep` });
      return;
    }
    const isArray = Array.isArray(value);
    if (!isArray && !isPlainObject(value)) {
      const name = Object.getPrototypeOf(value)?.constructor?.name ?? 'object';
      errors.push({ path: formatJsonPath(path), message: `expected plain JSON, got a ${name}` });
      return;
    }
    ancestors.add(value);
    if (isArray) {
      for (let index = 0; index < value.length && fatal.length === 0; index++) visit(value[index], [...path, index]);
    } else {
      for (const key of Object.keys(value)) {
        if (fatal.length > 0) break;
        if (key === '__proto__') {
          errors.push({ path: formatJsonPath([...path, key]), message: "'__proto__' cannot be used as a name" });
          continue;
        }
        visit((value as Record<string, unknown>)[key], [...path, key]);
      }
    }
    ancestors.delete(value);
  };
  visit(input, []);
  return { fatal, errors };
}

// --- zod issues → messages -----------------------------------------------------------------------------------------

interface IssueContext {
  readonly schema: z.ZodType;
  readonly input: unknown;
  readonly newerMinor: string | undefined;
}

/** zod's own wording starts like this; any other message was written in schema.ts and is used as it is. */
const ZOD_DEFAULT_MESSAGE = /^(Too small|Too big|Invalid|Unrecognized)/;

function describeIssue(issue: z.core.$ZodIssue, prefix: JsonPathSegment[], context: IssueContext): ManifestIssue[] {
  const segments = [...prefix, ...issue.path.map((key) => (typeof key === 'symbol' ? String(key) : key))];
  const at = (message: string, extra: JsonPathSegment[] = []): ManifestIssue => ({
    path: formatJsonPath([...segments, ...extra]),
    message,
  });
  const custom = ZOD_DEFAULT_MESSAGE.test(issue.message) ? undefined : issue.message;
  switch (issue.code) {
    case 'invalid_type': {
      if (issue.input === undefined) return [at(`required: ${expectedType(issue.expected)}`)];
      return [at(custom ?? `expected ${expectedType(issue.expected)}, got ${describeValue(issue.input)}`)];
    }
    case 'invalid_value': {
      const got = typeof issue.input === 'string' ? `, got ${JSON.stringify(truncate(issue.input))}` : '';
      const values = issue.values.map((value) => String(value));
      const expected = values.length === 1 ? `expected ${values[0]}` : `expected one of ${values.join(', ')}`;
      return [at(custom ?? `${expected}${got}`)];
    }
    case 'unrecognized_keys':
      return issue.keys.map((key) => at(unknownKeyMessage(key, segments, context), [key]));
    case 'too_small':
    case 'too_big':
      return [at(custom ?? boundMessage(issue))];
    case 'invalid_format':
      return [at(custom ?? `must match the pattern ${issue.pattern ?? issue.format}`)];
    case 'not_multiple_of':
      return [at(custom ?? `must be a multiple of ${String(issue.divisor)}`)];
    case 'invalid_key':
      return issue.issues.flatMap((inner) => describeIssue({ ...inner, path: [] }, segments, context));
    case 'invalid_element':
      return issue.issues.flatMap((inner) => describeIssue(inner, segments, context));
    case 'invalid_union':
      return describeUnionIssue(issue, segments, context, custom);
    default:
      return [at(issue.message)];
  }
}

function describeUnionIssue(
  issue: z.core.$ZodIssueInvalidUnion,
  segments: JsonPathSegment[],
  context: IssueContext,
  custom: string | undefined,
): ManifestIssue[] {
  const path = formatJsonPath(segments);
  if (issue.discriminator !== undefined) {
    // A discriminated union (module or probe `type`): zod already put the discriminator key in the path.
    const options = ('options' in issue ? (issue.options ?? []) : []).map(String).join(', ');
    const container = issue.input;
    const value = isPlainObject(container) ? container[issue.discriminator] : undefined;
    if (value === undefined) return [{ path, message: `required: one of ${options}` }];
    const got = typeof value === 'string' ? JSON.stringify(truncate(value)) : describeValue(value);
    return [{ path, message: `expected one of ${options}, got ${got}` }];
  }
  // The branches whose type matched the input: when exactly one did, its problems are the real ones.
  const typeMatched = issue.errors.filter(
    (branch) => !branch.every((inner) => inner.code === 'invalid_type' && inner.path.length === 0),
  );
  if (typeMatched.length === 1 && typeMatched[0] !== undefined) {
    return typeMatched[0].flatMap((inner) => describeIssue(inner, segments, context));
  }
  if (custom !== undefined) return [{ path, message: custom }];
  const expected = new Set<string>();
  for (const branch of issue.errors) {
    for (const inner of branch)
      if (inner.code === 'invalid_type' && inner.path.length === 0) expected.add(inner.expected);
  }
  const json = ['string', 'number', 'boolean', 'null', 'array', 'record'];
  const got = describeValue(issue.input);
  if (json.every((type) => expected.has(type))) {
    return [{ path, message: `expected a JSON value (string, number, boolean, null, array or object), got ${got}` }];
  }
  const list = [...expected].map(expectedType);
  return [{ path, message: `expected ${list.length > 0 ? list.join(' or ') : 'a different value'}, got ${got}` }];
}

function expectedType(expected: string): string {
  switch (expected) {
    case 'int':
      return 'an integer';
    case 'object':
    case 'record':
      return 'an object';
    case 'array':
      return 'an array';
    case 'boolean':
      return 'true or false';
    case 'null':
    case 'undefined':
      return expected;
    default:
      return `a ${expected}`;
  }
}

function boundMessage(issue: z.core.$ZodIssueTooSmall | z.core.$ZodIssueTooBig): string {
  const small = issue.code === 'too_small';
  const bound = Number(small ? (issue as z.core.$ZodIssueTooSmall).minimum : (issue as z.core.$ZodIssueTooBig).maximum);
  const inclusive = issue.inclusive !== false;
  switch (issue.origin) {
    case 'string':
      if (small && bound === 1) return 'cannot be empty';
      return `must be ${small ? 'at least' : 'at most'} ${bound} characters long`;
    case 'array':
    case 'set':
      if (small && bound === 1) return 'needs at least one item';
      return `must have ${small ? 'at least' : 'at most'} ${bound} items`;
    default:
      if (inclusive) return `must be ${small ? 'at least' : 'at most'} ${bound}`;
      return `must be ${small ? 'greater' : 'less'} than ${bound}`;
  }
}

function unknownKeyMessage(key: string, objectPath: JsonPathSegment[], context: IssueContext): string {
  const known = knownKeys(context.schema, objectPath, context.input);
  const suggestion = known === undefined ? undefined : closestKey(key, known);
  let message = `unknown key ${JSON.stringify(truncate(key))}`;
  if (suggestion !== undefined) message += `; did you mean ${JSON.stringify(suggestion)}?`;
  else if (known !== undefined && known.length > 0) message += `; expected one of ${known.join(', ')}`;
  if (context.newerMinor !== undefined) {
    message +=
      ` (this version of Outpost reads schema ${MANIFEST_SCHEMA_VERSION}; the manifest says ${context.newerMinor}, ` +
      'whose newer keys need a newer Outpost)';
  }
  return message;
}

/** The keys the strict object at `path` accepts, found by walking the schema alongside the input. */
function knownKeys(schema: z.ZodType, path: JsonPathSegment[], input: unknown): string[] | undefined {
  let current: z.ZodType | undefined = schema;
  let value: unknown = input;
  for (let depth = 0; current !== undefined && depth <= path.length; depth++) {
    current = unwrap(current, value);
    if (depth === path.length) break;
    const segment = path[depth];
    if (segment === undefined) return undefined;
    if (current instanceof z.ZodObject) current = current.shape[String(segment)] as z.ZodType | undefined;
    else if (current instanceof z.ZodRecord) current = current.valueType as z.ZodType;
    else return undefined;
    value = isPlainObject(value) ? value[String(segment)] : undefined;
  }
  return current instanceof z.ZodObject ? Object.keys(current.shape) : undefined;
}

/** Looks through optional/default wrappers and picks the union member that fits the value. */
function unwrap(schema: z.ZodType, value: unknown): z.ZodType | undefined {
  let current: z.ZodType = schema;
  for (let guard = 0; guard < 16; guard++) {
    if (current instanceof z.ZodOptional || current instanceof z.ZodDefault || current instanceof z.ZodPrefault) {
      current = current.unwrap() as z.ZodType;
    } else if (current instanceof z.ZodUnion) {
      const objects = (current.options as readonly z.ZodType[]).filter((option) => option instanceof z.ZodObject);
      const discriminator = current instanceof z.ZodDiscriminatedUnion ? current.def.discriminator : undefined;
      if (discriminator === undefined || !isPlainObject(value)) return objects.length === 1 ? objects[0] : undefined;
      return objects.find((option) => {
        const literal = (option as z.ZodObject).shape[discriminator];
        return literal instanceof z.ZodLiteral && literal.values.has(value[discriminator] as z.core.util.Literal);
      });
    } else {
      return current;
    }
  }
  return undefined;
}

/** A known key that differs only in case or by at most two edits, if there is exactly one best candidate. */
function closestKey(key: string, known: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  const sameLetters = known.find((candidate) => candidate.toLowerCase() === lower);
  if (sameLetters !== undefined) return sameLetters;
  if (key.length > 64) return undefined;
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of known) {
    const distance = editDistance(lower, candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return bestDistance <= Math.min(2, Math.floor(key.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

// --- cross-field checks --------------------------------------------------------------------------------------------

/**
 * zod does not look at a record value whose key is invalid, so a module with a bad name would have its other
 * problems reported only after the rename. Validate those modules too, so one pass shows everything.
 */
function checkModulesUnderBadNames(
  input: Record<string, unknown>,
  errors: ManifestIssue[],
  context: IssueContext,
): void {
  if (!isPlainObject(input.modules)) return;
  for (const [name, module] of Object.entries(input.modules)) {
    if (name === '__proto__' || ModuleName.safeParse(name).success) continue;
    const parsed = Module.safeParse(module, { reportInput: true });
    if (parsed.success) continue;
    for (const issue of parsed.error.issues) {
      errors.push(...describeIssue(issue, ['modules', name], { ...context, schema: Module, input: module }));
    }
  }
}

/** FROM paths match module names case-insensitively, so two modules differing only in case would be confused. */
function checkModuleNameCase(input: Record<string, unknown>, errors: ManifestIssue[]): void {
  if (!isPlainObject(input.modules)) return;
  const seen = new Map<string, string>();
  for (const name of Object.keys(input.modules)) {
    const lower = name.toLowerCase();
    const first = seen.get(lower);
    if (first === undefined) {
      seen.set(lower, name);
    } else {
      errors.push({
        path: formatJsonPath(['modules', name]),
        message:
          `differs from module ${JSON.stringify(first)} only in letter case; routes match module names ` +
          'case-insensitively, so the two cannot be told apart',
      });
    }
  }
}

/**
 * Compiles every route with @outpost/routing (syntax, condition types, sink address) and checks that the modules it
 * reads from and sends to exist. Works on the raw input so route problems are reported alongside schema problems.
 */
function checkRoutes(
  input: Record<string, unknown>,
  layer: boolean,
  effective: boolean,
  errors: ManifestIssue[],
  warnings: ManifestIssue[],
): void {
  if (!isPlainObject(input.routes)) return;
  const modules = isPlainObject(input.modules) ? Object.keys(input.modules) : [];
  const modulesLower = new Map(modules.map((name) => [name.toLowerCase(), name]));
  const moduleSet = new Set(modules);
  const missing = effective ? errors : warnings;
  const whose = layer ? 'this layer' : effective ? 'the effective deployment' : 'this manifest';
  const elsewhere = effective ? '' : '; it must come from another layer, or the effective deployment is rejected';

  for (const [name, spec] of Object.entries(input.routes)) {
    let text: unknown = spec;
    let segments: JsonPathSegment[] = ['routes', name];
    if (isPlainObject(spec)) {
      text = spec.route;
      segments = ['routes', name, 'route'];
    }
    if (typeof text !== 'string' || text === '') continue;
    const path = formatJsonPath(segments);
    let compiled: ReturnType<typeof compileRoutes>['routes'][number] | undefined;
    try {
      compiled = compileRoutes({ route: text }).routes[0];
    } catch (error) {
      if (!(error instanceof RouteSyntaxError)) throw error;
      errors.push({ path, message: `${error.reason} (line ${error.line}, column ${error.column})` });
      continue;
    }
    if (compiled === undefined) continue;

    if (compiled.sink.type === 'function' && !moduleSet.has(compiled.sink.module)) {
      const target = compiled.sink.module;
      const sameLetters = modulesLower.get(target.toLowerCase());
      const hint =
        sameLetters === undefined
          ? elsewhere
          : `; module inputs are case-sensitive — did you mean ${JSON.stringify(sameLetters)}?`;
      missing.push({
        path,
        message: `sends to module ${JSON.stringify(target)}, which ${whose} does not define${hint}`,
      });
    }
    const source = sourceModule(compiled.source);
    if (source !== undefined && !modulesLower.has(source.toLowerCase())) {
      missing.push({
        path,
        message: `reads from module ${JSON.stringify(source)}, which ${whose} does not define${elsewhere}`,
      });
    }
  }
}

/** The module a FROM path names (`/messages/modules/<module>/…`), if it names one rather than a wildcard. */
function sourceModule(source: string): string | undefined {
  const parts = source.split('/');
  if (parts[1]?.toLowerCase() !== 'messages' || parts[2]?.toLowerCase() !== 'modules') return undefined;
  const module = parts[3];
  return module === undefined || module === '*' || module === '' ? undefined : module;
}

// --- helpers -------------------------------------------------------------------------------------------------------

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/** How a value is named in messages. Never shows the value itself, which may be a secret. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'number':
      return Number.isNaN(value) ? 'NaN' : Number.isFinite(value) ? 'a number' : String(value);
    case 'string':
      return 'a string';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      return isPlainObject(value) ? 'an object' : `a ${Object.getPrototypeOf(value)?.constructor?.name ?? 'object'}`;
    default:
      return `a ${typeof value}`;
  }
}

function truncate(text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function unique(issues: ManifestIssue[]): ManifestIssue[] {
  const seen = new Set<string>();
  return issues.filter((issue) => {
    const key = `${issue.path}\u0000${issue.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
