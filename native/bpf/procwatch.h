/*
 * procwatch.h - the contract between the BPF programs (procwatch.bpf.c) and their loader
 * (procbpf.c): the events the kernel side puts in the ring buffer, and the per-CPU counters
 * it keeps. Only those two files read it; what leaves the addon is record.h. Included by
 * BPF code (vmlinux.h types) and by user-space C (<linux/types.h>), so only __u* types
 * appear here.
 *
 * Every event starts with pwb_head; head.size is the number of bytes the kernel wrote
 * (fixed part + variable data), so the loader never reads past what was sent.
 */
#ifndef PROCWATCH_BPF_H
#define PROCWATCH_BPF_H

#define PWB_COMM_LEN 16
#define PWB_ARGV_MAX 16384u /* bytes of argv kept (record.h's PW_BPF_ARGV_MAX) */
#define PWB_PATH_MAX 4096u  /* bytes of a path string read whole (NUL included): exec filename, opened path */
#define PWB_WALK_MAX 4096u  /* bytes of one dentry walk: equal to the path's length ('/' + name per component) */
#define PWB_WALK_DEPTH 64   /* walk steps at most: path components plus mount crossings */
#define PWB_NAME_MAX 256u   /* one component, NUL included (NAME_MAX + 1) */
#define PWB_PREFIX_MAX 256u /* bytes of the open path prefix filter */
#define PWB_SCRATCH 32768u  /* assembly buffer per CPU; power of 2, offsets are masked */
#define PWB_SCRATCH_MASK (PWB_SCRATCH - 1)
#define PWB_SCRATCH_SLACK PWB_PATH_MAX /* room after a masked offset for the largest single read */

enum pwb_type {
	PWB_EXEC = 1,
	PWB_FORK = 2,
	PWB_EXIT = 3,
	PWB_CONNECT = 4,
	PWB_ACCEPT = 5,
	PWB_OPEN = 6,
	PWB_ACCT = 7,
};

/* pwb_head.flags */
#define PWB_F_ARGV_TRUNCATED 0x1u /* exec: argv longer than PWB_ARGV_MAX */
#define PWB_F_EXE 0x2u            /* exec: exe walk reached the namespace's root (exe components valid) */
#define PWB_F_CWD 0x4u            /* exec: cwd walk reached the namespace's root */
#define PWB_F_PATH_TRUNCATED 0x8u /* open: path longer than PWB_PATH_MAX - 1 */
#define PWB_F_LOCAL 0x10u         /* connect/accept: local address and port read from the socket */
#define PWB_F_ARGV 0x20u          /* exec: argv read */
#define PWB_F_FILENAME 0x40u      /* exec: filename read */
#define PWB_F_EXE_DELETED 0x80u   /* exec: the exe's dentry is unlinked (/proc shows " (deleted)") */
#define PWB_F_COMM 0x100u         /* exit: comm read */

/* Why the kernel side could not send an event: keys of the per-CPU `lost` map. Each becomes
 * a LOST record with its own reason (record.h pw_lost_reason). */
enum pwb_drop {
	PWB_DROP_RINGBUF = 0,    /* no room in the ring buffer */
	PWB_DROP_UNREADABLE = 1, /* a connect's address or an open's path could not be read */
	PWB_DROP_INFLIGHT = 2,   /* the table of connect/openat calls in progress was full */
	PWB_DROP_COUNT
};

/* Keys of the per-CPU `stats` map: things counted in the kernel, not sent one by one. */
enum pwb_stat {
	PWB_STAT_THREAD_FORKS = 0,
	PWB_STAT_THREAD_EXITS = 1,
	PWB_STAT_FILTERED = 2,
	PWB_STAT_EXIT_DUPLICATES = 3, /* pre-6.16 exit program: a second "last thread" of one group */
	PWB_STAT_COUNT
};

struct pwb_head {
	__u16 type;  /* enum pwb_type */
	__u16 flags; /* PWB_F_* */
	__u32 size;  /* bytes of the whole event as written */
	__u64 ts;    /* bpf_ktime_get_ns(): CLOCK_MONOTONIC, as cn_proc stamps its events */
	__u32 pid;   /* tgid */
	__u32 tid;
	__u32 cpu;
	__u32 uid; /* real uid of the task (net/file events) */
};

/* data[]: argv (argv_len bytes, NUL-separated), then the filename (filename_len bytes, no
 * NUL), then the exe walk (exe_len bytes), then the cwd walk (cwd_len bytes). A walk is
 * path components leaf first, each NUL-terminated; the loader reverses them. */
struct pwb_exec {
	struct pwb_head h;
	__u32 ppid;
	__u32 argv_len;
	__u32 exe_len;
	__u32 cwd_len;
	__u64 start_ns; /* task->start_boottime: ns since boot, suspend included */
	__u64 cgroup_id;
	__u32 uid[4]; /* real, effective, saved, filesystem */
	__u32 gid[4];
	__u32 filename_len;
	__u32 reserved;
	char comm[PWB_COMM_LEN];
	char data[];
};

struct pwb_fork {
	struct pwb_head h; /* pid/tid: the child's */
	__u32 parent_pid;
	__u32 parent_tid;
	__u64 start_ns;
};

struct pwb_exit {
	struct pwb_head h; /* a process exit: pid == tid == tgid, sent by its last thread; or a thread's: tid != pid */
	__u32 exit_code;   /* wait(2)-style status */
	__u32 exit_signal;
	__u32 parent_pid;
	__u32 parent_tid;
	char comm[PWB_COMM_LEN]; /* the group leader's: the process's name, as /proc/PID/comm */
};

struct pwb_sock {
	struct pwb_head h;
	__u16 family;   /* AF_INET or AF_INET6 */
	__u16 protocol; /* IPPROTO_*, 0 when unknown */
	__u16 lport;    /* host order */
	__u16 rport;    /* host order */
	__s32 ret;      /* connect: the syscall's return; accept: the new fd */
	__u32 fd;       /* connect: the socket; accept: the new fd */
	__u8 laddr[16]; /* network order; IPv4 in the first 4 bytes */
	__u8 raddr[16];
	__u64 cgroup_id;
};

struct pwb_open {
	struct pwb_head h;
	__s32 ret; /* fd or -errno */
	__s32 dfd;
	__u32 flags;
	__u32 mode;
	__u64 cgroup_id;
	__u32 path_len; /* bytes of path, NUL excluded */
	__u32 reserved;
	char path[];
};

/* A process's totals once it is gone (sched_process_free of its leader): the signal
 * struct's sums over every thread, which the leader's own release added last. */
struct pwb_acct {
	struct pwb_head h;   /* pid == tid == tgid */
	__u64 start_ns;      /* the leader's start_boottime: the instance */
	__u64 runtime_ns;    /* signal->sum_sched_runtime: exact CPU time */
	__u64 utime_ns;      /* signal->utime, stime: tick-sampled, for the user/system split */
	__u64 stime_ns;
	__u64 min_flt;
	__u64 maj_flt;
	__u64 nvcsw;
	__u64 nivcsw;
	__u64 maxrss_pages;  /* signal->maxrss */
	__u64 rchar;
	__u64 wchar;
	__u64 read_bytes;
	__u64 write_bytes;
	__u64 prev_utime_ns; /* signal->prev_cputime: the split the kernel last gave out (cputime_adjust) */
	__u64 prev_stime_ns;
};

/* ---- behaviour capture: shell lines, TCP sessions, syscall counts ------------------------
 * Kept in their own enums and maps, after everything above, so they add to the contract
 * without renumbering it. Each is loaded only when asked for (the loader's autoload). */
enum pwb_capture_type {
	PWB_SYSCALLS = 20, /* pwb_syscalls: a process's syscall counts, at its exit */
	PWB_SESSION = 21,  /* pwb_session: a TCP connection that closed */
	PWB_SHELL = 22,    /* pwb_shell: a line an interactive bash read with readline() */
};

/* Why a capture event could not be counted or sent: keys of the per-CPU `capture_lost` map.
 * A full ring buffer is PWB_DROP_RINGBUF, as for every other event. */
enum pwb_capture_drop {
	PWB_CDROP_SYSCALL_TABLE = 0, /* syscalls not counted: the table of processes was full */
	PWB_CDROP_SESSION_TABLE = 1, /* TCP connections not followed: the table of sessions was full */
	PWB_CDROP_SHELL_UNREADABLE = 2, /* a shell line could not be read from the shell's memory */
	PWB_CDROP_COUNT
};

/* Syscall numbers counted one by one; larger ones (and 32-bit compat calls, whose numbers
 * are another table's) share the last slot. x86-64 and arm64 stay under 512 in 6.18. */
#define PWB_SYSCALL_NR_MAX 512u
#define PWB_SYSCALL_SLOTS (PWB_SYSCALL_NR_MAX + 1u)
#define PWB_SYSCALL_OTHER PWB_SYSCALL_NR_MAX

/* The value of the `syscall_counts` task storage (on each process's leader). */
struct pwb_syscall_counts {
	__u64 start_ns; /* the process's start_boottime: with the tgid, its key */
	__u64 counts[PWB_SYSCALL_SLOTS];
};

/* One row of the pw_syscalls_iter output: the tgid, then its counts. */
struct pwb_syscall_iter_row {
	__u32 tgid;
	__u32 reserved;
	struct pwb_syscall_counts c;
};

struct pwb_syscall_count {
	__u32 nr; /* PWB_SYSCALL_OTHER for the shared slot */
	__u32 reserved;
	__u64 count;
};

/* pid/tid: the process (tgid); sent at its exit with every non-zero count, nr ascending. */
struct pwb_syscalls {
	struct pwb_head h;
	__u64 start_ns;
	__u32 n; /* entries in counts[] */
	__u32 reserved;
	struct pwb_syscall_count counts[];
};

/* pwb_head.flags of PWB_SESSION */
#define PWB_F_SESSION_ACCEPTED 0x1000u /* the connection was accepted (else: connected) */
#define PWB_F_SESSION_OWNER 0x2000u    /* pid/start_ns/uid name the owner */
#define PWB_F_SESSION_EARLIER 0x4000u  /* established before capture began: start time and owner unknown */
#define PWB_F_SESSION_FIN_IN 0x0800u   /* the peer's FIN arrived (SOCK_DONE): bytes_received counts it */

/* A TCP connection that was established, sent when the socket reaches TCP_CLOSE. pid/tid and
 * uid: the owner (the process that connected, or that accepted it), zero when unknown. */
struct pwb_session {
	struct pwb_head h;
	__u64 owner_start_ns;
	__u64 established_ns; /* bpf_ktime_get_ns() at TCP_ESTABLISHED */
	__u64 bytes_acked;    /* tcp_sock: bytes sent that the peer acknowledged */
	__u64 bytes_received; /* tcp_sock: bytes received in order */
	__u64 bytes_retrans;
	__u64 cgroup_id;      /* the owner's, when known */
	__u32 total_retrans;  /* segments retransmitted */
	__u16 family;
	__u16 lport; /* host order */
	__u16 rport; /* host order */
	__u16 old_state; /* the TCP state it closed from */
	__u8 laddr[16];
	__u8 raddr[16];
	__u32 snd_una;   /* with write_seq: whether our FIN was acknowledged (bytes_acked counts it) */
	__u32 write_seq;
};

/* pwb_head.flags of PWB_SHELL */
#define PWB_F_SHELL_TRUNCATED 0x1000u /* the line is longer than PWB_SHELL_LINE_MAX - 1 bytes */
#define PWB_F_SHELL_CWD 0x2000u       /* the cwd walk reached the namespace's root */
#define PWB_F_SHELL_TTY 0x4000u       /* the shell has a controlling terminal */
#define PWB_SHELL_LINE_MAX 4096u      /* bytes of a line kept, NUL included */
#define PWB_TTY_NAME_MAX 64u          /* tty_struct.name */

/* data[]: the line (line_len bytes, no NUL), the tty name (tty_len), the cwd walk (cwd_len,
 * as in pwb_exec). pid/tid: the shell; h.uid its real uid. */
struct pwb_shell {
	struct pwb_head h;
	__u64 start_ns;
	__u32 euid;
	__u32 login_uid;  /* audit login uid, (u32)-1 when unset */
	__u32 session_id; /* audit session id, (u32)-1 when unset */
	__u32 line_len;
	__u32 tty_len;
	__u32 cwd_len;
	char data[];
};

/* ---- process changes: uid, gid, sid, ptrace, comm, coredump --------------------------------
 * What the proc connector reports besides fork/exec/exit, with the same pid/tid: the task that
 * changed (a thread's own tid, its process's tgid). Their own enums, after everything above,
 * so they add to the contract without renumbering it. uid/gid/sid/ptrace come from syscall
 * tracepoints (loaded unless the loader is told not to); comm and coredump from BTF
 * tracepoints, always. */
enum pwb_change_type {
	PWB_UID = 30,      /* pwb_id: a set*uid call changed one of the four uids */
	PWB_GID = 31,      /* pwb_id: a set*gid call changed one of the four gids */
	PWB_SID = 32,      /* pwb_head only: setsid() made a new session */
	PWB_PTRACE = 33,   /* pwb_ptrace: attach (PTRACE_ATTACH, PTRACE_SEIZE) or PTRACE_DETACH */
	PWB_COMM = 34,     /* pwb_comm: prctl(PR_SET_NAME) or a write to /proc/PID/task/TID/comm */
	PWB_COREDUMP = 35, /* pwb_coredump: a signal whose default action dumps core is being acted on */
};

/* Why a change could not be sent: keys of the per-CPU `change_lost` map. A full ring buffer
 * is PWB_DROP_RINGBUF, as for every other event. */
enum pwb_change_drop {
	PWB_XDROP_PTRACE_UNRESOLVED = 0, /* a successful attach/detach whose tracee could not be found */
	PWB_XDROP_COUNT
};

/* UID and GID: real and effective id after the change, as the proc connector sends them. */
struct pwb_id {
	struct pwb_head h;
	__u32 real;
	__u32 effective;
};

/* pid/tid: the tracee; tracer 0/0: detached. */
struct pwb_ptrace {
	struct pwb_head h;
	__u32 tracer_pid; /* tgid */
	__u32 tracer_tid;
};

/* pid/tid: the task renamed (a thread of the process that renamed it). */
struct pwb_comm {
	struct pwb_head h;
	char comm[PWB_COMM_LEN];
};

/* pid/tid: the thread that took the signal; parent: its real parent. */
struct pwb_coredump {
	struct pwb_head h;
	__u32 parent_pid; /* tgid */
	__u32 parent_tid;
};

#endif /* PROCWATCH_BPF_H */
