/**
 * The checks section of a YAML config file. Every key is validated: an unknown or
 * mistyped key is one clear line naming the file and the path, never a silent default.
 */

import { ConfigReader as Reader, isPlain, parseYamlMapping, readConfigText, type Plain } from './reader.js';
import {
  BannerCheck, CountCheck, CpuCheck, ListenCheck, parseBannerSpec, parseListenSpec, parseRange, parseSelector, parseSpec,
  type Check, type CpuSpec,
} from '../checks/index.js';

export interface CheckDefaults {
  format?: 'mon' | 'nagios' | 'json';
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
  if (v.window !== undefined) spec.windowSeconds = r.number(v.window, `${path}.window`, 0.1);
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
  r.keys(v, path, [...CHECK_KINDS, 'count', 'timeout']);
  const kinds = CHECK_KINDS.filter((k) => v[k] !== undefined);
  if (kinds.length !== 1) r.fail(path, `needs exactly one of: ${CHECK_KINDS.join(', ')} (found ${kinds.length === 0 ? 'none' : kinds.join(', ')})`);
  if (v.count !== undefined && kinds[0] !== 'match') r.fail(`${path}.count`, "goes with 'match' (a spec carries its own range)");
  switch (kinds[0]) {
    case 'spec':
      return r.wrap(`${path}.spec`, () => new CountCheck(parseSpec(r.string(v.spec, `${path}.spec`)), name));
    case 'match': {
      const selectors = Array.isArray(v.match) ? r.strings(v.match, `${path}.match`) : [r.string(v.match, `${path}.match`)];
      const range = v.count === undefined ? '1-' : r.string(v.count, `${path}.count`);
      return r.wrap(path, () => {
        const spec = { text: `${selectors.join(',')}:${range}`, label: name, selectors: selectors.map((s) => parseSelector(s, name)), ...parseRange(range, `${path}.count`) };
        return new CountCheck(spec, name);
      });
    }
    case 'listen':
      return r.wrap(`${path}.listen`, () => new ListenCheck(parseListenSpec(r.string(v.listen, `${path}.listen`)), name));
    case 'banner': {
      const seconds = v.timeout === undefined ? timeout : r.number(v.timeout, `${path}.timeout`, 0.001);
      return r.wrap(`${path}.banner`, () => new BannerCheck(parseBannerSpec(r.string(v.banner, `${path}.banner`), seconds), name));
    }
    default:
      return new CpuCheck(cpuFrom(r, v.cpu, `${path}.cpu`), name);
  }
}

function defaultsFrom(r: Reader, v: unknown): CheckDefaults {
  if (v === undefined) return {};
  if (!isPlain(v)) r.fail('defaults', 'expected a mapping');
  r.keys(v, 'defaults', ['format', 'recheck', 'recheck_times', 'timeout', 'interpreters']);
  const d: CheckDefaults = {};
  if (v.format !== undefined) {
    if (v.format !== 'mon' && v.format !== 'nagios' && v.format !== 'json') r.fail('defaults.format', 'expected mon, nagios or json');
    d.format = v.format;
  }
  if (v.recheck !== undefined) d.recheck = r.number(v.recheck, 'defaults.recheck');
  if (v.recheck_times !== undefined) d.recheckTimes = r.number(v.recheck_times, 'defaults.recheck_times', 1);
  if (v.timeout !== undefined) d.timeout = r.number(v.timeout, 'defaults.timeout', 0.001);
  if (v.interpreters !== undefined) d.interpreters = r.strings(v.interpreters, 'defaults.interpreters');
  return d;
}

/** Parses YAML text; `file` names the source in error messages. */
export async function parseChecksConfig(text: string, file: string, only: string[] = []): Promise<ChecksConfig> {
  const r: Reader = new Reader(file);
  const doc = await parseYamlMapping(r, text);
  r.keys(doc, 'top level', ['defaults', 'checks', 'daemon']);
  const defaults = defaultsFrom(r, doc.defaults);
  if (!isPlain(doc.checks)) r.fail('checks', 'expected a mapping of check names to checks');
  const names = Object.keys(doc.checks);
  for (const wanted of only) if (!names.includes(wanted)) r.fail('checks', `no check named '${wanted}' (have: ${names.join(', ') || 'none'})`);
  const selected = only.length === 0 ? names : names.filter((n) => only.includes(n));
  const checks = selected.map((name) => checkFrom(r, name, (doc.checks as Plain)[name], defaults.timeout ?? 5));
  return { defaults, checks };
}

export async function loadChecksConfig(file: string, only: string[] = []): Promise<ChecksConfig> {
  return parseChecksConfig(readConfigText(file), file, only);
}
