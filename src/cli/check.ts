/** `procwatch check`: evaluate process checks once against /proc and exit like mon or Nagios. */

import { Command, Option } from './commander.js';
import { InputError } from '../errors.js';
import {
  BannerCheck, CountCheck, CpuCheck, ListenCheck, MAX_WAIT_SECONDS, PS_MONITOR_INTERPRETERS, parseBannerSpec, parseListenSpec, parseSpec,
  processName, runChecks, takeSnapshot, type Check,
} from '../checks/index.js';
import { cpuSpecDefaults, loadChecksConfig, type CheckDefaults } from '../config/checks.js';
import { ProcReader } from '../procfs/index.js';
import { escapeText, renderJson, renderMon, renderNagios, type Rendered } from '../report/index.js';
import { EXIT } from './exit-codes.js';
import { monContext, monHostHint, splitMonHosts } from './mon-hosts.js';

export type Format = 'mon' | 'nagios' | 'nagios-plain' | 'json';

/** How `check` tells main.ts, where errors are printed, the output format once it is known. */
export interface CheckCommandHooks {
  formatResolved(format: Format): void;
}

interface CheckOptions {
  format?: Format;
  config?: string;
  only: string[];
  nameOf?: string;
  listen: string[];
  banner: string[];
  timeout?: string;
  cpu?: string;
  cpuWarning?: string;
  cpuWindow?: string;
  cpuMinAge?: string;
  cpuExemptUser: string[];
  cpuExemptName: string[];
  cpuExemptRegularUsers?: boolean;
  cpuKernelThreads?: boolean;
  recheck?: string;
  recheckTimes?: string;
  interpreter: string[];
  procRoot: string;
  etcRoot: string;
  includeSelf?: boolean;
}

// Repeatable options start undefined (Commander would print an empty default as "(default: [])").
const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), ...value.split(',').filter((v) => v !== '')];
const collectOne = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

/** A number ≥ min; with `max`, at most that; with `integer`, a whole number. */
function number(text: string | undefined, option: string, min: number, limits: { max?: number; integer?: boolean } = {}): number | undefined {
  if (text === undefined) return undefined;
  const { max = Infinity, integer = false } = limits;
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
    throw new InputError(`${option} expects ${integer ? 'an integer' : 'a number'} ≥ ${min}${max === Infinity ? '' : ` and ≤ ${max}`}, got '${text}'`);
  }
  return n;
}

/** Delays and timeouts: Node's timers cannot hold more than ~24 days, and a day is plenty. */
const WAIT = { max: MAX_WAIT_SECONDS };

export const CHECK_HELP = `
Specs (count checks; see the README's "Spec grammar"):
  NAME:MIN-MAX              ps.monitor syntax: tor:1-1 sshd:1- cron:1-5 (no range: 1-)
  KEY=VALUE,...:RANGE       selectors: name comm exe args user ruser anyuid group rgroup
                            anygid label domain parent ppid state; operators = != ~ !~
                            (= takes globs * ? [..]; ~ is a regex); quote values with "..."
  RANGE                     CRIT[/WARN], each MIN-MAX, MIN-, -MAX or N
  @gid0-not-uid0            builtin: no process may have GID 0 without UID 0
  @single-domain=TYPE       builtin: at most one process in SELinux domain TYPE

Examples:
  procwatch check tor:1-1 master:1-2 cron:1-5 sshd:1- watchdog:1-2
  procwatch check 'exe=/usr/lib/postfix/sbin/master:1-1' 'sshd,user=root:1-'
  procwatch check 'label=system_u:system_r:init_t:s0:0-1' @gid0-not-uid0
  procwatch check --listen 25/tcp@name=master --banner 22=SSH-2.0-OpenSSH_
  procwatch check --cpu 80 --cpu-window 5 --cpu-exempt-name gzip,boinc --cpu-exempt-regular-users
  procwatch check -f nagios --recheck 2 'sshd:1-/2-10'
  procwatch check -x 1234

Exit codes: mon/json 0 ok, 1 problem, 2 bad input, 4 cannot run;
            nagios 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (also for bad input).
`;

export function checkCommand(hooks?: CheckCommandHooks): Command {
  return new Command('check')
    .description('check processes and ports once against /proc; exit like a mon monitor or a Nagios plugin')
    .argument('[specs...]', 'count specs, e.g. sshd:1- or exe=/usr/sbin/cron:1-1')
    .addOption(new Option('-f, --format <format>', 'output: mon (summary line + details, exit 0/1), nagios, nagios-plain (nagios without the characters Nagios strips from notifications), json').choices(['mon', 'nagios', 'nagios-plain', 'json']))
    .option('-c, --config <file>', 'YAML file with named checks (README: "Config file")')
    .option('--only <names>', 'run only these named checks from the config (comma-separated)', collect)
    .option('-x, --name-of <pid>', 'print the name a process has for specs (ps.monitor -x) and exit')
    .option('--listen <spec>', 'something listens on [ADDR:]PORT[/tcp|/udp][@SELECTORS] (repeatable)', collectOne)
    .option('--banner <spec>', 'TCP [HOST:]PORT answers a first line starting with PREFIX: PORT=PREFIX (repeatable)', collectOne)
    .option('--timeout <seconds>', 'banner connect/read timeout (default 5)')
    .option('--cpu <percent>', 'critical when a process uses more than this % of one CPU')
    .option('--cpu-warning <percent>', 'warning threshold for --cpu')
    .option('--cpu-window <seconds>', 'sample CPU use over this window instead of the process lifetime')
    .option('--cpu-min-age <seconds>', 'lifetime mode: ignore processes younger than this (default 60)')
    .option('--cpu-exempt-user <users>', 'users exempt from --cpu (comma-separated, repeatable)', collect)
    .option('--cpu-exempt-name <names>', 'process names exempt from --cpu (comma-separated, repeatable)', collect)
    .option('--cpu-exempt-regular-users', 'exempt regular users (UID_MIN..UID_MAX from login.defs) from --cpu')
    .option('--cpu-kernel-threads', 'include kernel threads in --cpu (left out by default)')
    .option('--recheck <seconds>', 're-check failing checks after this delay; alert only if they keep failing')
    .option('--recheck-times <n>', 'how many re-checks (default 1)')
    .option('--interpreter <name>', 'also name processes of this interpreter after their script (repeatable)', collectOne)
    .option('--proc-root <dir>', 'read processes from this /proc tree', '/proc')
    .option('--etc-root <dir>', 'read passwd, group and login.defs from here', '/etc')
    .option('--include-self', 'count procwatch itself (left out by default, like check_procs)')
    .addHelpText('after', CHECK_HELP)
    .action(async (specs: string[], options: CheckOptions) => {
      for (const key of ['only', 'listen', 'banner', 'cpuExemptUser', 'cpuExemptName', 'interpreter'] as const) options[key] ??= [];
      process.exitCode = await runCheckCommand(specs, options, hooks);
    });
}

function nameOf(options: CheckOptions, interpreters: ReadonlySet<string>): Rendered {
  const pid = number(options.nameOf, '--name-of', 1, { integer: true })!;
  const view = takeSnapshot(new ProcReader(options.procRoot)).byPid.get(pid);
  if (view === undefined) throw new InputError(`no process with pid ${pid}`);
  return { text: `PID:${pid} has name "${escapeText(processName(view, interpreters) ?? view.comm)}"\n`, exitCode: EXIT.OK };
}

function buildChecks(specs: string[], options: CheckOptions, defaults: CheckDefaults): Check[] {
  const checks: Check[] = specs.map((s) => new CountCheck(parseSpec(s)));
  const timeout = number(options.timeout, '--timeout', 0.001, WAIT) ?? defaults.timeout ?? 5;
  for (const l of options.listen) checks.push(new ListenCheck(parseListenSpec(l)));
  for (const b of options.banner) checks.push(new BannerCheck(parseBannerSpec(b, timeout)));
  const cpuOnly = [options.cpuWarning, options.cpuWindow, options.cpuMinAge].some((v) => v !== undefined) ||
    options.cpuExemptUser.length > 0 || options.cpuExemptName.length > 0 || options.cpuExemptRegularUsers || options.cpuKernelThreads;
  if (options.cpu === undefined && cpuOnly) throw new InputError('the --cpu-* options need --cpu PERCENT');
  if (options.cpu !== undefined) {
    const spec = cpuSpecDefaults();
    spec.criticalPercent = number(options.cpu, '--cpu', 0)!;
    spec.warningPercent = number(options.cpuWarning, '--cpu-warning', 0) ?? null;
    spec.windowSeconds = number(options.cpuWindow, '--cpu-window', 0.1, WAIT) ?? null;
    spec.minAgeSeconds = number(options.cpuMinAge, '--cpu-min-age', 0) ?? spec.minAgeSeconds;
    spec.exemptUsers = options.cpuExemptUser;
    spec.exemptNames = options.cpuExemptName;
    spec.exemptRegularUsers = options.cpuExemptRegularUsers === true;
    spec.includeKernelThreads = options.cpuKernelThreads === true;
    checks.push(new CpuCheck(spec)); // refuses --cpu-warning at or above --cpu
  }
  return checks;
}

async function runCheckCommand(specs: string[], options: CheckOptions, hooks?: CheckCommandHooks): Promise<number> {
  // From here on, bad input is reported in the format asked for: a config's `defaults.format:
  // nagios` makes even a bad spec a Nagios UNKNOWN, as soon as the file has said so.
  if (options.format !== undefined) hooks?.formatResolved(options.format);
  const fromConfig = (f: Format): void => { if (options.format === undefined) hooks?.formatResolved(f); };
  const config = options.config === undefined ? null : await loadChecksConfig(options.config, options.only, fromConfig);
  if (config === null && options.only.length > 0) throw new InputError('--only needs --config FILE');
  const defaults = config?.defaults ?? {};
  const format: Format = options.format ?? defaults.format ?? 'mon';
  const interpreters = new Set([...PS_MONITOR_INTERPRETERS, ...(defaults.interpreters ?? []), ...options.interpreter]);
  if (options.nameOf !== undefined) return emit(nameOf(options, interpreters));
  // Run by mon: the host names it appended to the monitor line are not specs.
  const mon = monContext();
  const specArgs = mon === null ? specs : splitMonHosts(specs, mon).specs;
  const checks = [...(config?.checks ?? []), ...buildChecks(specArgs, options, defaults)];
  if (checks.length === 0) throw new InputError('nothing to check: give specs (e.g. sshd:1-), --listen, --banner, --cpu or --config FILE');
  const recheck = number(options.recheck, '--recheck', 0, WAIT) ?? defaults.recheck ?? 0;
  const results = await runChecks(checks, {
    procRoot: options.procRoot,
    etcRoot: options.etcRoot,
    interpreters,
    recheckDelaySeconds: recheck,
    recheckTimes: number(options.recheckTimes, '--recheck-times', 1, { integer: true }) ?? defaults.recheckTimes ?? 1,
    excludePids: options.includeSelf ? new Set() : new Set([process.pid]),
    onRecheck: (failing, attempt, delay) => {
      if (process.stderr.isTTY) process.stderr.write(`procwatch: ${failing.length} check(s) failing, re-check ${attempt} in ${delay}s…\n`);
    },
  });
  if (mon !== null) {
    // A failing bare word at the end may be a host mon appended that we did not know of.
    const trailing = new Set<string>();
    for (let i = specArgs.length - 1; i >= 0 && /^[A-Za-z0-9_.-]+$/.test(specArgs[i]!); i--) trailing.add(specArgs[i]!);
    for (const r of results) {
      const hint = r.kind === 'count' && r.status !== 'ok' && trailing.has(r.id) ? monHostHint(r.id, mon) : null;
      if (hint !== null) r.details.push(hint);
    }
  }
  const render = format === 'nagios' || format === 'nagios-plain' ? (r: typeof results) => renderNagios(r, { plain: format === 'nagios-plain' })
    : format === 'json' ? renderJson : renderMon;
  return emit(render(results));
}

function emit(rendered: Rendered): number {
  process.stdout.write(rendered.text);
  return rendered.exitCode;
}
