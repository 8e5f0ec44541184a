import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineRoute } from '../src/api/route.js';
import { buildOpenApiDocument } from '../src/openapi/openapi.js';
import { routes } from '../src/openapi/routes.js';

type Doc = {
  paths: Record<string, Record<string, Record<string, unknown>>>;
  components: { schemas: Record<string, Record<string, unknown>> };
};

const refsOf = (value: unknown) =>
  [...JSON.stringify(value).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]);

describe('OpenAPI document from the route table', () => {
  it('documents every route of the table, and every reference resolves', () => {
    const doc = buildOpenApiDocument() as unknown as Doc;
    for (const route of Object.values(routes)) {
      expect(doc.paths[route.path]?.[route.method]?.operationId).toBe(route.operationId);
    }
    for (const ref of refsOf(doc)) expect(doc.components.schemas).toHaveProperty(ref ?? '');
    // Query and path objects become parameters, not components.
    expect(Object.keys(doc.components.schemas)).not.toContain('ListDevicesQuery');
    expect(doc.components.schemas.ErrorBody).toEqual(
      expect.objectContaining({ required: ['code', 'message', 'details'] }),
    );
  });

  it('documents one more endpoint from one more table entry, keeping input and output forms apart', () => {
    const Widget = z.object({ name: z.string(), size: z.number().default(1) }).meta({ id: 'TestWidget' });
    const table = {
      ...routes,
      putWidget: defineRoute({
        operationId: 'putWidget',
        method: 'put',
        path: '/api/v1/widgets/{id}',
        summary: 'Replace a widget',
        tag: 'widgets',
        auth: { minRole: 'admin' },
        audit: { action: 'widget.replace', targetType: 'widget' },
        params: z.object({ id: z.string().describe('Widget id') }),
        body: Widget,
        responses: [{ status: 200, description: 'The widget', schema: Widget }],
        errors: ['NOT_FOUND'],
      }),
    };
    const doc = buildOpenApiDocument(table) as unknown as Doc;
    const operation = doc.paths['/api/v1/widgets/{id}']?.put as Record<string, unknown>;
    expect(operation.parameters).toEqual([
      { name: 'id', in: 'path', required: true, description: 'Widget id', schema: { type: 'string' } },
    ]);
    expect(refsOf(operation.requestBody)).toEqual(['TestWidgetInput']);
    expect(refsOf((operation.responses as Record<string, unknown>)['200'])).toEqual(['TestWidget']);
    // size has a default: optional when sent, always present when returned.
    expect(doc.components.schemas.TestWidgetInput?.required).toEqual(['name']);
    expect(doc.components.schemas.TestWidget?.required).toEqual(['name', 'size']);
    expect(Object.keys(operation.responses as object).sort()).toEqual(['200', '400', '401', '403', '404', '500']);
    expect(operation.security).toEqual([{ bearerAuth: [] }]);
    // The shared schemas stay single components.
    expect(doc.components.schemas).toHaveProperty('Device');
    expect(doc.components.schemas).not.toHaveProperty('DeviceInput');
  });

  it('documents the deployment, artifact and module routes with their bodies, roles and error codes', () => {
    const doc = buildOpenApiDocument() as unknown as Doc;
    const put = doc.paths['/api/v1/devices/{id}/deployment']?.put as Record<string, unknown>;
    expect(put['x-outpost-min-role']).toBe('operator');
    expect(refsOf(put.requestBody)).toEqual(['PutDeploymentRequestInput']);
    expect(put.parameters).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 'format', in: 'query', required: false })]),
    );
    expect(Object.keys(put.responses as object)).toEqual(expect.arrayContaining(['200', '400', '403', '404']));
    expect(doc.paths['/api/v1/devices/{id}/deployment']?.get?.['x-outpost-min-role']).toBe('viewer');

    const upload = doc.paths['/api/v1/artifacts']?.post as Record<string, unknown>;
    expect(upload.requestBody).toMatchObject({
      content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
    });
    expect(refsOf((upload.responses as Record<string, unknown>)['201'])).toEqual(['UploadedArtifact']);

    const logs = doc.paths['/api/v1/devices/{id}/modules/{module}/logs']?.get as Record<string, unknown>;
    expect(Object.keys(logs.responses as object)).toEqual(expect.arrayContaining(['200', '404', '503', '504']));
    expect(JSON.stringify(logs.responses)).toContain('DEVICE_TIMEOUT');
    expect(doc.paths['/api/v1/devices/{id}/modules/{module}/restart']?.post?.['x-outpost-min-role']).toBe('operator');
  });
});
