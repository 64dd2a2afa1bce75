/** `procwatch daemon`: the event source, live table, store and API in one process. */

import { Command, Option } from './commander.js';
import { InputError } from '../errors.js';
import { daemonPathsProblem, loadDaemonConfig, type SourceSetting } from '../config/daemon.js';
import { EXIT } from './exit-codes.js';

interface DaemonOptions {
  config?: string;
  source?: SourceSetting;
  database?: string;
  socket?: string;
}

export function daemonCommand(): Command {
  return new Command('daemon')
    .description('run the event source, live process table, SQLite store and local API (README: "procwatch daemon" and "Daemon configuration")')
    .option('-c, --config <file>', 'YAML config; the daemon section is read (defaults are built in)')
    .addOption(new Option('-s, --source <source>', 'event source (overrides the config): auto prefers eBPF, then netlink, then polling /proc').choices(['auto', 'ebpf', 'netlink', 'poll']))
    .option('--database <path>', 'SQLite database file (default /var/lib/procwatch/events.db)')
    .option('--socket <path>', 'API unix socket (default /run/procwatch/procwatch.sock)')
    .action(async (options: DaemonOptions) => {
      process.exitCode = await runDaemon(options);
    });
}

/** Bad paths, configs and database files are the user's to fix (2); the rest is "cannot run" (4). */
function exitCodeFor(err: unknown): number {
  return err instanceof InputError || (err instanceof Error && err.name === 'StoreError') ? EXIT.USAGE : EXIT.FAILURE;
}

async function runDaemon(options: DaemonOptions): Promise<number> {
  // Signals first: a SIGTERM while the source loads (eBPF takes seconds) must stop the daemon
  // cleanly, flushing and unloading, not kill it halfway.
  let stopRequested = false;
  let wake: (() => void) | null = null;
  const onSignal = (): void => {
    stopRequested = true;
    wake?.();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // SIGHUP (and `procwatch reload`) re-reads rules, alerts and checks once they run; before, it is ignored (never fatal).
  let reload: (() => void) | null = null;
  process.on('SIGHUP', () => reload?.());

  const config = await loadDaemonConfig(options.config);
  if (options.source !== undefined) config.source = options.source;
  if (options.database !== undefined) config.database = options.database;
  if (options.socket !== undefined) config.socket = options.socket;
  const paths = daemonPathsProblem(config);
  if (paths !== null) throw new InputError(`${options[paths.key] !== undefined ? `--${paths.key}` : `daemon.${paths.key}`}: ${paths.message}`);

  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  const refuse = (err: unknown): number => {
    log(`procwatch daemon: refusing to start: ${(err as Error).message}`);
    return exitCodeFor(err);
  };
  // Rules, alerts and checks are compiled before anything starts: a bad rule is exit 2, at once.
  let rulesSetup;
  try {
    rulesSetup = await (await import('../rules/setup.js')).loadRulesSetup(options.config);
  } catch (err) {
    return refuse(err);
  }
  const { dirname } = await import('node:path');
  const { lstatSync, unlinkSync } = await import('node:fs');
  const { makeDirs, privateDirMode, socketSlotProblem } = await import('../daemon/paths.js');
  const { Daemon } = await import('../daemon/daemon.js');
  const { ApiServer } = await import('../api/server.js');
  const { claimInstance } = await import('../daemon/instance.js');

  try {
    makeDirs(dirname(config.database), privateDirMode(config.socketGroup), config.socketGroup);
  } catch (err) {
    return refuse(new InputError((err as Error).message));
  }
  const slot = socketSlotProblem(config.socket);
  if (slot !== null) return refuse(new InputError(slot));
  let instance;
  try {
    instance = await claimInstance(config.database, config.socket, config.followSymlinks); // before anything is loaded
  } catch (err) {
    return refuse(err);
  }
  let daemon;
  try {
    daemon = await Daemon.start(config, log);
  } catch (err) {
    instance.release();
    return refuse(err);
  }
  // A signal that came during a long synchronous step of the start (the reconcile) is only
  // handled in the event loop's poll phase: let the loop pass one (the first immediate may
  // run in the current iteration, the second runs after the next poll) before listening.
  for (let turn = 0; turn < 2; turn++) await new Promise((resolve) => setImmediate(resolve));
  const { RulesService } = await import('../rules/service.js');
  daemon.rules = new RulesService(daemon, rulesSetup, options.config, log);
  const rules = daemon.rules;
  log(`procwatch daemon: ${rulesSetup.ruleSet.rules.filter((r) => r.enabled).length} rule(s) enabled of ${rulesSetup.ruleSet.rules.length}, ${rulesSetup.checks.length} continuous check(s)`);
  reload = () => void rules.reload(); // a bad file changes nothing: the running rules stay
  if (config.exportNats !== null) {
    // The exporter follows the store, not the live stream: it starts from the last id the server acknowledged.
    const { NatsExporter } = await import('../export/nats.js');
    const nats = config.exportNats;
    daemon.exporter = new NatsExporter(nats, daemon.store.db, log);
    daemon.exporter.start();
    log(`procwatch daemon: exporting events and alerts as host ${nats.host} to NATS ${nats.servers.join(', ')}, stream ${nats.stream}, subjects ${nats.subjectPrefix}.${nats.hostToken}.>`);
  }
  const api = new ApiServer(daemon, { limits: config.apiLimits, log });
  let web: { listen(): Promise<void>; close(): Promise<void>; origin: string } | null = null;
  let code: number = EXIT.OK;
  let listening = false;
  // A source that stops on its own (its reader died) leaves nothing to watch: stop, exit 4.
  let failed = false;
  daemon.onFailure(() => {
    failed = true;
    wake?.();
  });
  try {
    if (!stopRequested) {
      await api.listenUnix(config.socket, config.socketGroup);
      listening = true;
      if (config.httpListen !== null) await api.listenTcp(config.httpListen, { token: config.httpToken, scrapeToken: config.httpScrapeToken }, config.httpTls);
      if (config.web.listen !== null) {
        const { WebConsole } = await import('../web/console.js');
        const consoleServer = new WebConsole({ ...config.web, listen: config.web.listen }, api);
        await consoleServer.listen();
        web = consoleServer;
        api.console = consoleServer;
        log(`procwatch daemon: web console on ${consoleServer.origin} (log in with the link \`procwatch web\` prints)`);
      }
    }
  } catch (err) {
    code = refuse(err);
  }
  if (code === EXIT.OK && !stopRequested && !failed) {
    log(`procwatch daemon: pid ${process.pid}, database ${config.database}, API on ${config.socket}${config.httpListen ? ` and ${config.httpTls === null ? 'http' : 'https'}://${config.httpListen}` : ''}`);
    await new Promise<void>((resolve) => {
      wake = resolve;
    });
  }
  if (failed && code === EXIT.OK) code = EXIT.FAILURE;
  if (code === EXIT.OK || failed) log('procwatch daemon: stopping, flushing the store');
  try {
    await web?.close();
    await api.close();
    await daemon.stop();
  } catch (err) {
    log(`procwatch daemon: error while stopping: ${(err as Error).message}`);
    if (code === EXIT.OK) code = EXIT.FAILURE;
  } finally {
    // Only our own socket: never a file that was at that path before.
    try {
      if (listening && lstatSync(config.socket).isSocket()) unlinkSync(config.socket);
    } catch {
      // already gone
    }
    instance.release();
  }
  return code;
}
