/** `procwatch rules check FILE...` and `procwatch rules test`: validate rule files; replay rules over stored events. */

import { Command } from './commander.js';
import { InputError } from '../errors.js';
import { parseTimePoint } from '../config/units.js';
import { print } from './common.js';

interface CommonOptions {
  config?: string;
  pack: boolean;
}

interface TestOptions extends CommonOptions {
  rules: string[];
  since: string;
  until?: string;
  database?: string;
  json?: boolean;
  profile?: boolean;
  only?: string;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

function timeOption(text: string, option: string): number {
  const t = parseTimePoint(text);
  if (t === null || t === 'out of range') throw new InputError(`${option} must be a time such as 10m, 2h, 1d (ago), an ISO date or epoch ms, got '${text}'`);
  return t;
}

export function rulesCommand(): Command {
  const rules = new Command('rules').description('validate rule files, and replay rules over stored events (README: "Rules")');
  rules.command('check')
    .description('validate rule files as the daemon would load them (with the shipped pack and the config\'s rules); exit 0 if good, 2 with file:line and the reason if not')
    .argument('<files...>', 'rule files (YAML) or directories of them')
    .option('-c, --config <file>', 'the daemon config whose rules:, alerts: (action names) and pack the files go with')
    .option('--no-pack', 'without the shipped pack')
    .action(async (files: string[], options: CommonOptions) => {
      const { loadRulesSetup } = await import('../rules/setup.js');
      const { expandRuleFiles } = await import('../rules/ruleset.js');
      const expanded = files.flatMap(expandRuleFiles);
      const { ruleSet } = await loadRulesSetup(options.config, { extraFiles: expanded, noPack: !options.pack });
      for (const file of expanded) {
        const own = ruleSet.rules.filter((r) => r.file === file);
        print(`${file}: OK (${own.length} rule(s); ${ruleSet.rules.length} in the whole set, ${ruleSet.rules.filter((r) => r.enabled).length} enabled, ${Object.keys(ruleSet.lists).length} list(s), ${ruleSet.macroNames.length} macro(s))\n`);
      }
    });
  rules.command('test')
    .description('run the rules over stored events and print what would have fired (no action runs)')
    .option('-r, --rules <file>', 'a rule file or directory to add to the configured rules (repeatable)', collect, [])
    .option('-c, --config <file>', 'the daemon config: its rules:, alerts: and daemon.database')
    .option('--no-pack', 'without the shipped pack')
    .option('--only <names>', 'only these rules (comma-separated)')
    .option('--since <time>', 'from: 10m, 2h, 1d (ago), an ISO date, or epoch ms', '1h')
    .option('--until <time>', 'to (same forms; default now)')
    .option('--database <path>', 'the store to read (default: the config\'s daemon.database, else /var/lib/procwatch/events.db)')
    .option('--json', 'one alert per line as JSON, then a summary object')
    .option('--profile', 'also show each rule\'s mean evaluation time')
    .action(async (options: TestOptions) => {
      const sinceMs = timeOption(options.since, '--since');
      const untilMs = options.until === undefined ? Date.now() : timeOption(options.until, '--until');
      if (untilMs < sinceMs) throw new InputError('--until is before --since');
      const { loadRulesSetup } = await import('../rules/setup.js');
      const { expandRuleFiles } = await import('../rules/ruleset.js');
      const { ruleSet } = await loadRulesSetup(options.config, { extraFiles: options.rules.flatMap(expandRuleFiles), noPack: !options.pack });
      if (options.only !== undefined) {
        const wanted = options.only.split(',').map((s) => s.trim()).filter((s) => s !== '');
        for (const name of wanted) if (!ruleSet.rules.some((r) => r.name === name)) throw new InputError(`--only: no rule named '${name}'`);
        for (const rule of ruleSet.rules) if (!wanted.includes(rule.name)) rule.enabled = false;
        for (const [kind, list] of ruleSet.byKind) (ruleSet.byKind as Map<string, typeof list>).set(kind, list.filter((r) => r.enabled));
      }
      const { loadDaemonConfig } = await import('../config/daemon.js');
      const database = options.database ?? (await loadDaemonConfig(options.config)).database;
      const { openReadOnly } = await import('../alerts/store.js');
      const db = openReadOnly(database);
      const { replay } = await import('../rules/replay.js');
      const { UserDb } = await import('../procfs/users.js');
      const { alertLine } = await import('../report/alerts.js');
      const users = new UserDb();
      try {
        // Baseline rules learn from the replayed events themselves (their first sight starts the learning window).
        const { StoreBaseline } = await import('../rules/baseline.js');
        const baseline = new StoreBaseline(null, () => {});
        baseline.learn(ruleSet, sinceMs);
        const result = replay(db, ruleSet, {
          sinceMs, untilMs, baseline, userName: (uid) => users.userName(uid), ...(options.profile ? { profile: true } : {}),
          onProgress: (n) => { if (process.stderr.isTTY) process.stderr.write(`\rprocwatch: ${n} events replayed`); },
        });
        if (process.stderr.isTTY && result.events >= 10_000) process.stderr.write('\n');
        for (const alert of result.alerts) print(`${options.json ? JSON.stringify(alert) : alertLine(alert)}\n`);
        const perRule = ruleSet.rules.filter((r) => r.enabled).map((r) => {
          const c = result.engine.perRule.get(r.name)!;
          return { rule: r.name, matches: c.matches, alerts: c.alerts, errors: c.errors, ...(options.profile && c.evaluations > 0 ? { meanEvalNs: Math.round(c.timeNs / c.evaluations) } : {}) };
        });
        const c = result.engine.counters;
        const summary = { events: result.events, since: new Date(sinceMs).toISOString(), until: new Date(untilMs).toISOString(), matches: c.matches, alerts: c.alerts, duplicates: c.duplicates, suppressed: c.suppressed, errors: c.errors, rules: perRule };
        if (options.json) {
          print(`${JSON.stringify({ summary })}\n`);
          return;
        }
        process.stderr.write(`procwatch: ${summary.events} stored event(s) from ${summary.since} to ${summary.until}: ${c.matches} match(es), ${c.alerts} alert(s), ${c.duplicates} duplicate(s), ${c.suppressed} suppressed by rate limits, ${c.errors} evaluation error(s)\n`);
        for (const r of perRule) {
          if (r.matches === 0 && r.errors === 0 && !options.profile) continue;
          process.stderr.write(`  ${r.rule}: ${r.matches} match(es), ${r.alerts} alert(s)${r.errors > 0 ? `, ${r.errors} error(s)` : ''}${'meanEvalNs' in r ? `, ${r.meanEvalNs} ns per evaluation` : ''}\n`);
        }
      } finally {
        db.close();
      }
    });
  return rules;
}
