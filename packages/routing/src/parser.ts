import type { BinaryOperator, ConditionNode, ExpressionNode, LiteralValue } from './ast.js';
import { RouteSyntaxError } from './errors.js';
import { type Token, type TokenKind, tokenize } from './lexer.js';

/**
 * Binding power of each binary operator, loosest first. Mirrors the alternative order of Azure's ANTLR grammar,
 * where every binary operator is left-associative and `??` binds loosest.
 */
const BINDING_POWER: Partial<Record<TokenKind, number>> = {
  '??': 1,
  or: 2,
  and: 3,
  '=': 4,
  '!=': 4,
  '<>': 4,
  '<': 5,
  '<=': 5,
  '>': 5,
  '>=': 5,
  '+': 6,
  '-': 6,
  '||': 6,
  '*': 7,
  '/': 7,
  '%': 7,
};

/** Prefix `-` and `not` bind tighter than every binary operator: `not a = b` is `(not a) = b`, as in Azure. */
const PREFIX_OPERAND_POWER = 8;

/** Deeper trees would exhaust the stack when compiling or evaluating; no real route comes close. */
export const MAX_NESTING = 1000;

export function describeToken(token: Token): string {
  if (token.kind === 'eof') return 'end of input';
  return `'${token.text.length > 40 ? `${token.text.slice(0, 40)}…` : token.text}'`;
}

/** Recursive-descent (Pratt) parser over a token list; also used by the route parser for the WHERE clause. */
export class ExpressionParser {
  private index = 0;
  private nesting = 0;

  constructor(
    readonly text: string,
    readonly tokens: readonly Token[],
  ) {}

  get position(): number {
    return this.index;
  }

  peek(offset = 0): Token {
    const last = this.tokens[this.tokens.length - 1];
    return this.tokens[Math.min(this.index + offset, this.tokens.length - 1)] ?? (last as Token);
  }

  advance(): Token {
    const token = this.peek();
    if (this.index < this.tokens.length - 1) this.index++;
    return token;
  }

  /** Consumes a token of `kind` or throws, naming what was expected. */
  expect(kind: TokenKind, expected: string): Token {
    const token = this.peek();
    if (token.kind !== kind) throw this.errorAt(token, expected);
    return this.advance();
  }

  errorAt(token: Token, expected: string, detail?: string): RouteSyntaxError {
    return new RouteSyntaxError(this.text, token.start, expected, describeToken(token), detail);
  }

  parseExpression(minPower = 0): ExpressionNode {
    const start = this.peek();
    if (++this.nesting > MAX_NESTING)
      throw this.errorAt(start, 'a shallower expression', `expression nested deeper than ${MAX_NESTING} levels`);
    let left = this.parsePrefix();
    for (let chain = 1; ; chain++) {
      const operatorToken = this.peek();
      const power = BINDING_POWER[operatorToken.kind];
      if (power === undefined || power <= minPower) {
        this.nesting--;
        return left;
      }
      if (this.nesting + chain > MAX_NESTING) {
        throw this.errorAt(operatorToken, 'fewer operators', `more than ${MAX_NESTING} operators in a row`);
      }
      this.advance();
      const right = this.parseExpression(power);
      left = {
        kind: 'binary',
        operator: operatorToken.kind as BinaryOperator,
        operatorStart: operatorToken.start,
        left,
        right,
        start: left.start,
        end: right.end,
      };
    }
  }

  private parsePrefix(): ExpressionNode {
    const token = this.peek();
    if (token.kind === '-' || token.kind === 'not') {
      this.advance();
      const operand = this.parseExpression(PREFIX_OPERAND_POWER);
      return { kind: 'unary', operator: token.kind, operand, start: token.start, end: operand.end };
    }
    return this.parsePrimary();
  }

  private parsePrimary(): ExpressionNode {
    const token = this.peek();
    switch (token.kind) {
      case '(': {
        this.advance();
        const inner = this.parseExpression();
        const close = this.expect(')', "')'");
        // Parentheses only group; widen the span so error messages point at the whole group.
        return { ...inner, start: token.start, end: close.end };
      }
      case 'true':
      case 'false':
      case 'null':
      case 'undefined':
      case 'string':
      case 'integer':
      case 'hex':
      case 'real':
        this.advance();
        return { kind: 'literal', literal: literalOf(token), start: token.start, end: token.end };
      case 'unterminated-string':
        throw this.errorAt(token, 'closing quote', `unterminated string ${describeToken(token)}`);
      case 'sys-prop':
        this.advance();
        return {
          kind: 'system-property',
          name: token.text,
          escaped: false,
          nameStart: token.start,
          start: token.start,
          end: token.end,
        };
      case '{': {
        this.advance();
        const name = this.expect('sys-prop', 'a $ system property');
        const close = this.expect('}', "'}'");
        return {
          kind: 'system-property',
          name: name.text,
          escaped: true,
          nameStart: name.start,
          start: token.start,
          end: close.end,
        };
      }
      case 'id':
        this.advance();
        if (this.peek().kind === '(') return this.parseCall(token);
        return { kind: 'property', name: token.text, start: token.start, end: token.end };
      case 'query-path':
        throw this.errorAt(
          token,
          'expression',
          `'[' and ']' are only allowed in $body paths, found ${describeToken(token)}`,
        );
      default:
        throw this.errorAt(token, 'expression');
    }
  }

  private parseCall(nameToken: Token): ExpressionNode {
    this.advance(); // '('
    const firstArgumentToken = this.position;
    const args: ExpressionNode[] = [];
    if (this.peek().kind !== ')') {
      args.push(this.parseExpression());
      while (this.peek().kind === ',') {
        this.advance();
        args.push(this.parseExpression());
      }
    }
    const argumentText = this.tokens
      .slice(firstArgumentToken, this.position)
      .map((t) => t.text)
      .join('');
    const close = this.expect(')', args.length === 0 ? "expression or ')'" : "',' or ')'");
    return { kind: 'call', name: nameToken.text, args, argumentText, start: nameToken.start, end: close.end };
  }
}

function literalOf(token: Token): LiteralValue {
  switch (token.kind) {
    case 'true':
      return { type: 'bool', value: true };
    case 'false':
      return { type: 'bool', value: false };
    case 'null':
      return { type: 'null' };
    case 'string':
      return { type: 'string', value: unescapeString(token.text.slice(1, -1)) };
    case 'hex':
      return hexLiteral(token.text.slice(2));
    default: {
      // Azure parses numbers with .NET's double parser; text it cannot read (like `e5`) becomes undefined.
      const value = Number(token.text);
      return Number.isNaN(value) ? { type: 'undefined' } : { type: 'number', value };
    }
  }
}

/** Hex literals are read as a signed 64-bit integer; more than 16 significant digits do not fit and are undefined. */
function hexLiteral(digits: string): LiteralValue {
  const significant = digits.replace(/^0+/, '');
  if (significant.length > 16) return { type: 'undefined' };
  return { type: 'number', value: Number(BigInt.asIntN(64, BigInt(`0x${digits}`))) };
}

/** Same two passes as Azure: `\uXXXX` first, then `\"`, `\'` and `\\`. */
function unescapeString(raw: string): string {
  if (!raw.includes('\\')) return raw;
  return raw
    .replace(/\\[Uu]([0-9A-Fa-f]{4})/g, (_match, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)))
    .replace(/\\(["'\\])/g, (_match, escaped: string) => escaped);
}

/** Parses a whole condition. Empty (or comment-only) text is allowed and evaluates to undefined. */
export function parseCondition(text: string): ConditionNode {
  const parser = new ExpressionParser(text, tokenize(text));
  const first = parser.peek();
  if (first.kind === 'eof') return { kind: 'empty', start: first.start, end: first.end };
  const expression = parser.parseExpression();
  const rest = parser.peek();
  if (rest.kind !== 'eof') throw parser.errorAt(rest, 'an operator or end of input');
  return expression;
}
