/** Runs the real `procwatch` command line (and its peers) as a user would, and collects what it printed. */

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: this file is compiled to dist/test/helpers/cli.js. */
function findRepoRoot(): string {
  const fromDist = resolve(fileURLToPath(import.meta.url), '../../../..');
  return existsSync(join(fromDist, 'bin/procwatch')) ? fromDist : process.cwd();
}

export const REPO_ROOT = findRepoRoot();
export const BIN = join(REPO_ROOT, 'bin/procwatch');

export interface RunResult {
  stdout: string;
  stderr: string;
  /** The exit code; null only when the program was killed by a signal (then `signal` says which). */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Wall-clock milliseconds from start to exit. */
  ms: number;
}

export interface RunOptions {
  /** Kill the program after this long (default 20 s): a hung check must fail the test, not stall it. */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /**
   * `check` only: ask again (for up to 30 s) while the verdict is unknown because processes
   * vanished while being read. On a busy machine other jobs' short-lived processes do that (an
   * interpreter's name needs its command line); UNKNOWN is then right, but not what the test asks.
   */
  settle?: boolean;
}

/** Runs any program to completion; a non-zero exit is a result, not an exception. */
export function run(file: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  const started = process.hrtime.bigint();
  return new Promise((resolvePromise, reject) => {
    execFile(file, args, { encoding: 'utf8', timeout: options.timeoutMs ?? 20_000, killSignal: 'SIGKILL', maxBuffer: 16 << 20, env: options.env ?? process.env },
      (error, stdout, stderr) => {
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        if (error !== null && typeof error.code === 'string') {
          reject(new Error(`cannot run ${file}: ${error.message}`)); // ENOENT, EACCES: the harness failed, not the program
          return;
        }
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
        resolvePromise({ stdout, stderr, code, signal: (error?.signal ?? null) as NodeJS.Signals | null, ms });
      });
  });
}

/** `node bin/procwatch ARGS...` */
export function procwatch(args: string[], options: RunOptions = {}): Promise<RunResult> {
  return run(process.execPath, [BIN, ...args], options);
}

/** `node bin/procwatch check ARGS...` */
export async function check(args: string[], options: RunOptions = {}): Promise<RunResult> {
  const until = Date.now() + 30_000;
  for (;;) {
    const r = await procwatch(['check', ...args], options);
    if (!options.settle || !r.stdout.includes('could not be read (vanished or hidden)') || Date.now() > until) return r;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** The JSON document `procwatch check --format json` prints. */
export interface JsonReport {
  status: 'ok' | 'warning' | 'critical' | 'unknown';
  exitCode: number;
  checks: Array<{
    id: string;
    kind: string;
    status: 'ok' | 'warning' | 'critical' | 'unknown';
    summary: string;
    details: string[];
    processes: Array<{ pid: number; ppid: number; name: string; user: string | null; args: string | null }>;
    attempts: number;
    data: Record<string, unknown>;
  }>;
}

/** Runs `check --format json ARGS...` and parses what it printed; fails loudly when it is not JSON. */
export async function checkJson(args: string[], options: RunOptions = {}): Promise<{ result: RunResult; report: JsonReport }> {
  const result = await check(['--format', 'json', ...args], options);
  let report: JsonReport;
  try {
    report = JSON.parse(result.stdout) as JsonReport;
  } catch (err) {
    throw new Error(`check --format json printed no JSON (exit ${String(result.code)}): ${(err as Error).message}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  }
  return { result, report };
}

/** The check with this id in a JSON report; fails with the ids present when it is missing. */
export function checkById(report: JsonReport, id: string): JsonReport['checks'][number] {
  const found = report.checks.find((c) => c.id === id);
  if (found === undefined) throw new Error(`no check '${id}' in the report (have: ${report.checks.map((c) => c.id).join(', ')})`);
  return found;
}

/** Everything a result printed, for assertion messages. */
export function show(r: RunResult): string {
  return `exit ${String(r.code)}${r.signal ? ` (signal ${r.signal})` : ''} after ${r.ms.toFixed(0)} ms\n--- stdout ---\n${r.stdout}--- stderr ---\n${r.stderr}`;
}
