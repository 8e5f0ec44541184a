/** Route text: `[SELECT *] FROM <source> [WHERE <condition>] INTO <sink>`, and FROM matching. */
import { type Token, type TokenKind, tokenize } from './lexer.js';
import { describeToken, ExpressionParser } from './parser.js';

export type Sink =
  /** `$upstream`: the cloud. */
  | { readonly type: 'upstream' }
  /** `BrokeredEndpoint("/modules/<module>/inputs/<input>")`: a module input on this device. */
  | {
      readonly type: 'function';
      /** The function name as written (matched case-insensitively against BrokeredEndpoint). */
      readonly name: string;
      /** The address as written between the quotes. */
      readonly address: string;
      readonly module: string;
      readonly input: string;
    };

export interface ParsedRoute {
  /** The FROM path, normalised as Azure does: a trailing `*` and trailing `/` removed (`/*` becomes `/`). */
  readonly source: string;
  /** The WHERE text as written, trimmed, or `"true"` when the route has no WHERE. */
  readonly condition: string;
  readonly sink: Sink;
}

/** Where the condition sits in the route text, so compile errors in it can point into the route. */
export interface ParsedRouteWithOffsets extends ParsedRoute {
  readonly conditionOffset: number;
}

/** Tokens that can be a FROM path segment besides `*`: any word, including ones that are keywords elsewhere. */
const SEGMENT_TOKENS: ReadonlySet<TokenKind> = new Set<TokenKind>([
  'id',
  'sys-prop',
  'integer',
  'hex',
  'real',
  'true',
  'false',
  'null',
  'undefined',
  'and',
  'or',
  'not',
]);

const SINK_EXPECTED = '$upstream or BrokeredEndpoint("/modules/<module>/inputs/<input>")';
const ADDRESS_EXPECTED = '"/modules/<module>/inputs/<input>"';

/** Parses route text; throws RouteSyntaxError with the position and what was expected there. */
export function parseRoute(text: string): ParsedRoute {
  const { source, condition, sink } = parseRouteWithOffsets(text);
  return { source, condition, sink };
}

export function parseRouteWithOffsets(text: string): ParsedRouteWithOffsets {
  if (typeof text !== 'string') throw new TypeError('route must be a string');
  const parser = new ExpressionParser(text, tokenize(text));
  if (parser.peek().kind === 'select') {
    parser.advance();
    parser.expect('*', "'*'");
  }
  parser.expect('from', parser.position === 0 ? 'SELECT or FROM' : 'FROM');
  const source = parseSource(parser);

  let condition = 'true';
  let conditionOffset = 0;
  const hasWhere = parser.peek().kind === 'where';
  if (hasWhere) {
    parser.advance();
    const first = parser.peek();
    parser.parseExpression();
    const last = parser.tokens[parser.position - 1] as Token;
    conditionOffset = first.start;
    condition = text.slice(first.start, last.end);
  }
  parser.expect('into', hasWhere ? 'an operator or INTO' : "'/', WHERE or INTO");
  const sink = parseSink(parser);
  parser.expect('eof', 'end of route');
  return { source: normalizeRouteSource(source) ?? '/', condition, sink, conditionOffset };
}

/** `'/' segment { '/' segment }`, returned as written without whitespace. */
function parseSource(parser: ExpressionParser): string {
  let source = '';
  do {
    source += parser.expect('/', "a path starting with '/'").text;
    const segment = parser.peek();
    if (segment.kind !== '*' && !SEGMENT_TOKENS.has(segment.kind)) throw parser.errorAt(segment, 'a path segment or *');
    source += parser.advance().text;
  } while (parser.peek().kind === '/');
  return source;
}

function parseSink(parser: ExpressionParser): Sink {
  const token = parser.peek();
  if (token.kind === 'sys-prop') {
    parser.advance();
    if (token.text.toLowerCase() === '$upstream') return { type: 'upstream' };
    throw parser.errorAt(token, '$upstream', `unknown system endpoint ${describeToken(token)}; expected $upstream`);
  }
  if (token.kind !== 'id') throw parser.errorAt(token, SINK_EXPECTED);
  parser.advance();
  parser.expect('(', "'('");
  const addressToken = parser.peek();
  if (addressToken.kind === 'unterminated-string') {
    throw parser.errorAt(addressToken, 'closing quote', `unterminated string ${describeToken(addressToken)}`);
  }
  parser.expect('string', ADDRESS_EXPECTED);
  parser.expect(')', "')'");
  if (token.text.toLowerCase() !== 'brokeredendpoint') {
    throw parser.errorAt(
      token,
      'BrokeredEndpoint',
      `unknown endpoint function ${describeToken(token)}; expected BrokeredEndpoint`,
    );
  }
  const address = addressToken.text.slice(1, -1);
  const parts = splitModuleAddress(address);
  if (parts === undefined) {
    throw parser.errorAt(
      addressToken,
      ADDRESS_EXPECTED,
      `endpoint address ${describeToken(addressToken)} is not /modules/<module>/inputs/<input>`,
    );
  }
  return { type: 'function', name: token.text, address, ...parts };
}

/**
 * Azure's rule: trim, drop one leading and one trailing `/`, then exactly four `/`-separated parts; the second is
 * the module, the fourth the input (the first and third are not checked). Outpost also rejects an empty module or
 * input name, which Azure would accept and never deliver to.
 */
export function splitModuleAddress(address: string): { module: string; input: string } | undefined {
  let path = address.trim();
  if (path.startsWith('/')) path = path.slice(1);
  if (path.endsWith('/')) path = path.slice(0, -1);
  const parts = path.split('/');
  if (parts.length !== 4) return undefined;
  const [, module = '', , input = ''] = parts;
  return module.length > 0 && input.length > 0 ? { module, input } : undefined;
}

/** Azure's route-source normalisation: trim, drop trailing `*`s, then trailing `/`s unless only `/` is left. */
export function normalizeRouteSource(source: string): string | undefined {
  if (source.trim().length === 0) return undefined;
  const withoutWildcard = source.trim().replace(/\*+$/, '');
  return withoutWildcard.length > 1 ? withoutWildcard.replace(/\/+$/, '') : withoutWildcard;
}

function withOneTrailingSlash(path: string): string {
  return `${path.trim().replace(/\/+$/, '')}/`;
}

/** The lower-cased prefix a message source must start with for `routeSource` to match it. */
export function sourcePrefix(routeSource: string): string | undefined {
  const normalized = normalizeRouteSource(routeSource);
  return normalized === undefined ? undefined : withOneTrailingSlash(normalized).toLowerCase();
}

/** The form of a message source that is compared against route prefixes. */
export function messageSourceKey(messageSource: unknown): string {
  return typeof messageSource === 'string' ? withOneTrailingSlash(messageSource).toLowerCase() : '';
}

/**
 * Whether a route's FROM path matches a message source: whole path segments, case-insensitive, a trailing `/*`
 * optional. `/messages` matches `/messages` and every module output `/messages/modules/<m>/outputs/<o>`, but not
 * `/messagesX` or `/twinChangeNotifications`; `/` and `/*` match everything.
 */
export function sourceMatches(routeSource: string, messageSource: string): boolean {
  if (typeof routeSource !== 'string') return false;
  const prefix = sourcePrefix(routeSource);
  return prefix !== undefined && messageSourceKey(messageSource).startsWith(prefix);
}
