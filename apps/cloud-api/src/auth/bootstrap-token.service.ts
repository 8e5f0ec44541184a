import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { AuditService } from '../audit/audit.service.js';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { LOGGER, type Logger } from '../logging/logger.js';
import { ApiTokensRepository } from './api-tokens.repository.js';
import { generateToken, hashToken, newTokenId, SYSTEM_ACTOR } from './tokens.js';

/** The bootstrap token lasts a year; once it has expired, the next start makes a new one. */
const BOOTSTRAP_TOKEN_DAYS = 365;

/**
 * First start: when OUTPOST_BOOTSTRAP_TOKEN_FILE is set and no active (unrevoked, unexpired) admin token exists,
 * create one and write it to that file (mode 0600) so an operator can make the first API calls. The token is never
 * logged or stored in clear.
 */
@Injectable()
export class BootstrapTokenService implements OnApplicationBootstrap {
  private readonly log: Logger;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly tokens: ApiTokensRepository,
    private readonly audit: AuditService,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.log = logger.child({ component: 'bootstrap-token' });
  }

  async onApplicationBootstrap(): Promise<void> {
    const file = this.config.bootstrapTokenFile;
    if (!file) return;
    const created = await this.tokens.withBootstrapLock(async (tx, hasAdmin) => {
      if (hasAdmin) return false;
      const token = generateToken();
      const row = await this.tokens.insert(
        {
          id: newTokenId(),
          name: 'bootstrap admin',
          role: 'admin',
          tokenHash: hashToken(token),
          expiresAt: new Date(Date.now() + BOOTSTRAP_TOKEN_DAYS * 86_400_000),
        },
        tx,
      );
      await this.audit.record(
        {
          actor: SYSTEM_ACTOR,
          action: 'token.create',
          target: { type: 'token', id: row.id },
          details: { name: row.name, role: row.role, expiresAt: row.expiresAt.toISOString(), reason: 'bootstrap' },
        },
        tx,
      );
      // Written before the insert commits: if the file cannot be written, no admin exists that nobody can use.
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, `${token}\n`, { mode: 0o600 });
      await chmod(file, 0o600); // writeFile's mode applies only when it creates the file
      return true;
    });
    if (created) this.log.info({ file }, 'bootstrap admin token written');
    else this.log.info({ file }, 'an admin token exists; bootstrap token file left alone');
  }
}
