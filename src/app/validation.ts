import { z } from 'zod';
import createError from 'http-errors';

export const INVALID_BODY = 'Invalid request body';
export const INVALID_ENTRY_ID = 'Invalid or missing entry ID';

const MAX_EMAIL_LENGTH = 254;
/** bcrypt only looks at the first 72 bytes; longer passwords would silently collide. */
const MAX_PASSWORD_BYTES = 72;
/** Categories are index keys; a btree entry must stay far below a page. */
const MAX_CATEGORY_LENGTH = 100;
const MAX_LIMIT = 100;
const BIGINT_MAX = 2n ** 63n - 1n;
/** A domain with a top-level part of two letters or more, or a single label (`localhost`, an intranet host). */
const EMAIL_FORMAT = /^[a-z0-9._%+-]+@(?:[a-z0-9.-]+\.[a-z]{2,}|[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)$/;

/** Postgres text cannot hold NUL; reject it here instead of failing in the driver. */
const storable = (value: string) => !value.includes('\u0000');

/**
 * A JSON string field as the original service decoded it: absent or null mean "", any
 * other type makes the whole body invalid.
 */
function bodyString<Out>(rules: z.ZodType<Out, string>) {
  return z
    .string({ error: INVALID_BODY })
    .refine(storable, INVALID_BODY)
    .nullish()
    .transform((value) => value ?? '')
    .pipe(rules);
}

const bodyObject = <Shape extends z.ZodRawShape>(shape: Shape) => z.object(shape, { error: INVALID_BODY });

const email = bodyString(
  z
    .string()
    .trim()
    .toLowerCase()
    .min(1, 'email is required')
    .max(MAX_EMAIL_LENGTH, 'invalid email format')
    .regex(EMAIL_FORMAT, 'invalid email format'),
);

export const registerSchema = bodyObject({
  email,
  password: bodyString(
    z
      .string()
      .min(1, 'password is required')
      .min(6, 'password must be at least 6 characters')
      .refine((value) => Buffer.byteLength(value) <= MAX_PASSWORD_BYTES, `password must be at most ${MAX_PASSWORD_BYTES} bytes`),
  ),
});

export const loginSchema = bodyObject({
  email: bodyString(z.string().trim().toLowerCase().min(1, 'email is required')),
  password: bodyString(z.string().min(1, 'password is required')),
});

export const entryInputSchema = bodyObject({
  text: bodyString(z.string().refine((value) => value.trim().length > 0, 'text cannot be empty')),
  mood: z
    .number({ error: INVALID_BODY })
    .nullish()
    .transform((value) => value ?? 0)
    .refine((value) => Number.isInteger(value) && value >= 1 && value <= 10, 'mood must be between 1 and 10'),
  category: bodyString(
    z
      .string()
      .trim()
      .min(1, 'category cannot be empty')
      .max(MAX_CATEGORY_LENGTH, `category must be at most ${MAX_CATEGORY_LENGTH} characters`),
  ),
});

/**
 * A query parameter as queryParams() parses it. Query schemas check only this shape and do
 * the rest in one transform, on the hot path (a transform per field is far slower: see
 * docs/BENCHMARKS.md).
 */
const queryValue = z.union([z.string(), z.array(z.string())]).optional();
type QueryValue = z.output<typeof queryValue>;

/** Repeated parameters count by their first value, as in Go's Query().Get. */
const firstValue = (value: QueryValue) => (Array.isArray(value) ? value[0] : value);

/** A positive integer a double holds exactly, or undefined for anything else. */
function positiveInt(value: string | undefined): number | undefined {
  if (!value || !/^\+?\d{1,16}$/.test(value)) return undefined;
  const number = Number(value);
  return number >= 1 && Number.isSafeInteger(number) ? number : undefined;
}

const DATE_ONLY = /^(\d{4})-(\d{2})-(\d{2})$/;
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;
const DAY_MS = 86_400_000;

function isCalendarDate(year: string, month: string, day: string): boolean {
  const date = new Date(Date.UTC(Number(year), Number(month) - 1, Number(day)));
  return date.getUTCMonth() === Number(month) - 1 && date.getUTCDate() === Number(day);
}

/**
 * A range bound as RFC 3339 or YYYY-MM-DD (a UTC day). Returned as the inclusive start
 * (`from`) or the exclusive end (`to`): a day ends at the next midnight, a timestamp one
 * millisecond after itself (created_at is stored in milliseconds).
 */
function parseTimeBound(value: string, edge: 'start' | 'end'): Date | undefined {
  const day = DATE_ONLY.exec(value);
  if (day) {
    if (!isCalendarDate(day[1]!, day[2]!, day[3]!)) return undefined;
    const start = Date.parse(`${value}T00:00:00Z`);
    return new Date(edge === 'start' ? start : start + DAY_MS);
  }
  const stamp = RFC3339.exec(value);
  if (!stamp || !isCalendarDate(stamp[1]!, stamp[2]!, stamp[3]!)) return undefined;
  if (Number(stamp[4]) > 23 || Number(stamp[5]) > 59 || Number(stamp[6]) > 59) return undefined;
  const fraction = (stamp[7] ?? '').slice(0, 4); // milliseconds are all Date (and created_at) keep
  const normalized = `${value.slice(0, 10)}T${value.slice(11, 19)}${fraction}${stamp[8]!.toUpperCase()}`;
  const time = Date.parse(normalized);
  if (Number.isNaN(time)) return undefined;
  return new Date(edge === 'start' ? time : time + 1);
}

/** page/limit: anything but a positive integer means the default (the original's behaviour). */
const pageOf = (value: QueryValue) => positiveInt(firstValue(value)) ?? 1;
const limitOf = (value: QueryValue) => Math.min(positiveInt(firstValue(value)) ?? 10, MAX_LIMIT);

function timeBoundOf(value: QueryValue, name: 'from' | 'to', edge: 'start' | 'end', ctx: z.RefinementCtx): Date | undefined {
  const raw = firstValue(value);
  if (raw === undefined || raw === '') return undefined;
  const bound = parseTimeBound(raw, edge);
  if (!bound) ctx.addIssue({ code: 'custom', input: raw, message: `${name} must be an RFC 3339 timestamp or a YYYY-MM-DD date` });
  return bound;
}

function categoryOf(value: QueryValue, ctx: z.RefinementCtx): string | undefined {
  const category = firstValue(value)?.trim() || undefined;
  if (category !== undefined && !(storable(category) && category.length <= MAX_CATEGORY_LENGTH)) {
    ctx.addIssue({ code: 'custom', input: category, message: 'Invalid category' });
  }
  return category;
}

const filterShape = { category: queryValue, from: queryValue, to: queryValue };

/** category/from/to shared by GET /entries and GET /stats; `to` is returned as `until`. */
function filterOf(query: { category?: QueryValue; from?: QueryValue; to?: QueryValue }, ctx: z.RefinementCtx) {
  return {
    category: categoryOf(query.category, ctx),
    from: timeBoundOf(query.from, 'from', 'start', ctx),
    until: timeBoundOf(query.to, 'to', 'end', ctx),
  };
}

export const filterQuerySchema = z.object(filterShape).transform(filterOf);

export const listQuerySchema = z
  .object({ page: queryValue, limit: queryValue, cursor: queryValue, ...filterShape })
  .transform((query, ctx) => ({
    page: pageOf(query.page),
    limit: limitOf(query.limit),
    cursor: firstValue(query.cursor),
    ...filterOf(query, ctx),
  }));

/** Entry ids are positive BIGINTs, kept as decimal strings (they may exceed a double). */
export const entryIdSchema = queryValue
  .transform(firstValue)
  .refine((value) => value !== undefined && /^\d{1,19}$/.test(value) && BigInt(value) >= 1n && BigInt(value) <= BIGINT_MAX, INVALID_ENTRY_ID)
  .transform((value) => BigInt(value!).toString());

/**
 * Parses with `schema` or throws the 400 of the error envelope. A type error anywhere
 * wins over field rules, as the original rejected a body it could not decode as a whole.
 */
export function validate<Schema extends z.ZodType>(schema: Schema, input: unknown): z.output<Schema> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues = result.error.issues;
  const message = issues.find((issue) => issue.message === INVALID_BODY)?.message ?? issues[0]?.message ?? INVALID_BODY;
  throw createError(400, message);
}
