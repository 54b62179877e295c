import Koa from 'koa';
import Router from '@koa/router';
import type { AppDeps } from './context.js';
import { errorEnvelope } from './errors.js';
import { requestMetrics } from './request-metrics.js';
import { healthRoutes } from './routes/health.js';
import { pingRoutes } from './routes/ping.js';

export function createApp(deps: AppDeps): Koa {
  const app = new Koa({ proxy: deps.config.trustProxy });
  app.silent = true;
  app.on('error', (error: Error) => deps.log.debug({ err: error }, 'koa error'));

  const router = new Router();
  healthRoutes(router, deps);
  pingRoutes(router, deps);

  app.use(requestMetrics(deps.metrics));
  app.use(async (ctx, next) => {
    ctx.state.log = deps.log;
    await next();
  });
  app.use(errorEnvelope());
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}
