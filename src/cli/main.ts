/**
 * The procwatch command line. Each command lives in its own file; this one wires them and
 * is the one place where errors become a one-line message and an exit code.
 */

import { Command, CommanderError } from './commander.js';
import { InputError } from '../errors.js';
import { nagiosUnknown } from '../report/index.js';
import { EXIT } from './exit-codes.js';

/**
 * Command modules, imported on demand. `procwatch check` is run by mon or Nagios every few
 * seconds, and loading the modules of every other command (daemon, store, API client, event
 * table: 18 more ES modules) cost it ~10 ms of its ~115 ms (BENCHMARKS.md). A known command
 * name loads its own module only; anything else (help, a typo) loads them all, in this order.
 */
const COMMANDS: [names: string[], load: () => Promise<Command[]>][] = [
  [['check'], async () => [(await import('./check.js')).checkCommand({ formatResolved: (format) => { outputFormat = format; } })]],
  [['watch'], async () => [(await import('./watch.js')).watchCommand()]],
  [['daemon'], async () => [(await import('./daemon.js')).daemonCommand()]],
  [['ps', 'tree'], async () => { const m = await import('./ps.js'); return [m.psCommand(), m.treeCommand()]; }],
  [['top'], async () => [(await import('./top.js')).topCommand()]],
  [['rules'], async () => [(await import('./rules.js')).rulesCommand()]],
  [['alerts', 'reload', 'baseline'], async () => { const m = await import('./alerts.js'); return [m.alertsCommand(), m.reloadCommand(), m.baselineCommand()]; }],
  [['events', 'history', 'lineage', 'stats'], async () => {
    const m = await import('./query.js');
    return [m.eventsCommand(), m.historyCommand(), m.lineageCommand(), m.statsCommand()];
  }],
];

async function loadCommands(argv: string[]): Promise<Command[]> {
  const wanted = COMMANDS.find(([names]) => names.includes(argv[0] ?? ''));
  if (wanted !== undefined) return wanted[1]();
  return (await Promise.all(COMMANDS.map(([, load]) => load()))).flat();
}

/**
 * The output format, once a command has resolved it (`check` reads it from its config file's
 * `defaults.format` too); until then only the command line can say.
 */
let outputFormat: string | null = null;

/** Nagios plugins must answer UNKNOWN (3) on bad input; find out if that is the mode asked for (and which style). */
function nagiosRequested(argv: string[]): 'nagios' | 'nagios-plain' | null {
  const nagios = (f: string | null | undefined): 'nagios' | 'nagios-plain' | null => (f === 'nagios' || f === 'nagios-plain' ? f : null);
  if (outputFormat !== null) return nagios(outputFormat);
  let found: 'nagios' | 'nagios-plain' | null = null;
  argv.forEach((a, i) => {
    const value = a.startsWith('--format=') ? a.slice(9) : a.startsWith('-f') && a.length > 2 ? a.slice(2) : (a === '-f' || a === '--format') ? argv[i + 1] : undefined;
    if (value !== undefined) found = nagios(value);
  });
  return found;
}

/** Every error is one line, and a short one: a message may quote a huge argument. */
function oneLine(message: string): string {
  const line = message.replace(/\s*\n\s*/g, ' ');
  return line.length <= 500 ? line : `${line.slice(0, 500)}...`;
}

function fail(text: string, argv: string[], code: number): void {
  const message = oneLine(text);
  const nagios = nagiosRequested(argv);
  if (nagios !== null) {
    process.stdout.write(nagiosUnknown(message, { plain: nagios === 'nagios-plain' }).text);
    process.exitCode = EXIT.NAGIOS_UNKNOWN;
  } else {
    process.stderr.write(`procwatch: ${message}\n`);
    process.exitCode = code;
  }
}

export async function main(argv: string[]): Promise<void> {
  // `procwatch ... | head`: a reader that goes away is not an error worth a stack trace.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    process.stderr.write(`procwatch: cannot write output: ${err.message}\n`);
    process.exit(4);
  });
  const program = new Command('procwatch')
    .description('Linux process monitoring: checks, real-time events, history')
    .version('0.1.0')
    .showSuggestionAfterError(true)
    .configureOutput({ writeErr: () => {} }) // errors are printed once, below, as one line
    .exitOverride();
  for (const command of await loadCommands(argv)) program.addCommand(command);
  for (const command of program.commands) command.exitOverride().configureOutput({ writeErr: () => {} });
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return; // --help, --version
      fail(err.message.replace(/^error: /, ''), argv, EXIT.USAGE);
    } else if (err instanceof InputError) {
      fail(err.message, argv, EXIT.USAGE);
    } else if (err instanceof Error && err.name === 'NotFound') {
      fail(err.message, argv, EXIT.PROBLEM);
    } else if (err instanceof Error && (err.name === 'DaemonUnavailable' || err.name === 'ProcTreeError' || err.name === 'SourceStartError')) {
      fail(err.message, argv, EXIT.FAILURE); // cannot run: the daemon or /proc is out of reach
    } else {
      fail(`internal error: ${(err as Error).message}`, argv, EXIT.FAILURE);
    }
  }
}

await main(process.argv.slice(2));
