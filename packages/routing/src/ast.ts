/** Syntax tree of a condition. Offsets point into the text that was parsed. */

export type BinaryOperator =
  | '*'
  | '/'
  | '%'
  | '+'
  | '-'
  | '||'
  | '<'
  | '<='
  | '>'
  | '>='
  | '='
  | '!='
  | '<>'
  | 'and'
  | 'or'
  | '??';

export type LiteralValue =
  | { readonly type: 'bool'; readonly value: boolean }
  | { readonly type: 'number'; readonly value: number }
  | { readonly type: 'string'; readonly value: string }
  | { readonly type: 'null' }
  | { readonly type: 'undefined' };

interface Span {
  readonly start: number;
  readonly end: number;
}

export interface LiteralNode extends Span {
  readonly kind: 'literal';
  readonly literal: LiteralValue;
}

/** A bare name: an application property, looked up case-insensitively. */
export interface PropertyNode extends Span {
  readonly kind: 'property';
  readonly name: string;
}

/** `$name` (application property `$name`, else system property `name`, or a `$body` query) or `{$name}`. */
export interface SystemPropertyNode extends Span {
  readonly kind: 'system-property';
  /** The text including the leading `$`. */
  readonly name: string;
  /** Written as `{$name}`: skips the application-property lookup. */
  readonly escaped: boolean;
  /** Offset of the `$`. */
  readonly nameStart: number;
}

export interface CallNode extends Span {
  readonly kind: 'call';
  readonly name: string;
  readonly args: readonly ExpressionNode[];
  /** The argument list's tokens joined without whitespace: what `twin_change_includes` takes as its path. */
  readonly argumentText: string;
}

export interface UnaryNode extends Span {
  readonly kind: 'unary';
  readonly operator: '-' | 'not';
  readonly operand: ExpressionNode;
}

export interface BinaryNode extends Span {
  readonly kind: 'binary';
  readonly operator: BinaryOperator;
  /** Where the operator token starts, for error messages. */
  readonly operatorStart: number;
  readonly left: ExpressionNode;
  readonly right: ExpressionNode;
}

/** The empty condition: Azure accepts it and it evaluates to undefined. */
export interface EmptyNode extends Span {
  readonly kind: 'empty';
}

export type ExpressionNode = LiteralNode | PropertyNode | SystemPropertyNode | CallNode | UnaryNode | BinaryNode;

export type ConditionNode = ExpressionNode | EmptyNode;
