import type Router from '@koa/router';
import type { Middleware } from 'koa';
import type { StatsRepository } from '../../db/stats-repository.js';
import { currentUserId } from '../authenticate.js';
import { filterQuerySchema, validate } from '../validation.js';
import { queryParams } from '../query-params.js';

/** Count, average mood, per-category and per-day (UTC) averages over an optional range. */
export function statsRoutes(router: Router, requireUser: Middleware, stats: StatsRepository): void {
  router.get('/stats', requireUser, async (ctx) => {
    const filter = validate(filterQuerySchema, queryParams(ctx));
    ctx.body = { success: true, ...(await stats.summarize(currentUserId(ctx), filter)) };
  });
}
