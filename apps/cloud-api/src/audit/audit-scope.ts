import { AsyncLocalStorage } from 'node:async_hooks';
import type { AuditActor } from '@outpost/protocol';

/** What a handler adds to the audit record of the call it is serving (AuditService.note). */
export interface AuditNote {
  /** The target's id when the route cannot tell it (an id the handler made, a session, …). */
  readonly targetId?: string;
  /** Who acted, when the caller is not the signed-in principal (login: the user who just logged in). */
  readonly actor?: AuditActor;
  /** What changed, merged into the record's details. Never secrets. */
  readonly details?: Readonly<Record<string, unknown>>;
}

/** The audit record being gathered for one audited call. */
export class AuditScope {
  targetId: string | undefined;
  actor: AuditActor | undefined;
  readonly details: Record<string, unknown> = {};

  add(note: AuditNote): void {
    if (note.targetId !== undefined) this.targetId = note.targetId;
    if (note.actor !== undefined) this.actor = note.actor;
    if (note.details) Object.assign(this.details, note.details);
  }
}

/** The scope of the audited call running now (AuditInterceptor opens one around each mutation). */
export const auditScopes = new AsyncLocalStorage<AuditScope>();
