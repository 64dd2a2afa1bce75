/** The command line's definition: every command, loaded as needed, under one program. */

import { Command } from './commander.js';
import type { CheckCommandHooks } from './check.js';
import { VERSION } from './version.js';

/**
 * Command modules, imported on demand. `procwatch check` is run by mon or Nagios every few
 * seconds, and loading the modules of every other command (daemon, store, API client, event
 * table: 18 more ES modules) cost it ~10 ms of its ~115 ms (BENCHMARKS.md). A known command
 * name loads its own module only; anything else (help, a typo) loads them all, in this order.
 */
const COMMANDS: [names: string[], load: (hooks?: CheckCommandHooks) => Promise<Command[]>][] = [
  [['check'], async (hooks) => [(await import('./check.js')).checkCommand(hooks)]],
  [['watch'], async () => [(await import('./watch.js')).watchCommand()]],
  [['daemon'], async () => [(await import('./daemon.js')).daemonCommand()]],
  [['ps', 'tree'], async () => { const m = await import('./ps.js'); return [m.psCommand(), m.treeCommand()]; }],
  [['top'], async () => [(await import('./top.js')).topCommand()]],
  [['web'], async () => [(await import('./web.js')).webCommand()]],
  [['rules'], async () => [(await import('./rules.js')).rulesCommand()]],
  [['alerts', 'reload', 'baseline'], async () => { const m = await import('./alerts.js'); return [m.alertsCommand(), m.reloadCommand(), m.baselineCommand()]; }],
  [['fleet'], async () => [(await import('./fleet.js')).fleetCommand()]],
  [['events', 'history', 'lineage', 'stats'], async () => {
    const m = await import('./query.js');
    return [m.eventsCommand(), m.historyCommand(), m.lineageCommand(), m.statsCommand()];
  }],
];

/** The commands `argv` needs; `hooks` tell main.ts what `check` resolved (its output format). */
export async function loadCommands(argv: string[], hooks?: CheckCommandHooks): Promise<Command[]> {
  const wanted = COMMANDS.find(([names]) => names.includes(argv[0] ?? ''));
  if (wanted !== undefined) return wanted[1](hooks);
  const all = (await Promise.all(COMMANDS.map(([, load]) => load(hooks)))).flat();
  // The completion scripts and the man page describe every command: they need them all.
  return [...all, ...(await import('./docs.js')).docsCommands()];
}

/**
 * The whole command line: every command's options, arguments and help. The completion scripts
 * and the man page are generated from this same object (cli/docs.ts), so they cannot drift from --help.
 */
export function programWith(commands: Command[]): Command {
  const program = new Command('procwatch')
    .description('Linux process monitoring: checks, real-time events, history')
    .version(VERSION)
    .showSuggestionAfterError(true)
    // Errors are printed once, by main(), as one line; help (also the usage shown when no
    // command is given) is Commander's own.
    .configureOutput({ outputError: () => {} })
    .exitOverride();
  for (const command of commands) program.addCommand(command);
  const quiet = (command: Command): void => {
    command.exitOverride().configureOutput({ outputError: () => {} });
    command.commands.forEach(quiet); // subcommands (fleet events, rules check, ...)
  };
  program.commands.forEach(quiet);
  return program;
}

