/** `procwatch web`: a one-time login link to the daemon's web console (README: "Web console"). */

import { Command } from './commander.js';
import { apiGet } from '../api/client.js';
import { print, printJson, withSocket } from './common.js';

interface WebOptions {
  socket: string;
  json?: boolean;
}

export function webCommand(): Command {
  return withSocket(new Command('web'))
    .description('print a one-time login link to the web console (the daemon serves it when daemon.web.listen is set)')
    .option('--json', 'print {"url", "expiresAt"} as JSON')
    .addHelpText('after', '\nThe link logs one browser in once (an HttpOnly session cookie); it expires unused after daemon.web.link_max_age (10m).\n' +
      'Anyone who may open the daemon socket may log in: keep the link to yourself.')
    .action(async (options: WebOptions) => {
      const link = await apiGet<{ url: string; expiresAt: string }>(options.socket, '/v1/web/login-links', {}, { method: 'POST' });
      if (options.json) return printJson(link);
      print(`${link.url}\n`);
      process.stderr.write(`procwatch: a one-time link, valid until ${link.expiresAt}: open it in a browser on this host\n`);
    });
}
