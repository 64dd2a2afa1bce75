/** A real daemon (in this process) with its web console on a free loopback port, for the browser tests. */

import { WEB_DEFAULTS } from '../../src/config/web.js';
import type { DaemonConfig } from '../../src/config/daemon.js';
import { WebConsole } from '../../src/web/console.js';
import { startDaemon, type Harness } from '../api/harness.js';

export interface ConsoleHarness extends Harness {
  web: WebConsole;
  origin: string;
  token: string;
  /** A one-time login link, as `procwatch web` prints it. */
  link(): string;
}

/** `dir`: reuse that directory and its database (a restart of the daemon). */
export async function startConsole(over: Partial<DaemonConfig> = {}, dir?: string): Promise<ConsoleHarness> {
  const h = await startDaemon(over, dir === undefined ? {} : { dir });
  // The rules room as `procwatch daemon` runs it (the shipped pack, no checks): alerts and checks have their API.
  const { loadRulesSetup } = await import('../../src/rules/setup.js');
  const { RulesService } = await import('../../src/rules/service.js');
  h.daemon.rules = new RulesService(h.daemon, await loadRulesSetup(undefined), undefined, () => {});
  const token = 'test-token-0123456789abcdef';
  const web = new WebConsole({ ...WEB_DEFAULTS, listen: '127.0.0.1:0', token }, h.api);
  await web.listen();
  h.api.console = web;
  return {
    ...h, web, token, origin: web.origin,
    link: () => web.loginLink().url,
    async stop(keep = false) {
      await web.close();
      await h.stop(keep);
    },
  };
}
