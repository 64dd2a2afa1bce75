/** Query-string validation: unknown or malformed parameters are a 400 with one clear line. */

import { parseDuration, parseSize, parseTimePoint } from '../config/units.js';

export class BadRequest extends Error {
  override readonly name = 'BadRequest';
  constructor(message: string, readonly status = 400) {
    // One line whatever the client sent: values are quoted back, control characters are not.
    super(message.replace(/[\x00-\x1f\x7f]/g, '?'));
  }
}

export const MAX_LIMIT = 10_000;

/** Pids are positive 32-bit integers (the kernel's own limit, pid_max, is at most 2^22). */
export const MAX_PID = 2 ** 31 - 1;

export class Params {
  constructor(private readonly query: URLSearchParams, allowed: readonly string[]) {
    for (const key of new Set(query.keys())) {
      if (!allowed.includes(key)) throw new BadRequest(`unknown parameter '${key}' (known: ${allowed.join(', ') || 'none'})`);
      if (query.getAll(key).length > 1) throw new BadRequest(`parameter '${key}' given more than once`);
    }
  }

  string(key: string): string | undefined {
    const v = this.query.get(key);
    if (v === null) return undefined;
    if (v === '' || v.length > 4096) throw new BadRequest(`parameter '${key}' must be 1 to 4096 characters`);
    return v;
  }

  integer(key: string, min: number, max: number): number | undefined {
    const v = this.string(key);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < min || n > max) throw new BadRequest(`parameter '${key}' must be an integer from ${min} to ${max}, got '${v}'`);
    return n;
  }

  time(key: string): number | undefined {
    const v = this.string(key);
    if (v === undefined) return undefined;
    const t = parseTimePoint(v);
    if (t === null) throw new BadRequest(`parameter '${key}' must be a time: 10m, 2h, 1d (ago), an ISO date, or epoch ms; got '${v}'`);
    if (t === 'out of range') throw new BadRequest(`parameter '${key}' is out of range: '${v.length > 40 ? `${v.slice(0, 40)}…` : v}' is before 1970 or beyond the year 275760`);
    return t;
  }

  /** A duration (`500ms`, `2s`, `1h`; a bare number is seconds), in seconds. */
  seconds(key: string): number | undefined {
    const v = this.string(key);
    if (v === undefined) return undefined;
    const ms = parseDuration(v);
    if (ms === null) throw new BadRequest(`parameter '${key}' must be a duration such as 500ms, 2s or 1h, got '${v.slice(0, 40)}'`);
    return ms / 1000;
  }

  /** A size (`512KiB`, `1GB`, bytes). */
  size(key: string): number | undefined {
    const v = this.string(key);
    if (v === undefined) return undefined;
    const n = parseSize(v);
    if (n === null || n > Number.MAX_SAFE_INTEGER) throw new BadRequest(`parameter '${key}' must be a size such as 100MiB, 1GB or 4096, got '${v.slice(0, 40)}'`);
    return n;
  }

  boolean(key: string): boolean {
    const v = this.string(key);
    if (v === undefined) return false;
    if (v === '1' || v === 'true') return true;
    if (v === '0' || v === 'false') return false;
    throw new BadRequest(`parameter '${key}' must be true or false, got '${v}'`);
  }

  list(key: string, allowed: readonly string[]): string[] | undefined {
    const v = this.string(key);
    if (v === undefined) return undefined;
    const items = v.split(',');
    for (const item of items) if (!allowed.includes(item)) throw new BadRequest(`parameter '${key}': unknown value '${item}' (known: ${allowed.join(', ')})`);
    return items;
  }

  limit(defaultLimit: number, max: number = MAX_LIMIT): number {
    return this.integer('limit', 1, max) ?? defaultLimit;
  }

  pid(key: string, min = 1): number | undefined {
    return this.integer(key, min, MAX_PID);
  }

  /** A boot id as /proc/sys/kernel/random/boot_id gives it (a UUID). */
  boot(): string | undefined {
    const v = this.string('boot');
    if (v !== undefined && !/^[0-9A-Za-z-]{1,64}$/.test(v)) throw new BadRequest(`parameter 'boot' must be a boot id such as the one /v1/health shows, got '${v.slice(0, 64)}'`);
    return v;
  }
}
