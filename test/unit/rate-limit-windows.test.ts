import { expect } from 'chai';
import { isFixedWindowReply } from '../../src/cache/fixed-window-ratelimiter.js';
import { RateLimitWindows } from '../../src/primary/rate-limit-windows.js';

const WINDOW_MS = 60_000;
/** An epoch instant in the middle of a second, so that rounding up is visible. */
const WALL_START = 1_800_000_000_250;

/** The store on fake clocks: `advance` moves both, `stepWall` only the wall clock (NTP). */
function windowsOnFakeClocks(maxClients?: number) {
  let monotonic = 5_000;
  let wall = WALL_START;
  let evictions = 0;
  const windows = new RateLimitWindows({
    monotonic: { now: () => monotonic },
    wall: { now: () => wall },
    maxClients,
    onEvict: () => (evictions += 1),
  });
  return {
    windows,
    hit: (key = 'client', max = 100, options: { windowMs?: number; peek?: boolean } = {}) =>
      windows.hit({ key, windowMs: options.windowMs ?? WINDOW_MS, max, peek: options.peek ?? false }),
    advance: (ms: number) => {
      monotonic += ms;
      wall += ms;
    },
    stepWall: (ms: number) => (wall += ms),
    evictions: () => evictions,
  };
}

describe('RateLimitWindows: the fixed windows the primary holds without Redis (fake clocks)', () => {
  it('answers the Redis script\'s reply: requests left before this one, window end (epoch s, rounded up), max, time left', () => {
    const store = windowsOnFakeClocks();
    const first = store.hit();
    expect(isFixedWindowReply(first)).to.equal(true);
    expect(first).to.deep.equal([100, Math.ceil((WALL_START + WINDOW_MS) / 1000), 100, WINDOW_MS]);
    store.advance(1500);
    expect(store.hit()).to.deep.equal([99, Math.ceil((WALL_START + WINDOW_MS) / 1000), 100, WINDOW_MS - 1500]);
  });

  it('admits 100 in a window, blocks the 101st and every one after, and counts the blocked ones', () => {
    const store = windowsOnFakeClocks();
    const remaining: number[] = [];
    for (let i = 0; i < 100; i += 1) remaining.push(store.hit()[0]);
    // koa-ratelimit admits while this is above 0 and announces it minus one.
    expect(remaining).to.deep.equal(Array.from({ length: 100 }, (_, i) => 100 - i));
    expect(store.hit()[0]).to.equal(0);
    expect(store.hit()[0]).to.equal(0);
    expect(store.windows.countOf('client')).to.equal(102);
    // Another client has its own window.
    expect(store.hit('other')[0]).to.equal(100);
  });

  it('times the window on the monotonic clock: a wall-clock step moves the announced reset, not the window', () => {
    const store = windowsOnFakeClocks();
    store.hit('client', 1);
    store.advance(20_000);
    store.stepWall(-3_600_000);
    const [remaining, resetS, , leftMs] = store.hit('client', 1);
    expect(remaining).to.equal(0);
    expect(leftMs).to.equal(40_000);
    // Reset is the wall clock now plus what is left: the instant the window ends, by the clock as it reads now.
    expect(resetS).to.equal(Math.ceil((WALL_START + 20_000 - 3_600_000 + 40_000) / 1000));
    // Retry-After (whole seconds of what is left, rounded up) never exceeds the window.
    expect(Math.ceil(leftMs / 1000)).to.equal(40);
    store.advance(39_999);
    expect(store.hit('client', 1)[3]).to.equal(1);
    store.advance(1);
    expect(store.hit('client', 1)[0], 'a fresh window, once the window has ended').to.equal(1);
    expect(store.windows.countOf('client')).to.equal(1);
  });

  it('starts a fresh window, with the whole quota, once the window has passed', () => {
    const store = windowsOnFakeClocks();
    for (let i = 0; i < 3; i += 1) store.hit('client', 2);
    expect(store.hit('client', 2)[0]).to.equal(0);
    store.advance(WINDOW_MS);
    const fresh = store.hit('client', 2);
    expect(fresh[0]).to.equal(2);
    expect(fresh[3]).to.equal(WINDOW_MS);
    expect(fresh[1]).to.equal(Math.ceil((WALL_START + 2 * WINDOW_MS) / 1000));
  });

  it('drops expired windows as hits arrive, so memory follows the clients of the current window', () => {
    const store = windowsOnFakeClocks();
    for (let client = 0; client < 50; client += 1) store.hit(`old-${client}`);
    store.advance(WINDOW_MS / 2);
    for (let client = 0; client < 10; client += 1) store.hit(`new-${client}`);
    expect(store.windows.size).to.equal(60);
    store.advance(WINDOW_MS / 2);
    store.hit('new-0');
    expect(store.windows.size).to.equal(10);
    expect(store.windows.countOf('old-0')).to.equal(undefined);
    store.advance(WINDOW_MS);
    store.hit('latest');
    expect(store.windows.size).to.equal(1);
  });

  it('holds at most maxClients windows: past it the oldest window is dropped and counted', () => {
    const store = windowsOnFakeClocks(3);
    for (const client of ['a', 'b', 'c']) {
      store.hit(client, 1);
      store.advance(1000);
    }
    expect(store.hit('a', 1)[0]).to.equal(0);
    store.hit('d', 1);
    expect(store.windows.size).to.equal(3);
    expect(store.evictions()).to.equal(1);
    expect(store.windows.countOf('a')).to.equal(undefined);
    // The evicted client starts over: the price of the cap, counted above.
    expect(store.hit('a', 1)[0]).to.equal(1);
    expect(store.evictions()).to.equal(2);
    expect(store.windows.countOf('b')).to.equal(undefined);
    expect(store.windows.countOf('c')).to.equal(1);
  });

  it('cuts a window longer than the one asked for (RATE_LIMIT_WINDOW_MS shortened by a reload), as the Redis script does', () => {
    const store = windowsOnFakeClocks();
    store.hit('client', 10);
    store.advance(1000);
    const [remaining, , , leftMs] = store.hit('client', 10, { windowMs: 5000 });
    expect([remaining, leftMs]).to.deep.equal([9, 5000]);
    store.advance(5000);
    expect(store.hit('client', 10, { windowMs: 5000 })[0]).to.equal(10);
  });

  it('peeks without counting', () => {
    const store = windowsOnFakeClocks();
    expect(store.hit('client', 2, { peek: true })).to.deep.equal([2, Math.ceil((WALL_START + WINDOW_MS) / 1000), 2, WINDOW_MS]);
    expect(store.windows.size).to.equal(0);
    store.hit('client', 2);
    expect(store.hit('client', 2, { peek: true })[0]).to.equal(1);
    expect(store.windows.countOf('client')).to.equal(1);
  });
});
