/*
 * record.h - the binary contract between the native readers (procconn.c: the proc
 * connector; bpf/procbpf.c: the eBPF ring buffer) and their one TypeScript decoder
 * (src/sources/record.ts). Change both together, bump PW_RECORD_VERSION when an existing
 * layout changes (adding a kind is not a change: an old decoder counts it as malformed), and
 * run test/sources/record.test.ts: it compares every size and offset below with the
 * constants in record.ts (the addons export them via layout()).
 *
 * A batch is one buffer handed to JavaScript in one call:
 *
 *   pw_batch_header (16 bytes) | record | record | ...          (header.bytes in total)
 *
 * A record is a fixed 40-byte pw_rec_header, then a kind-specific fixed body, then (exec and
 * open only) a string area that the body points into with {offset from record start, length}.
 * Strings are raw bytes, not NUL-terminated. Every record's size is a multiple of 8, so
 * every record and every u64 in it starts 8-aligned. All integers are little-endian.
 * Every struct spells out its padding as `reserved` fields set to zero: there is no
 * implicit padding (the static_asserts below fail if the compiler would add any).
 */
#ifndef PROCWATCH_RECORD_H
#define PROCWATCH_RECORD_H

#ifndef __bpf__
#include <stddef.h>
#include <stdint.h>
#else /* a BPF program (bpf/tasks.bpf.c writes pw_task): the types come from vmlinux.h, and
       * bpf_helpers.h's offsetof is no constant expression for the asserts below */
#undef offsetof
#define offsetof(type, field) __builtin_offsetof(type, field)
#endif

/* Records are written in host byte order; the contract says little-endian, so refuse to
 * build where those differ rather than emit records the decoder would misread. */
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "procwatch records are little-endian: big-endian hosts are not supported"
#endif

#define PW_RECORD_VERSION 4u /* 2: exec cgroup_id and filename, exit comm; 3: fork child_start_ticks; 4: start_ns */
#define PW_BATCH_MAGIC 0x31425750u /* bytes 'P' 'W' 'B' '1' */
#define PW_RECORD_ALIGN 8u

/* ---- batch ---------------------------------------------------------------------- */
struct pw_batch_header {
	uint32_t magic;       /* PW_BATCH_MAGIC */
	uint16_t version;     /* PW_RECORD_VERSION */
	uint16_t header_size; /* sizeof(struct pw_batch_header): records start here */
	uint32_t count;       /* number of records */
	uint32_t bytes;       /* total bytes of the batch, header included */
};

/* ---- record kinds (pw_rec_header.kind) -------------------------------------------- */
enum pw_kind {
	PW_KIND_FORK = 1,
	PW_KIND_EXEC = 2,
	PW_KIND_UID = 3,
	PW_KIND_GID = 4,
	PW_KIND_SID = 5,
	PW_KIND_PTRACE = 6,
	PW_KIND_COMM = 7,
	PW_KIND_COREDUMP = 8,
	PW_KIND_EXIT = 9,
	PW_KIND_LOST = 10,
	/* eBPF only (bpf/procbpf.c), when network or file capture is on: */
	PW_KIND_CONNECT = 11, /* body pw_rec_sock */
	PW_KIND_ACCEPT = 12,  /* body pw_rec_sock */
	PW_KIND_OPEN = 13,    /* body pw_rec_open + path string */
	/* Both readers: a process's resource totals once it ended (issue 12). */
	PW_KIND_ACCT = 14,    /* body pw_rec_acct */
};

/* pw_rec_header.cpu when no CPU reported the record (LOST). */
#define PW_CPU_UNKNOWN 0xffffffffu

struct pw_rec_header {
	uint32_t size;         /* bytes of this record (header + body + strings + padding) */
	uint16_t kind;         /* enum pw_kind */
	uint16_t reserved;     /* 0 */
	uint64_t seq;          /* assigned by the reader per record, from 1, no gaps */
	uint64_t timestamp_ns; /* kernel's ktime_get_ns() (CLOCK_MONOTONIC); reader's clock for LOST */
	uint32_t what;         /* kernel's proc_event.what, raw (0 for LOST and every eBPF record) */
	uint32_t cpu;          /* kernel's proc_event.cpu, or PW_CPU_UNKNOWN */
	int32_t pid;           /* thread-group id (user-space "pid"); 0 for LOST */
	int32_t tid;           /* thread id (kernel "pid"); 0 for LOST */
};

/* ---- kind-specific bodies, at offset sizeof(struct pw_rec_header) ----------------- */

/* FORK: pid/tid in the header are the child's. */
struct pw_rec_fork {
	int32_t parent_pid;          /* parent tgid */
	int32_t parent_tid;          /* parent thread id */
	uint64_t child_start_ticks;  /* the new process's start time (/proc/PID/stat field 22), or
	                              * PW_TICKS_UNKNOWN (a thread, or a child already gone) */
	uint64_t child_start_ns;     /* the same in ns (start_boottime): tells apart two processes
	                              * of one pid started in the same tick; 0 when unknown (netlink) */
};

/* pw_rec_fork.child_start_ticks when the start time is not known. */
#define PW_TICKS_UNKNOWN UINT64_MAX

/* UID and GID: real and effective id after the change. */
struct pw_rec_id {
	uint32_t real;
	uint32_t effective;
};

/* SID has no body. */

/* PTRACE: tracer 0/0 means detach. */
struct pw_rec_ptrace {
	int32_t tracer_pid;
	int32_t tracer_tid;
};

/* COMM: the new name, NUL-padded (the kernel's TASK_COMM_LEN). */
#define PW_COMM_EVENT_LEN 16
struct pw_rec_comm {
	uint8_t comm[PW_COMM_EVENT_LEN];
};

/* COREDUMP and EXIT: the kernel (6.x) includes the parent; 0 on kernels that do not. */
#define PW_PARENT_KNOWN 0x1u /* pw_rec_coredump.flags / pw_rec_exit.flags */
#define PW_EXIT_COMM 0x2u    /* pw_rec_exit.flags: comm valid (eBPF; cn_proc does not say) */
struct pw_rec_coredump {
	int32_t parent_pid;
	int32_t parent_tid;
	uint32_t flags; /* PW_PARENT_KNOWN */
	uint32_t reserved;
};

struct pw_rec_exit {
	uint32_t exit_code;   /* wait(2)-style status: code << 8, or signal | 0x80 if core dumped */
	uint32_t exit_signal; /* the signal sent to the parent (task->exit_signal), usually SIGCHLD */
	int32_t parent_pid;
	int32_t parent_tid;
	uint32_t flags; /* PW_PARENT_KNOWN, PW_EXIT_COMM */
	uint32_t reserved;
	uint8_t comm[PW_COMM_EVENT_LEN]; /* the process's name (its leader's comm), NUL-padded */
};

/* LOST: events the reader knows it missed. */
#define PW_LOST_COUNT_UNKNOWN 0xffffffffu
enum pw_lost_reason {
	PW_LOST_ENOBUFS = 1, /* the socket's receive buffer overflowed (recv said ENOBUFS) */
	PW_LOST_RINGBUF = 2, /* the eBPF ring buffer was full: count = failed reservations */
	PW_LOST_UNREADABLE = 3, /* eBPF: a connect's address or an open's path could not be read */
	PW_LOST_INFLIGHT = 4,   /* eBPF: too many connect/openat calls in progress at once */
};
struct pw_rec_lost {
	uint32_t count;  /* PW_LOST_COUNT_UNKNOWN: the kernel does not say how many */
	uint32_t reason; /* enum pw_lost_reason */
	int32_t err;     /* errno that reported it */
	uint32_t reserved;
};

/* EXEC: what was read right after the event (netlink: from /proc; eBPF: by the kernel at
 * the exec). A field is valid only when its flag is set; whatever could not be read or
 * verified is left unset ("unknown"). */
enum pw_exec_flag {
	PW_EXEC_COMM = 1u << 0,           /* comm string valid */
	PW_EXEC_STAT = 1u << 1,           /* ppid, start_ticks, state valid */
	PW_EXEC_UIDS = 1u << 2,           /* uid[4] valid */
	PW_EXEC_GIDS = 1u << 3,           /* gid[4] valid */
	PW_EXEC_ARGV = 1u << 4,           /* cmdline string valid (NUL-separated argv) */
	PW_EXEC_ARGV_TRUNCATED = 1u << 5, /* cmdline was cut at PW_CMDLINE_MAX bytes */
	PW_EXEC_EXE = 1u << 6,            /* exe string valid */
	PW_EXEC_CWD = 1u << 7,            /* cwd string valid */
	PW_EXEC_ZOMBIE = 1u << 8,         /* already a zombie: only comm and stat could be read */
	PW_EXEC_GONE = 1u << 9,           /* gone before anything could be read */
	PW_EXEC_CHANGED = 1u << 10,       /* the closing stat failed or differed from the first:
					     only the first stat's fields are kept (comm too
					     unless comm was what changed) */
	PW_EXEC_RACED = 1u << 11,         /* a later exec/comm/uid/gid event of this process
					     happened before the reads ended: those fields dropped */
	PW_EXEC_FILENAME = 1u << 12,      /* filename string valid (eBPF: what execve was given) */
	PW_EXEC_CGROUP = 1u << 13,        /* cgroup_id valid (eBPF) */
};
#define PW_CMDLINE_MAX 4096u /* bytes of /proc/PID/cmdline kept at most (netlink reader) */
#define PW_BPF_ARGV_MAX 16384u /* bytes of argv the eBPF reader keeps at most */
#define PW_COMM_MAX 64u      /* bytes of the stat comm kept (kernel threads exceed 15) */
#define PW_PATH_MAX 4096u    /* bytes of an exe or cwd link kept; longer is unknown */

struct pw_str {
	uint32_t off; /* from the start of the record; 0 when absent */
	uint32_t len; /* bytes; 0 when absent */
};

struct pw_rec_exec {
	uint32_t flags;       /* enum pw_exec_flag */
	int32_t ppid;         /* stat field 4 */
	uint64_t start_ticks; /* stat field 22: clock ticks since boot; (pid, start) is the key */
	uint64_t read_ns;     /* CLOCK_MONOTONIC when the reads ended (same clock as timestamp_ns) */
	uint32_t uid[4];      /* real, effective, saved, filesystem */
	uint32_t gid[4];
	uint8_t state;        /* stat field 3 ('R', 'S', 'Z', ...), 0 when unknown */
	uint8_t reserved[3];
	int32_t err;          /* first errno met while reading /proc, 0 if none */
	struct pw_str comm;
	struct pw_str cmdline;
	struct pw_str exe;
	struct pw_str cwd;
	uint64_t cgroup_id;   /* cgroup v2 id (the cgroup directory's inode number); PW_EXEC_CGROUP */
	struct pw_str filename; /* PW_EXEC_FILENAME */
	uint64_t start_ns;    /* start_boottime in ns (eBPF), 0 when unknown: see pw_rec_fork */
};

/* CONNECT and ACCEPT (eBPF): an outbound connect(2) as it returned, or a connection
 * accept(2)/accept4(2) handed to the process. Addresses are network order, IPv4 in the
 * first 4 bytes of the 16; ports are host order. */
#define PW_SOCK_LOCAL 0x1u /* pw_rec_sock.flags: local_addr/local_port read from the socket */
struct pw_rec_sock {
	uint16_t family;      /* AF_INET (2) or AF_INET6 (10) */
	uint16_t protocol;    /* IPPROTO_TCP (6), IPPROTO_UDP (17), ...; 0 unknown */
	uint16_t local_port;  /* valid with PW_SOCK_LOCAL */
	uint16_t remote_port;
	int32_t result;       /* connect: 0 or -errno as the syscall returned; accept: the new fd */
	uint32_t flags;       /* PW_SOCK_LOCAL */
	uint8_t local_addr[16];
	uint8_t remote_addr[16];
	uint32_t uid;         /* real uid of the caller */
	int32_t fd;           /* connect: the socket; accept: the new fd */
	uint64_t cgroup_id;   /* cgroup v2 id (the cgroup directory's inode number) */
};

/* OPEN (eBPF): an openat(2) as it returned. The path is the string the caller passed
 * (relative to dir_fd or the cwd when it does not start with '/'). */
#define PW_OPEN_PATH_TRUNCATED 0x1u /* pw_rec_open.flags: path cut at PW_PATH_MAX - 1 bytes */
#define PW_AT_FDCWD (-100)
struct pw_rec_open {
	int32_t result;       /* the new fd, or -errno */
	uint32_t open_flags;  /* O_* as passed */
	uint32_t mode;        /* as passed (meaningful with O_CREAT/O_TMPFILE) */
	uint32_t flags;       /* PW_OPEN_PATH_TRUNCATED */
	int32_t dir_fd;       /* PW_AT_FDCWD or the directory fd a relative path starts from */
	uint32_t uid;         /* real uid of the caller */
	uint64_t cgroup_id;
	struct pw_str path;
};

/* ACCT: what a process used over its whole life, all its threads together, once it ended.
 * pid/tid in the header are the process's (tgid); the record comes after its EXIT.
 *  - eBPF: read at sched_process_free of the thread-group leader, after the parent reaped it
 *    and the task ran for the last time: the signal struct then holds every thread's totals,
 *    the figures the parent's cutime/cstime grew by. cpu_ns is the scheduler's exact runtime;
 *    user/system split it in the kernel's tick-sampled proportion (as cputime_adjust does).
 *  - netlink: read from /proc/PID/stat and /proc/PID/io of the zombie right after the exit
 *    event, when it is still there, the same instance, and its last thread: CPU at clock-tick
 *    resolution (PW_ACCT_CPU_TICKS); peak RSS and context switches cannot be read (unset).
 * A field group is valid only with its flag; the others are unknown. */
enum pw_acct_flag {
	PW_ACCT_CPU = 1u << 0,       /* cpu_ns, user_ns, system_ns */
	PW_ACCT_CPU_TICKS = 1u << 1, /* the CPU figures have clock-tick resolution (/proc) */
	PW_ACCT_FAULTS = 1u << 2,    /* min_flt, maj_flt */
	PW_ACCT_SWITCHES = 1u << 3,  /* nvcsw, nivcsw */
	PW_ACCT_MAXRSS = 1u << 4,    /* max_rss_kib */
	PW_ACCT_IO = 1u << 5,        /* rchar, wchar, read_bytes, write_bytes */
};
struct pw_rec_acct {
	uint32_t flags;       /* enum pw_acct_flag */
	uint32_t reserved;
	uint64_t start_ticks; /* the instance (stat field 22), as in pw_rec_exec */
	uint64_t cpu_ns;      /* user + system */
	uint64_t user_ns;
	uint64_t system_ns;
	uint64_t min_flt;     /* page faults without and with I/O */
	uint64_t maj_flt;
	uint64_t nvcsw;       /* voluntary and involuntary context switches */
	uint64_t nivcsw;
	uint64_t max_rss_kib; /* peak resident set, as getrusage's ru_maxrss */
	uint64_t rchar;       /* bytes through read/write syscalls (/proc/PID/io rchar, wchar) */
	uint64_t wchar;
	uint64_t read_bytes;  /* bytes fetched from / sent to storage (read_bytes, write_bytes) */
	uint64_t write_bytes;
};

/* ---- task snapshot (issue 12) --------------------------------------------------------
 * Not a batch: what the iter/task program (bpf/tasks.bpf.c) writes for one read of the task
 * iterator, a plain array of pw_task, one per task (thread) in the system, in tid order.
 * A process's figures are the sum over its tasks' records: the leader's record also carries
 * what the signal struct holds of its ended threads, and its process-wide fields (ppid, ids,
 * memory, fds, thread count). A leader without an address space or file table (a zombie
 * leader whose threads run on) leaves those to the first of its threads that has them. */
enum pw_task_flag {
	PW_TASK_LEADER = 1u << 0,  /* the thread-group leader: its process's record */
	PW_TASK_MM = 1u << 1,      /* vm_pages, rss_*, swap_ents valid: the process's memory */
	PW_TASK_FILES = 1u << 2,   /* fds valid: the process's open files */
	PW_TASK_KTHREAD = 1u << 3, /* a kernel thread */
	PW_TASK_FDS_CUT = 1u << 4, /* the fd table was too large to count: fds unknown */
};
struct pw_task {
	uint32_t flags;       /* enum pw_task_flag */
	int32_t tgid;
	int32_t tid;
	int32_t ppid;         /* leader: the real parent's tgid */
	uint64_t start_ns;    /* the leader's start_boottime: ns since boot (stat field 22 in ns) */
	uint64_t runtime_ns;  /* se.sum_exec_runtime; the leader adds signal->sum_sched_runtime */
	uint64_t utime_ns;    /* tick-sampled user and system time (the same sums), for the split */
	uint64_t stime_ns;
	uint64_t min_flt;     /* the same sums for faults, switches and I/O */
	uint64_t maj_flt;
	uint64_t nvcsw;
	uint64_t nivcsw;
	uint64_t rchar;
	uint64_t wchar;
	uint64_t read_bytes;
	uint64_t write_bytes;
	uint64_t vm_pages;    /* PW_TASK_MM: total_vm */
	uint64_t rss_file;    /* PW_TASK_MM: resident pages by kind, as /proc/PID/status counts them */
	uint64_t rss_anon;
	uint64_t rss_shmem;
	uint64_t swap_ents;   /* PW_TASK_MM: swapped-out pages */
	uint64_t fds;         /* PW_TASK_FILES: open file descriptors */
	uint64_t fd_limit;    /* leader: RLIMIT_NOFILE soft limit */
	uint32_t uid;         /* leader: real and effective uid (objective credentials) */
	uint32_t euid;
	uint32_t threads;     /* leader: signal->nr_threads */
	uint8_t state;        /* 'R' 'S' 'D' 'T' 't' 'X' 'Z' 'P' 'I', as /proc/PID/stat field 3 */
	uint8_t reserved[3];
	uint8_t comm[16];     /* NUL-padded */
};

/* ---- the layout, checked here and (via layout()) against record.ts ---------------- */
#define PW_BATCH_HEADER_SIZE 16u
#define PW_REC_HEADER_SIZE 40u

#define PW_ASSERT_LAYOUT(type, field, off) \
	_Static_assert(offsetof(type, field) == (off), #type "." #field " moved")
_Static_assert(sizeof(struct pw_batch_header) == PW_BATCH_HEADER_SIZE, "batch header size");
PW_ASSERT_LAYOUT(struct pw_batch_header, magic, 0);
PW_ASSERT_LAYOUT(struct pw_batch_header, version, 4);
PW_ASSERT_LAYOUT(struct pw_batch_header, header_size, 6);
PW_ASSERT_LAYOUT(struct pw_batch_header, count, 8);
PW_ASSERT_LAYOUT(struct pw_batch_header, bytes, 12);

_Static_assert(sizeof(struct pw_rec_header) == PW_REC_HEADER_SIZE, "record header size");
PW_ASSERT_LAYOUT(struct pw_rec_header, size, 0);
PW_ASSERT_LAYOUT(struct pw_rec_header, kind, 4);
PW_ASSERT_LAYOUT(struct pw_rec_header, reserved, 6);
PW_ASSERT_LAYOUT(struct pw_rec_header, seq, 8);
PW_ASSERT_LAYOUT(struct pw_rec_header, timestamp_ns, 16);
PW_ASSERT_LAYOUT(struct pw_rec_header, what, 24);
PW_ASSERT_LAYOUT(struct pw_rec_header, cpu, 28);
PW_ASSERT_LAYOUT(struct pw_rec_header, pid, 32);
PW_ASSERT_LAYOUT(struct pw_rec_header, tid, 36);

_Static_assert(sizeof(struct pw_rec_fork) == 24, "fork body size");
PW_ASSERT_LAYOUT(struct pw_rec_fork, parent_pid, 0);
PW_ASSERT_LAYOUT(struct pw_rec_fork, parent_tid, 4);
PW_ASSERT_LAYOUT(struct pw_rec_fork, child_start_ticks, 8);
PW_ASSERT_LAYOUT(struct pw_rec_fork, child_start_ns, 16);
_Static_assert(sizeof(struct pw_rec_id) == 8, "id body size");
PW_ASSERT_LAYOUT(struct pw_rec_id, real, 0);
PW_ASSERT_LAYOUT(struct pw_rec_id, effective, 4);
_Static_assert(sizeof(struct pw_rec_ptrace) == 8, "ptrace body size");
PW_ASSERT_LAYOUT(struct pw_rec_ptrace, tracer_pid, 0);
PW_ASSERT_LAYOUT(struct pw_rec_ptrace, tracer_tid, 4);
_Static_assert(sizeof(struct pw_rec_comm) == 16, "comm body size");
PW_ASSERT_LAYOUT(struct pw_rec_comm, comm, 0);
_Static_assert(sizeof(struct pw_rec_coredump) == 16, "coredump body size");
PW_ASSERT_LAYOUT(struct pw_rec_coredump, parent_pid, 0);
PW_ASSERT_LAYOUT(struct pw_rec_coredump, parent_tid, 4);
PW_ASSERT_LAYOUT(struct pw_rec_coredump, flags, 8);
PW_ASSERT_LAYOUT(struct pw_rec_coredump, reserved, 12);
_Static_assert(sizeof(struct pw_rec_exit) == 40, "exit body size");
PW_ASSERT_LAYOUT(struct pw_rec_exit, exit_code, 0);
PW_ASSERT_LAYOUT(struct pw_rec_exit, exit_signal, 4);
PW_ASSERT_LAYOUT(struct pw_rec_exit, parent_pid, 8);
PW_ASSERT_LAYOUT(struct pw_rec_exit, parent_tid, 12);
PW_ASSERT_LAYOUT(struct pw_rec_exit, flags, 16);
PW_ASSERT_LAYOUT(struct pw_rec_exit, reserved, 20);
PW_ASSERT_LAYOUT(struct pw_rec_exit, comm, 24);
_Static_assert(sizeof(struct pw_rec_lost) == 16, "lost body size");
PW_ASSERT_LAYOUT(struct pw_rec_lost, count, 0);
PW_ASSERT_LAYOUT(struct pw_rec_lost, reason, 4);
PW_ASSERT_LAYOUT(struct pw_rec_lost, err, 8);
PW_ASSERT_LAYOUT(struct pw_rec_lost, reserved, 12);
_Static_assert(sizeof(struct pw_str) == 8, "string ref size");
PW_ASSERT_LAYOUT(struct pw_str, off, 0);
PW_ASSERT_LAYOUT(struct pw_str, len, 4);
_Static_assert(sizeof(struct pw_rec_exec) == 120, "exec body size");
PW_ASSERT_LAYOUT(struct pw_rec_exec, flags, 0);
PW_ASSERT_LAYOUT(struct pw_rec_exec, ppid, 4);
PW_ASSERT_LAYOUT(struct pw_rec_exec, start_ticks, 8);
PW_ASSERT_LAYOUT(struct pw_rec_exec, read_ns, 16);
PW_ASSERT_LAYOUT(struct pw_rec_exec, uid, 24);
PW_ASSERT_LAYOUT(struct pw_rec_exec, gid, 40);
PW_ASSERT_LAYOUT(struct pw_rec_exec, state, 56);
PW_ASSERT_LAYOUT(struct pw_rec_exec, reserved, 57);
PW_ASSERT_LAYOUT(struct pw_rec_exec, err, 60);
PW_ASSERT_LAYOUT(struct pw_rec_exec, comm, 64);
PW_ASSERT_LAYOUT(struct pw_rec_exec, cmdline, 72);
PW_ASSERT_LAYOUT(struct pw_rec_exec, exe, 80);
PW_ASSERT_LAYOUT(struct pw_rec_exec, cwd, 88);
PW_ASSERT_LAYOUT(struct pw_rec_exec, cgroup_id, 96);
PW_ASSERT_LAYOUT(struct pw_rec_exec, filename, 104);
PW_ASSERT_LAYOUT(struct pw_rec_exec, start_ns, 112);
_Static_assert(sizeof(struct pw_rec_sock) == 64, "sock body size");
PW_ASSERT_LAYOUT(struct pw_rec_sock, family, 0);
PW_ASSERT_LAYOUT(struct pw_rec_sock, protocol, 2);
PW_ASSERT_LAYOUT(struct pw_rec_sock, local_port, 4);
PW_ASSERT_LAYOUT(struct pw_rec_sock, remote_port, 6);
PW_ASSERT_LAYOUT(struct pw_rec_sock, result, 8);
PW_ASSERT_LAYOUT(struct pw_rec_sock, flags, 12);
PW_ASSERT_LAYOUT(struct pw_rec_sock, local_addr, 16);
PW_ASSERT_LAYOUT(struct pw_rec_sock, remote_addr, 32);
PW_ASSERT_LAYOUT(struct pw_rec_sock, uid, 48);
PW_ASSERT_LAYOUT(struct pw_rec_sock, fd, 52);
PW_ASSERT_LAYOUT(struct pw_rec_sock, cgroup_id, 56);
_Static_assert(sizeof(struct pw_rec_open) == 40, "open body size");
PW_ASSERT_LAYOUT(struct pw_rec_open, result, 0);
PW_ASSERT_LAYOUT(struct pw_rec_open, open_flags, 4);
PW_ASSERT_LAYOUT(struct pw_rec_open, mode, 8);
PW_ASSERT_LAYOUT(struct pw_rec_open, flags, 12);
PW_ASSERT_LAYOUT(struct pw_rec_open, dir_fd, 16);
PW_ASSERT_LAYOUT(struct pw_rec_open, uid, 20);
PW_ASSERT_LAYOUT(struct pw_rec_open, cgroup_id, 24);
PW_ASSERT_LAYOUT(struct pw_rec_open, path, 32);
_Static_assert(sizeof(struct pw_rec_acct) == 112, "acct body size");
PW_ASSERT_LAYOUT(struct pw_rec_acct, flags, 0);
PW_ASSERT_LAYOUT(struct pw_rec_acct, reserved, 4);
PW_ASSERT_LAYOUT(struct pw_rec_acct, start_ticks, 8);
PW_ASSERT_LAYOUT(struct pw_rec_acct, cpu_ns, 16);
PW_ASSERT_LAYOUT(struct pw_rec_acct, user_ns, 24);
PW_ASSERT_LAYOUT(struct pw_rec_acct, system_ns, 32);
PW_ASSERT_LAYOUT(struct pw_rec_acct, min_flt, 40);
PW_ASSERT_LAYOUT(struct pw_rec_acct, maj_flt, 48);
PW_ASSERT_LAYOUT(struct pw_rec_acct, nvcsw, 56);
PW_ASSERT_LAYOUT(struct pw_rec_acct, nivcsw, 64);
PW_ASSERT_LAYOUT(struct pw_rec_acct, max_rss_kib, 72);
PW_ASSERT_LAYOUT(struct pw_rec_acct, rchar, 80);
PW_ASSERT_LAYOUT(struct pw_rec_acct, wchar, 88);
PW_ASSERT_LAYOUT(struct pw_rec_acct, read_bytes, 96);
PW_ASSERT_LAYOUT(struct pw_rec_acct, write_bytes, 104);
_Static_assert(sizeof(struct pw_rec_acct) % PW_RECORD_ALIGN == 0, "acct body keeps alignment");
_Static_assert(sizeof(struct pw_task) == 200, "task record size");
PW_ASSERT_LAYOUT(struct pw_task, flags, 0);
PW_ASSERT_LAYOUT(struct pw_task, tgid, 4);
PW_ASSERT_LAYOUT(struct pw_task, tid, 8);
PW_ASSERT_LAYOUT(struct pw_task, ppid, 12);
PW_ASSERT_LAYOUT(struct pw_task, start_ns, 16);
PW_ASSERT_LAYOUT(struct pw_task, runtime_ns, 24);
PW_ASSERT_LAYOUT(struct pw_task, utime_ns, 32);
PW_ASSERT_LAYOUT(struct pw_task, stime_ns, 40);
PW_ASSERT_LAYOUT(struct pw_task, min_flt, 48);
PW_ASSERT_LAYOUT(struct pw_task, maj_flt, 56);
PW_ASSERT_LAYOUT(struct pw_task, nvcsw, 64);
PW_ASSERT_LAYOUT(struct pw_task, nivcsw, 72);
PW_ASSERT_LAYOUT(struct pw_task, rchar, 80);
PW_ASSERT_LAYOUT(struct pw_task, wchar, 88);
PW_ASSERT_LAYOUT(struct pw_task, read_bytes, 96);
PW_ASSERT_LAYOUT(struct pw_task, write_bytes, 104);
PW_ASSERT_LAYOUT(struct pw_task, vm_pages, 112);
PW_ASSERT_LAYOUT(struct pw_task, rss_file, 120);
PW_ASSERT_LAYOUT(struct pw_task, rss_anon, 128);
PW_ASSERT_LAYOUT(struct pw_task, rss_shmem, 136);
PW_ASSERT_LAYOUT(struct pw_task, swap_ents, 144);
PW_ASSERT_LAYOUT(struct pw_task, fds, 152);
PW_ASSERT_LAYOUT(struct pw_task, fd_limit, 160);
PW_ASSERT_LAYOUT(struct pw_task, uid, 168);
PW_ASSERT_LAYOUT(struct pw_task, euid, 172);
PW_ASSERT_LAYOUT(struct pw_task, threads, 176);
PW_ASSERT_LAYOUT(struct pw_task, state, 180);
PW_ASSERT_LAYOUT(struct pw_task, reserved, 181);
PW_ASSERT_LAYOUT(struct pw_task, comm, 184);
/* Bodies keep the 8-byte rhythm so strings and the next record stay aligned. */
_Static_assert(PW_REC_HEADER_SIZE % PW_RECORD_ALIGN == 0, "header keeps alignment");
_Static_assert(sizeof(struct pw_rec_exec) % PW_RECORD_ALIGN == 0, "exec body keeps alignment");
_Static_assert(sizeof(struct pw_rec_sock) % PW_RECORD_ALIGN == 0, "sock body keeps alignment");
_Static_assert(sizeof(struct pw_rec_open) % PW_RECORD_ALIGN == 0, "open body keeps alignment");

/* The largest record: an exec with every string at its cap (argv at the larger of the two
 * readers' caps; exe, cwd and filename at PW_PATH_MAX, exe with " (deleted)"), padded. */
#define PW_EXE_SUFFIX_MAX 16u
#define PW_REC_MAX_SIZE \
	(PW_REC_HEADER_SIZE + (uint32_t)sizeof(struct pw_rec_exec) + PW_COMM_MAX + \
	 (PW_BPF_ARGV_MAX > PW_CMDLINE_MAX ? PW_BPF_ARGV_MAX : PW_CMDLINE_MAX) + 3u * PW_PATH_MAX + \
	 PW_EXE_SUFFIX_MAX + PW_RECORD_ALIGN)

/* ---- behaviour capture (eBPF, each only when asked for): syscall counts, TCP sessions,
 * shell lines. Their own enums, so the contract above keeps its numbers. ------------------ */
enum pw_capture_kind {
	PW_KIND_SYSCALLS = 20, /* body pw_rec_syscalls + counts array */
	PW_KIND_SESSION = 21,  /* body pw_rec_session */
	PW_KIND_SHELL = 22,    /* body pw_rec_shell + strings */
};
enum pw_capture_lost_reason {
	PW_LOST_SYSCALL_TABLE = 20,    /* syscalls not counted: the kernel's table of processes was full */
	PW_LOST_SESSION_TABLE = 21,    /* TCP connections not followed: the kernel's table of sessions was full */
	PW_LOST_SHELL_UNREADABLE = 22, /* shell lines that could not be read from the shell's memory */
};

/* SYSCALLS: one process's syscall counts since its first syscall (pid = tid = its tgid). At
 * its exit (PW_SYSCALLS_FINAL) or, while it runs, at the reader's interval when they changed. */
#define PW_SYSCALLS_FINAL 0x1u
#define PW_SYSCALL_OTHER 0xffffffffu /* pw_syscall_count.nr: numbers past the table, 32-bit calls */
struct pw_syscall_count {
	uint32_t nr;
	uint32_t reserved;
	uint64_t count;
};
struct pw_rec_syscalls {
	uint64_t start_ticks; /* the process's start (stat field 22): with pid, its key */
	uint64_t total;       /* sum of every count */
	uint32_t flags;       /* PW_SYSCALLS_FINAL */
	uint32_t reserved;
	struct pw_str counts; /* non-zero pw_syscall_count entries, nr ascending (len: 16 each) */
};

/* SESSION: a TCP connection, when it closed. pid/tid: its owner (the process that connected
 * or accepted it), 0 when not known (PW_SESSION_OWNER unset). Addresses as in pw_rec_sock. */
#define PW_SESSION_ACCEPTED 0x1u /* accepted from a listener (else: an outbound connect) */
#define PW_SESSION_OWNER 0x2u    /* pid, start_ticks, uid and cgroup_id name the owner */
#define PW_SESSION_EARLIER 0x4u  /* established before capture began: established_ns unknown (0) */
struct pw_rec_session {
	uint64_t start_ticks;    /* the owner's start */
	uint64_t established_ns; /* CLOCK_MONOTONIC when it became ESTABLISHED (timestamp_ns: closed) */
	uint64_t bytes_sent;     /* bytes the peer acknowledged */
	uint64_t bytes_received; /* bytes received in order */
	uint64_t bytes_retrans;  /* bytes sent again */
	uint64_t cgroup_id;
	uint32_t flags;          /* PW_SESSION_* */
	uint32_t uid;            /* the owner's real uid */
	uint32_t retransmits;    /* segments sent again */
	uint16_t family;         /* AF_INET or AF_INET6 */
	uint16_t local_port;
	uint16_t remote_port;
	uint16_t close_state;    /* the TCP state it closed from (include/net/tcp_states.h) */
	uint32_t reserved;
	uint8_t local_addr[16];
	uint8_t remote_addr[16];
};

/* SHELL: a line an interactive bash read (readline's return), as typed. pid/tid: the shell. */
#define PW_SHELL_TRUNCATED 0x1u /* the line was cut at PW_SHELL_LINE_MAX bytes */
#define PW_SHELL_TTY 0x2u       /* tty valid */
#define PW_SHELL_CWD 0x4u       /* cwd valid */
#define PW_SHELL_LINE_MAX 4095u
#define PW_ID_UNSET 0xffffffffu /* pw_rec_shell.login_uid / session_id: not set (no audit login) */
struct pw_rec_shell {
	uint64_t start_ticks; /* the shell's start */
	uint32_t flags;       /* PW_SHELL_* */
	uint32_t uid;         /* real uid */
	uint32_t euid;
	uint32_t login_uid;   /* audit login uid (who logged in, across su/sudo), PW_ID_UNSET */
	uint32_t session_id;  /* audit session id, PW_ID_UNSET */
	uint32_t reserved;
	struct pw_str line;
	struct pw_str tty;    /* "pts/3", "tty1" */
	struct pw_str cwd;
};

_Static_assert(sizeof(struct pw_syscall_count) == 16, "syscall count size");
PW_ASSERT_LAYOUT(struct pw_syscall_count, nr, 0);
PW_ASSERT_LAYOUT(struct pw_syscall_count, count, 8);
_Static_assert(sizeof(struct pw_rec_syscalls) == 32, "syscalls body size");
PW_ASSERT_LAYOUT(struct pw_rec_syscalls, start_ticks, 0);
PW_ASSERT_LAYOUT(struct pw_rec_syscalls, total, 8);
PW_ASSERT_LAYOUT(struct pw_rec_syscalls, flags, 16);
PW_ASSERT_LAYOUT(struct pw_rec_syscalls, counts, 24);
_Static_assert(sizeof(struct pw_rec_session) == 104, "session body size");
PW_ASSERT_LAYOUT(struct pw_rec_session, start_ticks, 0);
PW_ASSERT_LAYOUT(struct pw_rec_session, established_ns, 8);
PW_ASSERT_LAYOUT(struct pw_rec_session, bytes_sent, 16);
PW_ASSERT_LAYOUT(struct pw_rec_session, bytes_received, 24);
PW_ASSERT_LAYOUT(struct pw_rec_session, bytes_retrans, 32);
PW_ASSERT_LAYOUT(struct pw_rec_session, cgroup_id, 40);
PW_ASSERT_LAYOUT(struct pw_rec_session, flags, 48);
PW_ASSERT_LAYOUT(struct pw_rec_session, uid, 52);
PW_ASSERT_LAYOUT(struct pw_rec_session, retransmits, 56);
PW_ASSERT_LAYOUT(struct pw_rec_session, family, 60);
PW_ASSERT_LAYOUT(struct pw_rec_session, local_port, 62);
PW_ASSERT_LAYOUT(struct pw_rec_session, remote_port, 64);
PW_ASSERT_LAYOUT(struct pw_rec_session, close_state, 66);
PW_ASSERT_LAYOUT(struct pw_rec_session, local_addr, 72);
PW_ASSERT_LAYOUT(struct pw_rec_session, remote_addr, 88);
_Static_assert(sizeof(struct pw_rec_shell) == 56, "shell body size");
PW_ASSERT_LAYOUT(struct pw_rec_shell, start_ticks, 0);
PW_ASSERT_LAYOUT(struct pw_rec_shell, flags, 8);
PW_ASSERT_LAYOUT(struct pw_rec_shell, uid, 12);
PW_ASSERT_LAYOUT(struct pw_rec_shell, euid, 16);
PW_ASSERT_LAYOUT(struct pw_rec_shell, login_uid, 20);
PW_ASSERT_LAYOUT(struct pw_rec_shell, session_id, 24);
PW_ASSERT_LAYOUT(struct pw_rec_shell, line, 32);
PW_ASSERT_LAYOUT(struct pw_rec_shell, tty, 40);
PW_ASSERT_LAYOUT(struct pw_rec_shell, cwd, 48);
/* Every capture record fits a batch with room to spare (PW_REC_MAX_SIZE bounds them all). */
_Static_assert(PW_REC_HEADER_SIZE + sizeof(struct pw_rec_syscalls) + 513u * sizeof(struct pw_syscall_count) <= PW_REC_MAX_SIZE,
	       "a full syscall profile fits a record");
_Static_assert(PW_REC_HEADER_SIZE + sizeof(struct pw_rec_shell) + PW_SHELL_LINE_MAX + 64u + PW_PATH_MAX <= PW_REC_MAX_SIZE,
	       "a shell line fits a record");

/* ---- process changes (eBPF): uid, gid, sid, ptrace, comm and coredump records use the kinds
 * and bodies above, as the netlink reader writes them. Their one loss of their own: ---------- */
enum pw_change_lost_reason {
	PW_LOST_PTRACE_UNRESOLVED = 30, /* ptrace attaches/detaches whose tracee could not be found */
};

#endif /* PROCWATCH_RECORD_H */
