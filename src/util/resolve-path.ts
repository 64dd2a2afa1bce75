/**
 * Executable paths as the kernel reports them: /proc/PID/exe (and eBPF) give the path with every
 * symlink resolved, so on a merged-/usr system (Debian 12: /bin -> usr/bin) `/bin/bash` runs as
 * `/usr/bin/bash`. A path a user writes is resolved the same way before it is matched.
 */

import { realpathSync } from 'node:fs';

const GLOB_CHARS = /[*?[\\]/;

function realpath(path: string): string | null {
  try {
    return realpathSync(path);
  } catch {
    return null;
  }
}

/**
 * The same path or glob with its literal directory part resolved through symlinks
 * (`/bin/bash` → `/usr/bin/bash`, `/sbin/*` → `/usr/sbin/*`), or null when resolving changes
 * nothing or cannot be done (relative, or nothing there). A literal path is resolved whole, so
 * a link to the executable itself (`/usr/bin/python3` → `python3.11`) follows too.
 */
export function resolvedExePath(pattern: string): string | null {
  if (!pattern.startsWith('/')) return null;
  const firstGlob = pattern.search(GLOB_CHARS);
  if (firstGlob < 0) {
    const real = realpath(pattern);
    return real !== null && real !== pattern ? real : null;
  }
  // The directory part before the first glob character: `/bin/ba*` → `/bin`.
  const cut = pattern.lastIndexOf('/', firstGlob);
  const dir = cut <= 0 ? '/' : pattern.slice(0, cut);
  const real = realpath(dir);
  if (real === null || real === dir) return null;
  return `${real === '/' ? '' : real}${pattern.slice(cut)}`;
}
