/** JSON output: the whole result, for scripts. Exit codes as for mon: 0 ok, 1 a problem. */

import { worstStatus, type CheckResult } from '../checks/index.js';
import type { Rendered } from './mon.js';

export function renderJson(results: CheckResult[]): Rendered {
  const status = worstStatus(results.map((r) => r.status));
  const exitCode = status === 'ok' || status === 'warning' ? 0 : 1;
  const body = { status, exitCode, checks: results };
  return { text: `${JSON.stringify(body, null, 2)}\n`, exitCode };
}
