/**
 * Monotonic milliseconds. Wall time jumps with NTP steps and VM resumes; every age and
 * deadline the supervisor keeps is measured on this clock instead.
 */
export interface Clock {
  now(): number;
}

export const monotonicClock: Clock = { now: () => performance.now() };
