import { Controller } from '@nestjs/common';
import type { Identity, LoginRequest, LoginResponse } from '@outpost/protocol';
import { Route } from '../api/route.js';
import { ValidBody } from '../api/validation.js';
import { type CallOrigin, CallOriginParam, CurrentPrincipal } from '../auth/principal.js';
import type { Principal } from '../auth/tokens.js';
import { routes } from '../openapi/routes.js';
import { SessionsService } from './sessions.service.js';

@Controller()
export class AuthController {
  constructor(private readonly sessions: SessionsService) {}

  @Route(routes.login)
  login(@ValidBody(routes.login) body: LoginRequest, @CallOriginParam() origin: CallOrigin): Promise<LoginResponse> {
    return this.sessions.login(body, origin);
  }

  @Route(routes.logout)
  logout(@CurrentPrincipal() principal: Principal): Promise<void> {
    return this.sessions.logout(principal);
  }

  @Route(routes.me)
  me(@CurrentPrincipal() principal: Principal): Identity {
    return this.sessions.identity(principal);
  }
}
