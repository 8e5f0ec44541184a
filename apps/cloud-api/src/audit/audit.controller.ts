import { Controller } from '@nestjs/common';
import type { AuditPage, ListAuditQuery } from '@outpost/protocol';
import { Route } from '../api/route.js';
import { ValidQuery } from '../api/validation.js';
import { routes } from '../openapi/routes.js';
import { AuditService } from './audit.service.js';

@Controller()
export class AuditController {
  constructor(private readonly audit: AuditService) {}

  @Route(routes.listAudit)
  list(@ValidQuery(routes.listAudit) query: ListAuditQuery): Promise<AuditPage> {
    return this.audit.list(query);
  }
}
