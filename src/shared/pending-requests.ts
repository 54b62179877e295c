/**
 * Correlates requests sent over IPC with their answers, for both ends of the channel:
 * each request gets an id, the answer carrying that id settles it, and a request that
 * gets no answer in time settles with `undefined` instead of waiting forever.
 */
export class PendingRequests<Answer, Tag = undefined> {
  private nextId = 1;
  private readonly pending = new Map<number, { tag: Tag; finish: (answer: Answer | undefined) => void }>();

  /**
   * Sends a request through `send` (which gets the id to put in the message and reports
   * whether the message left) and resolves with its answer, or undefined after `timeoutMs`.
   */
  request(send: (requestId: number) => boolean | Promise<boolean>, timeoutMs: number, tag: Tag): Promise<Answer | undefined> {
    const requestId = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish(undefined), timeoutMs);
      const finish = (answer: Answer | undefined) => {
        clearTimeout(timer);
        this.pending.delete(requestId);
        resolve(answer);
      };
      this.pending.set(requestId, { tag, finish });
      void Promise.resolve(send(requestId)).then((sent) => {
        if (!sent) finish(undefined);
      });
    });
  }

  /** Settles the request with this id, if it is still waiting. */
  answer(requestId: number, answer: Answer): void {
    this.pending.get(requestId)?.finish(answer);
  }

  /** Settles every waiting request whose tag matches with `undefined` (its peer is gone). */
  abandon(matches: (tag: Tag) => boolean): void {
    for (const { tag, finish } of [...this.pending.values()]) {
      if (matches(tag)) finish(undefined);
    }
  }
}
