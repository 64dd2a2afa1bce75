/** `procwatch daemon`: the event source, live table, store and API in one process. */

import { Command, Option } from 'commander';
import { InputError } from '../errors.js';
import { loadDaemonConfig, type SourceSetting } from '../config/daemon.js';
import { UserDb } from '../procfs/index.js';
import { EXIT } from './exit-codes.js';

interface DaemonOptions {
  config?: string;
  source?: SourceSetting;
  database?: string;
  socket?: string;
}

export function daemonCommand(): Command {
  return new Command('daemon')
    .description('run the event source, live process table, SQLite store and local API (README: "Daemon")')
    .option('-c, --config <file>', 'YAML config; the daemon section is read (defaults are built in)')
    .addOption(new Option('-s, --source <source>', 'event source (overrides the config): auto prefers eBPF, then netlink, then polling /proc').choices(['auto', 'ebpf', 'netlink', 'poll']))
    .option('--database <path>', 'SQLite database file (default /var/lib/procwatch/events.db)')
    .option('--socket <path>', 'API unix socket (default /run/procwatch/procwatch.sock)')
    .action(async (options: DaemonOptions) => {
      process.exitCode = await runDaemon(options);
    });
}

async function runDaemon(options: DaemonOptions): Promise<number> {
  const config = await loadDaemonConfig(options.config);
  if (options.source !== undefined) config.source = options.source;
  if (options.database !== undefined) config.database = options.database;
  if (options.socket !== undefined) config.socket = options.socket;
  let group: number | null = null;
  if (config.socketGroup !== null) {
    const found = /^\d+$/.test(config.socketGroup) ? Number(config.socketGroup) : new UserDb().group.byName.get(config.socketGroup);
    if (found === undefined) throw new InputError(`daemon.socket_group: unknown group '${config.socketGroup}'`);
    group = found;
  }
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  const { mkdirSync } = await import('node:fs');
  const { dirname } = await import('node:path');
  const { Daemon } = await import('../daemon/daemon.js');
  const { ApiServer } = await import('../api/server.js');
  const { StoreError } = await import('../store/index.js');
  const { claimInstance } = await import('../daemon/instance.js');
  let daemon;
  let instance;
  try {
    mkdirSync(dirname(config.database), { recursive: true });
    instance = await claimInstance(config.database, config.socket); // before anything is loaded
  } catch (err) {
    log(`procwatch daemon: refusing to start: ${(err as Error).message}`);
    return EXIT.FAILURE;
  }
  try {
    daemon = await Daemon.start(config, log);
  } catch (err) {
    instance.release();
    log(`procwatch daemon: refusing to start: ${(err as Error).message}`);
    return err instanceof StoreError || err instanceof InputError ? EXIT.USAGE : EXIT.FAILURE;
  }
  const api = new ApiServer(daemon);
  try {
    await api.listenUnix(config.socket, group);
    if (config.httpListen !== null && config.httpToken !== null) await api.listenTcp(config.httpListen, config.httpToken);
  } catch (err) {
    log(`procwatch daemon: refusing to start: ${(err as Error).message}`);
    await daemon.stop();
    await api.close();
    instance.release();
    return EXIT.FAILURE;
  }
  log(`procwatch daemon: pid ${process.pid}, database ${config.database}, API on ${config.socket}${config.httpListen ? ` and http://${config.httpListen}` : ''}`);
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  log('procwatch daemon: stopping, flushing the store');
  await api.close();
  await daemon.stop();
  const { unlinkSync } = await import('node:fs');
  try { unlinkSync(config.socket); } catch { /* already gone */ }
  instance.release();
  return EXIT.OK;
}
