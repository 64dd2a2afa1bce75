/** Which pid namespace this process runs in, for the sources that only work in the host's. */

import { readlinkSync } from 'node:fs';

/** The initial pid namespace's inode number (PROC_PID_INIT_INO, fixed since Linux 3.8). */
const INIT_PID_NS = 'pid:[4026531836]';

/**
 * This process's pid namespace (`pid:[N]`) when it is not the initial one, else null (also
 * when /proc cannot say). `link` is for tests: the text of /proc/self/ns/pid.
 */
export function otherPidNamespace(link?: string): string | null {
  let ns = link;
  try {
    ns ??= readlinkSync('/proc/self/ns/pid');
  } catch {
    return null;
  }
  return ns === INIT_PID_NS ? null : ns;
}
