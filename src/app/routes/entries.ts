import type Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { UnknownOwnerError } from '../../db/entries-repository.js';
import type { StoredAnswer } from '../../db/idempotency-repository.js';
import { currentUserId, INVALID_TOKEN } from '../authenticate.js';
import { decodeCursor } from '../cursor.js';
import type { EntryService } from '../entry-service.js';
import { presentEntry } from '../entry-wire.js';
import createError from 'http-errors';
import { idempotencyKeyOf, REPLAYED_HEADER } from '../idempotency.js';
import { readJsonBody } from '../json-body.js';
import { entryIdSchema, entryInputSchema, listQuerySchema, validate } from '../validation.js';
import { queryParams } from '../query-params.js';

export const ENTRY_NOT_FOUND = 'Entry not found or access denied';

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
    const { page, limit, cursor, ...filter } = validate(listQuerySchema, queryParams(ctx));
    const at = cursor === undefined ? { page } : { after: cursor === '' ? undefined : decodeCursor(cursor) };
    ctx.type = 'application/json';
    ctx.body = await entries.listEntries(currentUserId(ctx), { filter, limit, at });
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
    const row = await entries.find(currentUserId(ctx), entryId(ctx));
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
