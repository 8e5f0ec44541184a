import { Controller } from '@nestjs/common';
import { Payload } from '@nestjs/microservices';
import { encodeReply, rpc, subjectMap } from '@outpost/protocol';
import { type CallOrigin, CallOriginParam, CurrentPrincipal } from '../auth/principal.js';
import type { Principal } from '../auth/tokens.js';
import { OnProtocolRequest } from '../nats/protocol-patterns.js';
import type { Inbound } from '../nats/protocol-wire.js';
import { routes } from '../openapi/routes.js';
import { SessionsService } from './sessions.service.js';

/** The portal's sign-in calls: the same service and the same route rules (access, audit) as over HTTP. */
@Controller()
export class AuthNatsController {
  constructor(private readonly sessions: SessionsService) {}

  @OnProtocolRequest(subjectMap.apiAuthLogin, routes.login)
  async login(
    @Payload() request: Inbound<typeof subjectMap.apiAuthLogin>,
    @CallOriginParam() origin: CallOrigin,
  ): Promise<Uint8Array> {
    return encodeReply(rpc.authLogin.response, await this.sessions.login(request.data, origin));
  }

  @OnProtocolRequest(subjectMap.apiAuthLogout, routes.logout)
  async logout(@CurrentPrincipal() principal: Principal): Promise<Uint8Array> {
    await this.sessions.logout(principal);
    return encodeReply(rpc.authLogout.response, {});
  }

  @OnProtocolRequest(subjectMap.apiAuthMe, routes.me)
  me(@CurrentPrincipal() principal: Principal): Uint8Array {
    return encodeReply(rpc.authMe.response, this.sessions.identity(principal));
  }
}
