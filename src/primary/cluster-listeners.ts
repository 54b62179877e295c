import { createHook } from 'node:async_hooks';

interface Closable {
  close(): void;
}

/**
 * In node:cluster's round-robin mode the primary accepts every connection on a listening
 * handle it opens for the first worker's listen() and closes only once the last worker has
 * left; connections it accepted but had not handed over by then are reset. A shutdown must
 * instead stop accepting first (new clients are refused cleanly), let what was accepted
 * reach the workers, then drain them. Node offers no API to that handle, so an async hook
 * notes the listening TCP handles the primary creates once workers may listen, and
 * `close()` closes them (closing twice is a no-op, so the cluster's own close later is safe).
 */
export class ClusterListeners {
  private readonly handles = new Set<WeakRef<Closable>>();
  private readonly hook = createHook({
    init: (_asyncId, type, _triggerAsyncId, resource) => {
      if (type === 'TCPSERVERWRAP') this.handles.add(new WeakRef(resource as Closable));
    },
  });

  /** From now on every TCP server the primary opens is a cluster listener (the admin server must already listen). */
  watch(): void {
    this.hook.enable();
  }

  close(): void {
    this.hook.disable();
    for (const handle of this.handles) handle.deref()?.close();
    this.handles.clear();
  }
}
