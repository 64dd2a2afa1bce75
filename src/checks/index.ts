/** Public interface of checks/: parse specs, build checks, run them. */
export { parseSpec, parseSelector, parseSelectors, parseRange, builtinNames, SELECTOR_KEYS, type CountSpec, type Selector, type Range } from './spec.js';
export { CountCheck } from './count.js';
export { CpuCheck, type CpuSpec } from './cpu.js';
export { ListenCheck, BannerCheck, parseListenSpec, parseBannerSpec } from './ports.js';
export { runChecks, type RunOptions } from './run.js';
export { processName, PS_MONITOR_INTERPRETERS } from './naming.js';
export { takeSnapshot, ProcessView, type Snapshot } from './snapshot.js';
export { MAX_WAIT_SECONDS, type Check, type CheckEnv, type Round } from './check.js';
export { worstStatus, STATUS_RANK, type CheckResult, type CheckStatus, type PerfValue, type ProcessBrief } from './types.js';
