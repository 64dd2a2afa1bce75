/**
 * The procwatch command line. Each command lives in its own file; this one wires them and
 * is the one place where errors become a one-line message and an exit code.
 */

import { CommanderError } from 'commander';
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

/** Nagios plugins must answer UNKNOWN (3) on bad input; find out if that is the mode asked for. */
function nagiosRequested(argv: string[]): boolean {
  if (outputFormat !== null) return outputFormat === 'nagios';
  return argv.some((a, i) => a === '--format=nagios' || a === '-fnagios' || ((a === '-f' || a === '--format') && argv[i + 1] === 'nagios'));
}

function fail(message: string, argv: string[], code: number): void {
  if (nagiosRequested(argv)) {
    process.stdout.write(nagiosUnknown(message).text);
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
    } else if (err instanceof Error && (err.name === 'DaemonUnavailable' || err.name === 'ProcTreeError' || err.name === 'SourceStartError')) {
      fail(err.message, argv, EXIT.FAILURE); // cannot run: the daemon or /proc is out of reach
    } else {
      fail(`internal error: ${(err as Error).message}`, argv, EXIT.FAILURE);
    }
  }
}

await main(process.argv.slice(2));
