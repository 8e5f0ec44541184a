/**
 * The JSON path subset accepted after `$body.` and inside `twin_change_includes(...)`:
 *
 *   path    = segment { "." segment }
 *   segment = name [ "[" digits "]" ]
 *
 * A name is any run of characters except `()<>@,;:\"/[]?={}.` and whitespace, and is not all digits (Azure lexes
 * those as an index). `*` as a name matches every member of an object, as in Newtonsoft's JSONPath.
 */

export type PathStep =
  | { readonly kind: 'member'; readonly name: string }
  | { readonly kind: 'any-member' }
  | { readonly kind: 'index'; readonly index: number };

export type PathParseResult =
  | { readonly ok: true; readonly steps: readonly PathStep[] }
  | { readonly ok: false; readonly offset: number; readonly expected: string };

const NAME_EXCLUDED = new Set('()<>@,;:\\"/[]?={}. \t\n\r');

function isNameChar(char: string): boolean {
  return !NAME_EXCLUDED.has(char);
}

function isDigit(char: string | undefined): boolean {
  return char !== undefined && char >= '0' && char <= '9';
}

/** Largest index Azure can read (a 32-bit int); larger ones fail at run time, which makes the query undefined. */
export const MAX_INDEX = 2_147_483_647;

export function parseJsonPath(path: string): PathParseResult {
  const steps: PathStep[] = [];
  let at = 0;
  for (;;) {
    const nameStart = at;
    while (at < path.length && isNameChar(path.charAt(at))) at++;
    const name = path.slice(nameStart, at);
    if (name.length === 0) return { ok: false, offset: nameStart, expected: 'a property name' };
    if (/^[0-9]+$/.test(name)) return { ok: false, offset: nameStart, expected: 'a property name, not a number' };
    steps.push(name === '*' ? { kind: 'any-member' } : { kind: 'member', name });
    if (path.charAt(at) === '[') {
      const digitsStart = ++at;
      while (isDigit(path.charAt(at))) at++;
      if (at === digitsStart) return { ok: false, offset: at, expected: 'an array index' };
      const index = Number(path.slice(digitsStart, at));
      if (path.charAt(at) !== ']') return { ok: false, offset: at, expected: "']'" };
      at++;
      steps.push({ kind: 'index', index });
    }
    if (at === path.length) return { ok: true, steps };
    if (path.charAt(at) !== '.') return { ok: false, offset: at, expected: "'.' or '['" };
    at++;
  }
}

/** Results of a selection other than a single value. */
export const PATH_NOT_FOUND: unique symbol = Symbol('path not found');
export const PATH_MANY: unique symbol = Symbol('path matched several values');
/** Azure fails at run time (an index beyond a 32-bit int). */
export const PATH_ERROR: unique symbol = Symbol('path error');

/** Returns the single value found, or one of the PATH_* symbols. */
export type PathSelector = (root: unknown) => unknown;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const hasOwn = Object.prototype.hasOwnProperty;

/** Builds a selector for `steps`; members are matched case-sensitively, as Newtonsoft does. */
export function compilePathSelector(steps: readonly PathStep[]): PathSelector {
  if (steps.some((step) => step.kind === 'index' && step.index > MAX_INDEX)) return () => PATH_ERROR;
  if (steps.every((step) => step.kind !== 'any-member')) {
    // Common case: one candidate all the way down, no allocation.
    return (root) => {
      let current = root;
      for (const step of steps) {
        if (step.kind === 'member') {
          if (!isObject(current) || !hasOwn.call(current, step.name)) return PATH_NOT_FOUND;
          current = current[step.name];
        } else if (step.kind === 'index') {
          if (!Array.isArray(current) || step.index >= current.length) return PATH_NOT_FOUND;
          current = current[step.index];
        }
      }
      return current;
    };
  }
  return (root) => {
    let current: unknown[] = [root];
    for (const step of steps) {
      const next: unknown[] = [];
      for (const token of current) {
        if (step.kind === 'member') {
          if (isObject(token) && hasOwn.call(token, step.name)) next.push(token[step.name]);
        } else if (step.kind === 'any-member') {
          if (isObject(token)) for (const key of Object.keys(token)) next.push(token[key]);
        } else if (Array.isArray(token) && step.index < token.length) {
          next.push(token[step.index]);
        }
      }
      if (next.length === 0) return PATH_NOT_FOUND;
      current = next;
    }
    return current.length > 1 ? PATH_MANY : current[0];
  };
}
