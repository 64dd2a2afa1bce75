/**
 * Logins to the web console: one-time links (minted on the unix socket by `procwatch web`),
 * an optional fixed token typed into the login form, and the sessions they open. Every secret
 * is 32 random bytes; only their SHA-256 is kept, and compared in constant time.
 */

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Sessions kept at most: the oldest goes first (each login adds one; nothing else can). */
export const MAX_SESSIONS = 256;
/** Unused one-time links kept at most. */
export const MAX_LINKS = 64;
/** Wrong tokens allowed per minute on the login form; beyond, 429 until the minute is over. */
export const MAX_FAILED_LOGINS_PER_MINUTE = 10;

const digest = (secret: string): string => createHash('sha256').update(secret).digest('base64url');

export class WebSessions {
  /** Session id digest → expiry (ms). */
  private readonly sessions = new Map<string, number>();
  /** Link secret digest → expiry (ms). */
  private readonly links = new Map<string, number>();
  private readonly tokenDigest: Buffer | null;
  private failedWindow = { startMs: 0, count: 0 };

  constructor(private readonly options: { token: string | null; sessionMaxAgeMs: number; linkMaxAgeMs: number; now?: () => number }) {
    this.tokenDigest = options.token === null ? null : createHash('sha256').update(options.token).digest();
  }

  private now(): number {
    return this.options.now?.() ?? Date.now();
  }

  /** A new one-time link secret and when it expires. */
  mintLink(): { secret: string; expiresMs: number } {
    this.prune(this.links);
    while (this.links.size >= MAX_LINKS) this.links.delete(this.links.keys().next().value!);
    const secret = randomBytes(32).toString('base64url');
    const expiresMs = this.now() + this.options.linkMaxAgeMs;
    this.links.set(digest(secret), expiresMs);
    return { secret, expiresMs };
  }

  /** Uses a link (once): a new session id, or null when the link is unknown, used or expired. */
  redeemLink(secret: string): string | null {
    const d = digest(secret);
    const expires = this.links.get(d);
    this.links.delete(d);
    return expires === undefined || expires < this.now() ? null : this.open();
  }

  /**
   * Checks a token typed into the login form: a session id, 'wrong', 'off' (no token set)
   * or 'throttled' (too many wrong tokens this minute: guessing stays slow).
   */
  loginWithToken(token: string): string | 'wrong' | 'off' | 'throttled' {
    if (this.tokenDigest === null) return 'off';
    const now = this.now();
    if (now - this.failedWindow.startMs > 60_000) this.failedWindow = { startMs: now, count: 0 };
    if (this.failedWindow.count >= MAX_FAILED_LOGINS_PER_MINUTE) return 'throttled';
    if (timingSafeEqual(createHash('sha256').update(token).digest(), this.tokenDigest)) return this.open();
    this.failedWindow.count++;
    return 'wrong';
  }

  /** Whether a session id (from the cookie) is open. */
  valid(id: string | undefined): boolean {
    if (id === undefined || id.length > 100) return false;
    const expires = this.sessions.get(digest(id));
    return expires !== undefined && expires >= this.now();
  }

  close(id: string | undefined): void {
    if (id !== undefined) this.sessions.delete(digest(id));
  }

  get maxAgeSeconds(): number {
    return Math.floor(this.options.sessionMaxAgeMs / 1000);
  }

  private open(): string {
    this.prune(this.sessions);
    while (this.sessions.size >= MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
    const id = randomBytes(32).toString('base64url');
    this.sessions.set(digest(id), this.now() + this.options.sessionMaxAgeMs);
    return id;
  }

  private prune(map: Map<string, number>): void {
    const now = this.now();
    for (const [k, expires] of map) if (expires < now) map.delete(k);
  }
}
