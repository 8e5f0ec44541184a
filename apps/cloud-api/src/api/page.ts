/**
 * One page of a list endpoint from a query that fetched `limit + 1` rows: the extra row only tells whether another
 * page exists, and the cursor continues after the last row shown.
 */
export function pageFromRows<Row, Item>(
  rows: readonly Row[],
  limit: number,
  toItem: (row: Row) => Item,
  cursorAfter: (row: Row) => string,
): { items: Item[]; nextCursor: string | null } {
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return { items: page.map(toItem), nextCursor: rows.length > limit && last ? cursorAfter(last) : null };
}
