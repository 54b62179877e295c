import { loadConfigOrExit } from '../shared/config.js';
import { createLogger } from '../shared/logger.js';
import { runMigrations } from './migrations-runner.js';

const config = loadConfigOrExit();
const log = createLogger('migrate', config.logLevel);
try {
  const result = await runMigrations(config.databaseMigrationUrl);
  log.info({ ...result }, result.applied.length ? 'migrations applied' : 'database already up to date');
} catch (error) {
  log.fatal({ err: error }, 'migration failed');
  process.exitCode = 1;
}
