// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * procwatch.bpf.c - the kernel half of procwatch's eBPF source. CO-RE programs that put one
 * event per process start (exec), fork, process exit and, when the loader asks for them,
 * per outbound connect, inbound accept and file open into one ring buffer. procbpf.c reads
 * the ring buffer and packs record.h records; nothing here knows about record.h.
 *
 * Process events use BTF tracepoints (tp_btf: typed arguments, no tracefs needed). Network
 * and file events use the syscall tracepoints (they need tracefs to attach), and are
 * filtered here, in the kernel (uid, cgroup, path prefix, never procwatch itself), so their
 * volume stays what the user asked for. Process events are never filtered: the process
 * table needs all of them.
 *
 * Nothing is dropped silently: an event that was wanted but could not be sent (no room in
 * the ring buffer, a caller's memory that could not be read, too many calls in progress)
 * is counted in the per-CPU `lost` map by reason, which the loader turns into `lost`
 * records. What is left out on purpose (filters, threads) is counted in `stats`.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "procwatch.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define AF_INET 2
#define AF_INET6 10
#define EFAULT 14
#define EEXIST 17
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define SIGNAL_GROUP_EXIT 0x00000004 /* include/linux/sched/signal.h, stable since 2.6 */
#define MAX_ERRNO 4095               /* an ERR_PTR is one of the last 4095 addresses */

_Static_assert(sizeof(struct pwb_exec) + PWB_ARGV_MAX + PWB_PATH_MAX + 2 * PWB_WALK_MAX <= PWB_SCRATCH,
	       "an exec event at every cap must fit the scratch buffer");

/* ---- settings, filled by the loader before load (execsnoop's habit) ---------------------- */
const volatile __u32 pw_self_tgid = 0;         /* procwatch itself: never report its net/file activity */
const volatile __u32 pw_uid = (__u32)-1;       /* net/file: only this real uid; -1 any */
const volatile bool pw_cgroup_filter = false;  /* net/file: only tasks under cgroup_filter[0] */
const volatile __u32 pw_prefix_len = 0;        /* open: only paths starting with pw_prefix */
const volatile char pw_prefix[PWB_PREFIX_MAX] = {};
const volatile bool pw_debug_prefix_at_exit = false; /* test: as if no path could be read at entry */

/* ---- maps --------------------------------------------------------------------------------- */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20); /* the loader may resize before load */
} events SEC(".maps");

/* Events wanted but not sent, by enum pwb_drop. Per CPU: no contention when it matters most. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PWB_DROP_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PWB_STAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* One event is assembled here, then copied into the ring buffer with its real size. The
 * slack after PWB_SCRATCH lets a masked offset plus one string read stay in bounds. An
 * array indexed by CPU rather than a per-CPU array: per-CPU values stop at 32 KiB. The
 * loader sets max_entries to the number of possible CPUs. */
struct pw_scratch {
	char buf[PWB_SCRATCH + PWB_SCRATCH_SLACK];
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pw_scratch);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} cgroup_filter SEC(".maps");

/* A connect or openat between its syscall entry and exit, by thread. */
struct pw_pending_connect {
	__u64 uaddr; /* user pointer, read again at exit when it could not be read at entry */
	__u32 fd;
	__u32 alen;
	__u16 family;
	__u16 port;   /* network order */
	__u32 unread; /* the address could not be read at entry (page not resident yet) */
	__u8 addr[16];
};
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192); /* the loader may resize before load */
	__type(key, __u64);
	__type(value, struct pw_pending_connect);
} connects SEC(".maps");

struct pw_pending_open {
	__u64 filename; /* user pointer, read again at exit */
	__s32 dfd;
	__u32 flags;
	__u32 mode;
	__u32 unchecked; /* the prefix filter could not read the path at entry: apply it at exit */
};
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192); /* the loader may resize before load */
	__type(key, __u64);
	__type(value, struct pw_pending_open);
} opens SEC(".maps");

/* Before 6.16 only: process instances whose exit was sent, so a second thread that also
 * saw the group's live count at 0 does not send it again. LRU: old entries go by themselves. */
struct pw_exit_key {
	__u32 tgid;
	__u32 reserved;
	__u64 start_ns;
};
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct pw_exit_key);
	__type(value, __u8);
} exits_seen SEC(".maps");

/* ---- helpers ------------------------------------------------------------------------------ */
static __always_inline void stat_inc(__u32 which)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &which);
	if (v)
		*v += 1;
}

static __always_inline void drop_inc(__u32 why)
{
	__u64 *v = bpf_map_lookup_elem(&lost, &why);
	if (v)
		*v += 1;
}

/* This CPU's assembly buffer. NULL cannot happen (one per possible CPU) but is checked. */
static __always_inline struct pw_scratch *scratch_get(void)
{
	__u32 cpu = bpf_get_smp_processor_id();
	return bpf_map_lookup_elem(&scratch, &cpu);
}

static __always_inline void emit(void *ev, __u64 size)
{
	if (size > sizeof(struct pw_scratch))
		return;
	if (bpf_ringbuf_output(&events, ev, size, 0) != 0)
		drop_inc(PWB_DROP_RINGBUF);
}

static __always_inline void head_fill(struct pwb_head *h, __u16 type, __u32 pid, __u32 tid)
{
	h->type = type;
	h->flags = 0;
	h->size = 0;
	h->ts = bpf_ktime_get_ns();
	h->pid = pid;
	h->tid = tid;
	h->cpu = bpf_get_smp_processor_id();
	h->uid = (__u32)bpf_get_current_uid_gid();
}

/* Net and file events: is this task one the user asked about? */
static __always_inline bool task_wanted(void)
{
	if ((__u32)(bpf_get_current_pid_tgid() >> 32) == pw_self_tgid)
		return false;
	if (pw_uid != (__u32)-1 && (__u32)bpf_get_current_uid_gid() != pw_uid)
		goto filtered;
	if (pw_cgroup_filter && bpf_current_task_under_cgroup(&cgroup_filter, 0) != 1)
		goto filtered;
	return true;
filtered:
	stat_inc(PWB_STAT_FILTERED);
	return false;
}

/* Does s (a NUL-terminated copy in BPF memory) start with the open path prefix? The
 * prefix has no NUL, so a shorter s differs at its NUL. */
static __always_inline bool prefix_matches(const char *s)
{
	for (__u32 i = 0; i < PWB_PREFIX_MAX; i++) {
		if (i >= pw_prefix_len)
			break;
		if (s[i] != pw_prefix[i])
			return false;
	}
	return true;
}

/* A mount without a parent ends a walk. The namespace's root mount makes the path complete,
 * and so does a kernel-internal mount (memfd, pipes: /proc shows "/name" too). A mount
 * detached by a lazy umount has no namespace left: a path relative to it would be a wrong
 * path (it is no longer reachable from "/"), so the walk is not complete. */
static __always_inline bool mount_is_root(struct mount *m)
{
	struct mnt_namespace *ns = BPF_CORE_READ(m, mnt_ns);

	if (!ns)
		return false;
	if ((unsigned long)ns >= (unsigned long)-MAX_ERRNO) /* MNT_NS_INTERNAL is an ERR_PTR */
		return true;
	return BPF_CORE_READ(ns, root) == m;
}

/* One walk_path() in progress; only scalars, so bpf_loop's callback is verified once. */
struct pw_walk {
	__u64 dentry;
	__u64 mount; /* struct mount *, whose .mnt is the vfsmount */
	__u32 pos;
	__u32 start;
	bool done;
};

/* One step up: write d's name and go to its parent, or cross to the mount above. */
static long walk_step(__u32 i, struct pw_walk *w)
{
	struct pw_scratch *s = scratch_get();
	struct dentry *d = (struct dentry *)w->dentry, *parent, *root;
	struct mount *m = (struct mount *)w->mount, *up;
	const unsigned char *name;
	__u32 len;
	long n;

	if (!s)
		return 1;
	root = BPF_CORE_READ(m, mnt.mnt_root);
	parent = BPF_CORE_READ(d, d_parent);
	if (d == root) {
		up = BPF_CORE_READ(m, mnt_parent);
		if (up == m) {
			w->done = mount_is_root(m);
			return 1;
		}
		w->dentry = (__u64)BPF_CORE_READ(m, mnt_mountpoint); /* go on in the mount above */
		w->mount = (__u64)up;
		return 0;
	}
	if (d == parent) /* a root that is not a mount's root: detached, no path */
		return 1;
	/* The walk holds '/'-less components with a NUL each: exactly the path's length. */
	len = BPF_CORE_READ(d, d_name.len);
	if (w->pos - w->start + len + 1 > PWB_WALK_MAX)
		return 1; /* too long: cut, so unknown */
	name = BPF_CORE_READ(d, d_name.name);
	n = bpf_probe_read_kernel_str(s->buf + (w->pos & PWB_SCRATCH_MASK), PWB_NAME_MAX, name);
	if (n <= 0 || w->pos - w->start + n > PWB_WALK_MAX)
		return 1;
	w->pos += n;
	w->dentry = (__u64)parent;
	return 0;
}

/* Writes the components of the path (d, vm) leaf first, each NUL-terminated, at scratch
 * offset pos, like d_path() without its locks. Returns the bytes written, or -1 unless the
 * walk reached the namespace's root: a cut or failed walk is "unknown", never a wrong path. */
static __always_inline int walk_path(__u32 pos, struct dentry *d, struct vfsmount *vm)
{
	struct pw_walk w = {
		.dentry = (__u64)d,
		.mount = (__u64)((char *)vm - bpf_core_field_offset(struct mount, mnt)),
		.pos = pos,
		.start = pos,
	};
	bpf_loop(PWB_WALK_DEPTH, walk_step, &w, 0);
	return w.done ? (int)(w.pos - w.start) : -1;
}

/* d_unlinked(): unhashed and not a root. /proc/PID/exe then ends in " (deleted)". */
static __always_inline bool dentry_unlinked(struct dentry *d)
{
	return BPF_CORE_READ(d, d_hash.pprev) == NULL && BPF_CORE_READ(d, d_parent) != d;
}

/* ---- process events ------------------------------------------------------------------------ */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(pw_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	struct pw_scratch *s = scratch_get();
	struct pwb_exec *e;
	struct mm_struct *mm;
	struct file *exe;
	struct dentry *exe_dentry;
	const struct cred *cred;
	unsigned long arg_start, arg_end;
	struct fs_struct *fs;
	__u64 len;
	__u32 pos;
	long n;

	if (!s)
		return 0;
	e = (struct pwb_exec *)s->buf;
	head_fill(&e->h, PWB_EXEC, BPF_CORE_READ(task, tgid), BPF_CORE_READ(task, pid));
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->start_ns = BPF_CORE_READ(task, group_leader, start_boottime);
	e->cgroup_id = bpf_get_current_cgroup_id(); /* current is the task that execs */
	cred = BPF_CORE_READ(task, cred);
	e->uid[0] = BPF_CORE_READ(cred, uid.val);
	e->uid[1] = BPF_CORE_READ(cred, euid.val);
	e->uid[2] = BPF_CORE_READ(cred, suid.val);
	e->uid[3] = BPF_CORE_READ(cred, fsuid.val);
	e->gid[0] = BPF_CORE_READ(cred, gid.val);
	e->gid[1] = BPF_CORE_READ(cred, egid.val);
	e->gid[2] = BPF_CORE_READ(cred, sgid.val);
	e->gid[3] = BPF_CORE_READ(cred, fsgid.val);
	e->reserved = 0;
	bpf_probe_read_kernel_str(e->comm, sizeof e->comm, task->comm);

	/* argv as the new image's stack holds it: the exact bytes /proc/PID/cmdline would show,
	 * read while the process cannot have exited yet. */
	e->argv_len = 0;
	mm = BPF_CORE_READ(task, mm);
	arg_start = BPF_CORE_READ(mm, arg_start);
	arg_end = BPF_CORE_READ(mm, arg_end);
	len = arg_end > arg_start ? arg_end - arg_start : 0;
	if (len > PWB_ARGV_MAX) {
		len = PWB_ARGV_MAX;
		e->h.flags |= PWB_F_ARGV_TRUNCATED;
	}
	if (len > 0 && bpf_probe_read_user(e->data, len, (void *)arg_start) == 0) {
		e->argv_len = len;
		e->h.flags |= PWB_F_ARGV;
	}
	pos = sizeof(*e) + e->argv_len;

	/* filename: what was passed to execve (for a #! script its path, while exe is the
	 * interpreter). The kernel copied it (getname), so it is never longer than PATH_MAX. */
	e->filename_len = 0;
	n = bpf_probe_read_kernel_str(s->buf + (pos & PWB_SCRATCH_MASK), PWB_PATH_MAX, BPF_CORE_READ(bprm, filename));
	if (n > 0) {
		e->filename_len = n - 1;
		e->h.flags |= PWB_F_FILENAME;
		pos += n - 1;
	}

	/* exe: the file the new mm maps, as /proc/PID/exe resolves it. */
	exe = BPF_CORE_READ(mm, exe_file);
	e->exe_len = 0;
	if (exe) {
		exe_dentry = BPF_CORE_READ(exe, f_path.dentry);
		int w = walk_path(pos, exe_dentry, BPF_CORE_READ(exe, f_path.mnt));
		if (w >= 0) {
			e->exe_len = w;
			e->h.flags |= PWB_F_EXE;
			if (dentry_unlinked(exe_dentry))
				e->h.flags |= PWB_F_EXE_DELETED;
			pos += w;
		}
	}
	e->cwd_len = 0;
	fs = BPF_CORE_READ(task, fs);
	if (fs) {
		int w = walk_path(pos, BPF_CORE_READ(fs, pwd.dentry), BPF_CORE_READ(fs, pwd.mnt));
		if (w >= 0) {
			e->cwd_len = w;
			e->h.flags |= PWB_F_CWD;
			pos += w;
		}
	}
	e->h.size = pos;
	emit(e, pos);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(pw_fork, struct task_struct *parent, struct task_struct *child)
{
	struct task_struct *real_parent;
	struct pwb_fork f;
	__u32 pid = BPF_CORE_READ(child, tgid), tid = BPF_CORE_READ(child, pid);

	/* A new thread is sent too (tid != pid), as cn_proc does: the table counts a process's
	 * threads from these, and its real parent is the process's own (CLONE_THREAD shares it). */
	if (pid != tid)
		stat_inc(PWB_STAT_THREAD_FORKS);
	head_fill(&f.h, PWB_FORK, pid, tid);
	/* As cn_proc does: the child's real parent (CLONE_PARENT makes it the caller's parent). */
	real_parent = BPF_CORE_READ(child, real_parent);
	f.parent_pid = BPF_CORE_READ(real_parent, tgid);
	f.parent_tid = BPF_CORE_READ(real_parent, pid);
	f.start_ns = BPF_CORE_READ(child, start_boottime);
	f.h.size = sizeof f;
	emit(&f, sizeof f);
	return 0;
}

/* Sends the exit of task's process; task is the group's last thread. */
static __always_inline int exit_send(struct task_struct *task)
{
	struct task_struct *leader = BPF_CORE_READ(task, group_leader);
	struct signal_struct *sig = BPF_CORE_READ(task, signal);
	__u32 tgid = BPF_CORE_READ(task, tgid);
	struct pwb_exit x;

	__builtin_memset(&x, 0, sizeof x);
	head_fill(&x.h, PWB_EXIT, tgid, tgid);
	/* What wait(2) will report: the group's code after exit_group() or a fatal signal,
	 * else the leader's own (it may have left first with pthread_exit). */
	if (BPF_CORE_READ(sig, flags) & SIGNAL_GROUP_EXIT)
		x.exit_code = BPF_CORE_READ(sig, group_exit_code);
	else
		x.exit_code = BPF_CORE_READ(leader, exit_code);
	x.exit_signal = BPF_CORE_READ(leader, exit_signal);
	x.parent_pid = BPF_CORE_READ(leader, real_parent, tgid);
	x.parent_tid = BPF_CORE_READ(leader, real_parent, pid);
	/* The leader's name is the process's (a thread may have named itself otherwise). */
	if (BPF_CORE_READ_STR_INTO(&x.comm, leader, comm) > 0)
		x.h.flags |= PWB_F_COMM;
	x.h.size = sizeof x;
	emit(&x, sizeof x);
	return 0;
}

/* A thread that ends without ending its process: sent so the table's thread count stays
 * true (tid != pid). The leader leaving first (pthread_exit in main) is not sent: its
 * process ends, and is sent, with its last thread. */
static __always_inline int thread_exit_send(struct task_struct *task)
{
	__u32 tgid = BPF_CORE_READ(task, tgid), tid = BPF_CORE_READ(task, pid);
	struct pwb_exit x;

	stat_inc(PWB_STAT_THREAD_EXITS);
	if (tid == tgid)
		return 0;
	__builtin_memset(&x, 0, sizeof x);
	head_fill(&x.h, PWB_EXIT, tgid, tid);
	x.exit_code = BPF_CORE_READ(task, exit_code);
	x.exit_signal = BPF_CORE_READ(task, exit_signal);
	x.parent_pid = BPF_CORE_READ(task, real_parent, tgid);
	x.parent_tid = BPF_CORE_READ(task, real_parent, pid);
	x.h.size = sizeof x;
	emit(&x, sizeof x);
	return 0;
}

/* 6.16 and later: the tracepoint says whether this thread ends its group. The loader
 * loads this or pw_exit_live, never both (this one reads an argument older kernels lack). */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(pw_exit, struct task_struct *task, bool group_dead)
{
	if (!group_dead)
		return thread_exit_send(task);
	return exit_send(task);
}

/* Before 6.16: the group's live count, decremented before the tracepoint, is 0 once its
 * last thread exits. Two threads exiting together can both see 0 (each decrements, then
 * each reaches the tracepoint): the first to claim the process instance sends the exit. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(pw_exit_live, struct task_struct *task)
{
	struct pw_exit_key key = {};
	__u8 one = 1;

	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return thread_exit_send(task);
	key.tgid = BPF_CORE_READ(task, tgid);
	key.start_ns = BPF_CORE_READ(task, group_leader, start_boottime);
	if (bpf_map_update_elem(&exits_seen, &key, &one, BPF_NOEXIST) == -EEXIST) {
		stat_inc(PWB_STAT_THREAD_EXITS);
		stat_inc(PWB_STAT_EXIT_DUPLICATES);
		return 0;
	}
	return exit_send(task);
}

/* ---- exit accounting (issue 12) ------------------------------------------------------------ */

/* A process's resource totals, once it is gone. Not at sched_process_exit: there the exiting
 * thread's runtime is only as fresh as its last scheduler update (a 1 ms /bin/true often shows
 * none of it), and the address space and files are not torn down yet. sched_process_free runs
 * an RCU grace period after the task was released (by its parent's wait, or by itself when
 * nobody waits), after its last context switch: every thread's times, faults, switches and I/O
 * are summed in the signal struct (__exit_signal adds each thread as it is released, the
 * leader last), and maxrss holds the group's peak. Only the thread-group leader counts: a
 * thread, or a leader replaced by an exec in another thread, is not a process ending. */
SEC("tp_btf/sched_process_free")
int BPF_PROG(pw_free, struct task_struct *task)
{
	struct signal_struct *sig;
	struct pwb_acct a;
	__u32 tgid;

	if (BPF_CORE_READ(task, group_leader) != task)
		return 0;
	sig = BPF_CORE_READ(task, signal);
	if (!sig)
		return 0;
	tgid = BPF_CORE_READ(task, tgid);
	__builtin_memset(&a, 0, sizeof a);
	head_fill(&a.h, PWB_ACCT, tgid, tgid);
	a.h.uid = 0; /* not the freed task's: this runs in whatever context RCU chose */
	a.start_ns = BPF_CORE_READ(task, start_boottime);
	a.runtime_ns = BPF_CORE_READ(sig, sum_sched_runtime);
	a.utime_ns = BPF_CORE_READ(sig, utime);
	a.stime_ns = BPF_CORE_READ(sig, stime);
	a.min_flt = BPF_CORE_READ(sig, min_flt);
	a.maj_flt = BPF_CORE_READ(sig, maj_flt);
	a.nvcsw = BPF_CORE_READ(sig, nvcsw);
	a.nivcsw = BPF_CORE_READ(sig, nivcsw);
	a.maxrss_pages = BPF_CORE_READ(sig, maxrss);
	a.rchar = BPF_CORE_READ(sig, ioac.rchar);
	a.wchar = BPF_CORE_READ(sig, ioac.wchar);
	a.read_bytes = BPF_CORE_READ(sig, ioac.read_bytes);
	a.write_bytes = BPF_CORE_READ(sig, ioac.write_bytes);
	a.prev_utime_ns = BPF_CORE_READ(sig, prev_cputime.utime);
	a.prev_stime_ns = BPF_CORE_READ(sig, prev_cputime.stime);
	a.h.size = sizeof a;
	emit(&a, sizeof a);
	return 0;
}

/* ---- network events ------------------------------------------------------------------------ */

/* The socket behind fd in the current task, or NULL. */
static __always_inline struct sock *fd_sock(__u32 fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds, *f = NULL;
	struct socket *so;

	if (fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&f, sizeof f, &fds[fd]) != 0 || !f)
		return NULL;
	if ((BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return NULL;
	so = BPF_CORE_READ(f, private_data);
	return BPF_CORE_READ(so, sk);
}

/* Fills the local end (and, with remote, the remote end) from the socket. */
static __always_inline void sock_ends(struct pwb_sock *ev, struct sock *sk, bool remote)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	ev->protocol = BPF_CORE_READ(sk, sk_protocol);
	ev->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	/* bpf_core_read with explicit sizes: the destinations are byte arrays. */
	if (family == AF_INET) {
		bpf_core_read(ev->laddr, 4, &sk->__sk_common.skc_rcv_saddr);
		if (remote)
			bpf_core_read(ev->raddr, 4, &sk->__sk_common.skc_daddr);
	} else if (family == AF_INET6) {
		bpf_core_read(ev->laddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		if (remote)
			bpf_core_read(ev->raddr, 16, &sk->__sk_common.skc_v6_daddr);
	}
	if (remote) {
		ev->family = family;
		ev->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	}
	if (ev->lport != 0)
		ev->h.flags |= PWB_F_LOCAL;
}

/* Reads the caller's sockaddr (c->uaddr, c->alen): family, and for IPv4/IPv6 the port and
 * address. Returns 0, or -1 when the caller's memory could not be read. */
static __always_inline int sockaddr_read(struct pw_pending_connect *c)
{
	void *uaddr = (void *)c->uaddr;

	if (bpf_probe_read_user(&c->family, sizeof c->family, uaddr) != 0)
		return -1;
	/* sockaddr_in: family, port, addr at 4; sockaddr_in6: family, port, flowinfo, addr at 8 */
	if (c->family == AF_INET && c->alen >= 16) {
		if (bpf_probe_read_user(&c->port, 2, uaddr + 2) != 0 || bpf_probe_read_user(c->addr, 4, uaddr + 4) != 0)
			return -1;
	} else if (c->family == AF_INET6 && c->alen >= 24) {
		if (bpf_probe_read_user(&c->port, 2, uaddr + 2) != 0 || bpf_probe_read_user(c->addr, 16, uaddr + 8) != 0)
			return -1;
	}
	return 0;
}

/* unix, netlink, AF_UNSPEC (disconnect), a short address: not network activity. */
static __always_inline bool sockaddr_wanted(const struct pw_pending_connect *c)
{
	return (c->family == AF_INET && c->alen >= 16) || (c->family == AF_INET6 && c->alen >= 24);
}

SEC("tracepoint/syscalls/sys_enter_connect")
int pw_connect_enter(struct trace_event_raw_sys_enter *ctx)
{
	struct pw_pending_connect c = {};
	__u64 id = bpf_get_current_pid_tgid();

	if (!task_wanted())
		return 0;
	c.uaddr = (__u64)ctx->args[1];
	c.alen = (__u32)ctx->args[2];
	c.fd = (__u32)ctx->args[0];
	/* A page the kernel has not faulted in yet cannot be read here: try again at exit,
	 * after the kernel copied the address. */
	if (sockaddr_read(&c) != 0)
		c.unread = 1;
	else if (!sockaddr_wanted(&c))
		return 0;
	if (bpf_map_update_elem(&connects, &id, &c, BPF_ANY) != 0)
		drop_inc(PWB_DROP_INFLIGHT);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_connect")
int pw_connect_exit(struct trace_event_raw_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct pw_pending_connect *c = bpf_map_lookup_elem(&connects, &id);
	struct pwb_sock ev = {};
	struct sock *sk;

	if (!c)
		return 0;
	if (c->unread && sockaddr_read(c) != 0) {
		/* EFAULT: the kernel could not read it either, so no connect was attempted. */
		if (ctx->ret != -EFAULT)
			drop_inc(PWB_DROP_UNREADABLE);
		goto out;
	}
	if (!sockaddr_wanted(c))
		goto out;
	head_fill(&ev.h, PWB_CONNECT, id >> 32, (__u32)id);
	ev.family = c->family;
	ev.rport = bpf_ntohs(c->port);
	__builtin_memcpy(ev.raddr, c->addr, sizeof ev.raddr);
	ev.fd = c->fd;
	ev.ret = (__s32)ctx->ret;
	ev.cgroup_id = bpf_get_current_cgroup_id();
	/* The destination is what the caller asked for; the local end is what the kernel bound
	 * (0 after a failure: then not flagged). */
	sk = fd_sock(ev.fd);
	if (sk)
		sock_ends(&ev, sk, false);
	ev.h.size = sizeof ev;
	emit(&ev, sizeof ev);
out:
	bpf_map_delete_elem(&connects, &id);
	return 0;
}

static __always_inline int accept_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct pwb_sock ev = {};
	__u64 id = bpf_get_current_pid_tgid();
	struct sock *sk;
	__u16 family;

	if (ctx->ret < 0 || !task_wanted()) /* EAGAIN on every idle non-blocking accept: not news */
		return 0;
	sk = fd_sock((__u32)ctx->ret);
	if (!sk)
		return 0;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return 0;
	head_fill(&ev.h, PWB_ACCEPT, id >> 32, (__u32)id);
	ev.fd = (__u32)ctx->ret;
	ev.ret = (__s32)ctx->ret;
	ev.cgroup_id = bpf_get_current_cgroup_id();
	sock_ends(&ev, sk, true);
	ev.h.size = sizeof ev;
	emit(&ev, sizeof ev);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int pw_accept4_exit(struct trace_event_raw_sys_exit *ctx)
{
	return accept_exit(ctx);
}

SEC("tracepoint/syscalls/sys_exit_accept")
int pw_accept_exit(struct trace_event_raw_sys_exit *ctx)
{
	return accept_exit(ctx);
}

/* ---- file events --------------------------------------------------------------------------- */
SEC("tracepoint/syscalls/sys_enter_openat")
int pw_openat_enter(struct trace_event_raw_sys_enter *ctx)
{
	struct pw_pending_open o = {};
	__u64 id = bpf_get_current_pid_tgid();
	const char *filename = (const char *)ctx->args[1];

	if (!task_wanted())
		return 0;
	if (pw_prefix_len > 0) {
		char head[PWB_PREFIX_MAX];
		/* A path in a page not faulted in yet cannot be read here; the kernel is about to
		 * read it, so it is checked at exit instead of being dropped. */
		if (pw_debug_prefix_at_exit || bpf_probe_read_user_str(head, sizeof head, filename) <= 0) {
			o.unchecked = 1;
		} else if (!prefix_matches(head)) {
			stat_inc(PWB_STAT_FILTERED);
			return 0;
		}
	}
	o.filename = (__u64)filename;
	o.dfd = (__s32)ctx->args[0];
	o.flags = (__u32)ctx->args[2];
	o.mode = (__u32)ctx->args[3];
	if (bpf_map_update_elem(&opens, &id, &o, BPF_ANY) != 0)
		drop_inc(PWB_DROP_INFLIGHT);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_openat")
int pw_openat_exit(struct trace_event_raw_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct pw_pending_open *o = bpf_map_lookup_elem(&opens, &id);
	const char *filename;
	struct pw_scratch *s;
	struct pwb_open *ev;
	char next = 0;
	long n;

	if (!o)
		return 0;
	s = scratch_get();
	if (!s)
		goto out;
	filename = (const char *)o->filename;
	ev = (struct pwb_open *)s->buf;
	head_fill(&ev->h, PWB_OPEN, id >> 32, (__u32)id);
	ev->ret = (__s32)ctx->ret;
	ev->dfd = o->dfd;
	ev->flags = o->flags;
	ev->mode = o->mode;
	ev->cgroup_id = bpf_get_current_cgroup_id();
	ev->reserved = 0;
	/* The caller's buffer is still there at exit, and the kernel just read it. */
	n = bpf_probe_read_user_str(ev->path, PWB_PATH_MAX, filename);
	if (n <= 0) {
		/* EFAULT: the kernel could not read it either, so nothing was opened. */
		if (ctx->ret != -EFAULT)
			drop_inc(PWB_DROP_UNREADABLE);
		goto out;
	}
	if (o->unchecked && !prefix_matches(ev->path)) {
		stat_inc(PWB_STAT_FILTERED);
		goto out;
	}
	ev->path_len = (__u32)n - 1;
	/* A full buffer holds a 4,095-byte path whole (the longest the kernel accepts) or the
	 * start of a longer one: the caller's next byte tells which. */
	if ((__u32)n >= PWB_PATH_MAX &&
	    (bpf_probe_read_user(&next, 1, filename + PWB_PATH_MAX - 1) != 0 || next != '\0'))
		ev->h.flags |= PWB_F_PATH_TRUNCATED;
	ev->h.size = sizeof(*ev) + ev->path_len;
	emit(ev, sizeof(*ev) + (ev->path_len & (PWB_PATH_MAX - 1)));
out:
	bpf_map_delete_elem(&opens, &id);
	return 0;
}

/* ---- behaviour capture: syscall counts --------------------------------------------------------
 * One set of counts per process, in task-local storage on its thread-group leader (created at
 * its first syscall; found from the task pointer, no hashing: the cheapest per-syscall path),
 * one atomic add per syscall, never an event per syscall. The process's exit sends its counts
 * and removes them; the loader reads running processes' counts through an iter/task program. */

/* Events wanted but not counted or sent, by enum pwb_capture_drop (per CPU, like `lost`). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PWB_CDROP_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} capture_lost SEC(".maps");

/* Allocated as processes appear (4 KiB each), freed at their exit (or with the task). */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct pwb_syscall_counts);
} syscall_counts SEC(".maps");

/* Processes with counts now: task storage has no size limit of its own, so this bounds it. */
const volatile __u64 pw_syscall_table_max = 16384;
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} syscall_live SEC(".maps");

static __always_inline void capture_drop_inc(__u32 why)
{
	__u64 *v = bpf_map_lookup_elem(&capture_lost, &why);
	if (v)
		*v += 1;
}

#define TS_COMPAT 0x0002 /* arch/x86/include/asm/thread_info.h: a 32-bit syscall is active */

/* The counts of task's process, created if asked and the table has room; NULL otherwise. */
static __always_inline struct pwb_syscall_counts *syscalls_of(struct task_struct *leader, bool create)
{
	struct pwb_syscall_counts *c = bpf_task_storage_get(&syscall_counts, leader, 0, 0);
	__u32 zero = 0;
	__u64 *live;

	if (c || !create)
		return c;
	live = bpf_map_lookup_elem(&syscall_live, &zero);
	if (!live || *live >= pw_syscall_table_max) {
		capture_drop_inc(PWB_CDROP_SYSCALL_TABLE);
		return NULL;
	}
	c = bpf_task_storage_get(&syscall_counts, leader, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!c) {
		capture_drop_inc(PWB_CDROP_SYSCALL_TABLE); /* out of memory */
		return NULL;
	}
	/* Two threads can create it at once and get the same storage: one of them counts it. */
	if (__sync_val_compare_and_swap(&c->start_ns, 0, leader->start_boottime) == 0)
		__sync_fetch_and_add(live, 1);
	return c;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(pw_sys_enter, struct pt_regs *regs, long id)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct pwb_syscall_counts *c;
	__u32 slot;

	if (!task_wanted())
		return 0;
	c = syscalls_of(task->group_leader, true);
	if (!c)
		return 0;
	slot = id >= 0 && id < PWB_SYSCALL_NR_MAX ? (__u32)id : PWB_SYSCALL_OTHER;
#if defined(__TARGET_ARCH_x86)
	/* A 32-bit task's numbers are the i386 table's: not comparable, so counted apart. */
	if (task->thread_info.status & TS_COMPAT)
		slot = PWB_SYSCALL_OTHER;
#endif
	if (slot < PWB_SYSCALL_SLOTS)
		__sync_fetch_and_add(&c->counts[slot], 1);
	return 0;
}

/* Copies one non-zero count into the event being built (bpf_loop callback). */
struct pw_syscalls_copy {
	struct pwb_syscall_counts *c;
	struct pwb_syscalls *ev;
};
static long syscalls_copy_one(__u32 i, struct pw_syscalls_copy *x)
{
	__u64 n;
	__u32 at;

	if (i >= PWB_SYSCALL_SLOTS)
		return 1;
	n = x->c->counts[i];
	if (n == 0)
		return 0;
	at = x->ev->n;
	if (at >= PWB_SYSCALL_SLOTS)
		return 1;
	x->ev->counts[at].nr = i;
	x->ev->counts[at].reserved = 0;
	x->ev->counts[at].count = n;
	x->ev->n = at + 1;
	return 0;
}

_Static_assert(sizeof(struct pwb_syscalls) + PWB_SYSCALL_SLOTS * sizeof(struct pwb_syscall_count) <= PWB_SCRATCH,
	       "a syscall profile with every slot must fit the scratch buffer");

/* Sends the counts of task's process (task is its last thread) and removes them. */
static __always_inline int syscalls_send(struct task_struct *task)
{
	struct task_struct *leader = task->group_leader;
	struct pwb_syscall_counts *c = syscalls_of(leader, false);
	struct pw_scratch *s = scratch_get();
	struct pw_syscalls_copy x;
	struct pwb_syscalls *ev;
	__u32 tgid = task->tgid, zero = 0;
	__u64 *live;

	if (!c)
		return 0;
	if (s) {
		ev = (struct pwb_syscalls *)s->buf;
		head_fill(&ev->h, PWB_SYSCALLS, tgid, tgid);
		ev->start_ns = c->start_ns;
		ev->n = 0;
		ev->reserved = 0;
		x.c = c;
		x.ev = ev;
		bpf_loop(PWB_SYSCALL_SLOTS, syscalls_copy_one, &x, 0);
		__u32 n = ev->n;
		if (n > PWB_SYSCALL_SLOTS)
			n = PWB_SYSCALL_SLOTS;
		ev->h.size = sizeof(*ev) + n * sizeof(struct pwb_syscall_count);
		emit(ev, sizeof(*ev) + (__u64)n * sizeof(struct pwb_syscall_count));
	}
	/* Two last threads (pre-6.16 variant) can both get here: one delete succeeds. */
	if (bpf_task_storage_delete(&syscall_counts, leader) == 0) {
		live = bpf_map_lookup_elem(&syscall_live, &zero);
		if (live)
			__sync_fetch_and_add(live, -1);
	}
	return 0;
}

/* The same two variants as the process exit programs (6.16+ group_dead, or the live count). */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(pw_syscalls_exit, struct task_struct *task, bool group_dead)
{
	return group_dead ? syscalls_send(task) : 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(pw_syscalls_exit_live, struct task_struct *task)
{
	return BPF_CORE_READ(task, signal, live.counter) == 0 ? syscalls_send(task) : 0;
}

/* The running processes' counts, for the loader's interval read: one pwb_syscall_iter_row per
 * process that has counts (read(2) on an iterator fd walks every task once). */
SEC("iter/task")
int pw_syscalls_iter(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct pwb_syscall_counts *c;
	__u32 head[2];

	if (!task || task->pid != task->tgid) /* leaders only: the counts live there */
		return 0;
	c = bpf_task_storage_get(&syscall_counts, task, 0, 0);
	if (!c || c->start_ns == 0)
		return 0;
	head[0] = task->tgid;
	head[1] = 0;
	bpf_seq_write(ctx->meta->seq, head, sizeof head);
	bpf_seq_write(ctx->meta->seq, c, sizeof *c);
	return 0;
}

/* ---- behaviour capture: TCP sessions ----------------------------------------------------------
 * One entry per TCP socket (its address) in `sessions` from the connect (TCP_SYN_SENT, in the
 * connecting task) or the handshake's end (SYN_RECV -> ESTABLISHED, in softirq: the owner is
 * the task whose accept(2) returns it). At TCP_CLOSE, one event with the socket's own byte
 * counters: nothing runs per packet. */
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_SYN_RECV 3
#define TCP_CLOSE 7
#define TCP_LISTEN 10
#define IPPROTO_TCP 6
#define PW_SESSION_IGNORED 0x8000u /* pw_session.flags: filtered out (kept so its close is not taken for an earlier one) */

struct pw_session {
	__u64 owner_start_ns;
	__u64 established_ns;
	__u64 cgroup_id;
	__u32 owner_tgid;
	__u32 owner_tid;
	__u32 uid;
	__u32 flags; /* PWB_F_SESSION_* */
	/* the ends, read at ESTABLISHED: at TCP_CLOSE the local port may already be released */
	__u16 lport;
	__u16 rport;
	__u32 reserved;
	__u8 laddr[16];
	__u8 raddr[16];
};
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536); /* the loader may resize before load */
	__type(key, __u64);
	__type(value, struct pw_session);
} sessions SEC(".maps");

/* The current task becomes the session's owner. */
static __always_inline void session_own(struct pw_session *s)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 id = bpf_get_current_pid_tgid();

	s->owner_tgid = id >> 32;
	s->owner_tid = (__u32)id;
	s->owner_start_ns = BPF_CORE_READ(task, group_leader, start_boottime);
	s->uid = (__u32)bpf_get_current_uid_gid();
	s->cgroup_id = bpf_get_current_cgroup_id();
	s->flags |= PWB_F_SESSION_OWNER;
}

/* The connection's ends as the socket holds them. */
static __always_inline void session_ends(const struct sock *sk, __u16 family, __u16 *lport, __u16 *rport, __u8 *laddr, __u8 *raddr)
{
	/* inet_sport, not skc_num: releasing the port at close clears skc_num, not inet_sport. */
	*lport = bpf_ntohs(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));
	*rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == AF_INET) {
		bpf_core_read(laddr, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_core_read(raddr, 4, &sk->__sk_common.skc_daddr);
	} else {
		bpf_core_read(laddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(raddr, 16, &sk->__sk_common.skc_v6_daddr);
	}
}

/* Sends the session of sk, which is closing from old_state. s is NULL for a connection
 * established before capture began (its counters are still the whole connection's). The
 * counters count sequence numbers: the loader takes out the SYN and FINs they include. */
static __always_inline void session_send(const struct sock *sk, const struct pw_session *s, int old_state, __u16 family)
{
	struct tcp_sock *tp = (struct tcp_sock *)sk;
	struct pwb_session ev = {};
	unsigned long sk_flags = BPF_CORE_READ(sk, __sk_common.skc_flags);

	head_fill(&ev.h, PWB_SESSION, 0, 0);
	ev.h.uid = 0;
	if (s) {
		ev.h.pid = s->owner_tgid;
		ev.h.tid = s->owner_tid;
		ev.h.uid = s->uid;
		ev.h.flags = s->flags & (PWB_F_SESSION_ACCEPTED | PWB_F_SESSION_OWNER);
		ev.owner_start_ns = s->owner_start_ns;
		ev.established_ns = s->established_ns;
		ev.cgroup_id = s->cgroup_id;
		ev.lport = s->lport;
		ev.rport = s->rport;
		__builtin_memcpy(ev.laddr, s->laddr, sizeof ev.laddr);
		__builtin_memcpy(ev.raddr, s->raddr, sizeof ev.raddr);
	} else {
		ev.h.flags = PWB_F_SESSION_EARLIER;
		session_ends(sk, family, &ev.lport, &ev.rport, ev.laddr, ev.raddr);
	}
	/* SOCK_DONE: set by tcp_fin() when the peer's FIN arrived. */
	if (sk_flags & (1UL << bpf_core_enum_value(enum sock_flags, SOCK_DONE)))
		ev.h.flags |= PWB_F_SESSION_FIN_IN;
	ev.bytes_acked = BPF_CORE_READ(tp, bytes_acked);
	ev.bytes_received = BPF_CORE_READ(tp, bytes_received);
	ev.bytes_retrans = BPF_CORE_READ(tp, bytes_retrans);
	ev.total_retrans = BPF_CORE_READ(tp, total_retrans);
	ev.snd_una = BPF_CORE_READ(tp, snd_una);
	ev.write_seq = BPF_CORE_READ(tp, write_seq);
	ev.family = family;
	ev.old_state = (__u16)old_state;
	ev.h.size = sizeof ev;
	emit(&ev, sizeof ev);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(pw_sock_state, const struct sock *sk, const int oldstate, const int newstate)
{
	__u64 key = (__u64)sk;
	struct pw_session *s;
	__u16 family;

	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return 0;
	if (newstate == TCP_SYN_SENT) { /* connect(2), in the connecting task */
		struct pw_session n = {};
		if (task_wanted())
			session_own(&n);
		else
			n.flags = PW_SESSION_IGNORED;
		if (bpf_map_update_elem(&sessions, &key, &n, BPF_ANY) != 0)
			capture_drop_inc(PWB_CDROP_SESSION_TABLE);
		return 0;
	}
	if (newstate == TCP_ESTABLISHED) {
		if (oldstate == TCP_SYN_SENT) {
			s = bpf_map_lookup_elem(&sessions, &key);
			if (s) {
				s->established_ns = bpf_ktime_get_ns();
				session_ends(sk, family, &s->lport, &s->rport, s->laddr, s->raddr);
			}
		} else if (oldstate == TCP_SYN_RECV) { /* a listener's new connection; accept(2) names the owner */
			struct pw_session n = { .established_ns = bpf_ktime_get_ns(), .flags = PWB_F_SESSION_ACCEPTED };
			session_ends(sk, family, &n.lport, &n.rport, n.laddr, n.raddr);
			if (bpf_map_update_elem(&sessions, &key, &n, BPF_ANY) != 0)
				capture_drop_inc(PWB_CDROP_SESSION_TABLE);
		}
		return 0;
	}
	if (newstate != TCP_CLOSE)
		return 0;
	s = bpf_map_lookup_elem(&sessions, &key);
	if (!s) {
		/* Established before capture began: still one record, from the socket's own
		 * counters, unless a filter asks for owners this record cannot name. */
		if (oldstate != TCP_SYN_SENT && oldstate != TCP_SYN_RECV && oldstate != TCP_LISTEN && oldstate != TCP_CLOSE &&
		    pw_uid == (__u32)-1 && !pw_cgroup_filter)
			session_send(sk, NULL, oldstate, family);
		return 0;
	}
	/* A connect that never connected is not a session (the connect event says it failed);
	 * an accepted connection nobody accepted cannot be checked against the filters. */
	if (s->established_ns != 0 && !(s->flags & PW_SESSION_IGNORED) &&
	    ((s->flags & PWB_F_SESSION_OWNER) || (pw_uid == (__u32)-1 && !pw_cgroup_filter)))
		session_send(sk, s, oldstate, family);
	bpf_map_delete_elem(&sessions, &key);
	return 0;
}

/* accept(2) hands a connection to a task: it becomes the owner (unless a filter excludes it). */
static __always_inline int session_accept(struct trace_event_raw_sys_exit *ctx)
{
	struct pw_session *s;
	struct sock *sk;
	__u64 key;

	if (ctx->ret < 0)
		return 0;
	sk = fd_sock((__u32)ctx->ret);
	if (!sk)
		return 0;
	key = (__u64)sk;
	s = bpf_map_lookup_elem(&sessions, &key);
	if (!s || (s->flags & (PWB_F_SESSION_OWNER | PW_SESSION_IGNORED)))
		return 0;
	if (task_wanted())
		session_own(s);
	else
		s->flags |= PW_SESSION_IGNORED;
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int pw_session_accept4(struct trace_event_raw_sys_exit *ctx)
{
	return session_accept(ctx);
}

SEC("tracepoint/syscalls/sys_exit_accept")
int pw_session_accept(struct trace_event_raw_sys_exit *ctx)
{
	return session_accept(ctx);
}

/* ---- behaviour capture: shell lines -----------------------------------------------------------
 * A uretprobe on readline() in each bash binary the loader finds (it attaches this program
 * once per binary, at the offset it resolved from the binary's own symbol table): the line
 * readline returns is what the user typed, before history or alias expansion, builtins and
 * pipelines included. The loader attaches it; nothing here names a binary. */
_Static_assert(sizeof(struct pwb_shell) + PWB_SHELL_LINE_MAX + PWB_TTY_NAME_MAX + PWB_WALK_MAX <= PWB_SCRATCH,
	       "a shell event at every cap must fit the scratch buffer");

/* When a shell line last woke the reader. Lines that follow within PW_SHELL_WAKE_NS (pasted or
 * scripted input) do not wake it again: each wakeup is a context switch charged to the shell,
 * twice the cost of the program itself. The reader finds them at its next wakeup or timeout. */
#define PW_SHELL_WAKE_NS (5ull * 1000000ull)
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} shell_woke SEC(".maps");

SEC("uretprobe")
int BPF_KRETPROBE(pw_shell_readline, const char *line)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 id = bpf_get_current_pid_tgid();
	struct pw_scratch *s;
	struct pwb_shell *ev;
	struct tty_struct *tty;
	struct fs_struct *fs;
	char next = 0;
	__u32 pos;
	long n;

	if (!line || !task_wanted()) /* NULL: end of input (Ctrl-D) */
		return 0;
	s = scratch_get();
	if (!s)
		return 0;
	ev = (struct pwb_shell *)s->buf;
	head_fill(&ev->h, PWB_SHELL, id >> 32, (__u32)id);
	ev->start_ns = BPF_CORE_READ(task, group_leader, start_boottime);
	ev->euid = BPF_CORE_READ(task, cred, euid.val);
	ev->login_uid = BPF_CORE_READ(task, loginuid.val);
	ev->session_id = BPF_CORE_READ(task, sessionid);
	ev->tty_len = 0;
	ev->cwd_len = 0;
	/* readline() returns a buffer it just wrote with malloc'd memory: resident, readable. */
	n = bpf_probe_read_user_str(ev->data, PWB_SHELL_LINE_MAX, line);
	if (n <= 0) {
		capture_drop_inc(PWB_CDROP_SHELL_UNREADABLE);
		return 0;
	}
	if (n == 1) /* an empty line: nothing was entered */
		return 0;
	ev->line_len = (__u32)n - 1;
	/* A full buffer holds a line of exactly the cap or the start of a longer one. */
	if ((__u32)n >= PWB_SHELL_LINE_MAX &&
	    (bpf_probe_read_user(&next, 1, line + PWB_SHELL_LINE_MAX - 1) != 0 || next != '\0'))
		ev->h.flags |= PWB_F_SHELL_TRUNCATED;
	pos = sizeof(*ev) + (ev->line_len & (PWB_SHELL_LINE_MAX - 1));
	tty = BPF_CORE_READ(task, signal, tty);
	if (tty) {
		n = bpf_probe_read_kernel_str(s->buf + (pos & PWB_SCRATCH_MASK), PWB_TTY_NAME_MAX, &tty->name);
		if (n > 1) {
			ev->tty_len = (__u32)n - 1;
			ev->h.flags |= PWB_F_SHELL_TTY;
			pos += ev->tty_len;
		}
	}
	fs = BPF_CORE_READ(task, fs);
	if (fs) {
		/* Through memory, so the walk starts from a position the verifier does not track
		 * exactly: with a known range, each bpf_loop step would be a new state to verify. */
		ev->h.size = pos;
		pos = *(volatile __u32 *)&ev->h.size;
		int w = walk_path(pos, BPF_CORE_READ(fs, pwd.dentry), BPF_CORE_READ(fs, pwd.mnt));
		if (w >= 0) {
			ev->cwd_len = w;
			ev->h.flags |= PWB_F_SHELL_CWD;
			pos += w;
		}
	}
	ev->h.size = pos;
	__u32 zero = 0;
	__u64 *woke = bpf_map_lookup_elem(&shell_woke, &zero), now = ev->h.ts, flags = 0;
	if (woke) {
		if (now - *woke < PW_SHELL_WAKE_NS)
			flags = BPF_RB_NO_WAKEUP;
		else
			*woke = now;
	}
	if (pos <= sizeof(struct pw_scratch) && bpf_ringbuf_output(&events, ev, pos, flags) != 0)
		drop_inc(PWB_DROP_RINGBUF);
	return 0;
}

/* ---- process changes: uid, gid, sid, ptrace, comm, coredump -------------------------------
 * The proc connector's other events, from the same kernel paths where a tracepoint reaches
 * them (kprobes and fentry on commit_creds() are not available everywhere: this VM's kernel
 * refuses fentry/fexit/lsm programs):
 *  - uid/gid: the set*uid and set*gid syscalls. The ids are read at entry and at exit; an event
 *    is sent only when one of the four changed, as commit_creds() decides (setfsuid() returns
 *    the old id whether it succeeded or not, so the return value is not what decides).
 *    32-bit compat calls, and credentials installed without a set*id call (an exec of a setuid
 *    program: the exec event carries its ids; a kernel exploit's commit_creds()) are not seen.
 *  - sid: setsid() that succeeded. ptrace: PTRACE_ATTACH/PTRACE_SEIZE/PTRACE_DETACH that
 *    succeeded, with the tracee named by its global pid/tid (the call names it in the tracer's
 *    pid namespace: found among the tracer's tracees).
 *  - comm: task_rename, except the rename an exec does (the exec event names the process) and
 *    the kernel's own threads and workers, which the proc connector does not report either.
 *  - coredump: signal_deliver of a signal whose default action dumps core, as get_signal()
 *    calls the connector just before vfs_coredump() (whether a core file is then written or
 *    not: the exit's status says that).
 * The syscall tracepoints cost every syscall of every task a little (the kernel's syscall
 * tracing path is entered once one is attached): the loader leaves them out when asked. */
#define PTRACE_ATTACH 16
#define PTRACE_DETACH 17
#define PTRACE_SEIZE 0x4206
#define PF_IO_WORKER 0x00000010   /* include/linux/sched.h */
#define PF_USER_WORKER 0x00004000
#define PF_KTHREAD 0x00200000
#define SIGNAL_UNKILLABLE 0x00000040
#define SIG_DFL 0
/* sig_kernel_coredump(): SIGQUIT SIGILL SIGTRAP SIGABRT SIGBUS SIGFPE SIGSEGV SIGXCPU SIGXFSZ SIGSYS */
#define PW_COREDUMP_SIGNALS ((1u << 3) | (1u << 4) | (1u << 5) | (1u << 6) | (1u << 7) | (1u << 8) | \
			     (1u << 11) | (1u << 24) | (1u << 25) | (1u << 31))
#define PW_TRACEES_MAX 64 /* tracees of one tracer looked at to find the one a call named */

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PWB_XDROP_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} change_lost SEC(".maps");

/* A set*id or ptrace call between its entry and exit, on the calling thread. Task storage: no
 * table to fill up, and nothing left behind by a thread killed inside the call. */
#define PW_BEFORE_IDS 1
#define PW_BEFORE_PTRACE 2
struct pw_change_before {
	__u32 what;   /* PW_BEFORE_*, 0 once the exit used it */
	__u32 ids[8]; /* uid euid suid fsuid gid egid sgid fsgid at entry */
	__s32 target; /* ptrace: the pid argument (tracer's namespace) */
	__s64 request;
	__u32 tracee_pid; /* ptrace detach: the tracee, found at entry (it is unlinked by the call) */
	__u32 tracee_tid;
};
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct pw_change_before);
} change_before SEC(".maps");

static __always_inline void change_drop_inc(__u32 why)
{
	__u64 *v = bpf_map_lookup_elem(&change_lost, &why);
	if (v)
		*v += 1;
}

static __always_inline bool self_task(void)
{
	return (__u32)(bpf_get_current_pid_tgid() >> 32) == pw_self_tgid;
}

/* The task's objective ids (real_cred: what /proc shows and the proc connector sends). */
static __always_inline void ids_read(struct task_struct *task, __u32 ids[8])
{
	const struct cred *c = BPF_CORE_READ(task, real_cred);

	ids[0] = BPF_CORE_READ(c, uid.val);
	ids[1] = BPF_CORE_READ(c, euid.val);
	ids[2] = BPF_CORE_READ(c, suid.val);
	ids[3] = BPF_CORE_READ(c, fsuid.val);
	ids[4] = BPF_CORE_READ(c, gid.val);
	ids[5] = BPF_CORE_READ(c, egid.val);
	ids[6] = BPF_CORE_READ(c, sgid.val);
	ids[7] = BPF_CORE_READ(c, fsgid.val);
}

static __always_inline void id_send(__u16 type, __u32 real, __u32 effective)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct pwb_id ev;

	head_fill(&ev.h, type, id >> 32, (__u32)id);
	ev.real = real;
	ev.effective = effective;
	ev.h.size = sizeof ev;
	emit(&ev, sizeof ev);
}

static __always_inline int ids_enter(void)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct pw_change_before *b;

	if (self_task())
		return 0;
	b = bpf_task_storage_get(&change_before, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!b) /* out of memory: the exit sends the call's family without comparing */
		return 0;
	ids_read(task, b->ids);
	b->what = PW_BEFORE_IDS;
	return 0;
}

/* family: PWB_UID for the set*uid calls, PWB_GID for set*gid. */
static __always_inline int ids_exit(__u16 family)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct pw_change_before *b;
	__u32 now[8];
	bool uid_changed, gid_changed;

	if (self_task())
		return 0;
	ids_read(task, now);
	b = bpf_task_storage_get(&change_before, task, 0, 0);
	if (b && b->what == PW_BEFORE_IDS) {
		b->what = 0;
		uid_changed = now[0] != b->ids[0] || now[1] != b->ids[1] || now[2] != b->ids[2] || now[3] != b->ids[3];
		gid_changed = now[4] != b->ids[4] || now[5] != b->ids[5] || now[6] != b->ids[6] || now[7] != b->ids[7];
	} else {
		/* Nothing kept at entry (no memory, or the call began before the programs were
		 * attached): whether it changed anything is unknown, so it is said. */
		uid_changed = family == PWB_UID;
		gid_changed = family == PWB_GID;
	}
	if (uid_changed)
		id_send(PWB_UID, now[0], now[1]);
	if (gid_changed)
		id_send(PWB_GID, now[4], now[5]);
	return 0;
}

#define PW_ID_SYSCALL(name, family)                                        \
	SEC("tracepoint/syscalls/sys_enter_" #name)                        \
	int pw_##name##_enter(struct trace_event_raw_sys_enter *ctx)       \
	{                                                                  \
		return ids_enter();                                        \
	}                                                                  \
	SEC("tracepoint/syscalls/sys_exit_" #name)                         \
	int pw_##name##_exit(struct trace_event_raw_sys_exit *ctx)         \
	{                                                                  \
		return ids_exit(family);                                   \
	}
PW_ID_SYSCALL(setuid, PWB_UID)
PW_ID_SYSCALL(setreuid, PWB_UID)
PW_ID_SYSCALL(setresuid, PWB_UID)
PW_ID_SYSCALL(setfsuid, PWB_UID)
PW_ID_SYSCALL(setgid, PWB_GID)
PW_ID_SYSCALL(setregid, PWB_GID)
PW_ID_SYSCALL(setresgid, PWB_GID)
PW_ID_SYSCALL(setfsgid, PWB_GID)

SEC("tracepoint/syscalls/sys_exit_setsid")
int pw_setsid_exit(struct trace_event_raw_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct pwb_head h;

	if (ctx->ret < 0 || self_task())
		return 0;
	head_fill(&h, PWB_SID, id >> 32, (__u32)id);
	h.size = sizeof h;
	emit(&h, sizeof h);
	return 0;
}

/* A search of the tracer's tracees (current->ptraced, newest first) for the one whose pid in
 * the tracer's pid namespace is `target`; only scalars, for bpf_loop. */
struct pw_tracee_find {
	__u64 head; /* &current->ptraced */
	__u64 pos;  /* a list_head in it */
	__u64 ns;   /* the tracer's pid namespace */
	__u64 found;
	__u32 level; /* its depth */
	__s32 target;
};

static long tracee_step(__u32 i, struct pw_tracee_find *f)
{
	struct task_struct *t;
	struct list_head *lh;
	struct pid *pid;
	struct upid up;

	if (f->pos == f->head || f->pos == 0)
		return 1;
	t = (struct task_struct *)(f->pos - bpf_core_field_offset(struct task_struct, ptrace_entry));
	pid = BPF_CORE_READ(t, thread_pid);
	if (pid && BPF_CORE_READ(pid, level) >= f->level &&
	    bpf_probe_read_kernel(&up, sizeof up, (char *)pid + bpf_core_field_offset(struct pid, numbers) +
						      f->level * bpf_core_type_size(struct upid)) == 0 &&
	    (__u64)up.ns == f->ns && up.nr == f->target) {
		f->found = (__u64)t;
		return 1;
	}
	lh = (struct list_head *)f->pos;
	f->pos = (__u64)BPF_CORE_READ(lh, next);
	return 0;
}

static __always_inline struct task_struct *tracee_find(struct task_struct *tracer, __s32 target)
{
	struct pid *pid = BPF_CORE_READ(tracer, thread_pid);
	struct pw_tracee_find f = { .target = target };
	struct upid up;

	f.level = BPF_CORE_READ(pid, level);
	if (bpf_probe_read_kernel(&up, sizeof up, (char *)pid + bpf_core_field_offset(struct pid, numbers) +
						  f.level * bpf_core_type_size(struct upid)) != 0)
		return NULL;
	f.ns = (__u64)up.ns;
	f.head = (__u64)tracer + bpf_core_field_offset(struct task_struct, ptraced);
	f.pos = (__u64)BPF_CORE_READ(tracer, ptraced.next);
	bpf_loop(PW_TRACEES_MAX, tracee_step, &f, 0);
	return (struct task_struct *)f.found;
}

SEC("tracepoint/syscalls/sys_enter_ptrace")
int pw_ptrace_enter(struct trace_event_raw_sys_enter *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf(), *tracee;
	struct pw_change_before *b;
	__s64 request = (__s64)ctx->args[0];

	/* PTRACE_TRACEME is not reported: the proc connector does not report it either. */
	if ((request != PTRACE_ATTACH && request != PTRACE_SEIZE && request != PTRACE_DETACH) || self_task())
		return 0;
	b = bpf_task_storage_get(&change_before, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!b) {
		change_drop_inc(PWB_XDROP_PTRACE_UNRESOLVED); /* out of memory: the exit cannot tell */
		return 0;
	}
	b->what = PW_BEFORE_PTRACE;
	b->request = request;
	b->target = (__s32)ctx->args[1];
	b->tracee_pid = 0;
	b->tracee_tid = 0;
	if (request == PTRACE_DETACH) {
		tracee = tracee_find(task, b->target);
		if (tracee) {
			b->tracee_pid = BPF_CORE_READ(tracee, tgid);
			b->tracee_tid = BPF_CORE_READ(tracee, pid);
		}
	}
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_ptrace")
int pw_ptrace_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf(), *tracee;
	struct pw_change_before *b = bpf_task_storage_get(&change_before, task, 0, 0);
	struct pwb_ptrace ev;

	if (!b || b->what != PW_BEFORE_PTRACE)
		return 0;
	b->what = 0;
	if (ctx->ret != 0)
		return 0;
	if (b->request == PTRACE_DETACH) {
		if (b->tracee_tid == 0) {
			change_drop_inc(PWB_XDROP_PTRACE_UNRESOLVED);
			return 0;
		}
		head_fill(&ev.h, PWB_PTRACE, b->tracee_pid, b->tracee_tid);
		ev.tracer_pid = 0;
		ev.tracer_tid = 0;
	} else {
		/* ptrace_link() put the new tracee first in the list; it is gone from it only if
		 * it was released in between. */
		tracee = tracee_find(task, b->target);
		if (!tracee) {
			change_drop_inc(PWB_XDROP_PTRACE_UNRESOLVED);
			return 0;
		}
		head_fill(&ev.h, PWB_PTRACE, BPF_CORE_READ(tracee, tgid), BPF_CORE_READ(tracee, pid));
		ev.tracer_pid = BPF_CORE_READ(task, tgid);
		ev.tracer_tid = BPF_CORE_READ(task, pid);
	}
	ev.h.size = sizeof ev;
	emit(&ev, sizeof ev);
	return 0;
}

SEC("tp_btf/task_rename")
int BPF_PROG(pw_comm, struct task_struct *task, const char *comm)
{
	struct task_struct *cur = bpf_get_current_task_btf();
	struct pwb_comm ev;

	if (BPF_CORE_READ_BITFIELD(cur, in_execve)) /* the exec names it: the exec event says so */
		return 0;
	if (BPF_CORE_READ(task, flags) & (PF_KTHREAD | PF_IO_WORKER | PF_USER_WORKER))
		return 0;
	if (BPF_CORE_READ(task, tgid) == pw_self_tgid)
		return 0;
	head_fill(&ev.h, PWB_COMM, BPF_CORE_READ(task, tgid), BPF_CORE_READ(task, pid));
	__builtin_memset(ev.comm, 0, sizeof ev.comm);
	bpf_probe_read_kernel_str(ev.comm, sizeof ev.comm, comm);
	ev.h.size = sizeof ev;
	emit(&ev, sizeof ev);
	return 0;
}

SEC("tp_btf/signal_deliver")
int BPF_PROG(pw_coredump, int sig, struct kernel_siginfo *info, struct k_sigaction *ka)
{
	struct task_struct *task = bpf_get_current_task_btf(), *parent;
	struct pwb_coredump ev;

	if (sig <= 0 || sig >= 32 || !((1u << sig) & PW_COREDUMP_SIGNALS))
		return 0;
	/* A handler runs, or the signal is ignored: no core dump. init ignores what it does not handle. */
	if ((unsigned long)BPF_CORE_READ(ka, sa.sa_handler) != SIG_DFL)
		return 0;
	if (BPF_CORE_READ(task, signal, flags) & SIGNAL_UNKILLABLE)
		return 0;
	head_fill(&ev.h, PWB_COREDUMP, BPF_CORE_READ(task, tgid), BPF_CORE_READ(task, pid));
	parent = BPF_CORE_READ(task, real_parent);
	ev.parent_pid = BPF_CORE_READ(parent, tgid);
	ev.parent_tid = BPF_CORE_READ(parent, pid);
	ev.h.size = sizeof ev;
	emit(&ev, sizeof ev);
	return 0;
}
