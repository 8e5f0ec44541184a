export type { BinaryOperator, ConditionNode, ExpressionNode } from './ast.js';
export {
  type CompiledCondition,
  type CompileOptions,
  type ConditionResult,
  compileCondition,
} from './compiler.js';
export { positionOf, RouteConfigError, RouteSyntaxError, type SourcePosition } from './errors.js';
export type { PropertyBag, RoutingMessage } from './message.js';
export { parseCondition } from './parser.js';
export { type ParsedRoute, parseRoute, type Sink, sourceMatches } from './route.js';
export {
  type CompiledRoute,
  type CompiledRoutes,
  compileRoutes,
  DEFAULT_ROUTE_PRIORITY,
  evaluateRoutes,
  type RouteMatch,
  type RouteSpec,
} from './routes.js';
