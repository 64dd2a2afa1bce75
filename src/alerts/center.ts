/**
 * Where every alert goes: stored, counted for /metrics, shown to followers of /v1/alerts,
 * and handed to its actions. Public interface of alerts/ for the daemon.
 */

import type { Alert } from './types.js';
import type { AlertStore } from './store.js';

export type AlertListener = (alert: Alert) => void;

/** What delivers alerts to actions (src/alerts/dispatcher.ts). */
export interface AlertDelivery {
  deliver(alert: Alert): void;
}

export class AlertCenter {
  private readonly listeners = new Set<AlertListener>();
  /** `name\0severity` → alerts fired (resolutions are not counted). */
  readonly totals = new Map<string, { name: string; severity: string; count: number }>();

  constructor(private readonly store: AlertStore | null, private delivery: AlertDelivery | null = null) {}

  setDelivery(delivery: AlertDelivery): void {
    this.delivery = delivery;
  }

  /** A new alert (or a check's alert that resolved, when `resolvedOf` is set). */
  raise(alert: Alert): void {
    this.store?.insert(alert);
    const id = `${alert.name}\0${alert.severity}`;
    const t = this.totals.get(id);
    if (t === undefined) this.totals.set(id, { name: alert.name, severity: alert.severity, count: 1 });
    else t.count++;
    this.publish(alert);
  }

  /** A firing alert resolved (a check passes again): the stored record is updated, followers and actions told. */
  resolve(alert: Alert): void {
    this.store?.resolve(alert);
    this.publish(alert);
  }

  private publish(alert: Alert): void {
    for (const listener of this.listeners) listener(alert);
    this.delivery?.deliver(alert);
  }

  on(listener: AlertListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
