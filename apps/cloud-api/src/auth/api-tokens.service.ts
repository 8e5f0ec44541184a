import { Injectable } from '@nestjs/common';
import {
  type ApiToken,
  type ApiTokenPage,
  type CreateApiTokenRequest,
  type CreatedApiToken,
  type ListApiTokensQuery,
  OutpostError,
} from '@outpost/protocol';
import { z } from 'zod';
import { pageFromRows } from '../api/page.js';
import { AuditService } from '../audit/audit.service.js';
import type { ApiTokenRow } from '../database/schema.js';
import { decodeCursor, encodeCursor } from '../devices/cursor.js';
import { ApiTokensRepository, type TokenPosition } from './api-tokens.repository.js';
import { generateToken, hashToken, newTokenId, type Principal } from './tokens.js';

const DAY_MS = 86_400_000;

export function toApiToken(row: ApiTokenRow, now: Date = new Date()): ApiToken {
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    status: row.revokedAt ? 'revoked' : row.expiresAt <= now ? 'expired' : 'active',
    createdAt: row.createdAt.toISOString(),
    expiresAt: row.expiresAt.toISOString(),
    lastUsedAt: row.lastUsedAt ? row.lastUsedAt.toISOString() : null,
    revokedAt: row.revokedAt ? row.revokedAt.toISOString() : null,
  };
}

const Position = z.object({ createdAt: z.iso.datetime(), id: z.string().min(1) });

function encodePosition(row: ApiTokenRow): string {
  return encodeCursor(JSON.stringify({ createdAt: row.createdAt.toISOString(), id: row.id }));
}

function decodePosition(cursor: string): TokenPosition {
  const invalid = () =>
    new OutpostError('VALIDATION_FAILED', 'Invalid query', [
      { path: 'cursor', message: 'not a cursor from this API; pass nextCursor from the previous page' },
    ]);
  let parsed: unknown;
  try {
    parsed = JSON.parse(decodeCursor(cursor));
  } catch {
    throw invalid();
  }
  const position = Position.safeParse(parsed);
  if (!position.success) throw invalid();
  return { createdAt: new Date(position.data.createdAt), id: position.data.id };
}

/** Pipelines' bearer tokens: created by admins (shown once), listed, revoked. Only their sha256 is stored. */
@Injectable()
export class ApiTokensService {
  constructor(
    private readonly repository: ApiTokensRepository,
    private readonly audit: AuditService,
  ) {}

  async create(request: CreateApiTokenRequest): Promise<CreatedApiToken> {
    const token = generateToken();
    const row = await this.repository.insert({
      id: newTokenId(),
      name: request.name,
      role: request.role,
      tokenHash: hashToken(token),
      expiresAt: new Date(Date.now() + request.expiresInDays * DAY_MS),
    });
    this.audit.note({
      targetId: row.id,
      details: { name: row.name, role: row.role, expiresAt: row.expiresAt.toISOString() },
    });
    return { ...toApiToken(row), token };
  }

  async list(query: ListApiTokensQuery): Promise<ApiTokenPage> {
    const after = query.cursor === undefined ? undefined : decodePosition(query.cursor);
    const rows = await this.repository.list({ after, status: query.status, limit: query.limit + 1 });
    return pageFromRows(rows, query.limit, (row) => toApiToken(row), encodePosition);
  }

  /** Revokes a token at once, on every replica (each call checks the database). Revoking twice is harmless. */
  async revoke(id: string): Promise<ApiToken> {
    const row = await this.repository.revoke(id);
    if (!row)
      throw new OutpostError('NOT_FOUND', `API token ${id} not found`, [{ path: 'id', message: 'no such token' }]);
    this.audit.note({ details: { name: row.name, role: row.role } });
    return toApiToken(row);
  }

  /** The pipeline an API token belongs to, or null when it is unknown, revoked or expired. */
  async resolve(token: string): Promise<Principal | null> {
    const row = await this.repository.findActiveByHash(hashToken(token));
    if (!row) return null;
    return { kind: 'token', id: row.id, name: row.name, role: row.role, expiresAt: row.expiresAt };
  }

  touch(id: string): Promise<void> {
    return this.repository.touchLastUsed(id);
  }
}
