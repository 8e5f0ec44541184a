/**
 * Runs Azure's own test vectors when the shared corpus sits beside the repository (../shared/conformance/azure-iotedge).
 * The corpus is optional: without it this file skips, and every behaviour it covers is also tested by hand above.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { compileCondition, parseRoute, type RoutingMessage, sourceMatches } from '../src/index.js';

const corpus = resolve(dirname(fileURLToPath(import.meta.url)), '../../../../shared/conformance/azure-iotedge');
const available = existsSync(join(corpus, 'conditions.json'));

interface VectorMessage {
  source: string;
  body: unknown;
  appProperties?: Record<string, string | null>;
  systemProperties?: Record<string, string | null>;
}
interface Case {
  condition: string;
  expected: string;
}

function load<T>(file: string): T {
  return JSON.parse(readFileSync(join(corpus, file), 'utf8')) as T;
}

function toMessage(vector: VectorMessage): RoutingMessage {
  return {
    source: vector.source,
    body: vector.body == null ? null : new TextEncoder().encode(JSON.stringify(vector.body)),
    appProperties: vector.appProperties ?? {},
    systemProperties: vector.systemProperties ?? {},
  };
}

function check(
  cases: readonly Case[],
  vector: VectorMessage,
  options: { body?: boolean; twinChangeIncludes?: boolean },
) {
  const msg = toMessage(vector);
  const failures = cases.filter(({ condition, expected }) => {
    if (expected === 'compilationFailure') {
      try {
        compileCondition(condition, options);
        return true;
      } catch {
        return false;
      }
    }
    try {
      return compileCondition(condition, options).evaluate(msg) !== expected.toLowerCase();
    } catch {
      return true;
    }
  });
  expect(failures).toEqual([]);
}

describe.skipIf(!available)('Azure IoT Edge conformance vectors', () => {
  it('conditions', () => {
    const { message, evaluate, compilationFailure } = load<{
      message: VectorMessage;
      evaluate: Case[];
      compilationFailure: string[];
    }>('conditions.json');
    check(
      [...evaluate, ...compilationFailure.map((condition) => ({ condition, expected: 'compilationFailure' }))],
      message,
      {},
    );
  });

  it('$body queries', () => {
    const { message, cases } = load<{ message: VectorMessage; cases: Case[] }>('body-queries.json');
    check(cases, message, { body: true });
  });

  it('twin_change_includes', () => {
    const { message, cases } = load<{ message: VectorMessage; cases: Case[] }>('twin-change-includes.json');
    check(cases, message, { twinChangeIncludes: true });
  });

  it('routes', () => {
    const routes = load<{
      invalidRoutes: string[];
      functionEndpointRoutes: { route: string; expectedCondition: string; address: string }[];
      systemEndpointRoutes: { route: string; expectedCondition: string }[];
    }>('routes.json');
    for (const text of routes.invalidRoutes) expect(() => parseRoute(text), text).toThrow();
    for (const { route, expectedCondition, address } of routes.functionEndpointRoutes) {
      expect(parseRoute(route)).toMatchObject({ condition: expectedCondition, sink: { type: 'function', address } });
    }
    for (const { route, expectedCondition } of routes.systemEndpointRoutes) {
      expect(parseRoute(route)).toMatchObject({ condition: expectedCondition, sink: { type: 'upstream' } });
    }
  });

  it('sources', () => {
    const sources = load<Record<string, string[]> & { messageSources: Record<string, string> }>('sources.json');
    for (const [kind, messageSource] of Object.entries(sources.messageSources)) {
      for (const from of sources[`matches_${kind}`] ?? []) expect(sourceMatches(from, messageSource), from).toBe(true);
      for (const from of sources[`does_not_match_${kind}`] ?? [])
        expect(sourceMatches(from, messageSource), from).toBe(false);
    }
  });
});
