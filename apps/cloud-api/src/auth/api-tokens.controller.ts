import { Controller } from '@nestjs/common';
import type {
  ApiToken,
  ApiTokenPage,
  CreateApiTokenRequest,
  CreatedApiToken,
  ListApiTokensQuery,
  TokenIdParams,
} from '@outpost/protocol';
import { Route } from '../api/route.js';
import { ValidBody, ValidParams, ValidQuery } from '../api/validation.js';
import { routes } from '../openapi/routes.js';
import { ApiTokensService } from './api-tokens.service.js';

@Controller()
export class ApiTokensController {
  constructor(private readonly tokens: ApiTokensService) {}

  @Route(routes.createToken)
  create(@ValidBody(routes.createToken) body: CreateApiTokenRequest): Promise<CreatedApiToken> {
    return this.tokens.create(body);
  }

  @Route(routes.listTokens)
  list(@ValidQuery(routes.listTokens) query: ListApiTokensQuery): Promise<ApiTokenPage> {
    return this.tokens.list(query);
  }

  @Route(routes.revokeToken)
  revoke(@ValidParams(routes.revokeToken) params: TokenIdParams): Promise<ApiToken> {
    return this.tokens.revoke(params.id);
  }
}
