/**
 * Everything rules need from a config file, read in one go: the `alerts:` actions, the
 * `rules:` section and the compiled rule set (pack + config + files). The daemon calls it at
 * start and on reload; `rules check` and `rules test` call it too, so they judge a file
 * exactly as the daemon would. Any error is one RuleFileError (`file:line: reason`).
 */

import { parseAlertsSection, type AlertsConfig } from '../alerts/config.js';
import { parseRulesSection } from './config.js';
import { loadRuleSet, type RuleSet, type RulesConfig } from './ruleset.js';
import { readLocatedYaml, type LocatedYaml } from './yaml-file.js';

export interface RulesSetup {
  config: LocatedYaml | null;
  rules: RulesConfig;
  alerts: AlertsConfig;
  ruleSet: RuleSet;
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
  return { config, rules, alerts, ruleSet };
}
