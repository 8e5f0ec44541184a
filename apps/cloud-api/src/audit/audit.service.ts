import { Inject, Injectable } from '@nestjs/common';
import {
  type AuditActor,
  type AuditPage,
  type AuditRecord,
  type ListAuditQuery,
  OutpostError,
} from '@outpost/protocol';
import { pageFromRows } from '../api/page.js';
import type { Database, Transaction } from '../database/database.js';
import type { AuditRow } from '../database/schema.js';
import { decodeCursor, encodeCursor } from '../devices/cursor.js';
import { LOGGER, type Logger } from '../logging/logger.js';
import { AuditRepository } from './audit.repository.js';
import { type AuditNote, auditScopes } from './audit-scope.js';

export interface AuditEntry {
  readonly actor: AuditActor;
  /** `<target>.<verb>`: `device.create`, `user.update`, `auth.login`, … */
  readonly action: string;
  readonly target: { readonly type: string; readonly id: string | null };
  readonly details?: Readonly<Record<string, unknown>>;
}

/** Detail keys that could hold a secret are dropped, whatever a caller passes: the audit log is read by people. */
const SECRET_KEYS = new Set(['password', 'newpassword', 'token', 'secret', 'passwordhash', 'tokenhash', 'privatekey']);

export function toAuditRecord(row: AuditRow): AuditRecord {
  return {
    id: String(row.id),
    at: row.at.toISOString(),
    actor: { kind: row.actorKind, id: row.actorId, name: row.actorName },
    action: row.action,
    target: { type: row.targetType, id: row.targetId },
    details: row.details,
  };
}

/**
 * The one writer of the audit log. Mutations routed through the route table are recorded by AuditInterceptor after
 * they succeed; their handlers add what only they know with `note()`. Work that no route drives (bootstrap, failed
 * logins) calls `record()` itself.
 */
@Injectable()
export class AuditService {
  private readonly log: Logger;

  constructor(
    private readonly repository: AuditRepository,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.log = logger.child({ component: 'audit' });
  }

  async record(entry: AuditEntry, tx?: Database | Transaction): Promise<AuditRecord> {
    const row = await this.repository.insert(
      {
        actor: entry.actor,
        action: entry.action,
        targetType: entry.target.type,
        targetId: entry.target.id,
        details: this.withoutSecrets(entry.action, entry.details ?? {}),
      },
      tx,
    );
    return toAuditRecord(row);
  }

  /**
   * Adds to the audit record of the mutation being handled: its target id, details, or (for public routes such as
   * login) who acted. Throws outside an audited call, where a note would silently go nowhere.
   */
  note(note: AuditNote): void {
    const scope = auditScopes.getStore();
    if (!scope) throw new Error('AuditService.note() called outside an audited route handler');
    scope.add(note);
  }

  async list(query: ListAuditQuery): Promise<AuditPage> {
    const beforeId = query.cursor === undefined ? undefined : decodeAuditCursor(query.cursor);
    const rows = await this.repository.list({
      beforeId,
      actor: query.actor,
      action: query.action,
      targetId: query.targetId,
      limit: query.limit + 1,
    });
    return pageFromRows(rows, query.limit, toAuditRecord, (row) => encodeCursor(String(row.id)));
  }

  private withoutSecrets(action: string, details: Readonly<Record<string, unknown>>): Record<string, unknown> {
    const kept: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(details)) {
      if (SECRET_KEYS.has(key.toLowerCase())) {
        this.log.warn({ code: 'AUDIT_DETAIL_DROPPED', action, key }, 'audit detail that may hold a secret dropped');
        continue;
      }
      kept[key] = value;
    }
    return kept;
  }
}

function decodeAuditCursor(cursor: string): number {
  const id = Number(decodeCursor(cursor));
  if (!Number.isSafeInteger(id) || id < 1) {
    throw new OutpostError('VALIDATION_FAILED', 'Invalid query', [
      { path: 'cursor', message: 'not a cursor from this API; pass nextCursor from the previous page' },
    ]);
  }
  return id;
}
