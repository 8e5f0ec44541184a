import { describe, expect, it } from 'vitest';
import {
  AuditRecord,
  CreateApiTokenRequest,
  CreateUserRequest,
  ListAuditQuery,
  LoginRequest,
  UpdateUserRequest,
  User,
} from '../src/index.js';

const pathsOf = (result: { success: boolean; error?: { issues: { path: PropertyKey[] }[] } }) =>
  result.error?.issues.map((issue) => issue.path.join('.')) ?? [];

describe('people and pipelines schemas', () => {
  it('lower-case and trim usernames, so one person has one account', () => {
    expect(
      CreateUserRequest.parse({ username: '  Alice@Example.com ', password: 'x'.repeat(12), role: 'viewer' }),
    ).toEqual({ username: 'alice@example.com', password: 'x'.repeat(12), role: 'viewer' });
    expect(LoginRequest.parse({ username: 'ALICE', password: 'p' })).toEqual({ username: 'alice', password: 'p' });
  });

  it('name each bad field of a new user: short password, odd username, unknown role, extra fields', () => {
    const bad = CreateUserRequest.safeParse({ username: '-x', password: 'short', role: 'root', isAdmin: true });
    expect(bad.success).toBe(false);
    expect(pathsOf(bad)).toEqual(expect.arrayContaining(['username', 'password', 'role']));
    expect(JSON.stringify(bad.error?.issues)).toContain('isAdmin');
  });

  it('want at least one change in a user update', () => {
    expect(UpdateUserRequest.safeParse({}).success).toBe(false);
    expect(UpdateUserRequest.parse({ disabled: true })).toEqual({ disabled: true });
  });

  it('give API tokens 90 days unless told otherwise, and at most ten years', () => {
    expect(CreateApiTokenRequest.parse({ name: 'ci', role: 'operator' })).toEqual({
      name: 'ci',
      role: 'operator',
      expiresInDays: 90,
    });
    expect(pathsOf(CreateApiTokenRequest.safeParse({ name: 'ci', role: 'viewer', expiresInDays: 3651 }))).toEqual([
      'expiresInDays',
    ]);
    expect(pathsOf(CreateApiTokenRequest.safeParse({ name: ' ', role: 'viewer', expiresInDays: 0 }))).toEqual([
      'name',
      'expiresInDays',
    ]);
  });

  it('describe users and audit records as the API returns them', () => {
    const user = {
      id: 'u1',
      username: 'alice',
      role: 'admin',
      createdAt: '2026-11-30T08:00:00.000Z',
      disabledAt: null,
    };
    expect(User.parse(user)).toEqual(user);
    const record = {
      id: '17',
      at: '2026-11-30T08:00:00.000Z',
      actor: { kind: 'user', id: 'u1', name: 'alice' },
      action: 'device.create',
      target: { type: 'device', id: 'press-01' },
      details: { tags: { site: 'plant-7' } },
    };
    expect(AuditRecord.parse(record)).toEqual(record);
    expect(AuditRecord.safeParse({ ...record, actor: { kind: 'robot', id: 'r', name: 'r' } }).success).toBe(false);
  });

  it('coerce the audit page size and keep filters optional', () => {
    expect(ListAuditQuery.parse({ limit: '5', action: 'device.create' })).toEqual({
      limit: 5,
      action: 'device.create',
    });
    expect(ListAuditQuery.parse({})).toEqual({ limit: 50 });
  });
});
