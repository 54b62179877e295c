/**
 * A worker's entry. The channel to the primary comes first, so that the primary hears
 * `hello` and its messages are kept even while the rest of the code loads; a failure to
 * load is reported as a boot error instead of a bare exit code.
 */
import { WorkerExit } from '../src/shared/ipc-protocol.js';
import { PrimaryChannel } from '../src/worker/primary-channel.js';

const channel = new PrimaryChannel();
// Nothing listens and no pool is open yet: a stop now needs no drain.
const exitNow = () => process.exit(WorkerExit.clean);
process.once('SIGTERM', exitNow);
process.once('SIGINT', exitNow);
void channel.send({ type: 'hello' });

try {
  const { loadConfigOrExit } = await import('../src/shared/config.js');
  const { runWorker } = await import('../src/worker/worker-runtime.js');
  process.off('SIGTERM', exitNow);
  process.off('SIGINT', exitNow);
  await runWorker(loadConfigOrExit(), channel);
} catch (error) {
  const message = error instanceof Error ? `${error.message}\n${error.stack ?? ''}` : String(error);
  process.stderr.write(`pulse worker: cannot boot: ${message}\n`);
  await channel.send({ type: 'boot-failed', error: error instanceof Error ? error.message : String(error) });
  process.exit(WorkerExit.startupFailed);
}
