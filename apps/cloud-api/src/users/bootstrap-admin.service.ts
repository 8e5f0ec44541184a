import { randomUUID } from 'node:crypto';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { AuditService } from '../audit/audit.service.js';
import { SYSTEM_ACTOR } from '../auth/tokens.js';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { LOGGER, type Logger } from '../logging/logger.js';
import { generatePassword } from './password.js';
import { UsersRepository } from './users.repository.js';
import { UsersService } from './users.service.js';

/**
 * First start: when OUTPOST_BOOTSTRAP_ADMIN_PASSWORD_FILE is set and no enabled admin user exists, create one (or
 * re-enable and reset the account of that name) with a random password written to that file (mode 0600), so someone
 * can sign in to the portal. The password is never logged and is stored only as a hash.
 */
@Injectable()
export class BootstrapAdminService implements OnApplicationBootstrap {
  private readonly log: Logger;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly repository: UsersRepository,
    private readonly users: UsersService,
    private readonly audit: AuditService,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.log = logger.child({ component: 'bootstrap-admin' });
  }

  async onApplicationBootstrap(): Promise<void> {
    const file = this.config.auth.bootstrapAdminPasswordFile;
    if (!file) return;
    const username = this.config.auth.bootstrapAdminUsername;
    const password = generatePassword();
    const passwordHash = await this.users.hashPassword(password);
    const created = await this.repository.withAdminsLock(async (tx) => {
      if (await this.repository.hasOtherEnabledAdmin(null, tx)) return false;
      const existing = await this.repository.findByUsername(username, tx);
      const user = existing
        ? await this.repository.update(existing.id, { role: 'admin', disabledAt: null, passwordHash }, tx)
        : await this.repository.insert({ id: randomUUID(), username, passwordHash, role: 'admin' }, tx);
      if (!user) throw new Error(`could not create the bootstrap admin ${username}`);
      await this.audit.record(
        {
          actor: SYSTEM_ACTOR,
          action: existing ? 'user.update' : 'user.create',
          target: { type: 'user', id: user.id },
          details: { username, role: 'admin', reason: 'bootstrap: no enabled admin user existed' },
        },
        tx,
      );
      // Written before the transaction commits: if the file cannot be written, no admin exists that nobody can use.
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, `${password}\n`, { mode: 0o600 });
      await chmod(file, 0o600); // writeFile's mode applies only when it creates the file
      return true;
    });
    if (created) this.log.info({ file, username }, 'bootstrap admin user created; its password is in the file');
    else this.log.info({ file }, 'an enabled admin user exists; bootstrap password file left alone');
  }
}
