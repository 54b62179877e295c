import { isDatabaseUnreachable } from '../db/connection-errors.js';
import { runMigrations } from '../db/migrations-runner.js';
import type { Logger } from '../shared/logger.js';

const RETRY_INITIAL_MS = 1000;
const RETRY_MAX_MS = 10_000;
const STILL_WAITING_LOG_EVERY_MS = 30_000;

/**
 * The primary migrates the database once, before workers serve. Postgres that is down at
 * start is handled like Postgres going down later: the service starts without it
 * (database routes answer 503, /health says so), and the migrations run as soon as it
 * answers. Any other failure (a bad URL, a broken migration) stops the start.
 */
export class SchemaMigrations {
  private migrated = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly databaseUrl: string,
    private readonly log: Logger,
  ) {}

  get ready(): boolean {
    return this.migrated;
  }

  /** Resolves once migrated or deferred; exits the process on a failure that waiting cannot fix. */
  async migrateAtStart(): Promise<void> {
    try {
      await this.migrate();
    } catch (error) {
      if (!isDatabaseUnreachable(error)) {
        this.log.fatal({ err: { message: (error as Error).message, code: (error as { code?: string }).code } }, 'cannot migrate the database; not starting');
        process.exit(1);
      }
      this.log.warn(
        { err: { message: (error as Error).message, code: (error as { code?: string }).code } },
        'database unreachable at start: starting without it; migrations run as soon as it answers',
      );
      this.retryLater(RETRY_INITIAL_MS, Date.now());
    }
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private async migrate(): Promise<void> {
    const result = await runMigrations(this.databaseUrl);
    this.migrated = true;
    if (result.createdDatabase) this.log.info('database created');
    this.log.info({ applied: result.applied }, result.applied.length ? 'migrations applied' : 'database schema up to date');
  }

  private retryLater(delayMs: number, waitingSince: number, lastLog = Date.now()): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.migrate().catch((error: Error) => {
        if (this.stopped) return;
        let logged = lastLog;
        if (!isDatabaseUnreachable(error)) {
          this.log.error({ err: { message: error.message, code: (error as { code?: string }).code } }, 'database migration failed; retrying');
          logged = Date.now();
        } else if (Date.now() - lastLog >= STILL_WAITING_LOG_EVERY_MS) {
          this.log.warn({ waitingMs: Date.now() - waitingSince, err: { message: error.message } }, 'database still unreachable; migrations pending');
          logged = Date.now();
        }
        this.retryLater(Math.min(delayMs * 2, RETRY_MAX_MS), waitingSince, logged);
      });
    }, delayMs);
    this.timer.unref();
  }
}
