/**
 * The name a process has for count checks, exactly as mon's ps.monitor computes it, so that
 * `name:min-max` specs give the same verdict: the kernel comm after its last '/', cut at the
 * first space; for an interpreter, the basename of the second word of the command line
 * (`python3 /usr/bin/foo` is `foo`).
 */

import type { ProcessView } from './snapshot.js';

/** ps.monitor's list, kept as is for compatible verdicts; `--interpreter` adds more. */
export const PS_MONITOR_INTERPRETERS: readonly string[] = ['perl', 'python', 'python3', 'python3.9', 'lua5.1', 'lua5.2'];

export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** Null when the process is an interpreter whose command line vanished before it was read. */
export function processName(proc: ProcessView, interpreters: ReadonlySet<string>): string | null {
  let name = baseName(proc.comm);
  const space = name.indexOf(' ');
  if (space >= 0) name = name.slice(0, space);
  if (!interpreters.has(name)) return name;
  const argv = proc.argv();
  if (argv === null) return null;
  // ps.monitor joins the arguments with spaces and splits again: keep that exact behaviour.
  const script = argv.join(' ').split(' ')[1];
  return script === undefined ? '' : baseName(script);
}
