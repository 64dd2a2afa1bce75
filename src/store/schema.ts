/**
 * The SQLite schema and its migrations. `PRAGMA user_version` holds the schema version;
 * each migration moves it up by one inside a transaction. The file stays readable with
 * the sqlite3 CLI: plain tables, JSON in TEXT columns.
 */

import type Database from 'better-sqlite3';

const MIGRATIONS: string[] = [
  // 1: process instances and events.
  `
  CREATE TABLE processes (
    boot_id      TEXT NOT NULL,
    key          TEXT NOT NULL,           -- pid:startTicks (pid:?N while the start time is unknown)
    pid          INTEGER NOT NULL,
    start_ticks  INTEGER,
    ppid         INTEGER,
    parent_key   TEXT,
    start_time   REAL,                    -- wall clock, ms since the epoch
    exec_time    REAL,
    exit_time    REAL,
    comm         TEXT,
    exe          TEXT,
    argv         TEXT,                    -- JSON array, NULL when unknown
    cwd          TEXT,
    uid          INTEGER, euid INTEGER, gid INTEGER, egid INTEGER,
    label        TEXT,
    cgroup       TEXT,
    exit_code    INTEGER,
    exit_signal  INTEGER,
    core_dumped  INTEGER,
    origin       TEXT NOT NULL,           -- seeded | observed | inferred
    exit_origin  TEXT,                    -- observed | inferred | NULL while alive
    PRIMARY KEY (boot_id, key)
  ) WITHOUT ROWID;
  CREATE INDEX processes_start ON processes(start_time);
  CREATE INDEX processes_exe ON processes(exe, start_time);
  CREATE INDEX processes_comm ON processes(comm, start_time);
  CREATE INDEX processes_euid ON processes(euid, start_time);
  CREATE INDEX processes_parent ON processes(boot_id, parent_key);
  CREATE INDEX processes_pid ON processes(pid, start_time);

  CREATE TABLE events (
    id          INTEGER PRIMARY KEY,      -- order of storage, unique across daemon runs
    boot_id     TEXT NOT NULL,
    run         INTEGER NOT NULL,         -- daemon run number: seq restarts with each run
    seq         INTEGER NOT NULL,
    time        REAL NOT NULL,            -- wall clock, ms since the epoch
    ktime_ns    INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    pid         INTEGER NOT NULL,
    tid         INTEGER NOT NULL,
    key         TEXT,
    provenance  TEXT NOT NULL,
    data        TEXT NOT NULL             -- JSON: the kind-specific fields
  );
  CREATE INDEX events_time ON events(time);
  CREATE INDEX events_key ON events(boot_id, key);

  CREATE TABLE runs (
    run         INTEGER PRIMARY KEY,
    boot_id     TEXT NOT NULL,
    started     REAL NOT NULL,
    stopped     REAL,                     -- NULL: the run did not stop cleanly
    source      TEXT NOT NULL
  );
  `,
  // 2: retention deletes exited processes by exit time (without an index that was a full scan
  // per run); saved and filesystem ids; each run's last stored event, so a crashed run's end
  // is known without scanning the events.
  `
  CREATE INDEX processes_exit ON processes(exit_time);
  ALTER TABLE processes ADD COLUMN suid INTEGER;
  ALTER TABLE processes ADD COLUMN fsuid INTEGER;
  ALTER TABLE processes ADD COLUMN sgid INTEGER;
  ALTER TABLE processes ADD COLUMN fsgid INTEGER;
  ALTER TABLE runs ADD COLUMN last_event REAL;   -- wall time of the newest event this run stored
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Brings the database up to `target` (default SCHEMA_VERSION); refuses a newer one it does
 * not know. Tests migrate to an older version to build the files older releases wrote.
 */
export function migrate(db: Database.Database, target: number = SCHEMA_VERSION): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    throw new Error(`database schema version ${version} is newer than this procwatch understands (${SCHEMA_VERSION})`);
  }
  for (let v = version; v < target; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}
