import type Router from '@koa/router';
import type { AppDeps } from '../context.js';

export function pingRoutes(router: Router, deps: AppDeps): void {
  router.get('/ping', (ctx) => {
    ctx.type = 'text/plain';
    ctx.body = `Ping response: ${deps.config.pingMessage}`;
  });
}
