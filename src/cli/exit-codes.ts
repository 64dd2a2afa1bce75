/** Exit codes are a public interface: the README's table lists them. */
export const EXIT = {
  OK: 0,
  /** A check failed (mon, json), or a query found a problem. */
  PROBLEM: 1,
  /** Bad input: arguments, specs, config file. Nagios mode uses UNKNOWN (3) instead. */
  USAGE: 2,
  NAGIOS_UNKNOWN: 3,
  /** The program could not do its work (cannot read /proc, internal error). */
  FAILURE: 4,
} as const;
