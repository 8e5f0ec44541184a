/**
 * Static types and run-time values of compiled conditions.
 *
 * Azure's condition language is statically typed: every expression is a bool, number, string, null or undefined,
 * or a "dynamic" value read from a JSON `$body`, whose type is only known per message. Operands are checked at
 * compile time, so `3 + key` (a number plus a string property) is rejected before any message is seen.
 *
 * Run-time representations (chosen so the hot path is plain JavaScript comparisons):
 *   bool      true | false | undefined           (three-valued: undefined is "unknown")
 *   number    number, NaN meaning undefined       (3 % 0 is undefined, 3 / 0 is Infinity, as in .NET)
 *   string    string | null | undefined           (null: a property set to null; undefined: absent)
 *   null      null
 *   undefined undefined
 *   dynamic   see `Dynamic`
 */
import type { RoutingMessage } from './message.js';

export type StaticType = 'bool' | 'number' | 'string' | 'null' | 'undefined' | 'dynamic';

/** Three-valued truth. */
export type Tri = boolean | undefined;

/** A `$body` path that matched nothing. Azure treats it as null, except that is_null() says false for it. */
export const MISSING: unique symbol = Symbol('missing');
/** A string-typed null (a property set to null) after it was mixed with a dynamic value. */
export const NULL_STRING: unique symbol = Symbol('null string');

/** A value whose type is decided per message: undefined, null, bool, number (never NaN) or string. */
export type Dynamic = undefined | null | boolean | number | string | typeof MISSING | typeof NULL_STRING;

export type Run<T> = (message: RoutingMessage) => T;

interface CompiledBase {
  /** True when the value does not depend on the message (it was folded at compile time). */
  readonly constant: boolean;
}
export interface CompiledBool extends CompiledBase {
  readonly type: 'bool';
  readonly run: Run<Tri>;
}
export interface CompiledNumber extends CompiledBase {
  readonly type: 'number';
  readonly run: Run<number>;
}
export interface CompiledString extends CompiledBase {
  readonly type: 'string';
  readonly run: Run<string | null | undefined>;
}
export interface CompiledNull extends CompiledBase {
  readonly type: 'null';
  readonly run: Run<null>;
}
export interface CompiledUndefined extends CompiledBase {
  readonly type: 'undefined';
  readonly run: Run<undefined>;
}
export interface CompiledDynamic extends CompiledBase {
  readonly type: 'dynamic';
  readonly run: Run<Dynamic>;
}

/** A type-checked expression compiled to a closure over the message. */
export type Compiled =
  | CompiledBool
  | CompiledNumber
  | CompiledString
  | CompiledNull
  | CompiledUndefined
  | CompiledDynamic;

/** Only used to fold expressions whose inputs are all constant; such closures never look at the message. */
const PROBE: RoutingMessage = Object.freeze({ source: '', body: null, appProperties: {}, systemProperties: {} });

/** `inputs` are what `run` reads; when all are constant the result is computed once, now. */
function settle<T>(run: Run<T>, inputs: readonly Compiled[] | 'reads-message'): { run: Run<T>; constant: boolean } {
  if (inputs === 'reads-message' || !inputs.every((input) => input.constant)) return { run, constant: false };
  const value = run(PROBE);
  return { run: () => value, constant: true };
}

export function boolOf(run: Run<Tri>, inputs: readonly Compiled[] | 'reads-message'): CompiledBool {
  return { type: 'bool', ...settle(run, inputs) };
}
export function numberOf(run: Run<number>, inputs: readonly Compiled[] | 'reads-message'): CompiledNumber {
  return { type: 'number', ...settle(run, inputs) };
}
export function stringOf(
  run: Run<string | null | undefined>,
  inputs: readonly Compiled[] | 'reads-message',
): CompiledString {
  return { type: 'string', ...settle(run, inputs) };
}
export function dynamicOf(run: Run<Dynamic>, inputs: readonly Compiled[] | 'reads-message'): CompiledDynamic {
  return { type: 'dynamic', ...settle(run, inputs) };
}

export const NULL_CONSTANT: CompiledNull = { type: 'null', run: () => null, constant: true };
export const UNDEFINED_CONSTANT: CompiledUndefined = { type: 'undefined', run: () => undefined, constant: true };

export function constantBool(value: Tri): CompiledBool {
  return { type: 'bool', run: () => value, constant: true };
}
export function constantNumber(value: number): CompiledNumber {
  return { type: 'number', run: () => value, constant: true };
}
export function constantString(value: string | null | undefined): CompiledString {
  return { type: 'string', run: () => value, constant: true };
}

/** Views any expression as a dynamic value (what Azure does when one operand comes from `$body`). */
export function asDynamic(input: Compiled): CompiledDynamic {
  switch (input.type) {
    case 'dynamic':
      return input;
    case 'bool':
      return dynamicOf(input.run, [input]);
    case 'number': {
      const run = input.run;
      return dynamicOf(
        (m) => {
          const value = run(m);
          return Number.isNaN(value) ? undefined : value;
        },
        [input],
      );
    }
    case 'string': {
      const run = input.run;
      return dynamicOf(
        (m) => {
          const value = run(m);
          return value === null ? NULL_STRING : value;
        },
        [input],
      );
    }
    case 'null':
      return dynamicOf(() => null, [input]);
    case 'undefined':
      return dynamicOf(() => undefined, [input]);
  }
}

/** How the whole condition decides: only bools (and bool `$body` values) can be true; null counts as false. */
export function asCondition(input: Compiled): Run<Tri> {
  switch (input.type) {
    case 'bool':
      return input.run;
    case 'null':
      return () => false;
    case 'dynamic': {
      const run = input.run;
      return (m) => {
        const value = run(m);
        return typeof value === 'boolean' ? value : undefined;
      };
    }
    default:
      return () => undefined;
  }
}

/** Type order Azure uses when comparing dynamic values of different types: bool < number < string < null. */
function dynamicRank(value: Dynamic): number {
  switch (typeof value) {
    case 'boolean':
      return 1;
    case 'number':
      return 2;
    case 'string':
      return 3;
    default:
      return value === NULL_STRING ? 3 : 4;
  }
}

/** Orders two dynamic values (-1, 0, 1), or undefined when either is undefined. */
export function compareDynamic(left: Dynamic, right: Dynamic): number | undefined {
  if (left === undefined || right === undefined) return undefined;
  const leftRank = dynamicRank(left);
  const rightRank = dynamicRank(right);
  if (leftRank !== rightRank) return leftRank < rightRank ? -1 : 1;
  if (leftRank === 4) return 0;
  if (leftRank === 3) {
    if (left === NULL_STRING || right === NULL_STRING) return left === right ? 0 : left === NULL_STRING ? -1 : 1;
  }
  // Same primitive type here: booleans order false < true, strings by UTF-16 code unit (ordinal).
  return (left as number) < (right as number) ? -1 : (left as number) > (right as number) ? 1 : 0;
}

/** Kleene conjunction and disjunction. */
export function and3(left: Tri, right: Tri): Tri {
  if (left === false || right === false) return false;
  return left === true && right === true ? true : undefined;
}
export function or3(left: Tri, right: Tri): Tri {
  if (left === true || right === true) return true;
  return left === false && right === false ? false : undefined;
}
