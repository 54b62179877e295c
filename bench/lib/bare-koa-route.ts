/** The one route of the bare Koa baseline (bare-koa-app.ts). */
export const BARE_KOA_PATH = '/hello';

/**
 * The I/O-matched baseline (bare-koa-app.ts, when REDIS_URL is set): the same hello world
 * after two sequential Redis round trips, the I/O of Pulse's cached page 1 (the rate
 * limiter's script, then the cached page).
 */
export const BARE_KOA_REDIS_PATH = '/hello-redis';
