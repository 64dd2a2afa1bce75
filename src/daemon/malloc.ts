/**
 * glibc's malloc for `procwatch daemon` and `procwatch watch`, set as the systemd unit sets it
 * (packaging/procwatch.service): at most 2 arenas, and fixed mmap and trim thresholds of 128 KiB.
 * With glibc's defaults, every thread that allocates (V8's helpers, libuv's pool) gets an arena
 * of its own, and one large block freed raises both thresholds for good, so the arenas keep what
 * a burst freed. When 10,000 processes exited at once the daemon peaked ~10 MiB higher without
 * these settings (BENCHMARKS.md, "Daemon memory: glibc's malloc set up by the daemon itself").
 *
 * glibc reads the MALLOC_* variables only when a program starts, and Node has no way to set them
 * for itself, so the daemon calls mallopt() through a small addon (native/malloctune.c) first
 * thing, before it allocates much. A user who set any of them (or GLIBC_TUNABLES for malloc)
 * keeps theirs: then nothing is called.
 */

import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** What the unit sets: MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072 MALLOC_TRIM_THRESHOLD_=131072. */
export const LONG_RUN_MALLOC = { arenaMax: 2, mmapThreshold: 131_072, trimThreshold: 131_072 } as const;

/** The environment variables by which a user sets glibc's malloc (they win over ours). */
const USER_MALLOC_SETTING = /^MALLOC_[A-Z_]+$/;

export type MallocTuning =
  | { applied: true }
  | { applied: false; reason: string };

type Tune = (arenaMax: number, mmapThreshold: number, trimThreshold: number) => boolean;

/** The addon's tune(), or the reason it cannot be loaded. */
function loadTune(): Tune | string {
  const root = join(fileURLToPath(new URL('.', import.meta.url)), '../../..');
  try {
    const addon = createRequire(import.meta.url)(join(root, 'native/build/Release/malloctune.node')) as { tune?: unknown };
    return typeof addon.tune === 'function' ? (addon.tune as Tune) : 'native/build/Release/malloctune.node has no tune()';
  } catch (err) {
    return `native/build/Release/malloctune.node is not built (${(err as Error).message.split('\n')[0]})`;
  }
}

/**
 * Applies LONG_RUN_MALLOC unless the environment already sets glibc's malloc. Call it first
 * thing, before the daemon (or `watch`) starts its threads' work. Never throws: a libc that is
 * not glibc, or an addon that was not built, only leaves malloc as it is.
 */
export function tuneMallocForLongRun(env: NodeJS.ProcessEnv = process.env, tune: () => Tune | string = loadTune): MallocTuning {
  const given = Object.keys(env).find((name) => USER_MALLOC_SETTING.test(name) || (name === 'GLIBC_TUNABLES' && /glibc\.malloc\./.test(env[name] ?? '')));
  if (given !== undefined) return { applied: false, reason: `${given} is set: the environment's malloc settings stand` };
  const found = tune();
  if (typeof found === 'string') return { applied: false, reason: found };
  const { arenaMax, mmapThreshold, trimThreshold } = LONG_RUN_MALLOC;
  return found(arenaMax, mmapThreshold, trimThreshold) ? { applied: true } : { applied: false, reason: 'this libc does not take glibc\'s mallopt settings' };
}
