/**
 * The processes in /proc now as the daemon's table would hold them (records linked to their
 * parents), with the scope context rules need, and an exec and an exit event of each: real
 * events for the rule and CEL benchmarks.
 */

export async function liveRecords(root) {
  const { ProcReader, readDetails } = await import(`${root}/dist/src/procfs/index.js`);
  const reader = new ProcReader('/proc');
  const records = [];
  for (const pid of reader.listPids()) {
    const d = readDetails(reader, pid);
    if (d === null || d.startTicks === null) continue;
    records.push({
      key: `${pid}:${d.startTicks}`, pid, startTicks: d.startTicks, ppid: d.ppid, parentKey: null, comm: d.comm, exe: d.exe, argv: d.argv,
      argvTruncated: false, cwd: d.cwd, uids: d.uids, gids: d.gids, label: d.label, cgroup: d.cgroup, inheritedImage: false, startNs: 0,
      execNs: 0, exitNs: null, exit: null, origin: 'seeded', exitOrigin: null, tracerPid: null, coreDumped: false, threadsCreated: 0,
      threadsExited: 0, leaderExit: null,
    });
  }
  const byPid = new Map(records.map((r) => [r.pid, r]));
  for (const r of records) r.parentKey = byPid.get(r.ppid)?.key ?? null;
  const byKey = new Map(records.map((r) => [r.key, r]));
  const ctx = {
    get: (k) => byKey.get(k),
    ancestors: (k) => { const out = []; let p = byKey.get(k)?.parentKey; while (p) { const r = byKey.get(p); if (!r) break; out.push(r); p = r.parentKey; } return out; },
    userName: (uid) => String(uid),
    wallMs: (ns) => ns / 1e6,
    fdTarget: () => null,
    domainPeers: () => 0,
  };
  const events = [];
  let seq = 0;
  for (const r of records) {
    events.push({ kind: 'exec', seq: ++seq, ktimeNs: 5e9, pid: r.pid, tid: r.pid, cpu: 0, provenance: 'observed', key: r.key, details: { comm: r.comm, exe: r.exe, argv: r.argv, argvTruncated: false, cwd: r.cwd, ppid: r.ppid, uids: r.uids, gids: r.gids, startTicks: r.startTicks, label: null, cgroup: r.cgroup, filename: r.exe } });
    events.push({ kind: 'exit', seq: ++seq, ktimeNs: 6e9, pid: r.pid, tid: r.pid, cpu: 0, provenance: 'observed', key: r.key, status: { code: 1, signal: null, coreDumped: false }, rawCode: 256, parentPid: r.ppid });
  }
  return { records, byKey, ctx, events };
}
