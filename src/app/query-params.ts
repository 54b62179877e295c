import querystring from 'node:querystring';
import type { Context } from 'koa';

export type QueryParams = Record<string, string | string[] | undefined>;

/**
 * The request's query parameters, for the validation schemas. node:querystring rather than
 * Koa's ctx.query, which builds its object from URLSearchParams with one defineProperty
 * per key: about 5% of the CPU of a cached GET /entries. Both decode percent-escapes and
 * '+' alike; they differ only on malformed escapes, which no schema accepts either way.
 */
export function queryParams(ctx: Context): QueryParams {
  return querystring.parse(ctx.querystring);
}
