import type { EntryRow } from '../db/entries-repository.js';

/** The wire format of an entry: created_at as RFC 3339 UTC. */
export function presentEntry(row: EntryRow) {
  return {
    id: row.id,
    user_id: row.user_id,
    text: row.text,
    mood: row.mood,
    category: row.category,
    created_at: row.created_at.toISOString(),
  };
}
