import { Inject, Injectable } from '@nestjs/common';
import { LOGGER, type Logger } from '../logging/logger.js';
import { SessionsService } from '../sessions/sessions.service.js';
import { ApiTokensService } from './api-tokens.service.js';
import { type Principal, SESSION_TOKEN_PREFIX } from './tokens.js';

/** Turns a bearer token into who it belongs to: a person (session token, `ops_…`) or a pipeline (API token). */
@Injectable()
export class CredentialsService {
  private readonly log: Logger;

  constructor(
    private readonly sessions: SessionsService,
    private readonly tokens: ApiTokensService,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.log = logger.child({ component: 'auth' });
  }

  /** The principal, or null when the token is unknown, expired or revoked (or its user disabled). */
  async resolve(token: string): Promise<Principal | null> {
    if (token.startsWith(SESSION_TOKEN_PREFIX)) return this.sessions.resolve(token);
    const principal = await this.tokens.resolve(token);
    if (principal) {
      this.tokens.touch(principal.id).catch((err: unknown) => {
        this.log.warn(
          { code: 'TOKEN_TOUCH_FAILED', tokenId: principal.id, err: err instanceof Error ? err.message : String(err) },
          'could not record token use',
        );
      });
    }
    return principal;
  }
}
