/**
 * The SQLite schema and its migrations. `PRAGMA user_version` holds the schema version;
 * each migration moves it up by one inside a transaction. The file stays readable with
 * the sqlite3 CLI: plain tables, JSON in TEXT columns; `.schema` shows the current tables
 * with the comments below.
 *
 * Schema 4 (issue 11) adds `processes.unit`, `container_id`, `container_runtime` and the
 * `alerts` table (src/alerts/store.ts). Schema 5 (issue 12) adds each process's exit accounting
 * (`cpu_ns` ... `acct_time`, index `processes_cpu`) and `resource_samples` (src/store/resources.ts).
 * Schema 6 (issue 18) adds `syscall_profiles`: one row per process, its syscall counts by name.
 * Schema 7 (issue 14) adds `processes.filename` (what execve was given) and a comment on every
 * column of `runs`.
 * Schema 8 (issue 15) adds `export_state` (this database's id, the export cursors) and
 * `alert_changes` (the alerts' outbox, filled by triggers): src/export/outbox.ts.
 *
 * Schema 3, in short:
 * - `boots(boot, boot_id)`: one row per boot seen; `boot` is the small integer that events and
 *   processes carry instead of the 36-character boot id.
 * - `processes`: one row per process instance, a rowid table (`id`, in order of first storage)
 *   with a unique `(key, boot)`. `key` is `pid:startTicks`, so the instances of one pid are the
 *   key range `'PID:'` to `'PID;'` (no separate pid index).
 * - `events`: one row per event (`id` is the order of storage and the API's event id); the
 *   common fields in columns, the kind-specific ones as JSON in `data`.
 * - `runs`: one row per daemon run (its `boot_id` in text: a handful of rows).
 * Join `boots` to see a boot id: `SELECT b.boot_id, e.* FROM events e JOIN boots b USING (boot)`.
 *
 * Indexes, and what reads them: processes_key (key, boot), unique: writes, lookups by key,
 * lineage upward, a pid's instances; processes_parent (parent_key, boot): lineage downward;
 * processes_start: history by time; processes_exit (exit_time, start_time): retention, the
 * processes running at a given time, the ones still running; processes_exe, _comm, _euid
 * (each with start_time): history filters, newest first; events_time: events by time,
 * retention; events_key (key, boot): a process's events. Everything a batch appends lands at
 * the end of an index or near the other recent pids, so a write touches few pages.
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
  // 3: speed (issue 4's ingest and query goals). Processes and events carry an integer boot
  // (the `boots` table) instead of the boot id text, which every index entry of the WITHOUT
  // ROWID processes table repeated with its key (~50 bytes each, 8 indexes); processes become
  // a rowid table, so new rows append instead of landing across the key order; the pid index
  // goes (a key range does its work) and the lineage and key indexes are (text, boot) pairs.
  // Every row is kept: the old tables are copied (events with their ids) and dropped.
  `
  CREATE TABLE boots (
    boot        INTEGER PRIMARY KEY,
    boot_id     TEXT NOT NULL UNIQUE      -- /proc/sys/kernel/random/boot_id
  );
  INSERT OR IGNORE INTO boots (boot_id) SELECT boot_id FROM runs ORDER BY run;
  INSERT OR IGNORE INTO boots (boot_id) SELECT DISTINCT boot_id FROM processes;
  INSERT OR IGNORE INTO boots (boot_id) SELECT DISTINCT boot_id FROM events;

  ALTER TABLE processes RENAME TO processes_v2;
  ALTER TABLE events RENAME TO events_v2;

  CREATE TABLE processes (
    id           INTEGER PRIMARY KEY,     -- order of first storage
    boot         INTEGER NOT NULL,        -- boots.boot
    key          TEXT NOT NULL,           -- pid:startTicks (pid:?N while the start time is unknown); unique per boot
    pid          INTEGER NOT NULL,
    start_ticks  INTEGER,
    ppid         INTEGER,
    parent_key   TEXT,                    -- the parent's key, same boot
    start_time   REAL,                    -- wall clock, ms since the epoch
    exec_time    REAL,
    exit_time    REAL,                    -- NULL while alive
    comm         TEXT,
    exe          TEXT,
    argv         TEXT,                    -- JSON array, NULL when unknown
    cwd          TEXT,
    uid INTEGER, euid INTEGER, suid INTEGER, fsuid INTEGER,
    gid INTEGER, egid INTEGER, sgid INTEGER, fsgid INTEGER,
    label        TEXT,
    cgroup       TEXT,
    exit_code    INTEGER,
    exit_signal  INTEGER,
    core_dumped  INTEGER,
    origin       TEXT NOT NULL,           -- seeded | observed | inferred
    exit_origin  TEXT                     -- observed | inferred | NULL while alive
  );
  INSERT INTO processes (boot, key, pid, start_ticks, ppid, parent_key, start_time, exec_time, exit_time, comm, exe, argv, cwd,
      uid, euid, suid, fsuid, gid, egid, sgid, fsgid, label, cgroup, exit_code, exit_signal, core_dumped, origin, exit_origin)
    SELECT b.boot, p.key, p.pid, p.start_ticks, p.ppid, p.parent_key, p.start_time, p.exec_time, p.exit_time, p.comm, p.exe, p.argv, p.cwd,
      p.uid, p.euid, p.suid, p.fsuid, p.gid, p.egid, p.sgid, p.fsgid, p.label, p.cgroup, p.exit_code, p.exit_signal, p.core_dumped, p.origin, p.exit_origin
    FROM processes_v2 p JOIN boots b ON b.boot_id = p.boot_id ORDER BY p.start_time, p.boot_id, p.key;

  CREATE TABLE events (
    id          INTEGER PRIMARY KEY,      -- order of storage, unique across daemon runs
    boot        INTEGER NOT NULL,         -- boots.boot
    run         INTEGER NOT NULL,         -- runs.run: seq restarts with each run
    seq         INTEGER NOT NULL,
    time        REAL NOT NULL,            -- wall clock, ms since the epoch
    ktime_ns    INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    pid         INTEGER NOT NULL,
    tid         INTEGER NOT NULL,
    key         TEXT,                     -- the process's key (processes.key, same boot); NULL when unmatched
    provenance  TEXT NOT NULL,            -- observed | inferred
    data        TEXT NOT NULL             -- JSON: the kind-specific fields
  );
  INSERT INTO events (id, boot, run, seq, time, ktime_ns, kind, pid, tid, key, provenance, data)
    SELECT e.id, b.boot, e.run, e.seq, e.time, e.ktime_ns, e.kind, e.pid, e.tid, e.key, e.provenance, e.data
    FROM events_v2 e JOIN boots b ON b.boot_id = e.boot_id ORDER BY e.id;

  DROP TABLE processes_v2;
  DROP TABLE events_v2;

  CREATE UNIQUE INDEX processes_key ON processes(key, boot);
  CREATE INDEX processes_parent ON processes(parent_key, boot) WHERE parent_key IS NOT NULL;
  CREATE INDEX processes_start ON processes(start_time);
  CREATE INDEX processes_exit ON processes(exit_time, start_time);
  CREATE INDEX processes_exe ON processes(exe, start_time);
  CREATE INDEX processes_comm ON processes(comm, start_time);
  CREATE INDEX processes_euid ON processes(euid, start_time);
  CREATE INDEX events_time ON events(time);
  CREATE INDEX events_key ON events(key, boot) WHERE key IS NOT NULL;
  `,
  // 4 (issue 11): what a person recognises in a process's cgroup, resolved at exec and stored
  // with it (ps -o unit,container); and the alerts of rules and continuous checks. Rows
  // stored before have NULL unit/container columns: readers derive them from `cgroup`.
  `
  ALTER TABLE processes ADD COLUMN unit TEXT;                -- systemd unit of its cgroup (nginx.service), NULL outside units
  ALTER TABLE processes ADD COLUMN container_id TEXT;        -- container id from the cgroup name, NULL outside containers
  ALTER TABLE processes ADD COLUMN container_runtime TEXT;   -- docker | containerd | podman | crio
  CREATE TABLE alerts (
    id            INTEGER PRIMARY KEY,    -- order of storage: the API's alert id
    boot          INTEGER NOT NULL,       -- boots.boot
    time          REAL NOT NULL,          -- wall clock, ms since the epoch: when it fired
    source        TEXT NOT NULL,          -- rule | check
    name          TEXT NOT NULL,          -- the rule's or check's name
    severity      TEXT NOT NULL,          -- info | notice | warning | error | critical
    state         TEXT NOT NULL,          -- firing | resolved
    resolved_time REAL,                   -- when a check's alert resolved
    key           TEXT,                   -- the process instance (processes.key, same boot), if any
    message       TEXT NOT NULL,
    data          TEXT NOT NULL           -- JSON: process, eventKind, eventSeq, mode, actions, suppressed, tags, origin
  );
  CREATE INDEX alerts_time ON alerts(time);
  CREATE INDEX alerts_name ON alerts(name, time);
  `,
  // 5 (issue 12, resource accounting): each process's totals once it ended (the `acct` event: NULL while running, or when never known) with an
  // index for `history --sort cpu`; and `resource_samples`, the coarse history of live
  // processes' resources (`top --at`, `/v1/resources`), bounded in rows per minute and by
  // retention (`daemon.resources.history`).
  `
  ALTER TABLE processes ADD COLUMN cpu_ns INTEGER;        -- user + system CPU time, all threads, ns
  ALTER TABLE processes ADD COLUMN user_ns INTEGER;
  ALTER TABLE processes ADD COLUMN system_ns INTEGER;
  ALTER TABLE processes ADD COLUMN cpu_resolution TEXT;   -- ns (eBPF) | tick (netlink: /proc/PID/stat); NULL: CPU unknown
  ALTER TABLE processes ADD COLUMN max_rss INTEGER;       -- peak resident set, bytes
  ALTER TABLE processes ADD COLUMN min_flt INTEGER;       -- page faults without / with I/O
  ALTER TABLE processes ADD COLUMN maj_flt INTEGER;
  ALTER TABLE processes ADD COLUMN nvcsw INTEGER;         -- voluntary / involuntary context switches
  ALTER TABLE processes ADD COLUMN nivcsw INTEGER;
  ALTER TABLE processes ADD COLUMN read_bytes INTEGER;    -- storage I/O (/proc/PID/io read_bytes, write_bytes)
  ALTER TABLE processes ADD COLUMN write_bytes INTEGER;
  ALTER TABLE processes ADD COLUMN rchar INTEGER;         -- read(2)/write(2) bytes (/proc/PID/io rchar, wchar)
  ALTER TABLE processes ADD COLUMN wchar INTEGER;
  ALTER TABLE processes ADD COLUMN acct_time REAL;        -- when the totals arrived (wall ms); NULL: none
  CREATE INDEX processes_cpu ON processes(cpu_ns) WHERE cpu_ns IS NOT NULL;

  CREATE TABLE resource_samples (
    time        REAL NOT NULL,            -- wall clock of the snapshot, ms since the epoch
    boot        INTEGER NOT NULL,         -- boots.boot
    key         TEXT NOT NULL,            -- processes.key, same boot
    cpu_ns      INTEGER,                  -- CPU time used so far (user + system, all threads), ns
    cpu_pct     REAL,                     -- % of one CPU since this instance's previous snapshot
    rss         INTEGER,                  -- resident set, bytes
    vsize       INTEGER,                  -- virtual size, bytes
    swap        INTEGER,                  -- swapped out, bytes
    threads     INTEGER,
    fds         INTEGER,                  -- open file descriptors
    read_bytes  INTEGER,                  -- storage I/O so far
    write_bytes INTEGER,
    state       TEXT                      -- R S D Z T ... as /proc/PID/stat field 3
  );
  CREATE INDEX resource_samples_time ON resource_samples(time);
  CREATE INDEX resource_samples_key ON resource_samples(key, boot, time);
  `,
  // 6 (issue 18): syscall profiles, one row per process instance, replaced as its counts come
  // (at an interval while it runs, at its exit), so a profile costs one row however long the
  // process lives; `syscalls` events are not also kept as event rows. Self-contained: it
  // touches no other table.
  `
  CREATE TABLE syscall_profiles (
    boot         INTEGER NOT NULL,        -- boots.boot
    key          TEXT NOT NULL,           -- the process (processes.key, same boot)
    time         REAL NOT NULL,           -- wall clock of the counts, ms since the epoch
    final        INTEGER NOT NULL,        -- 1: read at the process's exit (complete)
    total        INTEGER NOT NULL,        -- syscalls counted
    counts       TEXT NOT NULL,           -- JSON object: syscall name -> count
    PRIMARY KEY (key, boot)
  ) WITHOUT ROWID;
  CREATE INDEX syscall_profiles_time ON syscall_profiles(time);
  `,
  // 7: forensics (issue 14). The path given to execve becomes a column of the process, filled
  // for stored processes from their last stored exec event (eBPF events carry it); `exe` is
  // the resolved image, so on merged-/usr Debian exe = '/bin/true' finds nothing while
  // filename = '/bin/true' does. No index: a column only forensics reads, and every index
  // costs the write path (README "SQLite"). `runs` is rebuilt so that every column,
  // last_event too, has its comment in `.schema` (comments only survive inside a statement).
  `
  ALTER TABLE processes ADD COLUMN filename TEXT /* the path given to execve (eBPF source only; NULL when unknown); exe is the resolved image */;
  UPDATE processes SET filename = (
    SELECT json_extract(e.data, '$.details.filename') FROM events e
    WHERE e.key = processes.key AND e.boot = processes.boot AND e.kind = 'exec' ORDER BY e.id DESC LIMIT 1
  ) WHERE origin != 'seeded' OR exec_time IS NOT NULL;

  CREATE TABLE runs_v7 (
    run         INTEGER PRIMARY KEY,      -- daemon run number (events.run)
    boot_id     TEXT NOT NULL,            -- /proc/sys/kernel/random/boot_id of the run
    started     REAL NOT NULL,            -- wall clock, ms since the epoch
    stopped     REAL,                     -- NULL: the run did not stop cleanly
    source      TEXT NOT NULL,            -- ebpf | netlink | poll
    last_event  REAL                      -- wall time of the newest event this run stored (ms since the epoch); NULL: none
  );
  INSERT INTO runs_v7 (run, boot_id, started, stopped, source, last_event) SELECT run, boot_id, started, stopped, source, last_event FROM runs;
  DROP TABLE runs;
  ALTER TABLE runs_v7 RENAME TO runs;
  `,
  // 8 (issue 15): the store is the outbox of export/ (NATS JetStream). `export_state` holds this
  // database's random id (in every exported record and message id, so a replaced database never
  // collides with what its predecessor sent) and, per target, the last id the server acknowledged.
  // Alert records change (a check's alert resolves): the triggers append each insert and state
  // change to `alert_changes`, in the same transaction, while an alert export is set up; the
  // exporter deletes the rows the server acknowledged.
  `
  CREATE TABLE export_state (
    name   TEXT PRIMARY KEY,               -- store_id | nats.events | nats.alerts
    value  NOT NULL                        -- store_id: hex text; a cursor: the last id the server acknowledged
  ) WITHOUT ROWID;
  INSERT INTO export_state (name, value) VALUES ('store_id', lower(hex(randomblob(8))));
  CREATE TABLE alert_changes (
    id     INTEGER PRIMARY KEY,            -- export order of alert records
    alert  INTEGER NOT NULL,               -- alerts.id
    state  TEXT NOT NULL                   -- firing | resolved: the state it changed to
  );
  CREATE TRIGGER alert_changes_insert AFTER INSERT ON alerts
    WHEN EXISTS (SELECT 1 FROM export_state WHERE name = 'nats.alerts')
    BEGIN INSERT INTO alert_changes (alert, state) VALUES (new.id, new.state); END;
  CREATE TRIGGER alert_changes_update AFTER UPDATE OF state ON alerts
    WHEN new.state IS NOT old.state AND EXISTS (SELECT 1 FROM export_state WHERE name = 'nats.alerts')
    BEGIN INSERT INTO alert_changes (alert, state) VALUES (new.id, new.state); END;
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
  // Schema 3 copies the two big tables: give the old pages back now (auto_vacuum=INCREMENTAL
  // files), at the start, rather than in the daemon's first retention step (~10 s per million events).
  if (version > 0 && version < 3 && target >= 3) db.pragma('incremental_vacuum');
}

/** The number of a boot in the `boots` table, added when new (schema 3). */
export function bootNumber(db: Database.Database, bootId: string): number {
  db.prepare('INSERT OR IGNORE INTO boots (boot_id) VALUES (?)').run(bootId);
  return (db.prepare('SELECT boot FROM boots WHERE boot_id = ?').get(bootId) as { boot: number }).boot;
}
