import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { AuditModule } from '../audit/audit.module.js';
import { RateLimitModule } from '../rate-limit/rate-limit.module.js';
import { SessionsModule } from '../sessions/sessions.module.js';
import { UsersModule } from '../users/users.module.js';
import { AccessGuard } from './access.guard.js';
import { ApiTokensController } from './api-tokens.controller.js';
import { ApiTokensRepository } from './api-tokens.repository.js';
import { ApiTokensService } from './api-tokens.service.js';
import { BootstrapTokenService } from './bootstrap-token.service.js';
import { CredentialsService } from './credentials.service.js';

/**
 * People and pipelines: the global access guard, API tokens, and (imported here so the app module lists one entry)
 * users, sessions, the audit log and rate limits — the last two global, for every feature to use.
 */
@Module({
  imports: [AuditModule, RateLimitModule, UsersModule, SessionsModule],
  controllers: [ApiTokensController],
  providers: [
    ApiTokensRepository,
    ApiTokensService,
    BootstrapTokenService,
    CredentialsService,
    { provide: APP_GUARD, useClass: AccessGuard },
  ],
  exports: [ApiTokensRepository, CredentialsService],
})
export class AuthModule {}
