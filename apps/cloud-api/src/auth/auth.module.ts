import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ApiTokensRepository } from './api-tokens.repository.js';
import { BearerAuthGuard } from './bearer-auth.guard.js';
import { BootstrapTokenService } from './bootstrap-token.service.js';

@Module({
  providers: [ApiTokensRepository, BootstrapTokenService, { provide: APP_GUARD, useClass: BearerAuthGuard }],
  exports: [ApiTokensRepository],
})
export class AuthModule {}
