import type { INestApplication } from '@nestjs/common';
import { type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { ERROR_CODES, ErrorBody, type ErrorCode, httpStatusFor } from '@outpost/protocol';
import { z } from 'zod';
import { isPublicRoute, minRoleOf, type RouteDef } from '../api/route.js';
import { routes } from './routes.js';

type JsonSchema = Record<string, unknown>;
type Io = 'input' | 'output';

export const OPENAPI_JSON_PATH = '/api/docs/openapi.json';
export const DOCS_PATH = '/api/docs';

interface Converted {
  root: JsonSchema;
  defs: Record<string, JsonSchema>;
}

function convert(schema: z.ZodType, io: Io): Converted {
  const {
    $defs,
    $schema: _dialect,
    ...root
  } = z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io,
    unrepresentable: 'any',
  }) as JsonSchema & { $defs?: Record<string, JsonSchema> };
  return { root, defs: $defs ?? {} };
}

function referencedIds(definition: JsonSchema): string[] {
  return [...JSON.stringify(definition).matchAll(/"#\/\$defs\/([^"]+)"/g)].map((match) => match[1] ?? '');
}

/**
 * Collects JSON Schemas into `components.schemas`: every schema with `.meta({ id })` becomes a component. Where a
 * schema's input form (what clients send: defaulted fields optional) differs from its output form, or it contains one
 * that does, the input form is registered as `<id>Input`.
 */
class ComponentRegistry {
  readonly schemas: Record<string, JsonSchema> = {};

  /**
   * The JSON Schema of `schema` with every identified part replaced by a component reference. With `inlineRoot`, the
   * schema itself is returned whole rather than as a reference (query and path objects become parameters, not
   * components).
   */
  reference(schema: z.ZodType, io: Io, { inlineRoot = false } = {}): JsonSchema {
    const { root, defs } = convert(schema, io);
    const rootId = typeof root.$ref === 'string' ? root.$ref.slice('#/$defs/'.length) : undefined;
    const inputOnly = new Set<string>();
    if (io === 'input') {
      const output = convert(schema, 'output').defs;
      for (const [id, definition] of Object.entries(defs)) {
        if (JSON.stringify(definition) !== JSON.stringify(output[id])) inputOnly.add(id);
      }
      // A schema that refers to an input-only one is input-only too.
      for (let grew = true; grew; ) {
        grew = false;
        for (const [id, definition] of Object.entries(defs)) {
          if (!inputOnly.has(id) && referencedIds(definition).some((ref) => inputOnly.has(ref))) {
            inputOnly.add(id);
            grew = true;
          }
        }
      }
    }
    const nameOf = (id: string) => (inputOnly.has(id) ? `${id}Input` : id);
    const rewrite = (value: unknown): unknown => {
      if (Array.isArray(value)) return value.map(rewrite);
      if (typeof value !== 'object' || value === null) return value;
      return Object.fromEntries(
        Object.entries(value).map(([key, inner]) =>
          key === '$ref' && typeof inner === 'string' && inner.startsWith('#/$defs/')
            ? [key, `#/components/schemas/${nameOf(inner.slice('#/$defs/'.length))}`]
            : [key, rewrite(inner)],
        ),
      );
    };
    for (const [id, definition] of Object.entries(defs)) {
      if (inlineRoot && id === rootId) continue;
      this.schemas[nameOf(id)] = rewrite(definition) as JsonSchema;
    }
    const rootDefinition = inlineRoot && rootId !== undefined ? defs[rootId] : undefined;
    return rewrite(rootDefinition ?? root) as JsonSchema;
  }
}

function parametersOf(schema: z.ZodObject, location: 'query' | 'path', registry: ComponentRegistry): JsonSchema[] {
  const resolved = registry.reference(schema, 'input', { inlineRoot: true }) as {
    properties?: Record<string, JsonSchema>;
    required?: string[];
  };
  return Object.entries(resolved.properties ?? {}).map(([name, property]) => {
    const { description, ...propertySchema } = property;
    return {
      name,
      in: location,
      required: location === 'path' || (resolved.required ?? []).includes(name),
      ...(typeof description === 'string' ? { description } : {}),
      schema: propertySchema,
    };
  });
}

function errorCodesOf(route: RouteDef): ErrorCode[] {
  const codes = new Set<ErrorCode>(route.errors ?? []);
  if (route.params || route.query || route.body) codes.add('VALIDATION_FAILED');
  if (route.body || route.rawBody) codes.add('BAD_REQUEST');
  if (!isPublicRoute(route)) codes.add('UNAUTHORIZED');
  // Viewer routes refuse nobody who is signed in; every other role rule refuses someone.
  const minRole = minRoleOf(route);
  if (minRole !== null && minRole !== 'viewer') codes.add('FORBIDDEN');
  codes.add('INTERNAL');
  return [...codes];
}

function operationOf(route: RouteDef, registry: ComponentRegistry): JsonSchema {
  const parameters = [
    ...(route.params ? parametersOf(route.params, 'path', registry) : []),
    ...(route.query ? parametersOf(route.query, 'query', registry) : []),
  ];
  const responses: Record<string, JsonSchema> = {};
  for (const response of route.responses) {
    responses[String(response.status)] = {
      description: response.description,
      ...(response.schema
        ? { content: { 'application/json': { schema: registry.reference(response.schema, 'output') } } }
        : {}),
    };
  }
  const errorBody = registry.reference(ErrorBody, 'output');
  for (const code of errorCodesOf(route)) {
    const status = String(httpStatusFor(code));
    const entry = responses[status] as { description: string } | undefined;
    const description = ERROR_CODES[code].description;
    responses[status] = {
      description: entry ? `${entry.description}; or: ${description}` : `${code}: ${description}`,
      content: { 'application/json': { schema: errorBody } },
    };
  }
  return {
    operationId: route.operationId,
    summary: route.summary,
    tags: [route.tag],
    ...(isPublicRoute(route) ? { security: [] } : { security: [{ bearerAuth: [] }] }),
    ...(isPublicRoute(route) ? {} : { 'x-outpost-min-role': minRoleOf(route) }),
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(route.body
      ? {
          requestBody: {
            required: true,
            content: { 'application/json': { schema: registry.reference(route.body, 'input') } },
          },
        }
      : {}),
    ...(route.rawBody
      ? {
          requestBody: {
            required: true,
            description: route.rawBody.description,
            content: { [route.rawBody.contentType]: { schema: { type: 'string', format: 'binary' } } },
          },
        }
      : {}),
    responses,
  };
}

/** The OpenAPI 3.1 document of every route in the table. */
export function buildOpenApiDocument(table: Record<string, RouteDef> = routes): OpenAPIObject {
  const registry = new ComponentRegistry();
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const route of Object.values(table)) {
    paths[route.path] ??= {};
    (paths[route.path] as Record<string, JsonSchema>)[route.method] = operationOf(route, registry);
  }
  const document = {
    openapi: '3.1.0',
    info: {
      title: 'Outpost cloud API',
      version: '1',
      description: 'Device registry, presence and fleet operations. Errors are always `ErrorBody`.',
    },
    paths,
    components: {
      schemas: registry.schemas,
      securitySchemes: {
        bearerAuth: {
          type: 'http',
          scheme: 'bearer',
          description:
            'An API token (opt_…, POST /api/v1/tokens) or a session token (ops_…, POST /api/v1/auth/login); ' +
            'each operation names the lowest role it lets in as x-outpost-min-role',
        },
      },
    },
  };
  return document as OpenAPIObject;
}

/** Serves the document as JSON and Swagger UI (assets from swagger-ui-dist, no CDN) at /api/docs. */
export function setupOpenApi(app: INestApplication): void {
  SwaggerModule.setup(DOCS_PATH.slice(1), app, buildOpenApiDocument(), {
    jsonDocumentUrl: OPENAPI_JSON_PATH.slice(1),
    raw: ['json'],
    customSiteTitle: 'Outpost cloud API',
  });
}
