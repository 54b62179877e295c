import { dropCreatedDatabases } from './databases.js';
import { stopAllHaproxy } from './haproxy.js';
import { killAllPulse } from './pulse-process.js';

/** Root hooks: nothing a test started outlives the run. */
export const mochaHooks = {
  async afterAll(this: Mocha.Context) {
    this.timeout(60_000);
    await stopAllHaproxy();
    await killAllPulse();
    await dropCreatedDatabases();
  },
};
