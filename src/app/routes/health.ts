import type Router from '@koa/router';
import type { AppDeps } from '../context.js';

/** The API port answers the same combined health as the admin server (never rate limited). */
export function healthRoutes(router: Router, deps: AppDeps): void {
  router.get('/health', async (ctx) => {
    const answer = await deps.health();
    ctx.set('Cache-Control', 'no-store');
    if (!answer) {
      ctx.status = 503;
      ctx.body = { status: 'unhealthy', message: 'supervisor did not answer' };
      return;
    }
    ctx.status = answer.httpStatus;
    ctx.body = answer.body;
  });
}
