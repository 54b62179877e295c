import { loadConfigOrExit } from '../src/shared/config.js';
import { runWorker } from '../src/worker/worker-runtime.js';

await runWorker(loadConfigOrExit());
