import type { ServerResponse } from 'node:http';
import { Controller, Res } from '@nestjs/common';
import { Route } from '../api/route.js';
import { routes } from '../openapi/routes.js';
import { HealthService } from './health.service.js';

@Controller()
export class HealthController {
  constructor(private readonly health: HealthService) {}

  /** Answers itself: the status depends on the result, and Nest would overwrite it with the route's default. */
  @Route(routes.health)
  async get(@Res() response: ServerResponse): Promise<void> {
    const health = await this.health.check();
    response.statusCode = health.status === 'ok' ? 200 : 503;
    response.setHeader('content-type', 'application/json; charset=utf-8');
    response.setHeader('cache-control', 'no-store');
    response.end(JSON.stringify(health));
  }
}
