import { applyDecorators, Delete, Get, HttpCode, Patch, Post, Put, SetMetadata } from '@nestjs/common';
import type { ErrorCode } from '@outpost/protocol';
import type { z } from 'zod';
import type { ApiTokenRole } from '../database/schema.js';

/** Who may call a route: nobody is let in unless the route says so. */
export type RouteAccess =
  /** Open to anyone: only the named exceptions (health, login, enrolment) may say this. */
  | { readonly public: true }
  /** A session or API token whose role is at least `minRole`. */
  | { readonly minRole: ApiTokenRole };

/**
 * What a mutation writes to the audit log once it succeeded (AuditInterceptor): `action` is `<target>.<verb>`; the
 * target id comes from what the handler notes (AuditService.note), else the `id` path parameter (or the only path
 * parameter), else the body's `id`, else the response's `id`.
 */
export interface AuditSpec {
  readonly action: string;
  readonly targetType: string;
}

interface RouteBase {
  readonly operationId: string;
  /** OpenAPI style: `/api/v1/devices/{id}`. */
  readonly path: string;
  readonly summary: string;
  readonly tag: string;
  readonly auth: RouteAccess;
  readonly params?: z.ZodObject;
  readonly query?: z.ZodObject;
  readonly body?: z.ZodType;
  /** A body that is not JSON (an upload), read as a stream by the handler: its media type and what it is. */
  readonly rawBody?: { readonly contentType: string; readonly description: string };
  /**
   * Success responses by status; the first is what Nest answers by default. No schema means no body (204).
   */
  readonly responses: readonly { readonly status: number; readonly description: string; readonly schema?: z.ZodType }[];
  /** Error codes this route answers with besides the ones every route may (validation, auth, INTERNAL). */
  readonly errors?: readonly ErrorCode[];
}

/** Reads change nothing, so they are not audited. */
export interface ReadRouteDef extends RouteBase {
  readonly method: 'get';
  readonly audit?: undefined;
}

/** Every mutation declares its audit record: a route that changes something cannot forget to be audited. */
export interface MutationRouteDef extends RouteBase {
  readonly method: 'post' | 'put' | 'patch' | 'delete';
  readonly audit: AuditSpec;
}

/**
 * One HTTP route: where it is, who may call it, what it records in the audit log, and the zod schemas of what goes in
 * and out. The same definition drives Nest (method, path, status, auth), request validation, auditing, the OpenAPI
 * document, and the NATS form of the call when there is one (OnProtocolRequest).
 */
export type RouteDef = ReadRouteDef | MutationRouteDef;

export function defineRoute<const R extends RouteDef>(route: R): R {
  return route;
}

export const ROUTE_METADATA = Symbol('outpost:route');

/**
 * Why a route definition cannot be served, or null when it can: it must name its access (`public: true` or a
 * `minRole`), and a mutation its audit record. The guard refuses a route that fails this (deny by default, also for
 * definitions that dodged the types), and a unit test checks the whole table.
 */
export function routeDefinitionProblem(route: RouteDef | undefined): string | null {
  if (!route) return 'declares no route definition';
  const auth: unknown = route.auth;
  const isPublic = typeof auth === 'object' && auth !== null && 'public' in auth && auth.public === true;
  const minRole = typeof auth === 'object' && auth !== null && 'minRole' in auth ? auth.minRole : undefined;
  if (!isPublic && !(typeof minRole === 'string' && ROLES.includes(minRole as ApiTokenRole))) {
    return `${route.operationId} declares no access rule (auth: { public: true } or auth: { minRole })`;
  }
  if (route.method !== 'get') {
    const audit: unknown = route.audit;
    if (typeof audit !== 'object' || audit === null || !('action' in audit) || !('targetType' in audit)) {
      return `${route.operationId} changes state but declares no audit record (audit: { action, targetType })`;
    }
  }
  return null;
}

const ROLES: readonly ApiTokenRole[] = ['admin', 'operator', 'viewer'];

export function isPublicRoute(route: RouteDef): boolean {
  return 'public' in route.auth && route.auth.public === true;
}

/** The lowest role a route lets in, or null for a public route. */
export function minRoleOf(route: RouteDef): ApiTokenRole | null {
  return 'minRole' in route.auth ? route.auth.minRole : null;
}

const METHOD_DECORATORS = { get: Get, post: Post, put: Put, patch: Patch, delete: Delete } as const;

/** `/api/v1/devices/{id}` → `api/v1/devices/:id` for Nest's router. */
export function nestPath(path: string): string {
  return path.replace(/^\//, '').replace(/\{([^}]+)\}/g, ':$1');
}

/** Binds a controller method to a route definition: HTTP method, path, default status and auth metadata. */
export function Route(route: RouteDef): MethodDecorator {
  const success = route.responses[0];
  if (!success) throw new Error(`route ${route.operationId} declares no success response`);
  return applyDecorators(
    METHOD_DECORATORS[route.method](nestPath(route.path)),
    HttpCode(success.status),
    SetMetadata(ROUTE_METADATA, route),
  );
}
