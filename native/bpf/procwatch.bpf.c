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
 * Failure paths just return 0: an event we cannot build is not sent. An event we built but
 * the ring buffer had no room for is counted in `lost`, which the loader turns into a
 * `lost` record.
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
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define SIGNAL_GROUP_EXIT 0x00000004 /* include/linux/sched/signal.h, stable since 2.6 */

/* ---- settings, filled by the loader before load (execsnoop's habit) ---------------------- */
const volatile __u32 pw_self_tgid = 0;         /* procwatch itself: never report its net/file activity */
const volatile __u32 pw_uid = (__u32)-1;       /* net/file: only this real uid; -1 any */
const volatile bool pw_cgroup_filter = false;  /* net/file: only tasks under cgroup_filter[0] */
const volatile __u32 pw_prefix_len = 0;        /* open: only paths starting with pw_prefix */
const volatile char pw_prefix[PWB_PREFIX_MAX] = {};
const volatile bool pw_exit_has_group_dead = false; /* sched_process_exit(p, group_dead) (6.16+) */

/* ---- maps --------------------------------------------------------------------------------- */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20); /* the loader may resize before load */
} events SEC(".maps");

/* Events that found the ring buffer full. Per CPU: no contention when it matters most. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

enum pw_stat { PW_STAT_THREAD_FORKS, PW_STAT_THREAD_EXITS, PW_STAT_FILTERED, PW_STAT_COUNT };
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PW_STAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* One event is assembled here, then copied into the ring buffer with its real size. The
 * slack after PWB_SCRATCH lets a masked offset plus one component stay in bounds. */
struct pw_scratch {
	char buf[PWB_SCRATCH + PWB_NAME_MAX];
};
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
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
	__u32 fd;
	__u16 family;
	__u16 port; /* network order */
	__u8 addr[16];
};
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64);
	__type(value, struct pw_pending_connect);
} connects SEC(".maps");

struct pw_pending_open {
	__u64 filename; /* user pointer, read again at exit */
	__s32 dfd;
	__u32 flags;
	__u32 mode;
	__u32 reserved;
};
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64);
	__type(value, struct pw_pending_open);
} opens SEC(".maps");

/* ---- helpers ------------------------------------------------------------------------------ */
static __always_inline void stat_inc(__u32 which)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &which);
	if (v)
		*v += 1;
}

static __always_inline void emit(void *ev, __u64 size)
{
	__u32 zero = 0;
	if (size > sizeof(struct pw_scratch))
		return;
	if (bpf_ringbuf_output(&events, ev, size, 0) != 0) {
		__u64 *n = bpf_map_lookup_elem(&lost, &zero);
		if (n)
			*n += 1;
	}
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
	stat_inc(PW_STAT_FILTERED);
	return false;
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
	__u32 zero = 0;
	struct pw_scratch *s = bpf_map_lookup_elem(&scratch, &zero);
	struct dentry *d = (struct dentry *)w->dentry, *parent, *root;
	struct mount *m = (struct mount *)w->mount, *up;
	const unsigned char *name;
	long n;

	if (!s)
		return 1;
	root = BPF_CORE_READ(m, mnt.mnt_root);
	parent = BPF_CORE_READ(d, d_parent);
	if (d == root) {
		up = BPF_CORE_READ(m, mnt_parent);
		if (up == m) { /* the root mount of the namespace: complete */
			w->done = true;
			return 1;
		}
		w->dentry = (__u64)BPF_CORE_READ(m, mnt_mountpoint); /* go on in the mount above */
		w->mount = (__u64)up;
		return 0;
	}
	if (d == parent) /* a root that is not a mount's root: detached, no path */
		return 1;
	if (w->pos - w->start + PWB_NAME_MAX > PWB_WALK_MAX)
		return 1; /* too long: cut, so unknown */
	name = BPF_CORE_READ(d, d_name.name);
	n = bpf_probe_read_kernel_str(s->buf + (w->pos & PWB_SCRATCH_MASK), PWB_NAME_MAX, name);
	if (n <= 0)
		return 1;
	w->pos += n;
	w->dentry = (__u64)parent;
	return 0;
}

/* Writes the components of the path (d, vm) leaf first, each NUL-terminated, at scratch
 * offset pos, like d_path() without its locks. Returns the bytes written, or -1 unless the
 * walk reached the root: a cut or failed walk is "unknown", never a wrong path. */
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

/* ---- process events ------------------------------------------------------------------------ */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(pw_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 zero = 0, pos;
	struct pw_scratch *s = bpf_map_lookup_elem(&scratch, &zero);
	struct pwb_exec *e;
	struct mm_struct *mm;
	struct file *exe;
	const struct cred *cred;
	unsigned long arg_start, arg_end;
	struct fs_struct *fs;
	__u64 len;

	if (!s)
		return 0;
	e = (struct pwb_exec *)s->buf;
	head_fill(&e->h, PWB_EXEC, BPF_CORE_READ(task, tgid), BPF_CORE_READ(task, pid));
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->start_ns = BPF_CORE_READ(task, group_leader, start_boottime);
	e->cgroup_id = bpf_get_current_cgroup_id();
	cred = BPF_CORE_READ(task, cred);
	e->uid[0] = BPF_CORE_READ(cred, uid.val);
	e->uid[1] = BPF_CORE_READ(cred, euid.val);
	e->uid[2] = BPF_CORE_READ(cred, suid.val);
	e->uid[3] = BPF_CORE_READ(cred, fsuid.val);
	e->gid[0] = BPF_CORE_READ(cred, gid.val);
	e->gid[1] = BPF_CORE_READ(cred, egid.val);
	e->gid[2] = BPF_CORE_READ(cred, sgid.val);
	e->gid[3] = BPF_CORE_READ(cred, fsgid.val);
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

	/* exe: the file the new mm maps, as /proc/PID/exe resolves it. */
	exe = BPF_CORE_READ(mm, exe_file);
	e->exe_len = 0;
	if (exe) {
		int n = walk_path(pos, BPF_CORE_READ(exe, f_path.dentry), BPF_CORE_READ(exe, f_path.mnt));
		if (n >= 0) {
			e->exe_len = n;
			e->h.flags |= PWB_F_EXE;
			pos += n;
		}
	}
	e->cwd_len = 0;
	fs = BPF_CORE_READ(task, fs);
	if (fs) {
		int n = walk_path(pos, BPF_CORE_READ(fs, pwd.dentry), BPF_CORE_READ(fs, pwd.mnt));
		if (n >= 0) {
			e->cwd_len = n;
			e->h.flags |= PWB_F_CWD;
			pos += n;
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

	if (pid != tid) { /* a new thread, not a process: counted, not sent */
		stat_inc(PW_STAT_THREAD_FORKS);
		return 0;
	}
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

SEC("tp_btf/sched_process_exit")
int pw_exit(__u64 *ctx)
{
	struct task_struct *task = (struct task_struct *)ctx[0];
	struct task_struct *leader;
	struct signal_struct *sig;
	struct pwb_exit x;
	bool group_dead;

	/* Only the last thread of a group ends the process. The kernel says so since 6.16; on
	 * older kernels, the group's live count after this thread's decrement tells us. */
	sig = BPF_CORE_READ(task, signal);
	if (pw_exit_has_group_dead)
		group_dead = (bool)ctx[1];
	else
		group_dead = BPF_CORE_READ(sig, live.counter) == 0;
	if (!group_dead) {
		stat_inc(PW_STAT_THREAD_EXITS);
		return 0;
	}
	leader = BPF_CORE_READ(task, group_leader);
	head_fill(&x.h, PWB_EXIT, BPF_CORE_READ(task, tgid), BPF_CORE_READ(task, tgid));
	/* What wait(2) will report: the group's code after exit_group() or a fatal signal,
	 * else the leader's own (it may have left first with pthread_exit). */
	if (BPF_CORE_READ(sig, flags) & SIGNAL_GROUP_EXIT)
		x.exit_code = BPF_CORE_READ(sig, group_exit_code);
	else
		x.exit_code = BPF_CORE_READ(leader, exit_code);
	x.exit_signal = BPF_CORE_READ(leader, exit_signal);
	x.parent_pid = BPF_CORE_READ(leader, real_parent, tgid);
	x.parent_tid = BPF_CORE_READ(leader, real_parent, pid);
	x.h.size = sizeof x;
	emit(&x, sizeof x);
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

SEC("tracepoint/syscalls/sys_enter_connect")
int pw_connect_enter(struct trace_event_raw_sys_enter *ctx)
{
	struct pw_pending_connect c = {};
	__u64 id = bpf_get_current_pid_tgid();
	void *uaddr = (void *)ctx->args[1];
	__u32 alen = (__u32)ctx->args[2];

	if (!task_wanted())
		return 0;
	if (bpf_probe_read_user(&c.family, sizeof c.family, uaddr) != 0)
		return 0;
	c.fd = (__u32)ctx->args[0];
	/* sockaddr_in: family, port, addr at 4; sockaddr_in6: family, port, flowinfo, addr at 8 */
	if (c.family == AF_INET && alen >= 16) {
		bpf_probe_read_user(&c.port, 2, uaddr + 2);
		bpf_probe_read_user(c.addr, 4, uaddr + 4);
	} else if (c.family == AF_INET6 && alen >= 24) {
		bpf_probe_read_user(&c.port, 2, uaddr + 2);
		bpf_probe_read_user(c.addr, 16, uaddr + 8);
	} else {
		return 0; /* unix, netlink, AF_UNSPEC (disconnect): not network activity */
	}
	bpf_map_update_elem(&connects, &id, &c, BPF_ANY);
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
	head_fill(&ev.h, PWB_CONNECT, id >> 32, (__u32)id);
	ev.family = c->family;
	ev.rport = bpf_ntohs(c->port);
	__builtin_memcpy(ev.raddr, c->addr, sizeof ev.raddr);
	ev.fd = c->fd;
	ev.ret = (__s32)ctx->ret;
	ev.cgroup_id = bpf_get_current_cgroup_id();
	bpf_map_delete_elem(&connects, &id);
	/* The destination is what the caller asked for; the local end is what the kernel bound
	 * (0 after a failure: then not flagged). */
	sk = fd_sock(ev.fd);
	if (sk)
		sock_ends(&ev, sk, false);
	ev.h.size = sizeof ev;
	emit(&ev, sizeof ev);
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
		if (bpf_probe_read_user_str(head, sizeof head, filename) <= 0)
			return 0;
		for (__u32 i = 0; i < PWB_PREFIX_MAX; i++) {
			if (i >= pw_prefix_len)
				break;
			if (head[i] != pw_prefix[i]) {
				stat_inc(PW_STAT_FILTERED);
				return 0;
			}
		}
	}
	o.filename = (__u64)filename;
	o.dfd = (__s32)ctx->args[0];
	o.flags = (__u32)ctx->args[2];
	o.mode = (__u32)ctx->args[3];
	bpf_map_update_elem(&opens, &id, &o, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_openat")
int pw_openat_exit(struct trace_event_raw_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct pw_pending_open *o = bpf_map_lookup_elem(&opens, &id);
	__u32 zero = 0;
	struct pw_scratch *s;
	struct pwb_open *ev;
	long n;

	if (!o)
		return 0;
	s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		goto out;
	ev = (struct pwb_open *)s->buf;
	head_fill(&ev->h, PWB_OPEN, id >> 32, (__u32)id);
	ev->ret = (__s32)ctx->ret;
	ev->dfd = o->dfd;
	ev->flags = o->flags;
	ev->mode = o->mode;
	ev->cgroup_id = bpf_get_current_cgroup_id();
	ev->reserved = 0;
	/* The caller's buffer is still there at exit: read the path once, with the result. */
	n = bpf_probe_read_user_str(ev->path, PWB_PATH_MAX, (const char *)o->filename);
	if (n <= 0)
		goto out;
	ev->path_len = (__u32)n - 1;
	if ((__u32)n >= PWB_PATH_MAX)
		ev->h.flags |= PWB_F_PATH_TRUNCATED;
	ev->h.size = sizeof(*ev) + ev->path_len;
	emit(ev, sizeof(*ev) + (ev->path_len & (PWB_PATH_MAX - 1)));
out:
	bpf_map_delete_elem(&opens, &id);
	return 0;
}
