/**
 * Everything rules need from a config file, read in one go: the `alerts:` actions, the
 * `rules:` section and the compiled rule set (pack + config + files). The daemon calls it at
 * start and on reload; `rules check` and `rules test` call it too, so they judge a file
 * exactly as the daemon would. Any error is one RuleFileError (`file:line: reason`).
 */

import { readFileSync } from 'node:fs';
import { parseAlertsSection, type AlertsConfig } from '../alerts/config.js';
import { parseChecksConfig } from '../config/checks.js';
import { parseDuration } from '../config/units.js';
import { MAX_TIMER_MS } from '../config/daemon.js';
import { CountCheck } from '../checks/index.js';
import { DEFAULT_INTERPRETERS, type ContinuousCheckSpec } from './checks.js';
import { SEVERITIES, type Severity } from './ruleset.js';
import { RuleFileError } from './yaml-file.js';
import { parseRulesSection } from './config.js';
import { loadRuleSet, type RuleSet, type RulesConfig } from './ruleset.js';
import { readLocatedYaml, type LocatedYaml } from './yaml-file.js';

export interface RulesSetup {
  config: LocatedYaml | null;
  rules: RulesConfig;
  alerts: AlertsConfig;
  ruleSet: RuleSet;
  /** The config's checks that the daemon judges continuously. */
  checks: ContinuousCheckSpec[];
}

export interface SetupOptions {
  /** More rule files (rules check FILE, rules test --rules FILE). */
  extraFiles?: string[];
  /** Leave the shipped pack out whatever the config says. */
  noPack?: boolean;
}

export async function loadRulesSetup(configFile: string | undefined, options: SetupOptions = {}): Promise<RulesSetup> {
  const config = configFile === undefined ? null : await readLocatedYaml(configFile);
  const alerts = parseAlertsSection(config);
  const rules = parseRulesSection(config, alerts.defaultActions);
  if (options.noPack === true) rules.pack = false;
  const ruleSet = await loadRuleSet(rules, new Set(alerts.actions.keys()), options.extraFiles ?? []);
  const checks = config === null ? [] : await continuousChecks(config, alerts);
  return { config, rules, alerts, ruleSet, checks };
}

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The `checks:` of the config (procwatch check's grammar) with the daemon's keys: for, interval, severity, actions, daemon. */
async function continuousChecks(y: LocatedYaml, alerts: AlertsConfig): Promise<ContinuousCheckSpec[]> {
  if (!isMap(y.value) || y.value.checks === undefined) return [];
  const parsed = await parseChecksConfig(readFileSync(y.file, 'utf8'), y.file);
  const interpreters = new Set([...DEFAULT_INTERPRETERS, ...(parsed.defaults.interpreters ?? [])]);
  const raw = y.value.checks as Record<string, Record<string, unknown>>;
  const specs: ContinuousCheckSpec[] = [];
  for (const check of parsed.checks) {
    const v = raw[check.id] ?? {};
    const fail = (key: string, message: string): never => {
      throw new RuleFileError(y.file, y.lineOf(['checks', check.id, key]), `checks.${check.id}.${key}: ${message}`);
    };
    if (v.daemon !== undefined && typeof v.daemon !== 'boolean') fail('daemon', 'expected true or false');
    if (v.daemon === false) continue;
    const duration = (key: string, fallback: number, min: number): number => {
      if (v[key] === undefined) return fallback;
      const ms = typeof v[key] === 'number' ? (v[key] as number) * 1000 : typeof v[key] === 'string' ? parseDuration(v[key] as string) : null;
      if (ms === null || !(ms >= min) || ms > MAX_TIMER_MS) return fail(key, `expected a duration such as 30s or 5m (at least ${min / 1000}s, at most ~24 days)`);
      return ms;
    };
    const forMs = duration('for', 0, 0);
    const isCount = check instanceof CountCheck;
    if (isCount && v.interval !== undefined) fail('interval', 'count checks follow the events (no interval); interval goes with cpu, listen and banner checks');
    const intervalMs = duration('interval', 30_000, 1000);
    let severity: Severity | null = null;
    if (v.severity !== undefined) {
      if (typeof v.severity !== 'string' || !(SEVERITIES as readonly string[]).includes(v.severity)) fail('severity', `expected one of: ${SEVERITIES.join(', ')}`);
      severity = v.severity as Severity;
    }
    let actions = alerts.defaultActions;
    if (v.actions !== undefined) {
      if (!Array.isArray(v.actions) || v.actions.some((a) => typeof a !== 'string')) fail('actions', 'expected a list of action names');
      actions = v.actions as string[];
      for (const a of actions) {
        const spec = alerts.actions.get(a);
        if (spec === undefined) fail('actions', `unknown action '${a}'`);
        if (spec!.type === 'kill') fail('actions', 'a check has no one process to kill');
      }
    }
    specs.push({ check, forMs, intervalMs, severity, actions, interpreters });
  }
  return specs;
}
