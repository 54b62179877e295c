import fs from 'node:fs';
import { pino } from 'pino';

/** pino's numeric level from which a line is an error (error 50, fatal 60). */
const ERROR_LEVEL = 50;

/** syslog priority of each pino level, as the journal reads it from a `<N>` line prefix. */
function syslogPriority(level: number): number {
  if (level >= 60) return 2; // crit
  if (level >= 50) return 3; // err
  if (level >= 40) return 4; // warning
  if (level >= 30) return 6; // info
  return 7; // debug
}

/**
 * Whether the descriptor is connected to the systemd journal: systemd sets JOURNAL_STREAM
 * to `<device>:<inode>` of the stream it connected, and a descriptor that was redirected
 * since (a shell pipe, pm2) no longer matches.
 */
export function connectedToJournal(fd: number, journalStream: string | undefined = process.env.JOURNAL_STREAM): boolean {
  if (!journalStream) return false;
  try {
    const { dev, ino } = fs.fstatSync(fd);
    return journalStream === `${dev}:${ino}`;
  } catch {
    return false;
  }
}

export interface LevelSplitOptions {
  stdoutFd?: number;
  stderrFd?: number;
  journalStream?: string | undefined;
}

/**
 * A pino destination that writes errors and fatals to stderr and everything else to
 * stdout (pm2 keeps them in its error and out logs). A stream connected to the journal
 * gets each line prefixed with its syslog priority (`<3>` for errors), which journald
 * strips and records, so `journalctl -p err` selects errors.
 */
export function levelSplitDestination(options: LevelSplitOptions = {}): pino.DestinationStream {
  const stdoutFd = options.stdoutFd ?? 1;
  const stderrFd = options.stderrFd ?? 2;
  const journalStream = 'journalStream' in options ? options.journalStream : process.env.JOURNAL_STREAM;
  // Asynchronous like pino's default destination (lines written while a write is in flight
  // go out together), and flushed synchronously when the process exits.
  const stdout = pino.destination({ fd: stdoutFd, sync: false });
  const stderr = pino.destination({ fd: stderrFd, sync: false });
  const stdoutPrefixed = connectedToJournal(stdoutFd, journalStream);
  const stderrPrefixed = connectedToJournal(stderrFd, journalStream);
  return {
    // Asks pino to set lastLevel before each write (documented as destination metadata).
    [Symbol.for('pino.metadata')]: true,
    lastLevel: 0,
    write(this: { lastLevel: number }, line: string) {
      const level = this.lastLevel;
      const toStderr = level >= ERROR_LEVEL;
      const prefixed = toStderr ? stderrPrefixed : stdoutPrefixed;
      (toStderr ? stderr : stdout).write(prefixed ? `<${syslogPriority(level)}>${line}` : line);
    },
  } as pino.DestinationStream;
}
