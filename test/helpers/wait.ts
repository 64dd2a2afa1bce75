/**
 * Waiting for conditions, never for fixed times: a loaded machine (CI beside other jobs) is
 * slower by an unknown factor, so a test waits for what it needs with a generous bound, and
 * when the bound passes it fails saying what it saw.
 */

import { spawn, type ChildProcess } from 'node:child_process';

/** How long a condition may take: long enough for a machine at a load of several times its cores. */
export const PATIENCE_MS = 30_000;

/**
 * Polls `probe` until it gives something other than undefined, null or false, and returns it.
 * After `timeoutMs`, fails with `what` and, when given, what `seen()` shows of the state.
 */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  options: { timeoutMs?: number; stepMs?: number; seen?: () => unknown } = {},
): Promise<T> {
  const { timeoutMs = PATIENCE_MS, stepMs = 20 } = options;
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== null && value !== false) return value;
    if (Date.now() > until) {
      const seen = options.seen === undefined ? '' : `; last seen: ${describe(options.seen())}`;
      throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${seen}`);
    }
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

function describe(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > 4000 ? `${text.slice(0, 4000)}… (${text.length} chars)` : text;
}

/** A shell script in its own process group: `stop()` ends it and everything it started. */
export interface Group {
  proc: ChildProcess;
  pid: number;
  stop(): void;
  exited: Promise<void>;
}

export function spawnGroup(script: string, name = 'pwtest'): Group {
  const proc = spawn('/bin/sh', ['-c', script, name], { stdio: 'ignore', detached: true });
  const exited = new Promise<void>((r) => (proc.exitCode !== null ? r() : proc.on('exit', () => r())));
  return {
    proc, pid: proc.pid!, exited,
    stop: () => {
      try {
        process.kill(-proc.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    },
  };
}
