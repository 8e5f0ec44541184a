import { describe, expect, it } from 'vitest';
import { tokenize } from '../src/lexer.js';

function kinds(text: string): string[] {
  return tokenize(text)
    .filter((token) => token.kind !== 'eof')
    .map((token) => `${token.kind}:${token.text}`);
}

describe('tokenize (Azure-compatible longest match)', () => {
  it.each([
    ['3 + 4', ['integer:3', '+:+', 'integer:4']],
    ['3+4', ['id:3+4']],
    ['-1', ['integer:-1']],
    ['-x', ['id:-x']],
    ['- x', ['-:-', 'id:x']],
    ['1.5e-3', ['real:1.5e-3']],
    ['.5', ['real:.5']],
    ['3.', ['id:3.']],
    ['e5', ['real:e5']],
    ['0x1F', ['hex:0x1F']],
    ['true True TRUE', ['true:true', 'id:True', 'id:TRUE']],
    ['and AND Or nOt', ['and:and', 'and:AND', 'or:Or', 'not:nOt']],
    ['android', ['id:android']],
    ['from Where INTO select', ['from:from', 'where:Where', 'into:INTO', 'select:select']],
    ["'a' || 'b'", ["string:'a'", '||:||', "string:'b'"]],
    ["'it''s'", ["id:'it''s'"]],
    ['"a\\"b"', ['string:"a\\"b"']],
    ['"abc', ['unterminated-string:"abc']],
    ['$sys1 {$x}', ['sys-prop:$sys1', '{:{', 'sys-prop:$x', '}:}']],
    ['$body.a[0].b', ['sys-prop:$body.a[0].b']],
    ['a[0]', ['query-path:a[0]']],
    ['a<>b !=c<=d>=e', ['id:a', '<>:<>', 'id:b', '!=:!=', 'id:c', '<=:<=', 'id:d', '>=:>=', 'id:e']],
    ['b!=c', ['id:b!', '=:=', 'id:c']],
    ['x ?? y', ['id:x', '??:??', 'id:y']],
    ['a /* comment */ b', ['id:a', 'id:b']],
    ['a /* unclosed', ['id:a', '/:/', '*:*', 'id:unclosed']],
    ['@;', ['unknown:@', 'unknown:;']],
    ['température', ['id:température']],
  ])('%j', (text, expected) => {
    expect(kinds(text)).toEqual(expected);
  });

  it('records offsets and ends with eof', () => {
    const tokens = tokenize('ab  = "c"');
    expect(tokens.map((token) => [token.start, token.end])).toEqual([
      [0, 2],
      [4, 5],
      [6, 9],
      [9, 9],
    ]);
    expect(tokens.at(-1)?.kind).toBe('eof');
  });
});
