import { randomUUID } from 'node:crypto';
import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { type Identity, type LoginRequest, type LoginResponse, OutpostError } from '@outpost/protocol';
import { AuditService } from '../audit/audit.service.js';
import type { CallOrigin } from '../auth/principal.js';
import { generateToken, hashToken, type Principal, SESSION_TOKEN_PREFIX } from '../auth/tokens.js';
import { APP_CONFIG, type AppConfig } from '../config/config.js';
import { LOGGER, type Logger } from '../logging/logger.js';
import { RateLimitService } from '../rate-limit/rate-limit.service.js';
import { toUser, UsersService } from '../users/users.service.js';
import { SessionsRepository } from './sessions.repository.js';

/** Ended sessions are deleted this often (they stop working at once; this only keeps the table small). */
const CLEANUP_INTERVAL_MS = 10 * 60_000;

/** Who the audit log names for a failed login: nobody proved who they are. */
const LOGIN_ATTEMPT_ACTOR = { kind: 'system', id: 'login', name: 'login attempt' } as const;

/**
 * People's sessions: login (rate limited per client address and, for failures, per username), the session token
 * check every call goes through, logout. Session tokens are random, stored as sha256, and end at an absolute expiry
 * or after an idle timeout, whichever comes first.
 */
@Injectable()
export class SessionsService implements OnModuleInit, OnModuleDestroy {
  private readonly settings: AppConfig['auth'];
  private cleanup: NodeJS.Timeout | undefined;
  private readonly log: Logger;

  constructor(
    private readonly repository: SessionsRepository,
    private readonly users: UsersService,
    private readonly rateLimits: RateLimitService,
    private readonly audit: AuditService,
    @Inject(APP_CONFIG) config: AppConfig,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.settings = config.auth;
    this.log = logger.child({ component: 'sessions' });
  }

  onModuleInit(): void {
    this.cleanup = setInterval(() => void this.deleteEnded(), CLEANUP_INTERVAL_MS);
    this.cleanup.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.cleanup);
  }

  async login(request: LoginRequest, origin: CallOrigin): Promise<LoginResponse> {
    const s = this.settings;
    const address = origin.address ?? `${origin.transport}:unknown`;
    const fromAddress = await this.rateLimits.consume(
      `login:address:${address}`,
      s.loginAddressLimit,
      s.loginAddressWindowSeconds,
    );
    if (!fromAddress.allowed) {
      this.log.warn({ code: 'LOGIN_RATE_LIMITED', address, limit: 'address' }, 'login refused: too many attempts');
      throw this.rateLimits.refusal(fromAddress, 'Too many login attempts from this address');
    }
    const failuresKey = `login:user:${request.username}`;
    const failures = await this.rateLimits.peek(failuresKey, s.loginMaxFailures, s.loginLockoutSeconds);
    if (!failures.allowed) {
      this.log.warn({ code: 'LOGIN_RATE_LIMITED', address, limit: 'username' }, 'login refused: account locked');
      throw this.rateLimits.refusal(failures, `Too many failed logins for ${request.username}`, [
        { path: 'username', message: `locked after ${s.loginMaxFailures} failed attempts` },
      ]);
    }

    const check = await this.users.checkCredentials(request.username, request.password);
    if (!check.ok) {
      await this.rateLimits.consume(failuresKey, s.loginMaxFailures, s.loginLockoutSeconds);
      await this.audit.record({
        actor: LOGIN_ATTEMPT_ACTOR,
        action: 'auth.login.failed',
        target: { type: 'user', id: check.user?.id ?? null },
        details: { username: request.username, reason: check.reason, address, via: origin.transport },
      });
      this.log.info({ code: 'LOGIN_FAILED', reason: check.reason, address }, 'login failed');
      // One answer for every reason: a caller cannot tell a wrong password from an unknown or disabled account.
      throw new OutpostError('UNAUTHORIZED', 'Invalid username or password', [
        { path: 'password', message: 'the username and password do not match an enabled account' },
      ]);
    }
    await this.rateLimits.reset(failuresKey);

    const token = generateToken(SESSION_TOKEN_PREFIX);
    const session = await this.repository.insert({
      id: randomUUID(),
      userId: check.user.id,
      tokenHash: hashToken(token),
      expiresAt: new Date(Date.now() + s.sessionTtlSeconds * 1000),
      clientAddress: origin.address,
    });
    this.audit.note({
      actor: { kind: 'user', id: check.user.id, name: check.user.username },
      targetId: session.id,
      details: { address, via: origin.transport },
    });
    return { token, expiresAt: session.expiresAt.toISOString(), user: toUser(check.user) };
  }

  /** The person a session token belongs to, or null when the session is unknown, ended or its user disabled. */
  async resolve(token: string): Promise<Principal | null> {
    const found = await this.repository.findValid(hashToken(token), this.settings.sessionIdleSeconds);
    if (!found) return null;
    const { session, user } = found;
    const resolution = Math.min(60, Math.max(1, Math.floor(this.settings.sessionIdleSeconds / 4)));
    this.repository.touch(session.id, resolution).catch((err: unknown) => {
      this.log.warn(
        { code: 'SESSION_TOUCH_FAILED', sessionId: session.id, err: err instanceof Error ? err.message : String(err) },
        'could not record session use',
      );
    });
    return {
      kind: 'user',
      id: user.id,
      name: user.username,
      role: user.role,
      expiresAt: session.expiresAt,
      sessionId: session.id,
    };
  }

  /** Ends the caller's session. API tokens are not sessions: they are revoked with DELETE /api/v1/tokens/{id}. */
  async logout(principal: Principal): Promise<void> {
    if (principal.kind !== 'user' || principal.sessionId === undefined) {
      throw new OutpostError('BAD_REQUEST', 'Only a session can log out; revoke an API token instead', [
        { path: 'authorization', message: 'an API token: use DELETE /api/v1/tokens/{id}' },
      ]);
    }
    await this.repository.delete(principal.sessionId);
    this.audit.note({ targetId: principal.sessionId });
  }

  identity(principal: Principal): Identity {
    return {
      kind: principal.kind,
      id: principal.id,
      name: principal.name,
      role: principal.role,
      expiresAt: principal.expiresAt.toISOString(),
    };
  }

  private async deleteEnded(): Promise<void> {
    try {
      const deleted = await this.repository.deleteEnded(this.settings.sessionIdleSeconds);
      if (deleted > 0) this.log.debug({ deleted }, 'ended sessions removed');
    } catch (err) {
      this.log.warn(
        { code: 'SESSION_CLEANUP_FAILED', err: err instanceof Error ? err.message : String(err) },
        'could not remove ended sessions',
      );
    }
  }
}
