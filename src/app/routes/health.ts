import type Router from '@koa/router';
import type { AppDeps } from '../context.js';

/**
 * The API port's /health: the original service's shape (`status`, `database`, `redis`) with
 * the status code of the admin server's /health (asked of the primary), never rate limited.
 * Worker pids and internals stay on the admin port.
 */
export function healthRoutes(router: Router, deps: AppDeps): void {
  router.get('/health', async (ctx) => {
    const answer = await deps.health();
    ctx.set('Cache-Control', 'no-store');
    if (!answer) {
      ctx.status = 503;
      ctx.body = { status: 'unhealthy', database: 'unknown', redis: 'unknown' };
      return;
    }
    const { status, database, redis } = answer.body;
    ctx.status = answer.httpStatus;
    ctx.body = { status, database, redis };
  });
}
