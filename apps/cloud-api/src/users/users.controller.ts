import { Controller } from '@nestjs/common';
import type {
  CreateUserRequest,
  ListUsersQuery,
  UpdateUserRequest,
  User,
  UserIdParams,
  UserPage,
} from '@outpost/protocol';
import { Route } from '../api/route.js';
import { ValidBody, ValidParams, ValidQuery } from '../api/validation.js';
import { routes } from '../openapi/routes.js';
import { UsersService } from './users.service.js';

@Controller()
export class UsersController {
  constructor(private readonly users: UsersService) {}

  @Route(routes.createUser)
  create(@ValidBody(routes.createUser) body: CreateUserRequest): Promise<User> {
    return this.users.create(body);
  }

  @Route(routes.listUsers)
  list(@ValidQuery(routes.listUsers) query: ListUsersQuery): Promise<UserPage> {
    return this.users.list(query);
  }

  @Route(routes.updateUser)
  update(
    @ValidParams(routes.updateUser) params: UserIdParams,
    @ValidBody(routes.updateUser) body: UpdateUserRequest,
  ): Promise<User> {
    return this.users.update(params.id, body);
  }
}
