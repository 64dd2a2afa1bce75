/**
 * Debian's Chromium driven by playwright-core, for the web console's end-to-end tests and
 * benchmark: headless, with a fresh profile, none of its background connections (this machine
 * has no network beyond loopback), and every page's dialogs, errors and CSP violations recorded.
 */

import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
/** Screenshots of the tests (gitignored). */
export const ARTIFACTS = join(process.cwd(), 'test-artifacts', 'web');

export function chromiumMissing(): string | null {
  return existsSync(CHROMIUM) ? null : `no ${CHROMIUM}: install Debian's chromium package (.ci/run does)`;
}

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

export async function launch(): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'pw-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1400, height: 900 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: 60_000,
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** What a page did that it must never do: dialogs (alert), uncaught errors, console errors, CSP violations. */
export interface Misdeeds {
  dialogs: string[];
  errors: string[];
  csp: string[];
}

export async function watched(context: BrowserContext): Promise<{ page: Page; misdeeds: Misdeeds }> {
  const page = await context.newPage();
  const misdeeds: Misdeeds = { dialogs: [], errors: [], csp: [] };
  page.on('dialog', (d) => {
    misdeeds.dialogs.push(`${d.type()}: ${d.message()}`);
    void d.dismiss();
  });
  page.on('pageerror', (e) => misdeeds.errors.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') misdeeds.errors.push(`console error: ${m.text()}`);
  });
  // Injected by the browser itself (not subject to the page's CSP): every violation is reported to the test.
  await page.exposeFunction('__pwCsp', (what: string) => void misdeeds.csp.push(what));
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      (window as unknown as { __pwCsp(s: string): void }).__pwCsp(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  return { page, misdeeds };
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: false });
  return path;
}
