import { rpc } from '@outpost/protocol';
import { describe, expect, it } from 'vitest';
import { isPublicRoute, type RouteDef, routeDefinitionProblem } from '../src/api/route.js';
// Loads every controller, so every NATS handler has registered the route it serves.
import '../src/app.module.js';
import { protocolRequestRoutes } from '../src/nats/protocol-patterns.js';
import { routes } from '../src/openapi/routes.js';

/*
 * Deny by default, checked on the table itself: no entry may leave out who may call it, no mutation its audit record,
 * and only the named exceptions are public. (The integration tests in authorization.test.ts walk the same table
 * against a running API.)
 */

const table = Object.values(routes) as RouteDef[];

/** The only routes anyone may call without a token. Adding one is a decision: name it here. */
const PUBLIC_EXCEPTIONS = ['getHealth', 'login'];

describe('the route table', () => {
  it.each(table.map((route) => [route.operationId, route] as const))('%s declares its access rule', (_, route) => {
    expect(routeDefinitionProblem(route)).toBeNull();
  });

  it('opens only the named public exceptions to anonymous callers', () => {
    expect(table.filter(isPublicRoute).map((route) => route.operationId)).toEqual(PUBLIC_EXCEPTIONS);
  });

  it('gives every mutation an audit action of the form <target>.<verb>', () => {
    for (const route of table) {
      if (route.method === 'get') continue;
      expect(route.audit.action, route.operationId).toMatch(/^[a-z][a-z-]*(\.[a-z][a-z-]*)+$/);
      expect(route.audit.targetType, route.operationId).toMatch(/^[a-z][a-z-]*$/);
    }
  });

  it('refuses definitions that leave out access or audit, whatever the types let through', () => {
    const base = { operationId: 'x', path: '/x', summary: 'x', tag: 'x', responses: [] };
    expect(routeDefinitionProblem(undefined)).toMatch(/no route definition/);
    expect(routeDefinitionProblem({ ...base, method: 'get', auth: {} } as unknown as RouteDef)).toMatch(/access rule/);
    expect(routeDefinitionProblem({ ...base, method: 'get', auth: 'public' } as unknown as RouteDef)).toMatch(
      /access rule/,
    );
    expect(
      routeDefinitionProblem({ ...base, method: 'get', auth: { minRole: 'root' } } as unknown as RouteDef),
    ).toMatch(/access rule/);
    expect(
      routeDefinitionProblem({ ...base, method: 'post', auth: { minRole: 'admin' } } as unknown as RouteDef),
    ).toMatch(/audit record/);
    expect(routeDefinitionProblem({ ...base, method: 'get', auth: { public: true } } as RouteDef)).toBeNull();
  });

  it('binds every portal rpc to a route entry, so NATS applies the same rule as HTTP', () => {
    for (const [name, def] of Object.entries(rpc)) {
      const route = protocolRequestRoutes.get(def.subject);
      expect(route, `rpc.${name} (${def.subject}) has a handler bound to a route`).toBeTruthy();
      expect(table, `rpc.${name}`).toContain(route);
    }
  });
});
