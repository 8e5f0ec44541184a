import { Body, Param, type PipeTransform, Query } from '@nestjs/common';
import { parseOrThrow } from '@outpost/protocol';
import type { z } from 'zod';
import type { RouteDef } from './route.js';

type RequestPart = 'query' | 'path parameters' | 'body';

/** Validates (and coerces) one part of a request with a protocol schema; failures are 400 VALIDATION_FAILED. */
export class ZodValidationPipe<S extends z.ZodType> implements PipeTransform<unknown, z.output<S>> {
  constructor(
    private readonly schema: S,
    private readonly part: RequestPart,
  ) {}

  transform(value: unknown): z.output<S> {
    return parseOrThrow(this.schema, value ?? {}, this.part);
  }
}

function schemaOf<K extends 'query' | 'params' | 'body'>(route: RouteDef, key: K): z.ZodType {
  const schema = route[key];
  if (!schema) throw new Error(`route ${route.operationId} declares no ${key} schema`);
  return schema;
}

/** The route's query string, validated with its `query` schema. */
export const ValidQuery = (route: RouteDef): ParameterDecorator =>
  Query(new ZodValidationPipe(schemaOf(route, 'query'), 'query'));

/** The route's path parameters, validated with its `params` schema. */
export const ValidParams = (route: RouteDef): ParameterDecorator =>
  Param(new ZodValidationPipe(schemaOf(route, 'params'), 'path parameters'));

/** The route's JSON body, validated with its `body` schema. */
export const ValidBody = (route: RouteDef): ParameterDecorator =>
  Body(new ZodValidationPipe(schemaOf(route, 'body'), 'body'));
