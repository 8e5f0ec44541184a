/** Where in the source text something went wrong; line and column are 1-based, offset is 0-based. */
export interface SourcePosition {
  readonly offset: number;
  readonly line: number;
  readonly column: number;
}

/**
 * Thrown for every route or condition that cannot be compiled: bad syntax, an unknown function, operands of the
 * wrong type, an invalid `$body` path or sink address. Nothing that throws this ever reaches evaluation.
 */
export class RouteSyntaxError extends Error implements SourcePosition {
  override readonly name = 'RouteSyntaxError';
  readonly offset: number;
  readonly line: number;
  readonly column: number;
  /** What the compiler expected at `offset`, e.g. `expression` or `')'`. */
  readonly expected: string;
  /** What it found there instead, e.g. `'=='` or `end of input`. */
  readonly found: string;
  /** The whole text that failed to compile. */
  readonly text: string;
  /** The message without the position, e.g. `expected expression but found '='`. */
  readonly reason: string;
  /** Set by compileRoutes: the name of the route whose text this is. */
  readonly routeName: string | undefined;

  constructor(text: string, offset: number, expected: string, found: string, detail?: string, routeName?: string) {
    const position = positionOf(text, offset);
    const reason = detail ?? `expected ${expected} but found ${found}`;
    const where = `line ${position.line}, column ${position.column}`;
    super(routeName === undefined ? `${reason} (${where})` : `route '${routeName}': ${reason} (${where})`);
    this.offset = position.offset;
    this.line = position.line;
    this.column = position.column;
    this.expected = expected;
    this.found = found;
    this.text = text;
    this.reason = reason;
    this.routeName = routeName;
  }
}

/** A route table entry that is not a route at all: empty name or text, priority outside 0-9, bad TTL. */
export class RouteConfigError extends Error {
  override readonly name = 'RouteConfigError';
  constructor(
    readonly routeName: string,
    message: string,
  ) {
    super(`route '${routeName}': ${message}`);
  }
}

/** Converts a 0-based offset into a 1-based line and column (lines end at \n). */
export function positionOf(text: string, offset: number): SourcePosition {
  const clamped = Math.max(0, Math.min(offset, text.length));
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < clamped; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { offset: clamped, line, column: clamped - lineStart + 1 };
}
