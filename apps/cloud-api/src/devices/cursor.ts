import { OutpostError } from '@outpost/protocol';
import { z } from 'zod';

/*
 * Page cursors are opaque to clients: base64url of `{"after":"<last id>"}`. Opaque so the ordering can change later
 * without breaking anyone who stored one.
 */
const CursorPayload = z.object({ after: z.string().min(1) });

export function encodeCursor(afterId: string): string {
  return Buffer.from(JSON.stringify({ after: afterId }), 'utf8').toString('base64url');
}

/** The id a cursor continues after; a cursor this API did not make is 400 VALIDATION_FAILED naming `cursor`. */
export function decodeCursor(cursor: string): string {
  const invalid = () =>
    new OutpostError('VALIDATION_FAILED', 'Invalid query', [
      { path: 'cursor', message: 'not a cursor from this API; pass nextCursor from the previous page' },
    ]);
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalid();
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  const parsed = CursorPayload.safeParse(payload);
  if (!parsed.success) throw invalid();
  return parsed.data.after;
}
