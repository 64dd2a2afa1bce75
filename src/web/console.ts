/**
 * The web console's listener (issue 13): loopback TCP, served by the daemon itself. It logs
 * people in (one-time link or token → an HttpOnly, SameSite=Strict session cookie), serves the
 * built page, and hands every /v1 request of a logged-in browser to the same API handler the
 * unix socket uses: the console reads exactly what outside users read, and only reads.
 * Nothing but the login page and its stylesheet is served without a session.
 */

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { WebConfig } from '../config/web.js';
import { WebAssets, type Asset } from './assets.js';
import { WebSessions } from './sessions.js';

/** What the console needs of the API: its handler for a request already authenticated. */
export interface ApiHandler {
  serveAuthenticated(req: IncomingMessage, res: ServerResponse): void;
}

export const SESSION_COOKIE = 'procwatch_session';

/**
 * No inline script or style, nothing from elsewhere, no framing, and Trusted Types with no
 * policy: a string can never become markup (innerHTML and the like throw), so text from
 * processes can only ever be text.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self'", "connect-src 'self'", "font-src 'self'",
  "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'", "require-trusted-types-for 'script'", "trusted-types 'none'",
].join('; ');

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  // same-origin, not no-referrer: with no-referrer a form POST's Origin is 'null' and could not be checked.
  'referrer-policy': 'same-origin',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

/** Page paths of the single-page console (each serves index.html; the page routes itself). */
const PAGE = /^\/(?:|overview|tree|timeline|alerts|checks|process\/[^/]+)$/;
/** Open connections to the console at most (several browsers' worth). */
export const MAX_CONNECTIONS = 64;
/** A login form is small: anything longer is not one. */
const MAX_FORM_BYTES = 4096;

export class WebConsole {
  readonly sessions: WebSessions;
  private readonly assets: WebAssets;
  private server: Server | null = null;
  private port = 0;

  constructor(private readonly config: WebConfig & { listen: string }, private readonly api: ApiHandler, assetDir?: string) {
    this.assets = new WebAssets(assetDir);
    this.sessions = new WebSessions(config);
  }

  async listen(): Promise<void> {
    const colon = this.config.listen.lastIndexOf(':');
    const host = this.config.listen.slice(0, colon).replace(/^\[|\]$/g, '');
    const server = createServer((req, res) => this.handle(req, res));
    server.on('clientError', (_err, socket: Socket) => socket.destroy());
    // A browser opens a handful of connections (six at most per host, two streams among them);
    // more is not a browser. Slow or idle senders of a request are cut.
    server.maxConnections = MAX_CONNECTIONS;
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(Number(this.config.listen.slice(colon + 1)), host, () => resolve());
    });
    this.server = server;
    const address = server.address();
    this.port = address !== null && typeof address === 'object' ? address.port : 0;
  }

  /** The console's address with the port actually bound: http://127.0.0.1:PORT */
  get origin(): string {
    const host = this.config.listen.slice(0, this.config.listen.lastIndexOf(':'));
    return `http://${host}:${this.port}`;
  }

  /** A one-time login link (what `procwatch web` prints). */
  loginLink(): { url: string; expiresAt: string } {
    const { secret, expiresMs } = this.sessions.mintLink();
    return { url: `${this.origin}/login?t=${secret}`, expiresAt: new Date(expiresMs).toISOString() };
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (server === null) return;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }

  /** Host names this listener answers to: a page of another name (DNS rebinding) gets nothing. */
  private hostAllowed(host: string | undefined): boolean {
    if (host === undefined) return false;
    const port = String(this.port);
    const colon = host.lastIndexOf(':');
    if (colon < 0 || host.slice(colon + 1) !== port) return false;
    const name = host.slice(0, colon);
    return name === 'localhost' || name === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
    try {
      if (!this.hostAllowed(req.headers.host)) return this.plain(res, 421, 'misdirected request: open the console by its loopback address');
      const target = req.url ?? '/';
      if (!target.startsWith('/')) return this.plain(res, 400, 'bad request target');
      const url = new URL(`http://console${target}`);
      const path = url.pathname;
      if (path === '/login') return this.login(req, res, url);
      // Browsers ask for it unprompted; nothing, rather than an error in the console.
      if (path === '/favicon.ico') {
        res.writeHead(204, { 'cache-control': 'public, max-age=86400' });
        return void res.end();
      }
      if (path === this.assets.loginCss && req.method === 'GET') return this.asset(req, res, this.assets.get(path)!);
      const session = cookie(req, SESSION_COOKIE);
      const authenticated = this.sessions.valid(session);
      if (path === '/logout') {
        if (req.method !== 'POST') return this.plain(res, 405, 'log out with POST');
        if (!this.sameOrigin(req)) return this.plain(res, 403, 'cross-site request refused');
        this.sessions.close(session);
        res.setHeader('set-cookie', `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`);
        return this.redirect(res, '/login');
      }
      if (path.startsWith('/v1/') || path === '/metrics') {
        if (!authenticated) return this.json(res, 401, { error: 'not logged in: open the link `procwatch web` prints, or log in at /login' });
        if (req.method !== 'GET' && req.method !== 'HEAD') return this.json(res, 405, { error: 'the console is read-only: GET only' });
        res.setHeader('cache-control', 'no-store');
        return this.api.serveAuthenticated(req, res);
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') return this.plain(res, 405, 'GET only');
      if (!authenticated) {
        if (PAGE.test(path)) return this.redirect(res, '/login');
        return this.plain(res, 401, 'not logged in');
      }
      if (PAGE.test(path) || path === '/index.html') return this.asset(req, res, this.assets.index);
      const asset = this.assets.get(path);
      if (asset === undefined) return this.plain(res, 404, 'not found');
      return this.asset(req, res, asset);
    } catch (err) {
      if (!res.headersSent) this.plain(res, 400, `bad request: ${(err as Error).message.replace(/\s+/g, ' ').slice(0, 200)}`);
      else res.destroy();
    }
  }

  /** GET /login?t=LINK (one-time link), GET /login (the form), POST /login (the token). */
  private login(req: IncomingMessage, res: ServerResponse, url: URL): void {
    if (req.method === 'GET' || req.method === 'HEAD') {
      const link = url.searchParams.get('t');
      if (link === null) return this.loginPage(res, 200, null);
      const session = this.sessions.redeemLink(link);
      if (session === null) return this.loginPage(res, 401, 'This login link is unknown, already used or expired. Run procwatch web for a new one.');
      return this.startSession(res, session);
    }
    if (req.method !== 'POST') return this.plain(res, 405, 'GET or POST only');
    if (!this.sameOrigin(req)) return this.plain(res, 403, 'cross-site request refused');
    let body = '';
    let tooLong = false;
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
      if (body.length > MAX_FORM_BYTES) {
        tooLong = true;
        req.destroy();
      }
    });
    req.on('end', () => {
      if (tooLong) return;
      const token = new URLSearchParams(body).get('token') ?? '';
      const result = this.sessions.loginWithToken(token);
      if (result === 'off') return this.loginPage(res, 403, 'No login token is configured (daemon.web.token): log in with the link procwatch web prints.');
      if (result === 'throttled') {
        res.setHeader('retry-after', '60');
        return this.loginPage(res, 429, 'Too many wrong tokens: wait a minute.');
      }
      if (result === 'wrong') return this.loginPage(res, 401, 'Wrong token.');
      return this.startSession(res, result);
    });
  }

  private startSession(res: ServerResponse, session: string): void {
    res.setHeader('set-cookie', `${SESSION_COOKIE}=${session}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${this.sessions.maxAgeSeconds}`);
    this.redirect(res, '/');
  }

  /** A POST from a page of this console (Origin, when the browser sends one, must be ours). */
  private sameOrigin(req: IncomingMessage): boolean {
    const site = req.headers['sec-fetch-site'];
    if (site !== undefined && site !== 'same-origin' && site !== 'none') return false;
    const origin = req.headers.origin;
    if (origin === undefined) return true;
    return origin.startsWith('http://') && this.hostAllowed(origin.slice('http://'.length));
  }

  private loginPage(res: ServerResponse, status: number, message: string | null): void {
    const form = `<form method="post" action="/login"><label>Token <input type="password" name="token" autocomplete="current-password" autofocus></label> <button type="submit">Log in</button></form>`;
    const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>procwatch: log in</title><link rel="stylesheet" href="${this.assets.loginCss}"></head>` +
      `<body><main><h1>procwatch</h1>${message === null ? '' : `<p class="error" role="alert">${escapeHtml(message)}</p>`}` +
      '<p>Open the one-time link that <code>procwatch web</code> prints, or type the console token (<code>daemon.web.token</code>).</p>' +
      `${form}</main></body></html>`;
    res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(html) });
    res.end(html);
  }

  private asset(req: IncomingMessage, res: ServerResponse, asset: Asset): void {
    const headers: Record<string, string> = { 'content-type': asset.type, 'cache-control': asset.cacheControl, etag: asset.etag, vary: 'accept-encoding' };
    if (req.headers['if-none-match'] === asset.etag) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    const gzip = asset.gzip !== null && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    const body = gzip ? asset.gzip! : asset.body;
    res.writeHead(200, { ...headers, ...(gzip ? { 'content-encoding': 'gzip' } : {}), 'content-length': String(body.length) });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  private redirect(res: ServerResponse, to: string): void {
    res.writeHead(303, { location: to, 'cache-control': 'no-store', 'content-length': '0' });
    res.end();
  }

  private plain(res: ServerResponse, status: number, text: string): void {
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  private json(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }
}

function cookie(req: IncomingMessage, name: string): string | undefined {
  const header = req.headers.cookie;
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
