import fs from 'node:fs';

/** Linux reports process CPU time in clock ticks of 1/100 s (getconf CLK_TCK). */
const TICKS_PER_SECOND = 100;

interface ProcStat {
  ppid: number;
  cpuMs: number;
}

/** /proc/<pid>/stat: the command name may hold spaces, so fields are counted after its ')'. */
function readStat(pid: number): ProcStat | undefined {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
    const ticks = Number(fields[11]) + Number(fields[12]);
    return { ppid: Number(fields[1]), cpuMs: (ticks * 1000) / TICKS_PER_SECOND };
  } catch {
    return undefined;
  }
}

/** The pid and its direct children (a cluster primary and its workers). */
export function processAndChildren(pid: number): number[] {
  const children = fs
    .readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((candidate) => readStat(candidate)?.ppid === pid);
  return [pid, ...children];
}

/** User + system CPU time used so far by these processes, in milliseconds (10 ms resolution). */
export function cpuMs(pids: number[]): number {
  return pids.reduce((total, pid) => total + (readStat(pid)?.cpuMs ?? 0), 0);
}
