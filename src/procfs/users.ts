/** Name ↔ id lookups from passwd(5) and group(5) files. The directory is a parameter for tests. */

import { readFileSync } from 'node:fs';

export interface IdNames {
  byName: Map<string, number>;
  byId: Map<number, string>;
}

export function parseIdFile(text: string): IdNames {
  const byName = new Map<string, number>();
  const byId = new Map<number, string>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const [name, , idText] = line.split(':');
    const id = Number(idText);
    if (name === undefined || name === '' || !Number.isInteger(id)) continue;
    byName.set(name, id);
    if (!byId.has(id)) byId.set(id, name);
  }
  return { byName, byId };
}

export class UserDb {
  private users: IdNames | null = null;
  private groups: IdNames | null = null;

  constructor(readonly etcRoot: string = '/etc') {}

  private load(file: string): IdNames {
    try {
      return parseIdFile(readFileSync(`${this.etcRoot}/${file}`, 'utf8'));
    } catch {
      return { byName: new Map(), byId: new Map() };
    }
  }

  get passwd(): IdNames {
    return (this.users ??= this.load('passwd'));
  }

  get group(): IdNames {
    return (this.groups ??= this.load('group'));
  }

  userName(uid: number): string {
    return this.passwd.byId.get(uid) ?? String(uid);
  }

  groupName(gid: number): string {
    return this.group.byId.get(gid) ?? String(gid);
  }
}
