/**
 * Type-checks a condition's syntax tree and turns it into nested closures. All work that depends only on the text
 * (parsing, type checks, `$body` path parsing, constant folding) happens here, once; evaluation only runs closures.
 */
import type { BinaryNode, CallNode, ConditionNode, ExpressionNode, SystemPropertyNode, UnaryNode } from './ast.js';
import { argumentFits, BUILTINS, describeParameters, signatureFits } from './builtins.js';
import { RouteSyntaxError } from './errors.js';
import { compilePathSelector, PATH_ERROR, PATH_NOT_FOUND, parseJsonPath } from './json-path.js';
import { isDateLikeString, type RoutingMessage, readJsonBody, readProperty, UNREADABLE_BODY } from './message.js';
import { parseCondition } from './parser.js';
import {
  and3,
  asCondition,
  asDynamic,
  boolOf,
  type Compiled,
  type CompiledDynamic,
  compareDynamic,
  constantBool,
  constantNumber,
  constantString,
  type Dynamic,
  dynamicOf,
  MISSING,
  NULL_CONSTANT,
  NULL_STRING,
  numberOf,
  or3,
  type Run,
  type StaticType,
  stringOf,
  type Tri,
  UNDEFINED_CONSTANT,
} from './values.js';

export interface CompileOptions {
  /** Allow `$body.<path>` queries on JSON message bodies. Routes compiled by `compileRoutes` always allow them. */
  readonly body?: boolean;
  /** Allow `twin_change_includes(...)`. `compileRoutes` allows it for routes FROM /twinChangeNotifications. */
  readonly twinChangeIncludes?: boolean;
}

export type ConditionResult = 'true' | 'false' | 'undefined';

export interface CompiledCondition {
  /** The condition text that was compiled. */
  readonly text: string;
  /** Evaluates against one message. Never throws; a route fires only when this returns 'true'. */
  evaluate(message: RoutingMessage): ConditionResult;
  /** The same result as three-valued logic: true, false or undefined. Never throws. */
  test(message: RoutingMessage): boolean | undefined;
}

interface Context {
  readonly text: string;
  readonly body: boolean;
  readonly twinChangeIncludes: boolean;
}

const TYPE_NAMES: Record<StaticType, string> = {
  bool: 'bool',
  number: 'number',
  string: 'string',
  null: 'null',
  undefined: 'undefined',
  dynamic: '$body value',
};

function fail(context: Context, offset: number, expected: string, found: string, detail?: string): never {
  throw new RouteSyntaxError(context.text, offset, expected, found, detail);
}

function typesOf(operands: readonly Compiled[]): string {
  return operands.map((operand) => TYPE_NAMES[operand.type]).join(' and ');
}

/** Compiles a condition once; the returned evaluator never re-parses or re-walks the text. */
export function compileCondition(text: string, options: CompileOptions = {}): CompiledCondition {
  if (typeof text !== 'string') throw new TypeError('condition must be a string');
  const context: Context = {
    text,
    body: options?.body === true,
    twinChangeIncludes: options?.twinChangeIncludes === true,
  };
  const tree: ConditionNode = parseCondition(text);
  const compiled = tree.kind === 'empty' ? UNDEFINED_CONSTANT : compileExpression(tree, context);
  const decide: Run<Tri> = asCondition(compiled);
  const test = (message: RoutingMessage): Tri => {
    try {
      return decide(message);
    } catch {
      // Unreachable for well-formed messages; a hostile object (a throwing getter or Proxy) is simply undefined.
      return undefined;
    }
  };
  return {
    text,
    test,
    evaluate: (message) => {
      const result = test(message);
      return result === true ? 'true' : result === false ? 'false' : 'undefined';
    },
  };
}

function compileExpression(node: ExpressionNode, context: Context): Compiled {
  switch (node.kind) {
    case 'literal': {
      const literal = node.literal;
      switch (literal.type) {
        case 'bool':
          return constantBool(literal.value);
        case 'number':
          return constantNumber(literal.value);
        case 'string':
          return constantString(literal.value);
        case 'null':
          return NULL_CONSTANT;
        case 'undefined':
          return UNDEFINED_CONSTANT;
      }
      break;
    }
    case 'property': {
      const name = node.name;
      const lowerName = name.toLowerCase();
      return stringOf((m) => readProperty(m.appProperties, name, lowerName), 'reads-message');
    }
    case 'system-property':
      return compileSystemProperty(node, context);
    case 'call':
      return compileCall(node, context);
    case 'unary':
      return compileUnary(node, context);
    case 'binary':
      return compileBinary(node, context);
  }
}

/**
 * `$name`: the application property literally named `$name` if the message has one, else the system property
 * `name`. With body queries on, `$body.path` reads the JSON body instead (an application property of that exact
 * name still wins). `{$name}` skips the application property. Names containing `[` or `]` are only valid as `$body`
 * paths and are otherwise undefined, as in Azure.
 */
function compileSystemProperty(node: SystemPropertyNode, context: Context): Compiled {
  const name = node.name;
  const isBodyQuery = context.body && name.toLowerCase().startsWith('$body.');
  const bodyQuery = isBodyQuery ? compileBodyQuery(name.slice('$body.'.length), node.nameStart + 6, context) : null;
  const hasBrackets = name.includes('[') || name.includes(']');
  if (bodyQuery !== null && (node.escaped || hasBrackets)) return bodyQuery;
  if (hasBrackets) return UNDEFINED_CONSTANT;

  const systemName = name.slice(1);
  const systemLower = systemName.toLowerCase();
  if (node.escaped) return stringOf((m) => readProperty(m.systemProperties, systemName, systemLower), 'reads-message');

  const lowerName = name.toLowerCase();
  if (bodyQuery !== null) {
    const readBody = bodyQuery.run;
    return dynamicOf((m) => {
      const app = readProperty(m.appProperties, name, lowerName);
      if (app === undefined) return readBody(m);
      return app === null ? NULL_STRING : app;
    }, 'reads-message');
  }
  return stringOf((m) => {
    const app = readProperty(m.appProperties, name, lowerName);
    return app !== undefined ? app : readProperty(m.systemProperties, systemName, systemLower);
  }, 'reads-message');
}

/** Parses a `$body` path (or fails with its position) and returns a reader of the JSON body at that path. */
function compileBodyQuery(path: string, pathOffset: number, context: Context): CompiledDynamic {
  if (path.length === 0) fail(context, pathOffset, 'a $body path', 'nothing', '$body query cannot be empty');
  const parsed = parseJsonPath(path);
  if (!parsed.ok) {
    const offset = pathOffset + parsed.offset;
    fail(
      context,
      offset,
      parsed.expected,
      describeChar(path, parsed.offset),
      `invalid $body path '${path}': expected ${parsed.expected}`,
    );
  }
  const select = compilePathSelector(parsed.steps);
  return dynamicOf((m) => {
    const body = readJsonBody(m);
    if (body === UNREADABLE_BODY) return undefined;
    return asBodyValue(select(body));
  }, 'reads-message');
}

function describeChar(text: string, offset: number): string {
  return offset >= text.length ? 'end of path' : `'${text.charAt(offset)}'`;
}

/** What Azure makes of a JSON value: objects, arrays, several matches and date-like strings are undefined. */
function asBodyValue(found: unknown): Dynamic {
  switch (typeof found) {
    case 'boolean':
    case 'number':
      return found;
    case 'string':
      return isDateLikeString(found) ? undefined : found;
    default:
      if (found === null) return null;
      if (found === PATH_NOT_FOUND) return MISSING;
      return undefined; // objects, arrays, PATH_MANY, PATH_ERROR
  }
}

const TWIN_CHANGE_PREFIXES = ['properties.reported.', 'properties.desired.', 'tags.'];

/** `twin_change_includes(path)`: true when the twin change notification in the body contains `path`. */
function compileTwinChangeIncludes(node: CallNode, context: Context): Compiled {
  if (!context.twinChangeIncludes) {
    fail(
      context,
      node.start,
      'a known function',
      `'${node.name}'`,
      `${node.name}() is only available in routes FROM /twinChangeNotifications`,
    );
  }
  const path = node.argumentText;
  const argumentsOffset = node.start + node.name.length + 1;
  if (path.length === 0) {
    fail(context, argumentsOffset, 'a twin path', 'nothing', 'twin_change_includes argument cannot be empty');
  }
  const parsed = parseJsonPath(path);
  if (!parsed.ok) {
    fail(context, argumentsOffset, parsed.expected, describeChar(path, parsed.offset), `invalid twin path '${path}'`);
  }
  const lowerPath = path.toLowerCase();
  if (!TWIN_CHANGE_PREFIXES.some((prefix) => lowerPath.startsWith(prefix))) {
    fail(
      context,
      argumentsOffset,
      `a path starting with ${TWIN_CHANGE_PREFIXES.map((p) => `'${p}'`).join(', ')}`,
      `'${path}'`,
    );
  }
  const select = compilePathSelector(parsed.steps);
  return boolOf((m) => {
    const body = readJsonBody(m);
    if (body === UNREADABLE_BODY) return undefined;
    const found = select(body);
    if (found === PATH_NOT_FOUND) return false;
    return found === PATH_ERROR ? undefined : true;
  }, 'reads-message');
}

function compileCall(node: CallNode, context: Context): Compiled {
  const name = node.name.toLowerCase();
  if (name === 'twin_change_includes') return compileTwinChangeIncludes(node, context);
  const signatures = BUILTINS.get(name);
  if (signatures === undefined) {
    fail(context, node.start, 'a known function', `'${node.name}'`, `unknown function '${node.name}'`);
  }
  const args = node.args.map((arg) => compileExpression(arg, context));
  const types = args.map((arg) => arg.type);
  for (const signature of signatures) {
    if (!signatureFits(signature, types)) continue;
    return signature.dynamic ? signature.build(args.map(asDynamic)) : signature.build(args);
  }
  const accepted = signatures.map((signature) => describeParameters(signature.parameters)).join(' or ');
  return fail(
    context,
    node.start,
    `${node.name}${accepted.startsWith('(') ? '' : ' with '}${accepted}`,
    `(${types.map((type) => TYPE_NAMES[type]).join(', ')})`,
    `${node.name}() takes ${accepted}, not (${types.map((type) => TYPE_NAMES[type]).join(', ')})`,
  );
}

function compileUnary(node: UnaryNode, context: Context): Compiled {
  const operand = compileExpression(node.operand, context);
  if (node.operator === '-') {
    if (operand.type === 'number') {
      const run = operand.run;
      return numberOf((m) => -run(m), [operand]);
    }
    // Azure rejects negating a $body value at compile time; negating it when it is a number is more useful.
    if (operand.type === 'dynamic') {
      const run = operand.run;
      return dynamicOf(
        (m) => {
          const value = run(m);
          return typeof value === 'number' ? -value : undefined;
        },
        [operand],
      );
    }
    return fail(
      context,
      node.start,
      'a number after -',
      TYPE_NAMES[operand.type],
      `cannot negate a ${TYPE_NAMES[operand.type]}`,
    );
  }
  switch (operand.type) {
    case 'bool': {
      const run = operand.run;
      return boolOf(
        (m) => {
          const value = run(m);
          return value === undefined ? undefined : !value;
        },
        [operand],
      );
    }
    case 'null':
      return constantBool(true);
    case 'dynamic': {
      const run = operand.run;
      return boolOf(
        (m) => {
          const value = run(m);
          return typeof value === 'boolean' ? !value : undefined;
        },
        [operand],
      );
    }
    default:
      return fail(
        context,
        node.start,
        'a bool after NOT',
        TYPE_NAMES[operand.type],
        `NOT needs a bool, not a ${TYPE_NAMES[operand.type]}`,
      );
  }
}

function compileBinary(node: BinaryNode, context: Context): Compiled {
  const left = compileExpression(node.left, context);
  const right = compileExpression(node.right, context);
  switch (node.operator) {
    case '+':
    case '-':
    case '*':
    case '/':
    case '%':
      return compileArithmetic(node, left, right, context);
    case '||':
      return compileConcat(node, left, right, context);
    case '=':
    case '!=':
    case '<>':
    case '<':
    case '<=':
    case '>':
    case '>=':
      return compileComparison(node, left, right, context);
    case 'and':
    case 'or':
      return compileLogical(node, left, right, context);
    case '??':
      return compileCoalesce(node, left, right, context);
  }
}

function operandError(node: BinaryNode, context: Context, expected: string, left: Compiled, right: Compiled): never {
  const operator = node.operator.toUpperCase();
  return fail(
    context,
    node.operatorStart,
    expected,
    typesOf([left, right]),
    `operator ${operator} needs ${expected}, not ${typesOf([left, right])}`,
  );
}

const ARITHMETIC: Record<'+' | '-' | '*' | '/' | '%', (a: number, b: number) => number> = {
  '+': (a, b) => a + b,
  '-': (a, b) => a - b,
  '*': (a, b) => a * b,
  '/': (a, b) => a / b,
  '%': (a, b) => a % b,
};

function compileArithmetic(node: BinaryNode, left: Compiled, right: Compiled, context: Context): Compiled {
  const operator = node.operator as keyof typeof ARITHMETIC;
  if (!argumentFits('number', left.type, true) || !argumentFits('number', right.type, true)) {
    return operandError(node, context, 'number operands', left, right);
  }
  const apply = ARITHMETIC[operator];
  if (left.type === 'number' && right.type === 'number') {
    const a = left.run;
    const b = right.run;
    return numberOf((m) => apply(a(m), b(m)), [left, right]);
  }
  // With a $body operand the result is dynamic: a number when both are numbers, otherwise undefined.
  // (Azure rejects % on $body values at compile time; computing it is more useful.)
  const a = asDynamic(left).run;
  const b = asDynamic(right).run;
  return dynamicOf(
    (m) => {
      const x = a(m);
      const y = b(m);
      if (typeof x !== 'number' || typeof y !== 'number') return undefined;
      const result = apply(x, y);
      return Number.isNaN(result) ? undefined : result;
    },
    [left, right],
  );
}

function compileConcat(node: BinaryNode, left: Compiled, right: Compiled, context: Context): Compiled {
  if (!argumentFits('string', left.type, true) || !argumentFits('string', right.type, true)) {
    return operandError(node, context, 'string operands', left, right);
  }
  const concat = BUILTINS.get('concat')?.[0];
  if (concat?.dynamic !== true) throw new Error('concat builtin missing');
  return concat.build([asDynamic(left), asDynamic(right)]);
}

type ComparisonOperator = '=' | '!=' | '<>' | '<' | '<=' | '>' | '>=';

/** Turns a three-way comparison result into the operator's answer. */
function relation(operator: ComparisonOperator): (order: number) => boolean {
  switch (operator) {
    case '=':
      return (order) => order === 0;
    case '!=':
    case '<>':
      return (order) => order !== 0;
    case '<':
      return (order) => order < 0;
    case '<=':
      return (order) => order <= 0;
    case '>':
      return (order) => order > 0;
    case '>=':
      return (order) => order >= 0;
  }
}

/** Both operands must have the same type, or one may be a `$body` value (then they are compared dynamically). */
function compileComparison(node: BinaryNode, left: Compiled, right: Compiled, context: Context): Compiled {
  const operator = node.operator as ComparisonOperator;
  if (!argumentFits(left.type, right.type, true)) {
    return operandError(node, context, 'operands of the same type', left, right);
  }
  const holds = relation(operator);
  if (left.type === 'dynamic' || right.type === 'dynamic') {
    const a = asDynamic(left).run;
    const b = asDynamic(right).run;
    return boolOf(
      (m) => {
        const order = compareDynamic(a(m), b(m));
        return order === undefined ? undefined : holds(order);
      },
      [left, right],
    );
  }
  switch (left.type) {
    case 'string':
      return compareStrings(operator, left.run, (right as typeof left).run, [left, right]);
    case 'number':
      return compareNumbers(operator, left.run, (right as typeof left).run, [left, right]);
    case 'bool': {
      const a = left.run;
      const b = (right as typeof left).run;
      return boolOf(
        (m) => {
          const x = a(m);
          const y = b(m);
          if (x === undefined || y === undefined) return undefined;
          return holds(x === y ? 0 : x ? 1 : -1);
        },
        [left, right],
      );
    }
    case 'null':
      // null equals null; it is neither less nor greater.
      return constantBool(holds(0));
    default:
      return constantBool(undefined);
  }
}

/** Ordinal comparison; absent or null strings make the result undefined. Specialised for the common `=`. */
function compareStrings(
  operator: ComparisonOperator,
  a: Run<string | null | undefined>,
  b: Run<string | null | undefined>,
  inputs: readonly Compiled[],
): Compiled {
  if (operator === '=') {
    return boolOf((m) => {
      const x = a(m);
      if (x == null) return undefined;
      const y = b(m);
      return y == null ? undefined : x === y;
    }, inputs);
  }
  if (operator === '!=' || operator === '<>') {
    return boolOf((m) => {
      const x = a(m);
      if (x == null) return undefined;
      const y = b(m);
      return y == null ? undefined : x !== y;
    }, inputs);
  }
  const holds = relation(operator);
  return boolOf((m) => {
    const x = a(m);
    if (x == null) return undefined;
    const y = b(m);
    if (y == null) return undefined;
    return holds(x < y ? -1 : x > y ? 1 : 0);
  }, inputs);
}

/** NaN (undefined) on either side makes the result undefined. */
function compareNumbers(
  operator: ComparisonOperator,
  a: Run<number>,
  b: Run<number>,
  inputs: readonly Compiled[],
): Compiled {
  const undefinedIfNaN =
    (test: (x: number, y: number) => boolean): Run<Tri> =>
    (m) => {
      const x = a(m);
      const y = b(m);
      return Number.isNaN(x) || Number.isNaN(y) ? undefined : test(x, y);
    };
  switch (operator) {
    case '=':
      return boolOf(
        undefinedIfNaN((x, y) => x === y),
        inputs,
      );
    case '!=':
    case '<>':
      return boolOf(
        undefinedIfNaN((x, y) => x !== y),
        inputs,
      );
    case '<':
      return boolOf(
        undefinedIfNaN((x, y) => x < y),
        inputs,
      );
    case '<=':
      return boolOf(
        undefinedIfNaN((x, y) => x <= y),
        inputs,
      );
    case '>':
      return boolOf(
        undefinedIfNaN((x, y) => x > y),
        inputs,
      );
    case '>=':
      return boolOf(
        undefinedIfNaN((x, y) => x >= y),
        inputs,
      );
  }
}

const LOGICAL_OPERAND: ReadonlySet<StaticType> = new Set<StaticType>(['bool', 'null', 'undefined', 'dynamic']);

/**
 * AND / OR over bools with three-valued logic. `null` is accepted too, with Azure's rules: `null AND x` is null,
 * `null OR x` is x, and a null condition counts as false.
 */
function compileLogical(node: BinaryNode, left: Compiled, right: Compiled, context: Context): Compiled {
  const isAnd = node.operator === 'and';
  // Azure checks the right operand loosely when the left one is a $body value.
  const valid = LOGICAL_OPERAND.has(left.type) && (LOGICAL_OPERAND.has(right.type) || left.type === 'dynamic');
  if (!valid) return operandError(node, context, 'bool operands', left, right);

  if (left.type === 'dynamic' || right.type === 'dynamic') {
    if (isAnd && (left.type === 'null' || right.type === 'null')) {
      return operandError(node, context, 'bool operands (null AND a $body value has no type)', left, right);
    }
    const a = asDynamic(left).run;
    const b = asDynamic(right).run;
    // Both sides must be bools; a missing or non-bool $body value makes the result undefined.
    return boolOf(
      isAnd
        ? (m) => {
            const x = a(m);
            const y = b(m);
            return typeof x === 'boolean' && typeof y === 'boolean' ? x && y : undefined;
          }
        : (m) => {
            const x = a(m);
            const y = b(m);
            return typeof x === 'boolean' && typeof y === 'boolean' ? x || y : undefined;
          },
      [left, right],
    );
  }

  if (left.type === 'null' || right.type === 'null') {
    if (left.type === 'undefined' || right.type === 'undefined') {
      return operandError(node, context, 'bool operands (null and undefined cannot be combined)', left, right);
    }
    if (isAnd || (left.type === 'null' && right.type === 'null')) return NULL_CONSTANT;
    // null OR x is x.
    return left.type === 'null' ? right : left;
  }

  const a = left.type === 'bool' ? left.run : () => undefined;
  const b = right.type === 'bool' ? right.run : () => undefined;
  return boolOf(
    isAnd
      ? (m) => {
          const x = a(m);
          if (x === false) return false; // short-circuit: false AND anything is false
          return and3(x, b(m));
        }
      : (m) => {
          const x = a(m);
          if (x === true) return true; // short-circuit: true OR anything is true
          return or3(x, b(m));
        },
    [left, right],
  );
}

/** `a ?? b`: a when it is defined, else b. Both sides need the same type (or one may be a $body value). */
function compileCoalesce(node: BinaryNode, left: Compiled, right: Compiled, context: Context): Compiled {
  if (!argumentFits(left.type, right.type, true)) {
    return operandError(node, context, 'operands of the same type', left, right);
  }
  if (left.type === 'undefined') return right;
  if (left.type === 'dynamic' || right.type === 'dynamic') {
    const a = asDynamic(left).run;
    const b = asDynamic(right).run;
    return dynamicOf(
      (m) => {
        const value = a(m);
        return value !== undefined ? value : b(m);
      },
      [left, right],
    );
  }
  switch (left.type) {
    case 'string': {
      const a = left.run;
      const b = (right as typeof left).run;
      return stringOf(
        (m) => {
          const value = a(m);
          return value !== undefined ? value : b(m);
        },
        [left, right],
      );
    }
    case 'number': {
      const a = left.run;
      const b = (right as typeof left).run;
      return numberOf(
        (m) => {
          const value = a(m);
          return Number.isNaN(value) ? b(m) : value;
        },
        [left, right],
      );
    }
    case 'bool': {
      const a = left.run;
      const b = (right as typeof left).run;
      return boolOf(
        (m) => {
          const value = a(m);
          return value !== undefined ? value : b(m);
        },
        [left, right],
      );
    }
    default:
      return left; // null is always defined
  }
}
