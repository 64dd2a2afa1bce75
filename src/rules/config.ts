/**
 * The config file's `rules:` section (README: "Rules configuration"): which rule files, the
 * shipped pack and what of it is off, queue and noise defaults. Rules, lists, macros and
 * overrides may also sit in the section itself, read like a rule file.
 */

import { parseDuration } from '../config/units.js';
import { RULES_DEFAULTS, parseRateLimit, type RulesConfig } from './ruleset.js';
import { RuleFileError, type LocatedYaml } from './yaml-file.js';

const KEYS = ['pack', 'disabled', 'files', 'max_queue', 'rate_limit', 'baseline_window', 'lists', 'macros', 'rules', 'overrides'];

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `defaultActions` comes from the alerts section (alerts.default_actions). */
export function parseRulesSection(y: LocatedYaml | null, defaultActions: string[]): RulesConfig {
  const config: RulesConfig = { ...RULES_DEFAULTS, defaultActions };
  if (y === null || !isMap(y.value) || y.value.rules === undefined) return config;
  const r = y.value.rules;
  const fail: (key: string, message: string) => never = (key, message) => {
    throw new RuleFileError(y.file, y.lineOf(['rules', key]), `rules.${key}: ${message}`);
  };
  if (!isMap(r)) throw new RuleFileError(y.file, y.lineOf(['rules']), 'rules: expected a mapping');
  for (const key of Object.keys(r)) if (!KEYS.includes(key)) fail(key, `unknown key (expected one of: ${KEYS.join(', ')})`);
  if (r.pack !== undefined) {
    if (typeof r.pack !== 'boolean') fail('pack', 'expected true or false');
    config.pack = r.pack as boolean;
  }
  const strings = (key: string): string[] => {
    const v = r[key];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || x === '')) fail(key, 'expected a list of strings');
    return v as string[];
  };
  if (r.disabled !== undefined) config.disabled = strings('disabled');
  if (r.files !== undefined) config.files = strings('files');
  if (r.max_queue !== undefined) {
    if (typeof r.max_queue !== 'number' || !Number.isInteger(r.max_queue) || r.max_queue < 100 || r.max_queue > 10_000_000) fail('max_queue', 'expected an integer from 100 to 10000000');
    config.maxQueue = r.max_queue as number;
  }
  if (r.rate_limit !== undefined) {
    const limit = typeof r.rate_limit === 'string' ? parseRateLimit(r.rate_limit) : null;
    if (limit === null) fail('rate_limit', 'expected COUNT/PERIOD such as 60/m');
    config.defaultRateLimit = limit!;
  }
  if (r.baseline_window !== undefined) {
    const ms = typeof r.baseline_window === 'string' ? parseDuration(r.baseline_window) : null;
    if (ms === null || ms <= 0) fail('baseline_window', 'expected a duration such as 7d');
    config.baselineWindowMs = ms!;
  }
  if (r.lists !== undefined || r.macros !== undefined || r.rules !== undefined || r.overrides !== undefined) config.inline = y;
  return config;
}
