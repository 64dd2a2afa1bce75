/**
 * A real process that makes every change the proc connector reports besides fork/exec/exit:
 * a new session, a rename of itself (prctl, then a write to /proc/self/comm) and of one of its
 * threads, strace attaching to a process and detaching (SIGINT), ptrace attach and detach on a
 * child's leader (PTRACE_ATTACH) and on one of its other threads (PTRACE_SEIZE), a child killed
 * by a core-dumping signal (no core file: limit 0) and one that handles that signal, a child
 * that calls setgid() and setuid(), then uid and gid changes, one of them a call that changes
 * nothing. Shared by the source contract, for
 * both sources (netlink.test.ts, ebpf.test.ts). Run as root (ptrace, set*id).
 */

import { spawn } from 'node:child_process';
import type { ProcEvent } from '../../src/events/types.js';

const SCRIPT = String.raw`
import ctypes, json, os, resource, signal, subprocess, sys, threading, time
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.restype = ctypes.c_long
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
def ptrace(req, pid):
    if libc.ptrace(req, pid, None, None) != 0:
        e = ctypes.get_errno()
        raise OSError(e, 'ptrace %d: %s' % (req, os.strerror(e)))
WALL = 0x40000000
ATTACH, DETACH, SEIZE, INTERRUPT = 16, 17, 0x4206, 0x4207
out = {'pid': os.getpid()}
os.setsid()
libc.prctl(15, b'pwchg-main', 0, 0, 0)
def name_thread():
    out['thread'] = threading.get_native_id()
    libc.prctl(15, b'pwchg-thread', 0, 0, 0)
t = threading.Thread(target=name_thread)
t.start()
t.join()
with open('/proc/self/comm', 'w') as f:
    f.write('pwchg-proc')
r, w = os.pipe()
child = os.fork()
if child == 0:
    def report():
        os.write(w, b'%d\n' % threading.get_native_id())
        time.sleep(60)
    threading.Thread(target=report, daemon=True).start()
    time.sleep(60)
    os._exit(0)
out['tracee'] = child
out['traceeThread'] = int(os.read(r, 64).split()[0])
ptrace(ATTACH, child)
os.waitpid(child, WALL)
ptrace(DETACH, child)
ptrace(SEIZE, out['traceeThread'])
ptrace(INTERRUPT, out['traceeThread'])
os.waitpid(out['traceeThread'], WALL)
ptrace(DETACH, out['traceeThread'])
os.kill(child, signal.SIGKILL)
os.waitpid(child, 0)
# strace -p on a single-threaded process: its PTRACE_SEIZE, and its PTRACE_DETACH when interrupted.
target = os.fork()
if target == 0:
    time.sleep(60)
    os._exit(0)
s = subprocess.Popen(['strace', '-qq', '-e', 'trace=none', '-o', '/dev/null', '-p', str(target)])
def tracer_of(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('TracerPid:'):
                return int(line.split()[1])
deadline = time.time() + 60
while tracer_of(target) != s.pid:
    if time.time() > deadline or s.poll() is not None:
        raise SystemExit('strace did not attach to %d' % target)
    time.sleep(0.01)
s.send_signal(signal.SIGINT)
s.wait()
if tracer_of(target) != 0:
    raise SystemExit('strace left %d traced' % target)
os.kill(target, signal.SIGKILL)
os.waitpid(target, 0)
out['straced'] = target
out['strace'] = s.pid
for handled in (False, True):
    p = os.fork()
    if p == 0:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if handled:
            signal.signal(signal.SIGABRT, lambda *a: os._exit(3))
        os.kill(os.getpid(), signal.SIGABRT)
        time.sleep(5)
        os._exit(4)
    os.waitpid(p, 0)
    out['handled' if handled else 'aborted'] = p
# setgid() and setuid() themselves, in a child that gives up root for good.
p = os.fork()
if p == 0:
    os.setgid(5)
    os.setuid(5)
    os._exit(0)
os.waitpid(p, 0)
out['dropped'] = p
os.setresuid(0, 0, 0)
os.setresgid(0, 0, 1)
os.setresgid(2, 2, 2)
libc.setfsuid(3)
os.setresuid(4, 4, 0)
os.setresuid(0, 0, 0)
print(json.dumps(out), flush=True)
`;

/** The pids the scenario reports, as its own pid namespace numbers them. */
export interface ChangesRun {
  pid: number;
  thread: number;
  tracee: number;
  traceeThread: number;
  aborted: number;
  handled: number;
  /** A process strace attached to (strace -p) and detached from (SIGINT to strace). */
  straced: number;
  strace: number;
  /** A child that called setgid(5) then setuid(5). */
  dropped: number;
}

/** Runs the scenario (optionally under a wrapper such as `unshare --pid --fork`); rejects if it fails. */
export function runChanges(wrapper: string[] = []): Promise<{ run: ChangesRun; spawnedPid: number }> {
  return new Promise((resolve, reject) => {
    const argv = [...wrapper, 'python3', '-c', SCRIPT];
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`the change scenario failed (exit ${code}): ${err.trim()}`));
      try {
        resolve({ run: JSON.parse(out) as ChangesRun, spawnedPid: child.pid! });
      } catch {
        reject(new Error(`the change scenario printed no result: ${out} ${err}`));
      }
    });
  });
}

export const CHANGE_KINDS: ReadonlySet<ProcEvent['kind']> = new Set(['uid', 'gid', 'sid', 'ptrace', 'comm', 'coredump']);

/** A change event without what differs between two sources' copies of it (seq, time, cpu, key). */
export function changeView(e: ProcEvent): Record<string, unknown> | null {
  const head = { kind: e.kind, pid: e.pid, tid: e.tid };
  switch (e.kind) {
    case 'uid': return { ...head, ruid: e.ruid, euid: e.euid };
    case 'gid': return { ...head, rgid: e.rgid, egid: e.egid };
    case 'sid': return head;
    case 'ptrace': return { ...head, tracerPid: e.tracerPid, tracerTid: e.tracerTid };
    case 'comm': return { ...head, comm: e.comm };
    case 'coredump': return { ...head, parentPid: e.parentPid };
    default: return null;
  }
}

/** What any source that reports changes must report for a run (in the init pid namespace), in order. */
export function expectedChanges(r: ChangesRun): Array<Record<string, unknown>> {
  const at = (pid: number, tid = pid) => ({ pid, tid });
  return [
    { kind: 'sid', ...at(r.pid) },
    { kind: 'comm', ...at(r.pid), comm: 'pwchg-main' },
    { kind: 'comm', ...at(r.pid, r.thread), comm: 'pwchg-thread' },
    { kind: 'comm', ...at(r.pid), comm: 'pwchg-proc' }, // the write to /proc/self/comm
    { kind: 'ptrace', ...at(r.tracee), tracerPid: r.pid, tracerTid: r.pid },
    { kind: 'ptrace', ...at(r.tracee), tracerPid: 0, tracerTid: 0 },
    { kind: 'ptrace', ...at(r.tracee, r.traceeThread), tracerPid: r.pid, tracerTid: r.pid },
    { kind: 'ptrace', ...at(r.tracee, r.traceeThread), tracerPid: 0, tracerTid: 0 },
    { kind: 'ptrace', ...at(r.straced), tracerPid: r.strace, tracerTid: r.strace },
    { kind: 'ptrace', ...at(r.straced), tracerPid: 0, tracerTid: 0 },
    { kind: 'coredump', ...at(r.aborted), parentPid: r.pid },
    { kind: 'gid', ...at(r.dropped), rgid: 5, egid: 5 },
    { kind: 'uid', ...at(r.dropped), ruid: 5, euid: 5 },
    // setresuid(0, 0, 0) as root changes nothing: no event. A saved or fs id alone is a change.
    { kind: 'gid', ...at(r.pid), rgid: 0, egid: 0 },
    { kind: 'gid', ...at(r.pid), rgid: 2, egid: 2 },
    { kind: 'uid', ...at(r.pid), ruid: 0, euid: 0 },
    { kind: 'uid', ...at(r.pid), ruid: 4, euid: 4 },
    { kind: 'uid', ...at(r.pid), ruid: 0, euid: 0 },
  ];
}
