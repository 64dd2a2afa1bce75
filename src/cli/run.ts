/**
 * The procwatch command line. Each command lives in its own file; this one wires them and
 * is the one place where errors become a one-line message and an exit code. main.ts runs it
 * as an ES module; `check`, `ps` and `tree` run it from prebuilt files (scripts/build-bundles.mjs).
 */

import { CommanderError } from './commander.js';
import { InputError } from '../errors.js';
import { escapeText, nagiosUnknown } from '../report/index.js';
import { EXIT } from './exit-codes.js';
import { procpsArgs } from './procps.js';
import { loadCommands, programWith } from './program.js';

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
    process.stderr.write(`procwatch: ${escapeText(message)}\n`);
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
  if (argv[0] === 'ps') {
    // `ps -ef`, `ps aux`, `ps -eo LIST` as procps users type them (cli/procps.ts).
    try {
      const { args, notes } = procpsArgs(argv.slice(1));
      for (const note of notes) process.stderr.write(`procwatch: ${note}\n`);
      argv = ['ps', ...args];
    } catch (err) {
      if (!(err instanceof InputError)) throw err;
      return fail(err.message, argv, EXIT.USAGE);
    }
  }
  const program = programWith(await loadCommands(argv, { formatResolved: (format) => { outputFormat = format; } }));
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return; // --help, --version
      // No command (or a command group without one): Commander printed the usage on stderr.
      if (err.code === 'commander.help') {
        process.exitCode = EXIT.USAGE;
        return;
      }
      fail(err.message.replace(/^error: /, ''), argv, EXIT.USAGE);
    } else if (err instanceof InputError) {
      fail(err.message, argv, EXIT.USAGE);
    } else if (err instanceof Error && err.name === 'NotFound') {
      fail(err.message, argv, EXIT.PROBLEM);
    } else if (err instanceof Error && (err.name === 'DaemonUnavailable' || err.name === 'FleetUnavailable' || err.name === 'ProcTreeError' || err.name === 'SourceStartError')) {
      fail(err.message, argv, EXIT.FAILURE); // cannot run: the daemon or /proc is out of reach
    } else {
      fail(`internal error: ${(err as Error).message}`, argv, EXIT.FAILURE);
    }
  }
}
