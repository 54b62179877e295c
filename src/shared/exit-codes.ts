/**
 * Exit codes of the primary and of the `pulse` command, after sysexits.h, so that
 * scripts, systemd (RestartPreventExitStatus=) and pm2 (stop_exit_codes) can tell
 * failures apart. Workers have their own codes for the supervisor (WorkerExit).
 */
export const ExitCode = {
  ok: 0,
  failure: 1,
  /** EX_USAGE: bad command line. */
  usage: 64,
  /** EX_UNAVAILABLE: Pulse is not running (no control socket). */
  unavailable: 69,
  /**
   * EX_SOFTWARE: a worker cannot boot (its code failed to load, it cannot listen): from the
   * primary when no worker ever booted; from `ctl reload` when a replacement could not.
   */
  software: 70,
  /**
   * EX_CANTCREAT: another primary already runs on this control socket. Starting again
   * cannot help while it runs, so process managers must not retry.
   */
  controlSocketInUse: 73,
  /** EX_TEMPFAIL: busy (a rollout or scaling runs); retry later. */
  busy: 75,
  /** EX_NOPERM: the control socket's permissions refused the connection. */
  noPermission: 77,
  /** EX_CONFIG: invalid configuration; restarting cannot help. */
  config: 78,
} as const;
