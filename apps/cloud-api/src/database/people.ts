import { index, pgTable, text, timestamp } from 'drizzle-orm/pg-core';
import { apiTokenRole } from './roles.js';

const time = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

/** People who log in to the portal (or call the API with a session token). */
export const users = pgTable('users', {
  id: text('id').primaryKey(),
  /** Lower-cased; unique. */
  username: text('username').notNull().unique(),
  /** `scrypt$<log2 N>$<r>$<p>$<salt b64url>$<hash b64url>`: the parameters travel with the hash. */
  passwordHash: text('password_hash').notNull(),
  role: apiTokenRole('role').notNull(),
  createdAt: time('created_at').notNull().defaultNow(),
  updatedAt: time('updated_at').notNull().defaultNow(),
  disabledAt: time('disabled_at'),
});

/** A person's signed-in session. Only the token's sha256 is stored. */
export const sessions = pgTable(
  'sessions',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    tokenHash: text('token_hash').notNull().unique(),
    createdAt: time('created_at').notNull().defaultNow(),
    /** Absolute end of the session. */
    expiresAt: time('expires_at').notNull(),
    /** Refreshed at most once a minute; a session quiet for longer than the idle timeout has ended. */
    lastSeenAt: time('last_seen_at').notNull().defaultNow(),
    /** Where the login came from (the socket address, or what the portal saw). */
    clientAddress: text('client_address'),
  },
  (table) => [index('sessions_user_id_idx').on(table.userId), index('sessions_expires_at_idx').on(table.expiresAt)],
);

export type UserRow = typeof users.$inferSelect;
export type SessionRow = typeof sessions.$inferSelect;
