/** Each worker keeps at least one request connection and its health-ping connection. */
const MIN_CONNECTIONS_PER_WORKER = 2;

/**
 * PostgreSQL only: an SQLite pool always has one connection (knex-config.ts), whatever size
 * the worker is given.
 *
 * How many Postgres connections one worker may open out of the host's budget
 * (DATABASE_POOL_MAX): the budget is shared by the wanted workers plus the one extra
 * worker a rolling restart runs for a moment (a replacement before its old worker leaves),
 * and each worker's share includes its health-ping connection.
 */
export function workerRequestPoolSize(hostBudget: number, workers: number): number {
  const share = Math.max(MIN_CONNECTIONS_PER_WORKER, Math.floor(hostBudget / (workers + 1)));
  return share - 1;
}

/** The most connections the host can hold at once with this many workers (during a rollout). */
export function hostConnections(hostBudget: number, workers: number): number {
  return (workers + 1) * (workerRequestPoolSize(hostBudget, workers) + 1);
}
