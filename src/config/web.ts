/**
 * The `daemon.web` section (issue 13): the web console, off unless `listen` is set. It is
 * served by the daemon itself on loopback TCP (README: "Web console").
 */

import { isPlain, type ConfigReader } from './reader.js';

export interface WebConfig {
  /** Loopback `host:port` (port 0: any free port, as tests use); null: the console is off. */
  listen: string | null;
  /** A fixed login token for the login form (at least 16 characters); null: one-time links only. */
  token: string | null;
  /** How long a login lasts (the cookie's Max-Age and the session's expiry). */
  sessionMaxAgeMs: number;
  /** How long a one-time link from `procwatch web` stays valid if unused. */
  linkMaxAgeMs: number;
}

export const WEB_DEFAULTS: WebConfig = { listen: null, token: null, sessionMaxAgeMs: 12 * 3_600_000, linkMaxAgeMs: 10 * 60_000 };

/** A loopback address and port: the console refuses to listen anywhere else (no TLS of its own). */
export const LOOPBACK_LISTEN = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|localhost|\[::1\]):(\d{1,5})$/;

export function parseWebConfig(r: ConfigReader, v: unknown, duration: (v: unknown, path: string) => number): WebConfig {
  if (!isPlain(v)) r.fail('daemon.web', 'expected a mapping with listen (and optionally token, session_max_age, link_max_age)');
  r.keys(v, 'daemon.web', ['listen', 'token', 'session_max_age', 'link_max_age']);
  const config = { ...WEB_DEFAULTS };
  const listen = r.string(v.listen, 'daemon.web.listen');
  const m = LOOPBACK_LISTEN.exec(listen);
  if (m === null || Number(m[2]) > 65535) r.fail('daemon.web.listen', `expected a loopback address and port such as 127.0.0.1:9466, got '${listen}'`);
  config.listen = listen;
  if (v.token !== undefined) {
    const token = r.string(v.token, 'daemon.web.token');
    if (token.length < 16) r.fail('daemon.web.token', 'expected at least 16 characters');
    config.token = token;
  }
  const bounded = (key: string, min: number, max: number): number => {
    const ms = duration(v[key], `daemon.web.${key}`);
    if (ms < min || ms > max) r.fail(`daemon.web.${key}`, `expected between ${min / 1000} s and ${max / 86_400_000} days`);
    return ms;
  };
  if (v.session_max_age !== undefined) config.sessionMaxAgeMs = bounded('session_max_age', 60_000, 30 * 86_400_000);
  if (v.link_max_age !== undefined) config.linkMaxAgeMs = bounded('link_max_age', 10_000, 86_400_000);
  return config;
}
