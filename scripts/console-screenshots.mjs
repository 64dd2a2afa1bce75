#!/usr/bin/env node
// Makes the README's screenshots of the web console (docs/console-*.png): a real daemon with its
// console on a free loopback port, a little activity, Debian's Chromium. Run as root after
// `npm run build`: node scripts/console-screenshots.mjs
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { DaemonProcess } from '../bench/lib/daemon.mjs';
import { launch } from '../dist/test/web/browser.js';

const root = process.cwd();
const dir = mkdtempSync(join(tmpdir(), 'pw-shots-'));
writeFileSync(join(dir, 'config.yaml'), 'daemon:\n  web:\n    listen: 127.0.0.1:0\n');
const daemon = new DaemonProcess({ root, database: join(dir, 'events.db'), socket: join(dir, 'api.sock'), config: join(dir, 'config.yaml') });
const pause = (ms) => new Promise((r) => setTimeout(r, ms));
let browser;
const activity = spawn('/bin/sh', ['-c', 'while :; do for i in 1 2 3 4 5; do /bin/true demo $i; done; ls /etc >/dev/null; sleep 0.2; done'], { stdio: 'ignore' });
try {
  await daemon.start();
  const link = await new Promise((resolve, reject) => {
    const req = request({ socketPath: daemon.socket, path: '/v1/web/login-links', method: 'POST' }, (res) => {
      let body = '';
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve(JSON.parse(body).url));
    });
    req.on('error', reject);
    req.end();
  });
  browser = await launch();
  const page = await browser.context.newPage();
  await page.goto(link);
  await pause(12_000); // the rate plot fills
  await page.screenshot({ path: 'docs/console-overview.png' });
  await page.click('text=Process tree');
  await page.locator('[data-testid=tree] .tree-row').nth(20).waitFor();
  await pause(3000);
  await page.screenshot({ path: 'docs/console-tree.png' });
  await page.click('text=Timeline');
  await pause(5000);
  await page.screenshot({ path: 'docs/console-timeline.png' });
  console.log('docs/console-overview.png, docs/console-tree.png, docs/console-timeline.png');
} finally {
  activity.kill();
  await browser?.close();
  await daemon.stop().catch(() => daemon.killNow());
  rmSync(dir, { recursive: true, force: true });
}
