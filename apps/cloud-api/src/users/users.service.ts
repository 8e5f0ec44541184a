import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import {
  type CreateUserRequest,
  type ListUsersQuery,
  OutpostError,
  type UpdateUserRequest,
  type User,
  type UserPage,
} from '@outpost/protocol';
import { pageFromRows } from '../api/page.js';
import { AuditService } from '../audit/audit.service.js';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import type { Transaction } from '../database/database.js';
import type { UserRow } from '../database/schema.js';
import { decodeCursor, encodeCursor } from '../devices/cursor.js';
import { LOGGER, type Logger } from '../logging/logger.js';
import { hashPassword, needsRehash, type ScryptCost, verifyPassword } from './password.js';
import { UsersRepository } from './users.repository.js';

export function toUser(row: UserRow): User {
  return {
    id: row.id,
    username: row.username,
    role: row.role,
    createdAt: row.createdAt.toISOString(),
    disabledAt: row.disabledAt ? row.disabledAt.toISOString() : null,
  };
}

export type CredentialCheck =
  | { ok: true; user: UserRow }
  | { ok: false; reason: 'unknown-user' | 'bad-password' | 'disabled'; user: UserRow | null };

function notFound(id: string): OutpostError {
  return new OutpostError('NOT_FOUND', `User ${id} not found`, [{ path: 'id', message: 'no such user' }]);
}

/** People: accounts, roles, passwords. Sessions are SessionsService's; this only ends them when access changes. */
@Injectable()
export class UsersService {
  private readonly cost: ScryptCost;
  /** A hash to verify against when the username is unknown, so the answer takes as long as for a known one. */
  private decoy: Promise<string> | undefined;
  private readonly log: Logger;

  constructor(
    private readonly repository: UsersRepository,
    private readonly audit: AuditService,
    @Inject(APP_CONFIG) config: AppConfig,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.cost = { logN: config.auth.passwordScryptCost, r: 8, p: 1 };
    this.log = logger.child({ component: 'users' });
  }

  hashPassword(password: string): Promise<string> {
    return hashPassword(password, this.cost);
  }

  async create(request: CreateUserRequest): Promise<User> {
    const row = await this.repository.insert({
      id: randomUUID(),
      username: request.username,
      passwordHash: await this.hashPassword(request.password),
      role: request.role,
    });
    if (!row) {
      throw new OutpostError('CONFLICT', `User ${request.username} already exists`, [
        { path: 'username', message: 'already taken' },
      ]);
    }
    this.audit.note({ targetId: row.id, details: { username: row.username, role: row.role } });
    return toUser(row);
  }

  async list(query: ListUsersQuery): Promise<UserPage> {
    const afterUsername = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
    const rows = await this.repository.list({ afterUsername, limit: query.limit + 1 });
    return pageFromRows(rows, query.limit, toUser, (row) => encodeCursor(row.username));
  }

  /**
   * Changes a user's role, enabled state or password. Disabling or a new password ends the user's sessions; the last
   * enabled admin cannot be demoted or disabled (CONFLICT), so an admin always remains.
   */
  async update(id: string, update: UpdateUserRequest): Promise<User> {
    const passwordHash = update.password === undefined ? undefined : await this.hashPassword(update.password);
    const { row, endedSessions } = await this.repository.withAdminsLock(async (tx: Transaction) => {
      const current = await this.repository.findById(id, tx);
      if (!current) throw notFound(id);
      const losesAdmin =
        current.role === 'admin' &&
        current.disabledAt === null &&
        ((update.role !== undefined && update.role !== 'admin') || update.disabled === true);
      if (losesAdmin && !(await this.repository.hasOtherEnabledAdmin(id, tx))) {
        throw new OutpostError('CONFLICT', `${current.username} is the last enabled admin`, [
          { path: update.disabled === true ? 'disabled' : 'role', message: 'make another user admin first' },
        ]);
      }
      const disabledAt =
        update.disabled === undefined ? undefined : update.disabled ? (current.disabledAt ?? new Date()) : null;
      const updated = await this.repository.update(id, { role: update.role, disabledAt, passwordHash }, tx);
      if (!updated) throw notFound(id);
      const endSessions = update.disabled === true || passwordHash !== undefined;
      return { row: updated, endedSessions: endSessions ? await this.repository.endSessions(id, tx) : 0 };
    });
    this.audit.note({
      targetId: row.id,
      details: {
        username: row.username,
        ...(update.role !== undefined ? { role: update.role } : {}),
        ...(update.disabled !== undefined ? { disabled: update.disabled } : {}),
        ...(passwordHash !== undefined ? { passwordChanged: true } : {}),
        ...(endedSessions > 0 ? { endedSessions } : {}),
      },
    });
    return toUser(row);
  }

  /**
   * Checks a username and password. Always spends one scrypt, known user or not, so timing does not tell which
   * usernames exist. A correct password stored at a lower cost than configured is rehashed.
   */
  async checkCredentials(username: string, password: string): Promise<CredentialCheck> {
    const user = await this.repository.findByUsername(username);
    if (!user) {
      this.decoy ??= this.hashPassword('outpost decoy password');
      await verifyPassword(password, await this.decoy);
      return { ok: false, reason: 'unknown-user', user: null };
    }
    if (!(await verifyPassword(password, user.passwordHash))) return { ok: false, reason: 'bad-password', user };
    if (user.disabledAt !== null) return { ok: false, reason: 'disabled', user };
    if (needsRehash(user.passwordHash, this.cost)) {
      await this.repository.update(user.id, { passwordHash: await this.hashPassword(password) }).catch((err) => {
        this.log.warn(
          { code: 'PASSWORD_REHASH_FAILED', userId: user.id, err: err instanceof Error ? err.message : String(err) },
          'could not store the password at the current cost; keeping the old hash',
        );
      });
    }
    return { ok: true, user };
  }
}
