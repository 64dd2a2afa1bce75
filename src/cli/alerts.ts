/** `procwatch alerts`, `procwatch reload`, `procwatch baseline show`: the rules room through the daemon's API. */

import { Command } from './commander.js';
import { apiGet, apiStream } from '../api/client.js';
import { InputError } from '../errors.js';
import type { Alert } from '../alerts/types.js';
import { alertLine } from '../report/alerts.js';
import { escapeText } from '../report/text.js';
import { print, printJson, withSocket } from './common.js';

const OPTION_NAMES: Record<string, string> = { since: '--since', until: '--until', name: '--name', source: '--source', limit: '--limit', group: 'GROUP', rule: '--rule' };
const names = { optionNames: OPTION_NAMES };

interface AlertsOptions {
  socket: string;
  since: string;
  until?: string;
  name?: string;
  source?: string;
  limit?: string;
  follow?: boolean;
  json?: boolean;
}

export function alertsCommand(): Command {
  return withSocket(new Command('alerts'))
    .description('alerts raised by rules and continuous checks (stored); --follow keeps streaming new ones and resolutions')
    .option('--since <time>', 'from: 10m, 2h, 1d (ago), an ISO date, or epoch ms', '1d')
    .option('--until <time>', 'to (same forms)')
    .option('--name <name>', 'only this rule or check')
    .option('--source <source>', 'only rule or check alerts')
    .option('--limit <n>', 'the newest this many (default 1000, max 10000)')
    .option('-f, --follow', 'keep streaming until interrupted')
    .option('--json', 'one JSON object per line')
    .action(async (o: AlertsOptions) => {
      const query = { since: o.since, until: o.until, name: o.name, source: o.source, limit: o.limit };
      const show = (a: Record<string, unknown>): void => {
        if (a.kind === 'stream_closed') process.stderr.write(`procwatch: the daemon ended the stream: ${escapeText(String(a.reason))}\n`);
        else print(`${o.json ? JSON.stringify(a) : alertLine(a as unknown as Alert)}\n`);
      };
      if (!o.follow) {
        const { alerts } = await apiGet<{ alerts: Record<string, unknown>[] }>(o.socket, '/v1/alerts', query, names);
        alerts.forEach(show);
        return;
      }
      const abort = new AbortController();
      process.once('SIGINT', () => abort.abort());
      process.once('SIGTERM', () => abort.abort());
      await apiStream(o.socket, '/v1/alerts', { ...query, follow: true }, show, abort.signal, names);
    });
}

interface ReloadStatus { generation: number; time: string; ok: boolean; error: string | null }

export function reloadCommand(): Command {
  return withSocket(new Command('reload'))
    .description('make the daemon re-read its rules, alerts and checks (as SIGHUP does); a file with an error is refused whole and the running rules stay (exit 2 with file:line)')
    .option('--timeout <seconds>', 'how long to wait for the daemon to say how it went', '30')
    .action(async (o: { socket: string; timeout: string }) => {
      const seconds = Number(o.timeout);
      if (!(seconds > 0 && seconds <= 3600)) throw new InputError(`--timeout must be 1 to 3600 seconds, got '${o.timeout}'`);
      const { pid } = await apiGet<{ pid: number }>(o.socket, '/v1/health');
      const before = (await apiGet<{ reload: ReloadStatus }>(o.socket, '/v1/rules')).reload;
      try {
        process.kill(pid, 'SIGHUP');
      } catch (err) {
        throw new InputError(`cannot signal the daemon (pid ${pid}): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}; run as its user or root`);
      }
      const until = Date.now() + seconds * 1000;
      for (;;) {
        const now = (await apiGet<{ reload: ReloadStatus; rules: Array<{ enabled: boolean }> }>(o.socket, '/v1/rules'));
        if (now.reload.generation > before.generation) {
          if (!now.reload.ok) throw new InputError(`reload refused, the running rules stay: ${now.reload.error ?? 'unknown error'}`);
          print(`reloaded: ${now.rules.filter((r) => r.enabled).length} rule(s) enabled of ${now.rules.length}\n`);
          return;
        }
        if (Date.now() > until) throw Object.assign(new Error(`the daemon did not finish reloading within ${seconds}s`), { name: 'DaemonUnavailable' });
        await new Promise((r) => setTimeout(r, 100));
      }
    });
}

interface BaselineView { rule: string; learn: string; groupField: string; group: string; firstSeen: string; learningUntil: string; learning: boolean; items: string[]; itemCount: number }

export function baselineCommand(): Command {
  const baseline = new Command('baseline').description('what baseline rules have learnt (README: "Baseline rules")');
  withSocket(baseline.command('show'))
    .description('what is known for a group (a unit, a container, a parent program), and whether it is still being learnt')
    .argument('[group]', 'the group (e.g. nginx.service); all groups when left out')
    .option('--rule <name>', 'only this baseline rule')
    .option('--limit <n>', 'items shown per group (default 1000)')
    .option('--json', 'JSON')
    .action(async (group: string | undefined, o: { socket: string; rule?: string; limit?: string; json?: boolean }) => {
      const { baselines } = await apiGet<{ baselines: BaselineView[] }>(o.socket, '/v1/baseline', { group, rule: o.rule, limit: o.limit }, names);
      if (o.json) { printJson({ baselines }); return; }
      if (baselines.length === 0) {
        process.stderr.write(`procwatch: nothing learnt${group === undefined ? '' : ` for ${escapeText(group)}`} (no baseline rule saw it)\n`);
        process.exitCode = 1;
        return;
      }
      for (const b of baselines) {
        const state = b.learning ? `LEARNING until ${b.learningUntil} (new items are remembered, not alerted)` : `learnt (since ${b.learningUntil}: a new item alerts)`;
        print(`${escapeText(b.rule)} [${b.learn} per ${b.groupField}] ${escapeText(b.group)}: first seen ${b.firstSeen}; ${state}; ${b.itemCount} known item(s)\n`);
        for (const item of b.items) print(`  ${escapeText(item)}\n`);
        if (b.itemCount > b.items.length) print(`  ... ${b.itemCount - b.items.length} more\n`);
      }
    });
  return baseline;
}
