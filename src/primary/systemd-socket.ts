/** The first descriptor systemd passes (SD_LISTEN_FDS_START). */
const FIRST_PASSED_FD = 3;

/**
 * The listening socket systemd passed this process (socket activation: `LISTEN_FDS`, and
 * `LISTEN_PID` naming this process), or undefined. Like sd_listen_fds(unset_environment=1),
 * the variables are removed so that no child mistakes them for its own.
 */
export function takeSystemdSocket(env: NodeJS.ProcessEnv = process.env): { fd: number; ignored: number } | undefined {
  const count = Number(env.LISTEN_FDS);
  const forUs = Number(env.LISTEN_PID) === process.pid;
  delete env.LISTEN_FDS;
  delete env.LISTEN_PID;
  delete env.LISTEN_FDNAMES;
  if (!Number.isInteger(count) || count < 1 || !forUs) return undefined;
  return { fd: FIRST_PASSED_FD, ignored: count - 1 };
}
