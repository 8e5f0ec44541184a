import { pgEnum } from 'drizzle-orm/pg-core';

/**
 * Roles of people (users) and pipelines (API tokens): admin > operator > viewer. One Postgres enum for both; it keeps
 * the name it was created with for API tokens.
 */
export const apiTokenRole = pgEnum('api_token_role', ['admin', 'operator', 'viewer']);
export type RoleName = (typeof apiTokenRole.enumValues)[number];
