/** A device's route table: compile every route once, then pick the sinks each message goes to. */
import { type CompiledCondition, compileCondition } from './compiler.js';
import { RouteConfigError, RouteSyntaxError } from './errors.js';
import type { RoutingMessage } from './message.js';
import { messageSourceKey, parseRouteWithOffsets, type Sink, sourcePrefix } from './route.js';

/** Priority of routes that do not set one: below every explicit priority (0 is the highest, 9 the lowest). */
export const DEFAULT_ROUTE_PRIORITY = 2_000_000_000;

/** A route as written in the edge hub's desired properties (schema 1.1+). */
export interface RouteSpec {
  readonly route: string;
  /** 0 (highest) to 9; omitted means DEFAULT_ROUTE_PRIORITY. */
  readonly priority?: number;
  /** Seconds a message may wait for this sink; 0 or omitted means the hub's global TTL. */
  readonly timeToLiveSecs?: number;
}

export interface CompiledRoute {
  readonly name: string;
  readonly text: string;
  readonly source: string;
  readonly condition: CompiledCondition;
  readonly sink: Sink;
  readonly priority: number;
  readonly timeToLiveSecs: number;
  /** Routes with the same key deliver to the same place. */
  readonly sinkKey: string;
  /** Lower-cased FROM prefix a message source must start with. */
  readonly sourcePrefix: string;
}

export interface CompiledRoutes {
  /** In declaration order. */
  readonly routes: readonly CompiledRoute[];
}

export interface RouteMatch {
  readonly sink: Sink;
  readonly priority: number;
  readonly timeToLiveSecs: number;
  /** The name of the route that won this sink. */
  readonly route: string;
}

const TWIN_CHANGE_SOURCE = '/twinchangenotifications';

function sinkKeyOf(sink: Sink): string {
  return sink.type === 'upstream' ? '$upstream' : `module:${sink.module}/${sink.input}`;
}

function readSpec(name: string, spec: string | RouteSpec): { text: string; priority: number; timeToLiveSecs: number } {
  if (name.length === 0) throw new RouteConfigError(name, 'route name cannot be empty');
  const { route, priority, timeToLiveSecs } = typeof spec === 'string' ? { route: spec } : (spec ?? {});
  if (typeof route !== 'string' || route.trim().length === 0)
    throw new RouteConfigError(name, 'route text cannot be empty');
  if (priority !== undefined && !(Number.isInteger(priority) && priority >= 0 && priority <= 9)) {
    throw new RouteConfigError(name, `priority must be an integer from 0 to 9, got ${String(priority)}`);
  }
  if (
    timeToLiveSecs !== undefined &&
    !(Number.isInteger(timeToLiveSecs) && timeToLiveSecs >= 0 && timeToLiveSecs <= 0xffffffff)
  ) {
    throw new RouteConfigError(name, `timeToLiveSecs must be a non-negative integer, got ${String(timeToLiveSecs)}`);
  }
  return { text: route, priority: priority ?? DEFAULT_ROUTE_PRIORITY, timeToLiveSecs: timeToLiveSecs ?? 0 };
}

/**
 * Compiles a route table (`{ name: "FROM ... INTO ..." }` or `{ name: { route, priority, timeToLiveSecs } }`).
 * Every route is parsed and type-checked now; the first bad one throws (RouteSyntaxError naming the route, or
 * RouteConfigError). `$body` queries are enabled, and `twin_change_includes` for routes FROM /twinChangeNotifications.
 */
export function compileRoutes(routes: Readonly<Record<string, string | RouteSpec>>): CompiledRoutes {
  const compiled: CompiledRoute[] = [];
  for (const [name, spec] of Object.entries(routes)) {
    const { text, priority, timeToLiveSecs } = readSpec(name, spec);
    try {
      const parsed = parseRouteWithOffsets(text);
      const prefix = sourcePrefix(parsed.source) ?? '/';
      const condition = compileCondition(parsed.condition, {
        body: true,
        twinChangeIncludes: prefix === `${TWIN_CHANGE_SOURCE}/`,
      });
      compiled.push({
        name,
        text,
        source: parsed.source,
        condition,
        sink: parsed.sink,
        priority,
        timeToLiveSecs,
        sinkKey: sinkKeyOf(parsed.sink),
        sourcePrefix: prefix,
      });
    } catch (error) {
      throw error instanceof RouteSyntaxError ? inRoute(error, name, text) : error;
    }
  }
  return { routes: compiled };
}

/** Re-anchors an error from the WHERE text (or the route itself) to the route text and names the route. */
function inRoute(error: RouteSyntaxError, name: string, routeText: string): RouteSyntaxError {
  let offset = error.offset;
  if (error.text !== routeText) {
    const parsed = parseRouteWithOffsets(routeText);
    offset += parsed.conditionOffset;
  }
  return new RouteSyntaxError(routeText, offset, error.expected, error.found, error.reason, name);
}

/**
 * The sinks a message goes to. Every route whose FROM matches the message source and whose condition is true
 * competes for its sink; per sink the route with the lowest priority number wins (the first declared on a tie) and
 * its TTL applies. Sinks are listed in the order they first matched. Never throws.
 */
export function evaluateRoutes(compiled: CompiledRoutes, message: RoutingMessage): RouteMatch[] {
  const messageSource = messageSourceKey(typeof message === 'object' && message !== null ? message.source : undefined);
  const winners = new Map<string, CompiledRoute>();
  for (const route of compiled.routes) {
    if (!messageSource.startsWith(route.sourcePrefix)) continue;
    const current = winners.get(route.sinkKey);
    // A route cannot beat a winner with the same or a better priority, so its condition need not run.
    if (current !== undefined && current.priority <= route.priority) continue;
    if (route.condition.test(message) !== true) continue;
    winners.set(route.sinkKey, route);
  }
  const matches: RouteMatch[] = [];
  for (const route of winners.values()) {
    matches.push({
      sink: route.sink,
      priority: route.priority,
      timeToLiveSecs: route.timeToLiveSecs,
      route: route.name,
    });
  }
  return matches;
}
