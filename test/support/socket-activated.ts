import fs from 'node:fs';
import path from 'node:path';
import { CONFIG_VARIABLES } from '../../src/shared/config.js';
import { PRIMARY_ENTRY, PROJECT_ROOT, type PulseProcess, type StartOptions } from './pulse-process.js';
import { tryConnect } from './raw-http.js';
import { waitFor } from './wait.js';

export const SOCKET_ACTIVATE = '/usr/bin/systemd-socket-activate';
const HOLDER = path.join(PROJECT_ROOT, 'dist/test/fixtures/socket-holder.js');
// systemd-socket-activate passes on only the variables named with -E.
const PASSED_ENV = ['PATH', 'HOME', ...CONFIG_VARIABLES].map((name) => `-E ${name}`).join(' ');

export const canSocketActivate = () => fs.existsSync(SOCKET_ACTIVATE);

/**
 * Pulse as pulse.socket + pulse.service run it, without systemd as PID 1:
 * systemd-socket-activate listens on PORT and, at the first connection, runs the socket
 * holder (test/fixtures/socket-holder.ts), which keeps the socket and runs the primary with
 * it. `signal('SIGUSR2')` restarts the primary the way `systemctl restart pulse` does.
 */
export async function startSocketActivated(start: (options: StartOptions) => Promise<PulseProcess>, options: StartOptions): Promise<PulseProcess> {
  const pulse = await start({
    ...options,
    waitHealthy: false,
    command: ['/bin/sh', '-c', `exec ${SOCKET_ACTIVATE} -l "127.0.0.1:$PORT" ${PASSED_ENV} "${process.execPath}" "${HOLDER}" "${PRIMARY_ENTRY}"`],
  });
  // Like systemd, systemd-socket-activate starts the service on the first connection.
  await waitFor(() => tryConnect(pulse.port).then((outcome) => outcome !== 'ECONNREFUSED'), 'systemd-socket-activate to listen', 5000, 20);
  await fetch(`${pulse.url}/ping`, { signal: AbortSignal.timeout(20_000) });
  await pulse.waitHealthy();
  return pulse;
}
