import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from '../shared/logger.js';
import { ThrottledLog } from '../shared/throttled-log.js';
import type { ConnectionTracker } from './connection-tracker.js';

/**
 * At most `max` client connections per worker: one more is closed as soon as it arrives
 * (counted, logged once then summarized). Node's own `server.maxConnections` is not used:
 * in round-robin mode a worker refusing a handed-over connection sends it back to the
 * primary, which hands it to the next worker, which may refuse it too.
 */
export function limitConnections(connections: ConnectionTracker, max: number, registry: Registry, log: Logger): void {
  const refused = new Counter({
    name: 'pulse_connections_refused_total',
    help: 'Client connections closed on arrival because the worker already held MAX_CONNECTIONS_PER_WORKER',
    registers: [registry],
  });
  new Gauge({
    name: 'pulse_open_connections',
    help: 'Client connections the workers hold open',
    registers: [registry],
    collect() {
      this.set(connections.size);
    },
  });
  const throttled = new ThrottledLog(log, 'warn');
  connections.onConnection((socket) => {
    if (connections.size <= max) return;
    refused.inc();
    throttled.record('connection limit', 'connection limit reached: connection closed on arrival', { maxConnections: max });
    socket.destroy();
  });
}
