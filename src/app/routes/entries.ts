import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { UnknownOwnerError, type EntryRow } from '../../db/entries-repository.js';
import type { StoredAnswer } from '../../db/idempotency-repository.js';
import { currentUserId, INVALID_TOKEN } from '../authenticate.js';
import { decodeCursor, encodeCursor } from '../cursor.js';
import { isUnfiltered, type EntryService } from '../entry-service.js';
import createError from 'http-errors';
import { idempotencyKeyOf, REPLAYED_HEADER } from '../idempotency.js';
import { readJsonBody } from '../json-body.js';
import { entryIdSchema, entryInputSchema, listQuerySchema, validate } from '../validation.js';
import { queryParams } from '../query-params.js';

export const ENTRY_NOT_FOUND = 'Entry not found or access denied';

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

/** `/entries/:id` or the original's `/entries?id=N`. */
function entryId(ctx: Context): string {
  const raw = (ctx.params as Record<string, string> | undefined)?.id ?? queryParams(ctx).id;
  return validate(entryIdSchema, raw);
}

const notFound = () => createError(404, ENTRY_NOT_FOUND);

const created = (id: number): StoredAnswer => ({
  status: 201,
  body: JSON.stringify({ success: true, message: 'Entry created successfully', id }),
});

export function entryRoutes(router: Router, requireUser: Middleware, entries: EntryService): void {
  router.get('/entries', requireUser, async (ctx) => {
    const userId = currentUserId(ctx);
    const { page, limit, cursor, ...filter } = validate(listQuerySchema, queryParams(ctx));

    if (cursor !== undefined) {
      // Keyset page: one index range scan whatever the depth.
      const position = cursor === '' ? undefined : decodeCursor(cursor);
      const rows = await entries.repository.listAfter(userId, filter, limit + 1, position);
      const shown = rows.slice(0, limit);
      ctx.body = { success: true, entries: shown.map(presentEntry), limit, next_cursor: nextCursor(rows, shown) };
      return;
    }

    const buildPage = async () => {
      const [rows, total] = await Promise.all([
        entries.repository.listPage(userId, filter, limit + 1, (page - 1) * limit),
        entries.total(userId, filter),
      ]);
      const shown = rows.slice(0, limit);
      return JSON.stringify({
        success: true,
        entries: shown.map(presentEntry),
        page,
        limit,
        total,
        totalPages: Math.ceil(total / limit),
        next_cursor: nextCursor(rows, shown),
      });
    };
    ctx.type = 'application/json';
    // The busiest read: a user's newest entries. Cached whole, invalidated by every write.
    ctx.body = page === 1 && isUnfiltered(filter) ? await entries.firstPage(userId, limit, buildPage) : await buildPage();
  });

  router.post('/entries', requireUser, async (ctx) => {
    const key = idempotencyKeyOf(ctx);
    const input = validate(entryInputSchema, await readJsonBody(ctx));
    const userId = currentUserId(ctx);
    let answer: StoredAnswer & { replayed?: boolean };
    try {
      answer = key === undefined ? created(await entries.create(userId, input)) : await entries.createOnce(userId, input, key, created);
    } catch (error) {
      // A correctly signed token for a user that no longer exists.
      if (error instanceof UnknownOwnerError) throw createError(401, INVALID_TOKEN);
      throw error;
    }
    if (answer.replayed) ctx.set(REPLAYED_HEADER, 'true');
    ctx.status = answer.status;
    ctx.type = 'application/json';
    ctx.body = answer.body;
  });

  router.get('/entries/:id', requireUser, async (ctx) => {
    const row = await entries.repository.findOwned(currentUserId(ctx), entryId(ctx));
    if (!row) throw notFound();
    ctx.body = { success: true, entry: presentEntry(row) };
  });

  const update: Middleware = async (ctx) => {
    const id = entryId(ctx);
    const input = validate(entryInputSchema, await readJsonBody(ctx));
    if (!(await entries.update(currentUserId(ctx), id, input))) throw notFound();
    ctx.body = { success: true, message: 'Entry updated successfully' };
  };
  router.patch('/entries', requireUser, update);
  router.patch('/entries/:id', requireUser, update);

  const remove: Middleware = async (ctx) => {
    if (!(await entries.delete(currentUserId(ctx), entryId(ctx)))) throw notFound();
    ctx.body = { success: true, message: 'Entry deleted successfully' };
  };
  router.delete('/entries', requireUser, remove);
  router.delete('/entries/:id', requireUser, remove);
}

/** A cursor after the last shown row when the query found one row more than shown. */
function nextCursor(rows: EntryRow[], shown: EntryRow[]): string | null {
  const last = shown.at(-1);
  return rows.length > shown.length && last ? encodeCursor({ createdAt: last.created_at, id: last.id }) : null;
}
