/**
 * `node --import FILE` with this file: every module the program loads (ES modules, and
 * CommonJS ones through require) is appended to the file named by PROCWATCH_MODULE_LOG, one URL
 * or path a line. Tests use it to check what a command loads (lazy loading: `check` must not
 * pull in SQLite, the rules language or the metrics library).
 */

import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';

const log = process.env.PROCWATCH_MODULE_LOG;
if (log !== undefined && log !== '') {
  register(new URL('./module-log-hooks.js', import.meta.url), { data: { log } });
  // CommonJS modules loaded by require() do not pass the ESM hooks in Node 20.
  const Module = createRequire(import.meta.url)('node:module') as { _load: (request: string, ...rest: unknown[]) => unknown };
  const load = Module._load;
  Module._load = function (request: string, ...rest: unknown[]): unknown {
    appendFileSync(log, `require:${request}\n`);
    return load.call(this, request, ...rest);
  };
}
