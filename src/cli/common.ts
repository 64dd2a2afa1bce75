/** Options and output helpers shared by the commands that print processes and events. */

import { Option, type Command } from './commander.js';
import { DEFAULT_SOCKET } from '../api/client.js';
import { InputError } from '../errors.js';
import { fitText, paint, SGR, terminalStyle, type TextStyle, type TimeStyle } from '../report/index.js';
import { compileRegExp, quoteShort } from '../util/regex.js';
import { resolvedExePath } from '../util/resolve-path.js';

export function withSocket(command: Command): Command {
  return command.option('--socket <path>', 'the daemon API socket (env PROCWATCH_SOCKET)', DEFAULT_SOCKET);
}

/** The filters every command that lists processes or events takes, with one meaning (README "Filters"). */
export interface FilterOptions {
  user?: string;
  name?: string;
  exe?: string;
  args?: string;
  pid?: string;
}

/**
 * -u, -n, -e, -a, and with `subtree` -p (the process and its descendants): the same letters and
 * meaning in ps, watch, events and history.
 */
export function withFilters(command: Command, subtree: boolean): Command {
  command
    .option('-u, --user <user>', 'only processes of this effective user (name or uid)')
    .option('-n, --name <glob>', 'only processes whose comm or executable basename matches')
    .option('-e, --exe <glob>', 'only processes whose executable path matches (a full path: /usr/sbin/*)')
    .option('-a, --args <regex>', 'only processes whose command line (argv joined by spaces) matches this regular expression');
  if (subtree) command.option('-p, --pid <pid>', 'only this process and its descendants (every instance of the pid in the range)');
  return command;
}

/**
 * The filter values, checked here so that a mistake is one line before anything is asked: an
 * `--exe` glob that cannot match a full path (`-e f`, which is what `ps -ef` would otherwise
 * become) and a regex that does not compile are refused. An `--exe` path is resolved through
 * symlinks as the kernel reports executables (`/bin/bash` is `/usr/bin/bash` on merged /usr).
 */
export function checkFilters(options: FilterOptions): void {
  if (options.exe !== undefined && !/^[/*?[]/.test(options.exe)) {
    throw new InputError(`--exe matches the whole executable path, so ${quoteShort(options.exe)} can never match: use '/usr/bin/${options.exe}', '*/${options.exe}', or --name ${options.exe}`);
  }
  if (options.exe !== undefined) options.exe = resolvedExePath(options.exe) ?? options.exe;
  if (options.args !== undefined) {
    try {
      compileRegExp(options.args);
    } catch (err) {
      throw new InputError(`--args is not a valid regular expression: ${(err as Error).message}`);
    }
  }
  if (options.pid !== undefined && !/^[1-9]\d{0,9}$/.test(options.pid.trim())) throw new InputError(`--pid expects a positive integer (a pid), got ${quoteShort(options.pid)}`);
}

/** How text output looks: `--utc` and `-w` where the command has them, colours and width from the terminal. */
export interface DisplayOptions {
  utc?: boolean;
  wide?: boolean;
}

export function withDisplay(command: Command, options: { wide?: boolean } = { wide: true }): Command {
  command.option('--utc', 'times in UTC (marked Z) instead of local time');
  if (options.wide !== false) command.addOption(new Option('-w, --wide', 'whole lines: do not cut them to the terminal width'));
  return command;
}

export interface Display {
  time: TimeStyle;
  style: TextStyle;
}

export function display(options: DisplayOptions): Display {
  return { time: { utc: options.utc === true }, style: terminalStyle(process.stdout, { wide: options.wide }) };
}

export function print(text: string): void {
  process.stdout.write(text);
}

/** Text for the terminal: cut to its width unless -w (a no-op into a pipe or a file). */
export function printFitted(text: string, d: Display): void {
  process.stdout.write(fitText(text, d.style.width));
}

/** A table rendered elsewhere (by the daemon) gets its header in bold on a terminal. */
export function boldHeader(text: string, d: Display): string {
  const nl = text.indexOf('\n');
  return nl < 0 || !d.style.color ? text : paint(d.style, SGR.bold, text.slice(0, nl)) + text.slice(nl);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
