import { Module } from '@nestjs/common';
import { BootstrapAdminService } from './bootstrap-admin.service.js';
import { UsersController } from './users.controller.js';
import { UsersRepository } from './users.repository.js';
import { UsersService } from './users.service.js';

@Module({
  controllers: [UsersController],
  providers: [UsersRepository, UsersService, BootstrapAdminService],
  exports: [UsersService],
})
export class UsersModule {}
