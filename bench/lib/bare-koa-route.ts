/** The one route of the bare Koa baseline (bare-koa-app.ts). */
export const BARE_KOA_PATH = '/hello';
