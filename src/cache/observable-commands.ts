/**
 * A koa-ratelimit `db` (the Redis adapter, or the primary's store) whose command replies a
 * request can observe: koa-ratelimit's driver keeps the first three values of the limiter's
 * reply and drops the rest (the time left in the window, for Retry-After).
 */
export abstract class ObservableCommands {
  private replyObserver: ((reply: unknown) => void) | undefined;

  /**
   * Runs `start` and hands the reply of the command it calls synchronously, if any, to
   * `observe` too (before its caller sees it). koa-ratelimit calls its one command before
   * its first await, so this is how a request gets the parts of the reply the driver drops.
   */
  observeReply<T>(start: () => T, observe: (reply: unknown) => void): T {
    this.replyObserver = observe;
    try {
      return start();
    } finally {
      this.replyObserver = undefined;
    }
  }

  /** Runs one command; its reply also goes to the observer waiting for it, if any. */
  protected observed<R>(command: () => Promise<R>): Promise<R> {
    const observe = this.replyObserver;
    this.replyObserver = undefined;
    const reply = command();
    return observe ? reply.then((value) => (observe(value), value)) : reply;
  }
}
