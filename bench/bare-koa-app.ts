/**
 * The comparison baseline: a bare Koa + @koa/router hello world, nothing else. It runs as
 * a worker of bare-koa-cluster.ts (node:cluster) and as a pm2 cluster-mode app (`-i 2`).
 *
 * Shutdown is the pattern pm2's documentation recommends (pm2 stops and reloads apps
 * with SIGINT): stop listening with server.close(), exit when it calls back. pm2 SIGKILLs
 * whatever is left after its kill_timeout (1600 ms by default).
 */
import http from 'node:http';
import Koa from 'koa';
import Router from '@koa/router';
import { createClient } from 'redis';
import { BARE_KOA_PATH, BARE_KOA_REDIS_PATH } from './lib/bare-koa-route.js';

const app = new Koa();
const router = new Router();
router.get(BARE_KOA_PATH, (ctx) => {
  ctx.body = { success: true, message: 'hello' };
});
if (process.env.REDIS_URL) {
  const redis = createClient({ url: process.env.REDIS_URL });
  await redis.connect();
  router.get(BARE_KOA_REDIS_PATH, async (ctx) => {
    await redis.get('bare-koa:a');
    await redis.get('bare-koa:b');
    ctx.body = { success: true, message: 'hello' };
  });
}
app.use(router.routes());
app.use(router.allowedMethods());

const server = http.createServer(app.callback());
// The same keep-alive timeout as Pulse's workers, so both hold connections alike.
server.keepAliveTimeout = 5000;
server.listen(Number(process.env.PORT ?? 3000), process.env.HOST ?? '127.0.0.1');

const stop = () => server.close(() => process.exit(0));
// (With REDIS_URL, the open Redis client does not delay the exit: process.exit ends it.)
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
