import { applyDecorators, Delete, Get, HttpCode, Patch, Post, Put, SetMetadata } from '@nestjs/common';
import type { ErrorCode } from '@outpost/protocol';
import type { z } from 'zod';
import type { ApiTokenRole } from '../database/schema.js';

/**
 * One HTTP route: where it is, who may call it, and the zod schemas of what goes in and out. The same definition
 * drives Nest (method, path, status, auth), request validation and the OpenAPI document.
 */
export interface RouteDef {
  readonly operationId: string;
  readonly method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** OpenAPI style: `/api/v1/devices/{id}`. */
  readonly path: string;
  readonly summary: string;
  readonly tag: string;
  /** `public`, or a bearer token whose role is at least `minRole` (any role when omitted). */
  readonly auth: 'public' | { readonly minRole?: ApiTokenRole };
  readonly params?: z.ZodObject;
  readonly query?: z.ZodObject;
  readonly body?: z.ZodType;
  /** Success responses by status; the first is what Nest answers by default. */
  readonly responses: readonly { readonly status: number; readonly description: string; readonly schema: z.ZodType }[];
  /** Error codes this route answers with besides the ones every route may (validation, auth, INTERNAL). */
  readonly errors?: readonly ErrorCode[];
}

export function defineRoute<const R extends RouteDef>(route: R): R {
  return route;
}

export const ROUTE_METADATA = Symbol('outpost:route');

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
