/**
 * The checks section of a YAML config file. Every key is validated: an unknown or
 * mistyped key is one clear line naming the file and the path, never a silent default.
 */

import { ConfigReader as Reader, isPlain, parseYamlMapping, readConfigText, type Plain } from './reader.js';
import {
  BannerCheck, CountCheck, CpuCheck, ListenCheck, parseBannerSpec, parseListenSpec, parseRange, parseSelector, parseSpec,
  MAX_WAIT_SECONDS, type Check, type CpuSpec,
} from '../checks/index.js';

export interface CheckDefaults {
  format?: 'mon' | 'nagios' | 'nagios-plain' | 'json';
  recheck?: number;
  recheckTimes?: number;
  timeout?: number;
  interpreters?: string[];
}

export interface ChecksConfig {
  defaults: CheckDefaults;
  checks: Check[];
}

const CHECK_KINDS = ['spec', 'match', 'listen', 'banner', 'cpu'] as const;
/** Keys only the daemon reads (continuous checks, README "Continuous checks"); `procwatch check` ignores them. */
export const DAEMON_CHECK_KEYS = ['for', 'interval', 'severity', 'actions', 'daemon'];
/** Delays and timeouts: Node's timers cannot hold more than ~24 days, and a day is plenty. */
const WAIT = { max: MAX_WAIT_SECONDS };
const CPU_KEYS = ['percent', 'warning', 'window', 'min_age', 'exempt_users', 'exempt_names', 'exempt_regular_users', 'include_kernel_threads'];

export function cpuSpecDefaults(): CpuSpec {
  return { criticalPercent: 90, warningPercent: null, windowSeconds: null, minAgeSeconds: 60, exemptUsers: [], exemptNames: [], exemptRegularUsers: false, includeKernelThreads: false };
}

function cpuFrom(r: Reader, v: unknown, path: string): CpuSpec {
  if (!isPlain(v)) r.fail(path, 'expected a mapping with at least percent');
  r.keys(v, path, CPU_KEYS);
  const spec = cpuSpecDefaults();
  spec.criticalPercent = r.number(v.percent, `${path}.percent`);
  if (v.warning !== undefined) spec.warningPercent = r.number(v.warning, `${path}.warning`);
  if (v.window !== undefined) spec.windowSeconds = r.number(v.window, `${path}.window`, 0.1, WAIT);
  if (v.min_age !== undefined) spec.minAgeSeconds = r.number(v.min_age, `${path}.min_age`);
  if (v.exempt_users !== undefined) spec.exemptUsers = r.strings(v.exempt_users, `${path}.exempt_users`);
  if (v.exempt_names !== undefined) spec.exemptNames = r.strings(v.exempt_names, `${path}.exempt_names`);
  if (v.exempt_regular_users !== undefined) spec.exemptRegularUsers = r.boolean(v.exempt_regular_users, `${path}.exempt_regular_users`);
  if (v.include_kernel_threads !== undefined) spec.includeKernelThreads = r.boolean(v.include_kernel_threads, `${path}.include_kernel_threads`);
  return spec;
}

function checkFrom(r: Reader, name: string, v: unknown, timeout: number): Check {
  const path = `checks.${name}`;
  if (!isPlain(v)) r.fail(path, `expected a mapping with one of: ${CHECK_KINDS.join(', ')}`);
  r.keys(v, path, [...CHECK_KINDS, 'count', 'timeout', ...DAEMON_CHECK_KEYS]);
  const kinds = CHECK_KINDS.filter((k) => v[k] !== undefined);
  if (kinds.length !== 1) r.fail(path, `needs exactly one of: ${CHECK_KINDS.join(', ')} (found ${kinds.length === 0 ? 'none' : kinds.join(', ')})`);
  if (v.count !== undefined && kinds[0] !== 'match') r.fail(`${path}.count`, "goes with 'match' (a spec carries its own range)");
  if (v.timeout !== undefined && kinds[0] !== 'banner') r.fail(`${path}.timeout`, "goes with 'banner' (the only check that waits for an answer)");
  switch (kinds[0]) {
    case 'spec':
      return r.wrap(`${path}.spec`, () => new CountCheck(parseSpec(r.string(v.spec, `${path}.spec`)), name));
    case 'match': {
      // A list, never one string: "a=1,b=2" would be ambiguous (two selectors, or one value with a comma?).
      if (!Array.isArray(v.match)) r.fail(`${path}.match`, "expected a list of selectors, one per item (e.g. [name=sshd, user=root]); 'spec' takes the one-string grammar");
      const selectors = r.strings(v.match, `${path}.match`);
      if (selectors.length === 0) r.fail(`${path}.match`, 'expected at least one selector (an empty list would match every process)');
      const range = v.count === undefined ? '1-' : r.string(v.count, `${path}.count`);
      return r.wrap(path, () => {
        const spec = { text: `${selectors.join(',')}:${range}`, label: name, selectors: selectors.map((s) => parseSelector(s, name)), ...parseRange(range, `${path}.count`) };
        return new CountCheck(spec, name);
      });
    }
    case 'listen':
      return r.wrap(`${path}.listen`, () => new ListenCheck(parseListenSpec(r.string(v.listen, `${path}.listen`)), name));
    case 'banner': {
      const seconds = v.timeout === undefined ? timeout : r.number(v.timeout, `${path}.timeout`, 0.001, WAIT);
      return r.wrap(`${path}.banner`, () => new BannerCheck(parseBannerSpec(r.string(v.banner, `${path}.banner`), seconds), name));
    }
    default: {
      const spec = cpuFrom(r, v.cpu, `${path}.cpu`);
      return r.wrap(`${path}.cpu`, () => new CpuCheck(spec, name));
    }
  }
}

/** Told the output format as soon as it is known, so later errors in the file can be shown in it. */
export type FormatListener = (format: NonNullable<CheckDefaults['format']>) => void;

function defaultsFrom(r: Reader, v: unknown, onFormat?: FormatListener): CheckDefaults {
  if (v === undefined) return {};
  if (!isPlain(v)) r.fail('defaults', 'expected a mapping');
  if (v.format !== undefined && v.format !== 'mon' && v.format !== 'nagios' && v.format !== 'nagios-plain' && v.format !== 'json') r.fail('defaults.format', 'expected mon, nagios, nagios-plain or json');
  const d: CheckDefaults = {};
  if (v.format !== undefined) {
    d.format = v.format;
    onFormat?.(v.format);
  }
  r.keys(v, 'defaults', ['format', 'recheck', 'recheck_times', 'timeout', 'interpreters']);
  if (v.recheck !== undefined) d.recheck = r.number(v.recheck, 'defaults.recheck', 0, WAIT);
  if (v.recheck_times !== undefined) d.recheckTimes = r.number(v.recheck_times, 'defaults.recheck_times', 1, { integer: true });
  if (v.timeout !== undefined) d.timeout = r.number(v.timeout, 'defaults.timeout', 0.001, WAIT);
  if (v.interpreters !== undefined) d.interpreters = r.strings(v.interpreters, 'defaults.interpreters');
  return d;
}

/**
 * Parses YAML text; `file` names the source in error messages. `onFormat` hears
 * `defaults.format` before anything else in the file is checked.
 */
export async function parseChecksConfig(text: string, file: string, only: string[] = [], onFormat?: FormatListener): Promise<ChecksConfig> {
  const r: Reader = new Reader(file);
  const doc = await parseYamlMapping(r, text);
  const defaults = defaultsFrom(r, doc.defaults, onFormat);
  r.keys(doc, 'top level', ['defaults', 'checks', 'daemon', 'rules', 'alerts', 'fleet']);
  if (!isPlain(doc.checks)) r.fail('checks', 'expected a mapping of check names to checks');
  const names = Object.keys(doc.checks);
  for (const wanted of only) if (!names.includes(wanted)) r.fail('checks', `no check named '${wanted}' (have: ${names.join(', ') || 'none'})`);
  const selected = only.length === 0 ? names : names.filter((n) => only.includes(n));
  const checks = selected.map((name) => checkFrom(r, name, (doc.checks as Plain)[name], defaults.timeout ?? 5));
  return { defaults, checks };
}

export async function loadChecksConfig(file: string, only: string[] = [], onFormat?: FormatListener): Promise<ChecksConfig> {
  return parseChecksConfig(readConfigText(file), file, only, onFormat);
}
