/**
 * One alert: a rule that matched an event, or a continuous check that started failing.
 * Field names are a public interface (README: "Alert fields"): the store, `/v1/alerts`,
 * `procwatch alerts --json`, webhooks, exec's stdin and Alertmanager labels all use them.
 */

import type { Severity } from '../rules/ruleset.js';

export type AlertSource = 'rule' | 'check';

/** Enough of the process for a person to act on, as it was when the alert fired. */
export interface AlertProcess {
  key: string;
  pid: number;
  ppid: number | null;
  comm: string | null;
  exe: string | null;
  argv: string[] | null;
  user: string | null;
  uid: number | null;
  unit: string | null;
  container: string | null;
  containerRuntime: string | null;
  /** Start time in clock ticks since boot: with the pid, the instance `kill` checks before it signals. */
  startTicks: number | null;
}

export interface Alert {
  /** Storage order (the store's row id); 0 until stored. */
  id: number;
  /** `rule` or `check`. */
  source: AlertSource;
  /** The rule's or the check's name. */
  name: string;
  severity: Severity;
  /** The rule's output template filled in, or the check's verdict. Process-controlled text: escape it when showing it. */
  message: string;
  /** ISO wall time when it fired. */
  time: string;
  /** `firing`; a check's alert becomes `resolved` when the check passes again (rules never resolve). */
  state: 'firing' | 'resolved';
  resolvedTime: string | null;
  /** The process instance key (`pid:startTicks`), when the alert is about one process. */
  key: string | null;
  process: AlertProcess | null;
  /** The event that fired it (kind and seq of this daemon run), when a rule fired. */
  eventKind: string | null;
  eventSeq: number | null;
  /** `monitor` or `enforce` (a rule's mode); checks are `monitor`. */
  mode: 'monitor' | 'enforce';
  /** The actions it was handed to. */
  actions: string[];
  /** Further matches of the same rule that this alert stands for (noise control; README "Noise control"). */
  suppressed: number;
  /** The rule's tags. */
  tags: string[];
  bootId: string;
  /** The source `file:line` of the rule, or `checks.NAME` of the check. */
  origin: string;
}
