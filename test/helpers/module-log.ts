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
  type Load = (request: string, parent: unknown, isMain: boolean) => unknown;
  const Module = createRequire(import.meta.url)('node:module') as { _load: Load; _resolveFilename: (request: string, parent: unknown, isMain: boolean) => string };
  const load = Module._load;
  Module._load = function (request: string, parent: unknown, isMain: boolean): unknown {
    let file = request;
    try {
      file = Module._resolveFilename(request, parent, isMain);
    } catch {
      // unresolvable: the load below throws its own error
    }
    appendFileSync(log, `require:${file}\n`);
    return load.call(this, request, parent, isMain);
  };
}
