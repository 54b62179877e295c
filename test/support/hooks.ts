import { captureConsole, releaseCapturedOutput } from './captured-output.js';
import { dropCreatedDatabases } from './databases.js';
import { stopAllHaproxy } from './haproxy.js';
import { killAllPulse } from './pulse-process.js';

/** Root hooks: nothing a test started outlives the run; console output shows only with a failing test. */
export const mochaHooks = {
  beforeAll() {
    captureConsole();
  },
  afterEach(this: Mocha.Context) {
    releaseCapturedOutput(this.currentTest);
  },
  async afterAll(this: Mocha.Context) {
    this.timeout(60_000);
    await stopAllHaproxy();
    await killAllPulse();
    await dropCreatedDatabases();
  },
};
