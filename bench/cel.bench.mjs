/**
 * The two CEL libraries on npm, on our own events: compile time per condition and evaluation
 * time per event, for the kind of conditions the shipped rule pack has. The events are real:
 * an exec and an exit for every process in /proc now, with their table records, evaluated
 * through the same lazy scope the daemon uses (src/rules/scope.ts). Picks the library for
 * src/rules/language.ts (issue 11); run with `npm run bench -- cel`.
 */

import { Environment } from '@marcbachmann/cel-js';
import { celEnv, parse, plan, isCelError } from '@bufbuild/cel';
import { performance } from 'node:perf_hooks';
import { loadavg } from 'node:os';
import { liveRecords } from './lib/live-records.mjs';

const CONDITIONS = [
  'event.kind == "exec" && (process.exe.startsWith("/tmp/") || process.exe.startsWith("/dev/shm/") || process.exe.startsWith("/var/tmp/"))',
  'event.kind == "exec" && process.name in shells && ancestors.exists(a, a.name in web_servers)',
  'event.kind == "exit" && process.unit != "" && (event.signal != 0 || event.exitCode > 0)',
  'event.kind == "uid" && event.euid == 0 && !(parent.name in escalation)',
  'process.egid == 0 && process.euid != 0',
  'event.kind == "exec" && process.argv.exists(a, a.matches("^-[ie]$")) && process.name in shells',
  'event.kind == "connect" && event.remotePort == 4444',
  'event.kind == "exec" && process.exeDeleted',
];

const LISTS = {
  shells: ['sh', 'bash', 'dash', 'zsh', 'ksh', 'fish', 'busybox'],
  web_servers: ['nginx', 'apache2', 'httpd', 'lighttpd', 'caddy'],
  escalation: ['sudo', 'su', 'pkexec', 'doas'],
};

function time(fn, n) {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) fn(i);
  return (performance.now() - t0) / n;
}

export async function run({ root }) {
  const { buildScopeClass, PROCESS_FIELDS, EVENT_FIELDS } = await import(`${root}/dist/src/rules/scope.js`);
  const plain = (v, fields) => Object.fromEntries(Object.keys(fields).map((k) => [k, v[k]]));
  const { RuleLanguage } = await import(`${root}/dist/src/rules/language.js`);
  // One exec and one exit per live process, as the table would hold them.
  const { byKey, ctx, events } = await liveRecords(root);
  const Scope = buildScopeClass(LISTS, new Map());
  const scopes = events.map((event) => new Scope({ event, record: byKey.get(event.key), ctx }));
  const freshScopes = () => events.map((event) => new Scope({ event, record: byKey.get(event.key), ctx }));

  // The untyped engines take plain objects (@bufbuild/cel refuses class instances): the same values, copied once per event.
  class PlainView {
    constructor(s) { this.s = s; }
    get event() { return (this.e ??= plain(this.s.event, EVENT_FIELDS)); }
    get process() { return (this.p ??= plain(this.s.process, PROCESS_FIELDS)); }
    get parent() { return (this.q ??= plain(this.s.parent, PROCESS_FIELDS)); }
    get ancestors() { return (this.a ??= this.s.ancestors.map((x) => plain(x, PROCESS_FIELDS))); }
  }
  for (const [k, v] of Object.entries(LISTS)) PlainView.prototype[k] = v;
  const mb = new Environment({ unlistedVariablesAreDyn: true });
  const bbEnv = celEnv({});
  const language = new RuleLanguage(Object.keys(LISTS), []);
  const engines = {
    '@marcbachmann/cel-js, type-checked (procwatch)': (text) => language.compile(text).condition,
    '@marcbachmann/cel-js, untyped': (text) => { const f = mb.parse(text); return (s) => f(s.plain ?? new PlainView(s)); },
    '@bufbuild/cel': (text) => { const f = plan(bbEnv, parse(text)); return (s) => { const r = f(s.plain ?? new PlainView(s)); if (isCelError(r)) throw r; return r; }; },
  };
  const compileRounds = 200;
  const evalRounds = Math.max(3, Math.ceil(200_000 / events.length));
  console.log(`${events.length} events (an exec and an exit per live process), ${CONDITIONS.length} conditions; load ${loadavg().map((l) => l.toFixed(2)).join(' ')}; ${new Date().toISOString()}`);
  const results = {};
  for (const [name, compile] of Object.entries(engines)) {
    // Same answers from both, on every event.
    const compiled = CONDITIONS.map(compile);
    results[name] = { answers: compiled.map((f) => scopes.map((s) => f(s))) };
    const compileUs = time((i) => compile(CONDITIONS[i % CONDITIONS.length]), compileRounds) * 1000;
    // Warm up, then measure on fresh scopes each round (the daemon builds one per event).
    for (const f of compiled) for (const s of scopes) f(s);
    const perRule = compiled.map((f) => {
      let total = 0;
      for (let round = 0; round < evalRounds; round++) {
        // Untyped engines get plain objects made before the clock starts (their copies are not
        // timed: the comparison favours them); procwatch's lazy scope is built inside the timing.
        const batch = freshScopes();
        if (!name.includes('procwatch')) for (const b of batch) { const v = new PlainView(b); void v.event; void v.process; void v.parent; void v.ancestors; b.plain = v; }
        const t0 = performance.now();
        for (const s of batch) f(s);
        total += performance.now() - t0;
      }
      return (total * 1000) / (evalRounds * events.length);
    });
    results[name].compileUs = compileUs;
    results[name].perRule = perRule;
  }
  const names = Object.keys(engines);
  const [a] = names;
  const b = names[names.length - 1];
  for (const n of names) for (let i = 0; i < CONDITIONS.length; i++) {
    if (JSON.stringify(results[a].answers[i]) !== JSON.stringify(results[n].answers[i])) throw new Error(`${n} disagrees on condition ${i + 1}`);
  }
  console.log('\n| condition | ' + names.map((n) => `${n} µs/event`).join(' | ') + ` | ${b} ÷ ${a} |`);
  console.log('|---|' + names.map(() => '---|').join('') + '---|');
  CONDITIONS.forEach((c, i) => {
    const cells = names.map((n) => results[n].perRule[i].toFixed(3));
    console.log(`| ${i + 1}. \`${c.length > 70 ? `${c.slice(0, 67)}...` : c}\` | ${cells.join(' | ')} | ${(results[b].perRule[i] / results[a].perRule[i]).toFixed(1)}× |`);
  });
  const mean = (xs) => xs.reduce((s, x) => s + x, 0) / xs.length;
  console.log(`| mean | ${names.map((n) => mean(results[n].perRule).toFixed(3)).join(' | ')} | ${(mean(results[b].perRule) / mean(results[a].perRule)).toFixed(1)}× |`);
  console.log(`| compile (parse + check/plan), µs per condition | ${names.map((n) => results[n].compileUs.toFixed(1)).join(' | ')} | ${(results[b].compileUs / results[a].compileUs).toFixed(1)}× |`);
  return true;
}
