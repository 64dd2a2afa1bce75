/*
 * procbpf.c - loads procwatch's BPF programs (procwatch.bpf.c, embedded as a libbpf
 * skeleton) and turns their ring buffer into record.h batches for JavaScript.
 *
 * The shape follows procconn.c (the netlink reader) on purpose, so both addons hand
 * TypeScript the same batches: a reader pthread drains the ring buffer, packs fixed-layout
 * records into one of a few batch buffers, and hands each whole batch to JavaScript with
 * one napi_threadsafe_function call. Unlike cn_proc, the kernel side already read
 * everything an exec needs (argv, exe, cwd, creds) while the process could not be gone, so
 * there is no /proc enrichment and nothing to verify here.
 *
 * Losses: the BPF side counts events it could not send in the per-CPU `lost` map, by
 * reason (ring buffer full, caller memory unreadable, too many calls in flight); the reader
 * sums it after each drain and turns any increase into a LOST record with that reason and
 * an exact count. Events the reader itself could not pass on (stopping, no buffer) are
 * counted in readerDropped. Nothing is dropped without being counted.
 *
 * Stopping: the programs are detached first, then the reader drains what the kernel wrote
 * before that (into heap batches if JavaScript, busy joining the reader, holds every slot).
 * A reader that fails posts one message to onError and closes (onClose), whatever happens.
 *
 * Threads: the JS thread runs open()/stop()/counters() and the tsfn callbacks; the reader
 * thread runs reader_*, ring_* and batch_*. They share the counters (atomics), the stop flag
 * (atomic) and the slot states (mutex).
 *
 * Function prefixes: bpf_* (skeleton and kernel setup), ring_* (one BPF event -> a record),
 * batch_* (records and batches), reader_* (the thread), handle_* (lifetime), tsfn_*,
 * js_* (N-API entry points).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/types.h>
#include <node_api.h>

#include "../record.h"
#include "procwatch.h"
#include "procwatch.skel.h" /* generated at build time by bpftool gen skeleton */
#include "tasksnap.h"

/* ---- tunables -------------------------------------------------------------------------- */
#define PW_DEFAULT_RING (2u << 20)          /* ~6,000 processes' fork+exec+exit: seconds of a storm */
#define PW_BATCH_BYTES (256u << 10)         /* one batch buffer */
#define PW_SLOTS 4                          /* batch buffers: one being filled, the rest in flight */
#define PW_QUIET_MS 5                       /* flush a non-empty batch after this long without data */
#define PW_IDLE_MS 100                      /* with nothing pending, still look at the lost counter */
#define PW_MAX_AGE_NS (20ull * 1000000ull)  /* never hold a record longer than this */
#define PW_GATHER_MS 4                      /* after reading records, let more gather this long */
#define PW_LOST_EVERY_NS (10ull * 1000000ull) /* read the per-CPU lost counter at most this often */
#define PW_TRACEFS "/sys/kernel/tracing"
#define PW_LOG_BYTES 512

_Static_assert(PW_BATCH_BYTES >= PW_BATCH_HEADER_SIZE + 4 * PW_REC_MAX_SIZE, "batch too small");
_Static_assert(PW_GATHER_MS < PW_QUIET_MS, "the pause counts towards the quiet time");
_Static_assert(PWB_ARGV_MAX == PW_BPF_ARGV_MAX, "procwatch.h and record.h disagree on the argv cap");
_Static_assert(PWB_COMM_LEN == PW_COMM_EVENT_LEN, "comm sizes differ");

static uint32_t align8(uint32_t n) { return (n + 7u) & ~7u; }

static uint64_t now_ns(void)
{
	/* bpf_ktime_get_ns() is CLOCK_MONOTONIC: LOST records use the same clock as events. */
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- counters ------------------------------------------------------------------------------ */
/* The process-change programs in groups that attach whole or not at all (a set*uid exit
 * without its entry would report calls that changed nothing): bit N of a mask is group N. */
enum pw_change_group { PW_CG_UID, PW_CG_GID, PW_CG_SID, PW_CG_PTRACE, PW_CG_COMM, PW_CG_COREDUMP, PW_CG_COUNT };
#define PW_CG_PROGS_MAX 8
#define PW_CG_IDS ((1u << PW_CG_UID) | (1u << PW_CG_GID) | (1u << PW_CG_SID) | (1u << PW_CG_PTRACE))
#define PW_CG_ALL ((1u << PW_CG_COUNT) - 1)

enum pw_counter {
	C_RECEIVED,        /* ring-buffer events read */
	C_EVENTS,          /* records produced (LOST included) */
	C_BATCHES,         /* batches handed to JavaScript */
	C_MALFORMED,       /* ring-buffer events too short or of an unknown type */
	C_RINGBUF_LOST,    /* events the BPF side could not reserve room for */
	C_UNREADABLE_LOST, /* net/file events whose address or path could not be read */
	C_INFLIGHT_LOST,   /* net/file events dropped: too many calls in progress at once */
	C_READER_DROPPED,  /* records the reader could not pass on (stopping, out of memory) */
	C_THREAD_FORKS,    /* new threads (counted in the kernel, not sent) */
	C_THREAD_EXITS,    /* threads that ended without ending their process */
	C_EXIT_DUPLICATES, /* pre-6.16 exit program: a second "last thread" of one process, not sent */
	C_FILTERED,        /* net/file events dropped in the kernel by the uid/cgroup/prefix filters */
	C_EXE_UNKNOWN,     /* exec: the exe path walk did not reach the root (too long, detached) */
	C_CWD_UNKNOWN,     /* exec: the cwd path walk did not reach the root */
	C_SLOT_WAITS,      /* reader waited for JavaScript to take a batch */
	C_DROPPED_BATCHES, /* batches that could not be queued (tsfn closing) */
	/* behaviour capture (capture_* below) */
	C_SYSCALL_TABLE_LOST,    /* syscalls not counted: the kernel's table of processes was full */
	C_SESSION_TABLE_LOST,    /* TCP connections not followed: the table of sessions was full */
	C_SHELL_UNREADABLE_LOST, /* shell lines that could not be read from the shell's memory */
	C_SYSCALL_SNAPSHOTS,     /* syscall records of running processes read at the interval */
	C_SHELL_ATTACHED,        /* shell binaries with a uprobe on readline */
	/* process changes (change_* below) */
	C_PTRACE_UNRESOLVED_LOST, /* ptrace attach/detach whose tracee could not be found */
	C_COUNT
};
static const char *const pw_counter_names[C_COUNT] = {
	"received", "events", "batches", "malformed", "ringbufLost", "unreadableLost", "inflightLost",
	"readerDropped", "threadForks", "threadExits", "exitDuplicates", "filtered", "exeUnknown",
	"cwdUnknown", "slotWaits", "droppedBatches", "syscallTableLost", "sessionTableLost", "shellUnreadableLost",
	"syscallSnapshots", "shellAttached", "ptraceUnresolvedLost",
};

/* The kernel's drop reasons (procwatch.h enum pwb_drop) as record.h LOST reasons and counters. */
static const struct {
	uint32_t reason;
	enum pw_counter counter;
} pw_drops[PWB_DROP_COUNT] = {
	[PWB_DROP_RINGBUF] = { PW_LOST_RINGBUF, C_RINGBUF_LOST },
	[PWB_DROP_UNREADABLE] = { PW_LOST_UNREADABLE, C_UNREADABLE_LOST },
	[PWB_DROP_INFLIGHT] = { PW_LOST_INFLIGHT, C_INFLIGHT_LOST },
};

/* The kernel's own counters (procwatch.h enum pwb_stat), read by counters(). */
static const enum pw_counter pw_stats[PWB_STAT_COUNT] = {
	[PWB_STAT_THREAD_FORKS] = C_THREAD_FORKS,
	[PWB_STAT_THREAD_EXITS] = C_THREAD_EXITS,
	[PWB_STAT_FILTERED] = C_FILTERED,
	[PWB_STAT_EXIT_DUPLICATES] = C_EXIT_DUPLICATES,
};

/* ---- types ------------------------------------------------------------------------------- */
typedef struct {
	uint8_t *buf;
	uint32_t cap, len, count;
} pw_batch;

/* A string a record points to: where its pw_str sits in the body, and its bytes. */
typedef struct {
	uint32_t field;
	const void *src;
	uint32_t len;
} pw_strref;

enum { PW_MSG_BATCH = 1, PW_MSG_ERROR = 2 };
#define PW_MSG_HEAP (-1)   /* pw_msg.slot: message and buffer malloc'd, freed after delivery */
#define PW_MSG_STATIC (-2) /* pw_msg.slot: lives in the handle (the reader's last error) */
#define PW_HEAP_SLOT PW_SLOTS /* pw_handle.cur: filling a heap batch (stopping, every slot busy) */
#define PW_ERROR_BYTES 256
typedef struct pw_msg {
	int type;
	int slot; /* batch slot index, PW_MSG_HEAP or PW_MSG_STATIC */
	uint32_t len;
	uint8_t *buf;
} pw_msg;

/* Behaviour capture (capture_*): a syscall-count entry seen at the last interval read. */
typedef struct {
	uint32_t tgid;
	uint64_t start_ns;
	uint64_t total;
} pw_syscall_seen;

#define PW_SHELL_LINKS_MAX 64 /* distinct bash binaries (inodes) with a uprobe */
#define PW_SYSCALL_ROWS 64u   /* iterator rows per read() */

typedef struct {
	uint64_t lost_seen[PWB_CDROP_COUNT]; /* reader thread */
	/* syscall counts, read by the reader thread every syscalls_every_ns (0: only at exits) */
	int syscalls;
	uint64_t syscalls_every_ns, syscalls_read_ns;
	pw_syscall_seen *seen, *next_seen; /* sorted by tgid */
	uint32_t nseen, nnext, cap_seen;
	struct bpf_link *iter_link;         /* pw_syscalls_iter, attached apart from the skeleton */
	struct pwb_syscall_iter_row *rows;  /* PW_SYSCALL_ROWS read at a time */
	struct pw_syscall_count *pairs;
	/* shell: one uprobe link per bash binary; attached on the JS thread, destroyed under lock */
	struct bpf_link *shell_links[PW_SHELL_LINKS_MAX];
	int nshell;
} pw_capture;

typedef struct pw_handle {
	/* JS thread only */
	napi_env env;
	napi_threadsafe_function tsfn;
	napi_ref on_batch, on_error, on_close;
	int refs; /* JS wrapper + tsfn finalizer; freed at 0 */
	int stopped, thread_started, hook_added;
	pthread_t thread;
	int wake_fd, cgroup_fd;
	uint32_t ring_bytes, stall_ms;
	int reader_fault; /* test hook: the ring-buffer callback fails at the first event */
	struct procwatch_bpf *skel;
	struct ring_buffer *rb;
	/* shared */
	uint32_t stop_flag;         /* __atomic */
	uint64_t counters[C_COUNT]; /* __atomic */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int detached;            /* under lock: the programs' links are gone */
	int slot_busy[PW_SLOTS]; /* under lock: filled by the reader or queued to JS */
	uint8_t *slot_buf[PW_SLOTS];
	pw_msg slot_msg[PW_SLOTS];
	pw_msg error_msg; /* PW_MSG_STATIC: posting the reader's last words needs no allocation */
	char error_text[PW_ERROR_BYTES];
	/* reader thread only */
	int cur; /* slot being filled, PW_HEAP_SLOT for heap_msg, -1 none */
	pw_msg *heap_msg;
	pw_batch batch;
	uint64_t seq;
	uint64_t batch_start_ns;
	uint64_t lost_seen[PWB_DROP_COUNT], lost_checked_ns;
	uint64_t *percpu; /* libbpf_num_possible_cpus() values */
	int ncpus;
	int stalled;
	uint64_t ns_per_tick;
	uint64_t page_kib; /* sysconf(_SC_PAGESIZE) / 1024: signal->maxrss is in pages */
	char exe[PW_PATH_MAX + PW_EXE_SUFFIX_MAX], cwd[PW_PATH_MAX];
	pw_capture cap;
	uint64_t change_lost_seen[PWB_XDROP_COUNT]; /* reader thread */
	struct bpf_link *change_links[PW_CG_COUNT][PW_CG_PROGS_MAX]; /* attached by change_attach() */
	char notices[1024]; /* optional programs that could not run, one line each (set at start) */
} pw_handle;

/* A line for notices(): something optional that does not run, said instead of left out silently. */
static void notice_add(pw_handle *h, const char *fmt, ...)
{
	size_t used = strlen(h->notices);
	va_list ap;
	if (used + 2 >= sizeof h->notices)
		return;
	if (used > 0)
		h->notices[used++] = '\n';
	va_start(ap, fmt);
	vsnprintf(h->notices + used, sizeof h->notices - used, fmt, ap);
	va_end(ap);
}

static void count_add(pw_handle *h, enum pw_counter c, uint64_t n) { __atomic_fetch_add(&h->counters[c], n, __ATOMIC_RELAXED); }
static void count(pw_handle *h, enum pw_counter c) { count_add(h, c, 1); }
static int stop_requested(pw_handle *h) { return __atomic_load_n(&h->stop_flag, __ATOMIC_ACQUIRE) != 0; }

/* ---- batch_*: packing records (the same bytes procconn.c writes) ----------------------------- */
static void batch_reset(pw_batch *b, uint8_t *buf, uint32_t cap)
{
	b->buf = buf;
	b->cap = cap;
	b->len = PW_BATCH_HEADER_SIZE;
	b->count = 0;
}

static void batch_seal(pw_batch *b)
{
	struct pw_batch_header bh = { PW_BATCH_MAGIC, PW_RECORD_VERSION, PW_BATCH_HEADER_SIZE, b->count, b->len };
	memcpy(b->buf, &bh, sizeof bh);
}

/* Appends header + fixed body + the strings (in order; an empty one is {0, 0}), each
 * pw_str in the body pointing at its bytes. Returns the record's offset, or 0 when it does
 * not fit. body is modified (its pw_str fields are filled). */
static uint32_t batch_put(pw_batch *b, struct pw_rec_header *rh, void *body, uint32_t body_len, const pw_strref *strs,
			  int nstrs)
{
	uint32_t strings = 0, size, pos, off = b->len;
	uint8_t *rec = b->buf + off;

	for (int i = 0; i < nstrs; i++)
		strings += strs[i].len;
	size = align8(PW_REC_HEADER_SIZE + body_len + strings);
	if (b->cap - b->len < size)
		return 0;
	pos = PW_REC_HEADER_SIZE + body_len;
	for (int i = 0; i < nstrs; i++) {
		struct pw_str ps = { 0, 0 };
		if (strs[i].len) {
			ps.off = pos;
			ps.len = strs[i].len;
			memcpy(rec + pos, strs[i].src, strs[i].len);
			pos += strs[i].len;
		}
		memcpy((uint8_t *)body + strs[i].field, &ps, sizeof ps);
	}
	memset(rec + pos, 0, size - pos);
	rh->size = size;
	rh->reserved = 0;
	memcpy(rec, rh, sizeof *rh);
	if (body_len)
		memcpy(rec + PW_REC_HEADER_SIZE, body, body_len);
	b->len += size;
	b->count++;
	return off;
}

/* While stopping, JavaScript cannot give slots back (its thread is joining this one): what
 * is left to drain goes into heap batches instead, delivered after the join. -1: no memory. */
static int batch_acquire_heap(pw_handle *h)
{
	pw_msg *m = calloc(1, sizeof *m);
	uint8_t *buf = malloc(PW_BATCH_BYTES);

	h->cur = -1;
	if (!m || !buf) {
		free(m);
		free(buf);
		return -1;
	}
	*m = (pw_msg){ PW_MSG_BATCH, PW_MSG_HEAP, 0, buf };
	h->heap_msg = m;
	h->cur = PW_HEAP_SLOT;
	batch_reset(&h->batch, buf, PW_BATCH_BYTES);
	return 0;
}

/* Takes a free slot for the reader to fill; waits (the ring buffer holds events meanwhile)
 * while JavaScript still holds every slot, or takes a heap batch once stop() was asked.
 * Returns -1 only when stopping and out of memory. */
static int batch_acquire(pw_handle *h)
{
	int waited = 0;
	pthread_mutex_lock(&h->lock);
	for (;;) {
		for (int i = 0; i < PW_SLOTS; i++) {
			if (!h->slot_busy[i]) {
				h->slot_busy[i] = 1;
				pthread_mutex_unlock(&h->lock);
				h->cur = i;
				batch_reset(&h->batch, h->slot_buf[i], PW_BATCH_BYTES);
				return 0;
			}
		}
		if (stop_requested(h)) {
			pthread_mutex_unlock(&h->lock);
			return batch_acquire_heap(h);
		}
		if (!waited++)
			count(h, C_SLOT_WAITS);
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 100 * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&h->cond, &h->lock, &until);
	}
}

static void slot_release(pw_handle *h, int slot)
{
	pthread_mutex_lock(&h->lock);
	h->slot_busy[slot] = 0;
	pthread_cond_signal(&h->cond);
	pthread_mutex_unlock(&h->lock);
}

/* Gives a message back: a slot to the pool, a heap message to free(). */
static void msg_release(pw_handle *h, pw_msg *m)
{
	if (m->slot >= 0) {
		slot_release(h, m->slot);
	} else if (m->slot == PW_MSG_HEAP) {
		free(m->buf);
		free(m);
	}
}

/* Hands the current batch to JavaScript (one tsfn call); the slot comes back in tsfn_call_js. */
static void batch_post(pw_handle *h)
{
	int slot = h->cur;
	pw_msg *m;
	if (slot < 0 || h->batch.count == 0)
		return;
	m = slot == PW_HEAP_SLOT ? h->heap_msg : &h->slot_msg[slot];
	batch_seal(&h->batch);
	m->len = h->batch.len;
	h->cur = -1;
	h->heap_msg = NULL;
	if (napi_call_threadsafe_function(h->tsfn, m, napi_tsfn_nonblocking) == napi_ok) {
		count(h, C_BATCHES);
	} else {
		/* napi_closing: the environment is going away; nobody can take batches now. */
		count(h, C_DROPPED_BATCHES);
		count_add(h, C_READER_DROPPED, h->batch.count);
		msg_release(h, m);
		__atomic_store_n(&h->stop_flag, 1, __ATOMIC_RELEASE);
	}
}

/* The batch being filled is not sent (nothing in it, or the reader is leaving): give it back. */
static void batch_abandon(pw_handle *h)
{
	if (h->cur < 0)
		return;
	count_add(h, C_READER_DROPPED, h->batch.count);
	msg_release(h, h->cur == PW_HEAP_SLOT ? h->heap_msg : &h->slot_msg[h->cur]);
	h->heap_msg = NULL;
	h->cur = -1;
}

static void batch_flush(pw_handle *h)
{
	batch_post(h);
	if (h->cur < 0)
		batch_acquire(h);
}

/* Appends one record, flushing first if the batch is full. Returns its offset, or 0 when
 * the record could not be kept (counted in readerDropped). */
static uint32_t batch_emit(pw_handle *h, struct pw_rec_header *rh, void *body, uint32_t body_len,
			   const pw_strref *strs, int nstrs)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		uint32_t off;
		if (h->cur < 0 && batch_acquire(h) != 0)
			break; /* stopping and out of memory */
		rh->seq = h->seq + 1;
		off = batch_put(&h->batch, rh, body, body_len, strs, nstrs);
		if (off) {
			h->seq++;
			if (h->batch.count == 1)
				h->batch_start_ns = now_ns();
			count(h, C_EVENTS);
			return off;
		}
		batch_flush(h);
	}
	count(h, C_READER_DROPPED);
	return 0;
}

/* ---- ring_*: one BPF event -> one record ------------------------------------------------------ */

/* A walk is components leaf first, each NUL-terminated: "true\0bin\0usr\0" -> "/usr/bin/true".
 * Returns the path's length, or -1 when the walk is malformed or the path too long. */
static int ring_walk_path(const char *walk, uint32_t len, char *out, uint32_t cap)
{
	uint32_t n = 0, end = len;

	if (len == 0) { /* the root itself */
		out[0] = '/';
		return 1;
	}
	if (walk[len - 1] != '\0')
		return -1;
	while (end > 0) {
		uint32_t start = end - 1; /* at the component's NUL */
		while (start > 0 && walk[start - 1] != '\0')
			start--;
		uint32_t clen = end - 1 - start;
		if (n + 1 + clen > cap)
			return -1;
		out[n++] = '/';
		memcpy(out + n, walk + start, clen);
		n += clen;
		end = start;
	}
	return (int)n;
}

static void ring_header(struct pw_rec_header *rh, const struct pwb_head *e, uint16_t kind)
{
	memset(rh, 0, sizeof *rh);
	rh->kind = kind;
	rh->timestamp_ns = e->ts;
	rh->cpu = e->cpu;
	rh->pid = (int32_t)e->pid;
	rh->tid = (int32_t)e->tid;
}

/* " (deleted)" as /proc/PID/exe shows an unlinked file, so both sources agree. */
#define PW_DELETED_SUFFIX " (deleted)"
_Static_assert(sizeof PW_DELETED_SUFFIX <= PW_EXE_SUFFIX_MAX, "suffix room");

static void ring_exec(pw_handle *h, const struct pwb_exec *e, uint32_t size)
{
	struct pw_rec_header rh;
	struct pw_rec_exec x;
	const char *argv = e->data, *filename, *exe_walk, *cwd_walk;
	uint32_t comm_len = (uint32_t)strnlen(e->comm, sizeof e->comm);
	int exe_len = -1, cwd_len = -1;

	if (sizeof *e + (uint64_t)e->argv_len + e->filename_len + e->exe_len + e->cwd_len > size ||
	    e->argv_len > PW_BPF_ARGV_MAX || e->filename_len >= PW_PATH_MAX) {
		count(h, C_MALFORMED);
		return;
	}
	filename = argv + e->argv_len;
	exe_walk = filename + e->filename_len;
	cwd_walk = exe_walk + e->exe_len;
	memset(&x, 0, sizeof x);
	x.flags = PW_EXEC_COMM | PW_EXEC_STAT | PW_EXEC_UIDS | PW_EXEC_GIDS | PW_EXEC_CGROUP;
	if (e->h.flags & PWB_F_ARGV)
		x.flags |= PW_EXEC_ARGV | ((e->h.flags & PWB_F_ARGV_TRUNCATED) ? PW_EXEC_ARGV_TRUNCATED : 0);
	if (e->h.flags & PWB_F_FILENAME)
		x.flags |= PW_EXEC_FILENAME;
	/* Paths longer than /proc would show (PATH_MAX - 1 bytes) are unknown there too. */
	if (e->h.flags & PWB_F_EXE)
		exe_len = ring_walk_path(exe_walk, e->exe_len, h->exe, PW_PATH_MAX - 1);
	if (exe_len >= 0) {
		x.flags |= PW_EXEC_EXE;
		if (e->h.flags & PWB_F_EXE_DELETED) {
			memcpy(h->exe + exe_len, PW_DELETED_SUFFIX, sizeof PW_DELETED_SUFFIX - 1);
			exe_len += (int)sizeof PW_DELETED_SUFFIX - 1;
		}
	} else {
		count(h, C_EXE_UNKNOWN);
	}
	if (e->h.flags & PWB_F_CWD)
		cwd_len = ring_walk_path(cwd_walk, e->cwd_len, h->cwd, PW_PATH_MAX - 1);
	if (cwd_len >= 0)
		x.flags |= PW_EXEC_CWD;
	else
		count(h, C_CWD_UNKNOWN);
	x.cgroup_id = e->cgroup_id;
	x.ppid = (int32_t)e->ppid;
	/* /proc/PID/stat field 22 is start_boottime in USER_HZ ticks (nsec_to_clock_t). */
	x.start_ticks = e->start_ns / h->ns_per_tick;
	x.start_ns = e->start_ns;
	x.read_ns = e->h.ts; /* read by the kernel, at the event */
	memcpy(x.uid, e->uid, sizeof x.uid);
	memcpy(x.gid, e->gid, sizeof x.gid);
	x.state = 'R'; /* it is running its exec */
	ring_header(&rh, &e->h, PW_KIND_EXEC);
	pw_strref strs[5] = {
		{ offsetof(struct pw_rec_exec, comm), e->comm, comm_len },
		{ offsetof(struct pw_rec_exec, cmdline), argv, (x.flags & PW_EXEC_ARGV) ? e->argv_len : 0 },
		{ offsetof(struct pw_rec_exec, exe), h->exe, exe_len > 0 ? (uint32_t)exe_len : 0 },
		{ offsetof(struct pw_rec_exec, cwd), h->cwd, cwd_len > 0 ? (uint32_t)cwd_len : 0 },
		{ offsetof(struct pw_rec_exec, filename), filename, (x.flags & PW_EXEC_FILENAME) ? e->filename_len : 0 },
	};
	batch_emit(h, &rh, &x, sizeof x, strs, 5);
}

static void ring_sock(pw_handle *h, const struct pwb_sock *e, uint16_t kind)
{
	struct pw_rec_header rh;
	struct pw_rec_sock s;

	memset(&s, 0, sizeof s);
	s.family = e->family;
	s.protocol = e->protocol;
	s.local_port = e->lport;
	s.remote_port = e->rport;
	s.result = e->ret;
	s.flags = (e->h.flags & PWB_F_LOCAL) ? PW_SOCK_LOCAL : 0;
	memcpy(s.local_addr, e->laddr, sizeof s.local_addr);
	memcpy(s.remote_addr, e->raddr, sizeof s.remote_addr);
	s.uid = e->h.uid;
	s.fd = (int32_t)e->fd;
	s.cgroup_id = e->cgroup_id;
	ring_header(&rh, &e->h, kind);
	batch_emit(h, &rh, &s, sizeof s, NULL, 0);
}

static void ring_open(pw_handle *h, const struct pwb_open *e, uint32_t size)
{
	struct pw_rec_header rh;
	struct pw_rec_open o;

	if (sizeof *e + (uint64_t)e->path_len > size || e->path_len >= PW_PATH_MAX) {
		count(h, C_MALFORMED);
		return;
	}
	memset(&o, 0, sizeof o);
	o.result = e->ret;
	o.open_flags = e->flags;
	o.mode = e->mode;
	o.flags = (e->h.flags & PWB_F_PATH_TRUNCATED) ? PW_OPEN_PATH_TRUNCATED : 0;
	o.dir_fd = e->dfd;
	o.uid = e->h.uid;
	o.cgroup_id = e->cgroup_id;
	ring_header(&rh, &e->h, PW_KIND_OPEN);
	pw_strref path = { offsetof(struct pw_rec_open, path), e->path, e->path_len };
	batch_emit(h, &rh, &o, sizeof o, &path, 1);
}

static int capture_ring_event(pw_handle *h, const struct pwb_head *head, const void *data, uint32_t size);
static void capture_check_lost(pw_handle *h, uint64_t now);
static void capture_detach(pw_handle *h);
static int change_ring_event(pw_handle *h, const struct pwb_head *head, const void *data, uint32_t size);
static void change_check_lost(pw_handle *h, uint64_t now);

/* libbpf's ring_buffer callback: one event. Never fails (a bad event is counted). */
/* The user/system split of an exact runtime, as the kernel's cputime_adjust() gives it to
 * getrusage() and to the parent's cutime/cstime: in the proportion of the tick-sampled utime and
 * stime (no system ticks: all user time; no user ticks: all system time), then kept monotonic
 * against signal->prev_cputime, the split the kernel last handed out for this process (any
 * reader of /proc/PID/stat or the parent's wait updates it). Without the clamp a process that
 * another tool sampled while it ran would be split differently from what its parent saw. */
static void ring_cpu_split(uint64_t runtime, uint64_t utime, uint64_t stime, uint64_t prev_utime,
			   uint64_t prev_stime, struct pw_rec_acct *a)
{
	uint64_t sys;

	a->cpu_ns = runtime;
	if (prev_utime + prev_stime >= runtime) { /* the kernel's "goto out": the last split stands */
		a->user_ns = prev_utime;
		a->system_ns = prev_stime;
		a->cpu_ns = prev_utime + prev_stime;
		return;
	}
	if (stime == 0)
		sys = 0;
	else if (utime == 0)
		sys = runtime;
	else
		sys = (uint64_t)((unsigned __int128)stime * runtime / ((unsigned __int128)stime + utime));
	if (sys < prev_stime)
		sys = prev_stime;
	a->user_ns = runtime - sys;
	if (a->user_ns < prev_utime) {
		a->user_ns = prev_utime;
		sys = runtime - prev_utime;
	}
	a->system_ns = sys;
}

/* A process's totals (pwb_acct) as an ACCT record: every field known. */
static void ring_acct(pw_handle *h, const struct pwb_acct *e)
{
	struct pw_rec_header rh;
	struct pw_rec_acct a;
	memset(&a, 0, sizeof a);
	a.flags = PW_ACCT_CPU | PW_ACCT_FAULTS | PW_ACCT_SWITCHES | PW_ACCT_MAXRSS | PW_ACCT_IO;
	a.start_ticks = e->start_ns / h->ns_per_tick;
	ring_cpu_split(e->runtime_ns, e->utime_ns, e->stime_ns, e->prev_utime_ns, e->prev_stime_ns, &a);
	a.min_flt = e->min_flt;
	a.maj_flt = e->maj_flt;
	a.nvcsw = e->nvcsw;
	a.nivcsw = e->nivcsw;
	a.max_rss_kib = e->maxrss_pages * h->page_kib;
	a.rchar = e->rchar;
	a.wchar = e->wchar;
	a.read_bytes = e->read_bytes;
	a.write_bytes = e->write_bytes;
	ring_header(&rh, &e->h, PW_KIND_ACCT);
	batch_emit(h, &rh, &a, sizeof a, NULL, 0);
}

static int ring_event(void *ctx, void *data, size_t size)
{
	pw_handle *h = ctx;
	const struct pwb_head *head = data;

	count(h, C_RECEIVED);
	if (h->reader_fault) /* test hook: a failing callback fails ring_buffer__consume() */
		return -EIO;
	if (h->stall_ms && !h->stalled) { /* test hook: a reader that falls behind fills the ring */
		h->stalled = 1;
		usleep(h->stall_ms * 1000u);
	}
	if (size < sizeof *head || head->size > size) {
		count(h, C_MALFORMED);
		return 0;
	}
	size = head->size;
	switch (head->type) {
	case PWB_EXEC:
		if (size >= sizeof(struct pwb_exec)) {
			ring_exec(h, data, (uint32_t)size);
			return 0;
		}
		break;
	case PWB_FORK:
		if (size >= sizeof(struct pwb_fork)) {
			const struct pwb_fork *e = data;
			struct pw_rec_header rh;
			/* start_boottime in USER_HZ ticks, as /proc/PID/stat field 22 shows it. */
			struct pw_rec_fork f = { (int32_t)e->parent_pid, (int32_t)e->parent_tid, e->start_ns / h->ns_per_tick, e->start_ns };
			ring_header(&rh, head, PW_KIND_FORK);
			batch_emit(h, &rh, &f, sizeof f, NULL, 0);
			return 0;
		}
		break;
	case PWB_EXIT:
		if (size >= sizeof(struct pwb_exit)) {
			const struct pwb_exit *e = data;
			struct pw_rec_header rh;
			struct pw_rec_exit x = { .exit_code = e->exit_code, .exit_signal = e->exit_signal,
						 .parent_pid = (int32_t)e->parent_pid, .parent_tid = (int32_t)e->parent_tid,
						 .flags = PW_PARENT_KNOWN };
			if (head->flags & PWB_F_COMM) {
				x.flags |= PW_EXIT_COMM;
				memcpy(x.comm, e->comm, strnlen(e->comm, sizeof e->comm)); /* the rest stays NUL */
			}
			ring_header(&rh, head, PW_KIND_EXIT);
			batch_emit(h, &rh, &x, sizeof x, NULL, 0);
			return 0;
		}
		break;
	case PWB_CONNECT:
	case PWB_ACCEPT:
		if (size >= sizeof(struct pwb_sock)) {
			ring_sock(h, data, head->type == PWB_CONNECT ? PW_KIND_CONNECT : PW_KIND_ACCEPT);
			return 0;
		}
		break;
	case PWB_OPEN:
		if (size >= sizeof(struct pwb_open)) {
			ring_open(h, data, (uint32_t)size);
			return 0;
		}
		break;
	case PWB_ACCT:
		if (size >= sizeof(struct pwb_acct)) {
			ring_acct(h, data);
			return 0;
		}
		break;
	default:
		if (capture_ring_event(h, head, data, (uint32_t)size))
			return 0;
		if (change_ring_event(h, head, data, (uint32_t)size))
			return 0;
		break;
	}
	count(h, C_MALFORMED);
	return 0;
}

/* Sums a per-CPU counter map entry. Returns 0 on success. */
static int bpf_percpu_sum(pw_handle *h, const struct bpf_map *map, uint32_t key, uint64_t *sum)
{
	*sum = 0;
	if (bpf_map_lookup_elem(bpf_map__fd(map), &key, h->percpu) != 0)
		return errno;
	for (int i = 0; i < h->ncpus; i++)
		*sum += h->percpu[i];
	return 0;
}

/* Each increase of one of the kernel's drop counters becomes one LOST record with its reason. */
static void reader_check_lost(pw_handle *h, int force)
{
	uint64_t now = now_ns(), total;
	if (!force && now - h->lost_checked_ns < PW_LOST_EVERY_NS)
		return;
	h->lost_checked_ns = now;
	for (uint32_t why = 0; why < PWB_DROP_COUNT; why++) {
		if (bpf_percpu_sum(h, h->skel->maps.lost, why, &total) != 0 || total <= h->lost_seen[why])
			continue;
		uint64_t delta = total - h->lost_seen[why];
		struct pw_rec_header rh;
		struct pw_rec_lost l = { delta >= PW_LOST_COUNT_UNKNOWN ? PW_LOST_COUNT_UNKNOWN - 1 : (uint32_t)delta,
					 pw_drops[why].reason, 0, 0 };
		h->lost_seen[why] = total;
		count_add(h, pw_drops[why].counter, delta);
		memset(&rh, 0, sizeof rh);
		rh.kind = PW_KIND_LOST;
		rh.cpu = PW_CPU_UNKNOWN;
		rh.timestamp_ns = now;
		batch_emit(h, &rh, &l, sizeof l, NULL, 0);
	}
	capture_check_lost(h, now);
	change_check_lost(h, now);
}

/* ---- capture_*: behaviour capture (syscall counts, TCP sessions, shell lines) ---------------- */

/* The kernel's capture drop reasons (procwatch.h enum pwb_capture_drop) as LOST reasons. */
static const struct {
	uint32_t reason;
	enum pw_counter counter;
} pw_capture_drops[PWB_CDROP_COUNT] = {
	[PWB_CDROP_SYSCALL_TABLE] = { PW_LOST_SYSCALL_TABLE, C_SYSCALL_TABLE_LOST },
	[PWB_CDROP_SESSION_TABLE] = { PW_LOST_SESSION_TABLE, C_SESSION_TABLE_LOST },
	[PWB_CDROP_SHELL_UNREADABLE] = { PW_LOST_SHELL_UNREADABLE, C_SHELL_UNREADABLE_LOST },
};

/* As reader_check_lost, for the capture_lost map (called from it, on its schedule). */
static void capture_check_lost(pw_handle *h, uint64_t now)
{
	uint64_t total;
	for (uint32_t why = 0; why < PWB_CDROP_COUNT; why++) {
		if (bpf_percpu_sum(h, h->skel->maps.capture_lost, why, &total) != 0 || total <= h->cap.lost_seen[why])
			continue;
		uint64_t delta = total - h->cap.lost_seen[why];
		struct pw_rec_header rh;
		struct pw_rec_lost l = { delta >= PW_LOST_COUNT_UNKNOWN ? PW_LOST_COUNT_UNKNOWN - 1 : (uint32_t)delta,
					 pw_capture_drops[why].reason, 0, 0 };
		h->cap.lost_seen[why] = total;
		count_add(h, pw_capture_drops[why].counter, delta);
		memset(&rh, 0, sizeof rh);
		rh.kind = PW_KIND_LOST;
		rh.cpu = PW_CPU_UNKNOWN;
		rh.timestamp_ns = now;
		batch_emit(h, &rh, &l, sizeof l, NULL, 0);
	}
}

/* One SYSCALLS record: pairs[] are the non-zero counts, nr ascending. */
static void capture_syscalls_emit(pw_handle *h, uint32_t tgid, uint64_t ts, uint32_t cpu, uint64_t start_ns,
				  const struct pwb_syscall_count *pairs, uint32_t n, uint32_t flags)
{
	struct pw_rec_header rh;
	struct pw_rec_syscalls r;
	struct pw_syscall_count *out = h->cap.pairs;

	memset(&r, 0, sizeof r);
	r.start_ticks = start_ns / h->ns_per_tick;
	r.flags = flags;
	for (uint32_t i = 0; i < n; i++) {
		out[i].nr = pairs[i].nr == PWB_SYSCALL_OTHER ? PW_SYSCALL_OTHER : pairs[i].nr;
		out[i].reserved = 0;
		out[i].count = pairs[i].count;
		r.total += pairs[i].count;
	}
	memset(&rh, 0, sizeof rh);
	rh.kind = PW_KIND_SYSCALLS;
	rh.timestamp_ns = ts;
	rh.cpu = cpu;
	rh.pid = rh.tid = (int32_t)tgid;
	pw_strref counts = { offsetof(struct pw_rec_syscalls, counts), out, n * (uint32_t)sizeof *out };
	batch_emit(h, &rh, &r, sizeof r, &counts, 1);
}

/* A process's exit: its whole profile, sent by the kernel. */
static void capture_ring_syscalls(pw_handle *h, const struct pwb_syscalls *e, uint32_t size)
{
	if (e->n > PWB_SYSCALL_SLOTS || sizeof *e + (uint64_t)e->n * sizeof e->counts[0] > size || !h->cap.pairs) {
		count(h, C_MALFORMED);
		return;
	}
	capture_syscalls_emit(h, e->h.pid, e->h.ts, e->h.cpu, e->start_ns, e->counts, e->n, PW_SYSCALLS_FINAL);
}

static int capture_seen_cmp(const void *a, const void *b)
{
	uint32_t x = ((const pw_syscall_seen *)a)->tgid, y = ((const pw_syscall_seen *)b)->tgid;
	return x < y ? -1 : x > y;
}

/* The entry for tgid at the previous read, or NULL. */
static const pw_syscall_seen *capture_seen_find(pw_capture *c, uint32_t tgid)
{
	uint32_t lo = 0, hi = c->nseen;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (c->seen[mid].tgid < tgid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < c->nseen && c->seen[lo].tgid == tgid ? &c->seen[lo] : NULL;
}

/* Every `syscalls_every_ns` (or now, with force): a record for each running process whose
 * counts changed since the previous read, read through the pw_syscalls_iter iterator (one
 * read(2) loop walks every task in the kernel, under its own locking). */
static void capture_read_syscalls(pw_handle *h, int force)
{
	pw_capture *c = &h->cap;
	uint64_t now = now_ns();
	size_t have = 0;
	int fd;

	if (!c->syscalls || !c->rows || !c->iter_link ||
	    (!force && (c->syscalls_every_ns == 0 || now - c->syscalls_read_ns < c->syscalls_every_ns)))
		return;
	c->syscalls_read_ns = now;
	c->nnext = 0;
	fd = bpf_iter_create(bpf_link__fd(c->iter_link));
	if (fd < 0)
		return; /* read again at the next interval */
	for (;;) {
		ssize_t n = read(fd, (char *)c->rows + have, PW_SYSCALL_ROWS * sizeof *c->rows - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		have += (size_t)n;
		size_t rows = have / sizeof *c->rows;
		uint64_t ts = now_ns();
		for (size_t i = 0; i < rows; i++) {
			const struct pwb_syscall_iter_row *row = &c->rows[i];
			struct pwb_syscall_count pairs[PWB_SYSCALL_SLOTS];
			uint32_t np = 0;
			uint64_t total = 0;
			for (uint32_t nr = 0; nr < PWB_SYSCALL_SLOTS; nr++) {
				if (row->c.counts[nr] == 0)
					continue;
				pairs[np++] = (struct pwb_syscall_count){ nr, 0, row->c.counts[nr] };
				total += row->c.counts[nr];
			}
			if (c->nnext == c->cap_seen) {
				uint32_t cap = c->cap_seen ? c->cap_seen * 2 : 1024;
				pw_syscall_seen *a = realloc(c->seen, cap * sizeof *a), *b;
				if (!a)
					break;
				c->seen = a;
				b = realloc(c->next_seen, cap * sizeof *b);
				if (!b)
					break;
				c->next_seen = b;
				c->cap_seen = cap;
			}
			const pw_syscall_seen *was = capture_seen_find(c, row->tgid);
			c->next_seen[c->nnext++] = (pw_syscall_seen){ row->tgid, row->c.start_ns, total };
			if (was && was->start_ns == row->c.start_ns && was->total == total)
				continue; /* nothing new */
			capture_syscalls_emit(h, row->tgid, ts, PW_CPU_UNKNOWN, row->c.start_ns, pairs, np, 0);
			count(h, C_SYSCALL_SNAPSHOTS);
		}
		/* A row split across reads: keep its start for the next one. */
		memmove(c->rows, (char *)c->rows + rows * sizeof *c->rows, have - rows * sizeof *c->rows);
		have -= rows * sizeof *c->rows;
	}
	close(fd);
	qsort(c->next_seen, c->nnext, sizeof *c->next_seen, capture_seen_cmp);
	pw_syscall_seen *t = c->seen;
	c->seen = c->next_seen;
	c->next_seen = t;
	c->nseen = c->nnext;
}

/* A TCP connection that closed. */
static void capture_ring_session(pw_handle *h, const struct pwb_session *e)
{
	struct pw_rec_header rh;
	struct pw_rec_session r;

	memset(&r, 0, sizeof r);
	r.flags = ((e->h.flags & PWB_F_SESSION_ACCEPTED) ? PW_SESSION_ACCEPTED : 0) |
		  ((e->h.flags & PWB_F_SESSION_OWNER) ? PW_SESSION_OWNER : 0) |
		  ((e->h.flags & PWB_F_SESSION_EARLIER) ? PW_SESSION_EARLIER : 0);
	if (r.flags & PW_SESSION_OWNER) {
		r.start_ticks = e->owner_start_ns / h->ns_per_tick;
		r.uid = e->h.uid;
		r.cgroup_id = e->cgroup_id;
	}
	r.established_ns = e->established_ns;
	/* The socket counts sequence numbers, not bytes: bytes_acked includes our SYN (an
	 * active open's SYN is acknowledged within the connection; a passive one's before the
	 * socket exists) and our FIN once acknowledged; bytes_received the peer's FIN. For a
	 * connection established before capture began the direction is unknown: the SYN stays. */
	uint64_t syn = (r.flags & (PW_SESSION_ACCEPTED | PW_SESSION_EARLIER)) ? 0 : 1;
	int fin_sent = e->old_state == 4 || e->old_state == 5 || e->old_state == 9 || e->old_state == 11; /* FIN_WAIT1/2, LAST_ACK, CLOSING */
	uint64_t fin_out = fin_sent && e->snd_una == e->write_seq ? 1 : 0;
	uint64_t fin_in = (e->h.flags & PWB_F_SESSION_FIN_IN) ? 1 : 0;
	r.bytes_sent = e->bytes_acked >= syn + fin_out ? e->bytes_acked - syn - fin_out : 0;
	r.bytes_received = e->bytes_received >= fin_in ? e->bytes_received - fin_in : 0;
	r.bytes_retrans = e->bytes_retrans;
	r.retransmits = e->total_retrans;
	r.family = e->family;
	r.local_port = e->lport;
	r.remote_port = e->rport;
	r.close_state = e->old_state;
	memcpy(r.local_addr, e->laddr, sizeof r.local_addr);
	memcpy(r.remote_addr, e->raddr, sizeof r.remote_addr);
	ring_header(&rh, &e->h, PW_KIND_SESSION);
	if (!(r.flags & PW_SESSION_OWNER))
		rh.pid = rh.tid = 0;
	batch_emit(h, &rh, &r, sizeof r, NULL, 0);
}

/* A line a shell read: line, tty name and cwd walk follow the fixed part. */
static void capture_ring_shell(pw_handle *h, const struct pwb_shell *e, uint32_t size)
{
	struct pw_rec_header rh;
	struct pw_rec_shell r;
	const char *line = e->data, *tty, *cwd_walk;
	int cwd_len = -1;

	if (sizeof *e + (uint64_t)e->line_len + e->tty_len + e->cwd_len > size || e->line_len > PW_SHELL_LINE_MAX ||
	    e->tty_len >= PWB_TTY_NAME_MAX) {
		count(h, C_MALFORMED);
		return;
	}
	tty = line + e->line_len;
	cwd_walk = tty + e->tty_len;
	memset(&r, 0, sizeof r);
	r.start_ticks = e->start_ns / h->ns_per_tick;
	r.uid = e->h.uid;
	r.euid = e->euid;
	r.login_uid = e->login_uid;
	r.session_id = e->session_id;
	if (e->h.flags & PWB_F_SHELL_TRUNCATED)
		r.flags |= PW_SHELL_TRUNCATED;
	if (e->h.flags & PWB_F_SHELL_TTY)
		r.flags |= PW_SHELL_TTY;
	if (e->h.flags & PWB_F_SHELL_CWD)
		cwd_len = ring_walk_path(cwd_walk, e->cwd_len, h->cwd, PW_PATH_MAX - 1);
	if (cwd_len >= 0)
		r.flags |= PW_SHELL_CWD;
	ring_header(&rh, &e->h, PW_KIND_SHELL);
	pw_strref strs[3] = {
		{ offsetof(struct pw_rec_shell, line), line, e->line_len },
		{ offsetof(struct pw_rec_shell, tty), tty, (r.flags & PW_SHELL_TTY) ? e->tty_len : 0 },
		{ offsetof(struct pw_rec_shell, cwd), h->cwd, cwd_len > 0 ? (uint32_t)cwd_len : 0 },
	};
	batch_emit(h, &rh, &r, sizeof r, strs, 3);
}

/* Destroys every readline uprobe (called under h->lock by handle_detach). */
static void capture_detach(pw_handle *h)
{
	for (int i = 0; i < h->cap.nshell; i++)
		bpf_link__destroy(h->cap.shell_links[i]);
	h->cap.nshell = 0;
}

/* Capture events from the ring buffer. Returns 0 for a type that is not one of them. */
static int capture_ring_event(pw_handle *h, const struct pwb_head *head, const void *data, uint32_t size)
{
	switch (head->type) {
	case PWB_SHELL:
		if (size < sizeof(struct pwb_shell))
			return 0;
		capture_ring_shell(h, data, size);
		return 1;
	case PWB_SESSION:
		if (size < sizeof(struct pwb_session))
			return 0;
		capture_ring_session(h, data);
		return 1;
	case PWB_SYSCALLS:
		if (size < sizeof(struct pwb_syscalls))
			return 0;
		capture_ring_syscalls(h, data, size);
		return 1;
	}
	return 0;
}

/* Buffers for the syscall reads; returns 0 or an errno. */
static int capture_alloc(pw_handle *h)
{
	pw_capture *c = &h->cap;
	if (!c->syscalls)
		return 0;
	c->rows = calloc(PW_SYSCALL_ROWS, sizeof *c->rows);
	c->pairs = calloc(PWB_SYSCALL_SLOTS, sizeof *c->pairs);
	if (!c->rows || !c->pairs)
		return ENOMEM;
	/* Its own link, not the skeleton's: it must outlive the detach at stop (the last read). */
	c->iter_link = bpf_program__attach_iter(h->skel->progs.pw_syscalls_iter, NULL);
	return c->iter_link ? 0 : (errno ? errno : EINVAL);
}

static void capture_free(pw_handle *h)
{
	pw_capture *c = &h->cap;
	if (c->iter_link)
		bpf_link__destroy(c->iter_link);
	free(c->rows);
	free(c->pairs);
	free(c->seen);
	free(c->next_seen);
	memset(c, 0, sizeof *c);
}

/* ---- reader_*: the thread ------------------------------------------------------------------ */

/* ---- change_*: uid, gid, sid, ptrace, comm and coredump events ------------------------------- */

/* The kernel's drop reasons for these (procwatch.h enum pwb_change_drop) as LOST reasons. */
static const struct {
	uint32_t reason;
	enum pw_counter counter;
} pw_change_drops[PWB_XDROP_COUNT] = {
	[PWB_XDROP_PTRACE_UNRESOLVED] = { PW_LOST_PTRACE_UNRESOLVED, C_PTRACE_UNRESOLVED_LOST },
};

/* As reader_check_lost, for the change_lost map (called from it, on its schedule). */
static void change_check_lost(pw_handle *h, uint64_t now)
{
	uint64_t total;
	for (uint32_t why = 0; why < PWB_XDROP_COUNT; why++) {
		if (bpf_percpu_sum(h, h->skel->maps.change_lost, why, &total) != 0 || total <= h->change_lost_seen[why])
			continue;
		uint64_t delta = total - h->change_lost_seen[why];
		struct pw_rec_header rh;
		struct pw_rec_lost l = { delta >= PW_LOST_COUNT_UNKNOWN ? PW_LOST_COUNT_UNKNOWN - 1 : (uint32_t)delta,
					 pw_change_drops[why].reason, 0, 0 };
		h->change_lost_seen[why] = total;
		count_add(h, pw_change_drops[why].counter, delta);
		memset(&rh, 0, sizeof rh);
		rh.kind = PW_KIND_LOST;
		rh.cpu = PW_CPU_UNKNOWN;
		rh.timestamp_ns = now;
		batch_emit(h, &rh, &l, sizeof l, NULL, 0);
	}
}

/* The proc connector's record kinds, with the bodies procconn.c writes. 1 when handled. */
static int change_ring_event(pw_handle *h, const struct pwb_head *head, const void *data, uint32_t size)
{
	struct pw_rec_header rh;

	switch (head->type) {
	case PWB_UID:
	case PWB_GID:
		if (size >= sizeof(struct pwb_id)) {
			const struct pwb_id *e = data;
			struct pw_rec_id id = { e->real, e->effective };
			ring_header(&rh, head, head->type == PWB_UID ? PW_KIND_UID : PW_KIND_GID);
			batch_emit(h, &rh, &id, sizeof id, NULL, 0);
			return 1;
		}
		return 0;
	case PWB_SID:
		ring_header(&rh, head, PW_KIND_SID);
		batch_emit(h, &rh, NULL, 0, NULL, 0);
		return 1;
	case PWB_PTRACE:
		if (size >= sizeof(struct pwb_ptrace)) {
			const struct pwb_ptrace *e = data;
			struct pw_rec_ptrace p = { (int32_t)e->tracer_pid, (int32_t)e->tracer_tid };
			ring_header(&rh, head, PW_KIND_PTRACE);
			batch_emit(h, &rh, &p, sizeof p, NULL, 0);
			return 1;
		}
		return 0;
	case PWB_COMM:
		if (size >= sizeof(struct pwb_comm)) {
			const struct pwb_comm *e = data;
			struct pw_rec_comm c;
			memset(&c, 0, sizeof c);
			memcpy(c.comm, e->comm, strnlen(e->comm, sizeof e->comm)); /* the rest stays NUL */
			ring_header(&rh, head, PW_KIND_COMM);
			batch_emit(h, &rh, &c, sizeof c, NULL, 0);
			return 1;
		}
		return 0;
	case PWB_COREDUMP:
		if (size >= sizeof(struct pwb_coredump)) {
			const struct pwb_coredump *e = data;
			struct pw_rec_coredump c = { (int32_t)e->parent_pid, (int32_t)e->parent_tid, PW_PARENT_KNOWN, 0 };
			ring_header(&rh, head, PW_KIND_COREDUMP);
			batch_emit(h, &rh, &c, sizeof c, NULL, 0);
			return 1;
		}
		return 0;
	}
	return 0;
}

static const char *const pw_change_group_names[PW_CG_COUNT] = { "uid", "gid", "sid", "ptrace", "comm", "coredump" };

/* The programs of group g; returns how many. */
static int change_group_programs(struct procwatch_bpf *skel, int g, struct bpf_program *out[PW_CG_PROGS_MAX])
{
	switch (g) {
	case PW_CG_UID:
		out[0] = skel->progs.pw_setuid_enter, out[1] = skel->progs.pw_setuid_exit;
		out[2] = skel->progs.pw_setreuid_enter, out[3] = skel->progs.pw_setreuid_exit;
		out[4] = skel->progs.pw_setresuid_enter, out[5] = skel->progs.pw_setresuid_exit;
		out[6] = skel->progs.pw_setfsuid_enter, out[7] = skel->progs.pw_setfsuid_exit;
		return 8;
	case PW_CG_GID:
		out[0] = skel->progs.pw_setgid_enter, out[1] = skel->progs.pw_setgid_exit;
		out[2] = skel->progs.pw_setregid_enter, out[3] = skel->progs.pw_setregid_exit;
		out[4] = skel->progs.pw_setresgid_enter, out[5] = skel->progs.pw_setresgid_exit;
		out[6] = skel->progs.pw_setfsgid_enter, out[7] = skel->progs.pw_setfsgid_exit;
		return 8;
	case PW_CG_SID:
		out[0] = skel->progs.pw_setsid_exit;
		return 1;
	case PW_CG_PTRACE:
		out[0] = skel->progs.pw_ptrace_enter, out[1] = skel->progs.pw_ptrace_exit;
		return 2;
	case PW_CG_COMM:
		out[0] = skel->progs.pw_comm;
		return 1;
	case PW_CG_COREDUMP:
		out[0] = skel->progs.pw_coredump;
		return 1;
	}
	return 0;
}

/* Whether this kernel's BTF has the tracepoint a tp_btf program attaches to (the loader
 * would fail the whole object without it). */
static bool btf_has_tracepoint(const char *name)
{
	char type[128];
	struct btf *btf = btf__load_vmlinux_btf();
	bool has;
	if (!btf)
		return false;
	snprintf(type, sizeof type, "btf_trace_%s", name);
	has = btf__find_by_name_kind(btf, type, BTF_KIND_TYPEDEF) > 0;
	btf__free(btf);
	return has;
}

/* Loads the groups in `mask`, none of the others; they attach in change_attach(). The uid,
 * gid, sid and ptrace programs (syscall tracepoints) are in the mask only when wanted; comm
 * and coredump (BTF tracepoints on rare paths, nothing to pay elsewhere) always, where the
 * kernel has their tracepoint (else a notice says so). Returns the mask that loads. */
static uint32_t change_configure(pw_handle *h, struct procwatch_bpf *skel, uint32_t mask)
{
	struct bpf_program *progs[PW_CG_PROGS_MAX];
	if ((mask & (1u << PW_CG_COMM)) && !btf_has_tracepoint("task_rename")) {
		notice_add(h, "no comm events: this kernel has no task_rename tracepoint");
		mask &= ~(1u << PW_CG_COMM);
	}
	if ((mask & (1u << PW_CG_COREDUMP)) && !btf_has_tracepoint("signal_deliver")) {
		notice_add(h, "no coredump events: this kernel has no signal_deliver tracepoint");
		mask &= ~(1u << PW_CG_COREDUMP);
	}
	for (int g = 0; g < PW_CG_COUNT; g++) {
		int n = change_group_programs(skel, g, progs);
		for (int i = 0; i < n; i++) {
			bpf_program__set_autoload(progs[i], (mask >> g) & 1);
			bpf_program__set_autoattach(progs[i], false);
		}
	}
	return mask;
}

/* Attaches each loaded group, whole: a group with one program the kernel refuses is detached
 * again and said in a notice, and the other groups and the rest of the source go on. */
static void change_attach(pw_handle *h, uint32_t mask, int refuse)
{
	struct bpf_program *progs[PW_CG_PROGS_MAX];
	for (int g = 0; g < PW_CG_COUNT; g++) {
		if (!((mask >> g) & 1))
			continue;
		int n = change_group_programs(h->skel, g, progs);
		for (int i = 0; i < n; i++) {
			/* The test hook: a tracepoint that does not exist, for a real refusal. */
			struct bpf_link *link = refuse == g + 1 && i == n - 1
							? bpf_program__attach_tracepoint(progs[i], "procwatch", "no_such_tracepoint")
							: bpf_program__attach(progs[i]);
			if (link) {
				h->change_links[g][i] = link;
				continue;
			}
			int err = errno;
			for (int j = 0; j < i; j++) {
				bpf_link__destroy(h->change_links[g][j]);
				h->change_links[g][j] = NULL;
			}
			notice_add(h, "no %s events: the kernel refused to attach %s (%s)", pw_change_group_names[g],
				   bpf_program__section_name(progs[i]), strerror(err));
			break;
		}
	}
}

static void change_detach(pw_handle *h)
{
	for (int g = 0; g < PW_CG_COUNT; g++)
		for (int i = 0; i < PW_CG_PROGS_MAX; i++)
			if (h->change_links[g][i]) {
				bpf_link__destroy(h->change_links[g][i]);
				h->change_links[g][i] = NULL;
			}
}

/* Detaches every program (no new events), once, from either thread. The maps and the ring
 * buffer stay, so what the kernel already wrote can still be read. */
static void handle_detach(pw_handle *h)
{
	pthread_mutex_lock(&h->lock);
	if (!h->detached && h->skel) {
		procwatch_bpf__detach(h->skel);
		capture_detach(h);
		change_detach(h);
		h->detached = 1;
	}
	pthread_mutex_unlock(&h->lock);
}

/* The reader's last words: one message to onError, built in the handle so that it is sent
 * even when memory is short. The reader leaves right after, which closes the source. */
static void reader_post_error(pw_handle *h, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(h->error_text, sizeof h->error_text, fmt, ap);
	va_end(ap);
	h->error_msg = (pw_msg){ PW_MSG_ERROR, PW_MSG_STATIC, (uint32_t)strlen(h->error_text), (uint8_t *)h->error_text };
	napi_call_threadsafe_function(h->tsfn, &h->error_msg, napi_tsfn_nonblocking);
}

/* Reports a failure and stops the programs; the caller leaves its loop right after, so a
 * persistent error cannot turn into a busy loop. */
static void reader_fail(pw_handle *h, const char *what, int err)
{
	reader_post_error(h, "procbpf: reader stopped, no more events will be delivered: %s: %s", what, strerror(err));
	handle_detach(h); /* nobody reads the ring buffer any more */
}

static void *reader_main(void *arg)
{
	pw_handle *h = arg;
	struct pollfd pfd[2] = { { .fd = ring_buffer__epoll_fd(h->rb), .events = POLLIN },
				 { .fd = h->wake_fd, .events = POLLIN } };
	int failed = 0;
	int gathered = 0; /* the last read was followed by the gathering pause */

	if (batch_acquire(h) != 0) {
		reader_fail(h, "batch buffer", ENOMEM);
		goto out;
	}
	while (!stop_requested(h)) {
		/* The pause counts towards the quiet time: a lone record is handed over as soon as before. */
		int r = poll(pfd, 2, !h->batch.count ? PW_IDLE_MS : gathered ? PW_QUIET_MS - PW_GATHER_MS : PW_QUIET_MS);
		gathered = 0;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			reader_fail(h, "poll", errno);
			failed = 1;
			break;
		}
		if (pfd[1].revents)
			break; /* stop() */
		if (pfd[0].revents & (POLLERR | POLLHUP | POLLNVAL)) {
			/* Would wake poll() again at once, forever: a failure, not a busy loop. */
			reader_fail(h, "ring buffer epoll fd", pfd[0].revents & POLLNVAL ? EBADF : EIO);
			failed = 1;
			break;
		}
		if (r >= 0) {
			/* Everything queued now; the callback packs records as it goes. On a timeout
			 * too: some events are written without a wakeup (shell lines in a burst). */
			int n = ring_buffer__consume(h->rb);
			if (n < 0 && n != -EINTR) {
				reader_fail(h, "ring buffer", -n);
				failed = 1;
				break;
			}
			/* The kernel wakes a waiting reader at each record it commits: in a storm, a
			 * poll and a consume per event. Records that come within the pause are read
			 * with the next poll, which returns at once; the batch waits for PW_QUIET_MS
			 * of quiet anyway, and the pause is part of it. */
			if (n > 0) {
				struct timespec gather = { 0, PW_GATHER_MS * 1000000L };
				nanosleep(&gather, NULL);
				gathered = 1;
			}
		}
		reader_check_lost(h, r == 0);
		capture_read_syscalls(h, 0);
		if (h->batch.count && (r == 0 || now_ns() - h->batch_start_ns >= PW_MAX_AGE_NS))
			batch_flush(h);
	}
	/* stop() detached the programs before waking us: what the kernel wrote until then is
	 * finite and still ours to deliver. After a failure, deliver what was packed. */
	if (!failed) {
		ring_buffer__consume(h->rb);
		reader_check_lost(h, 1);
		capture_read_syscalls(h, 1); /* the running processes' counts as of the stop */
	}
	batch_post(h);
	batch_abandon(h); /* an empty batch's slot */
out:
	napi_release_threadsafe_function(h->tsfn, napi_tsfn_release);
	return NULL;
}

/* ---- bpf_*: the skeleton and the kernel setup -------------------------------------------------- */

/* libbpf speaks through this; keep its last warning so a failed load can say why. */
static __thread char bpf_last_log[PW_LOG_BYTES];
static int bpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	/* The first warning says what failed ("prog 'pw_exec': BPF program load failed: ...");
	 * later ones only say that the object failed. */
	char *nl;
	if (level == LIBBPF_DEBUG || bpf_last_log[0])
		return 0;
	vsnprintf(bpf_last_log, sizeof bpf_last_log, fmt, ap);
	if ((nl = strchr(bpf_last_log, '\n')) != NULL)
		*nl = '\0';
	return 0;
}

/* Whether this kernel's sched_process_exit passes group_dead (6.16+): its BTF typedef
 * btf_trace_sched_process_exit is then void (*)(void *, struct task_struct *, bool). */
static bool bpf_exit_has_group_dead(void)
{
	struct btf *btf = btf__load_vmlinux_btf();
	bool has = false;
	if (!btf)
		return false;
	int id = btf__find_by_name_kind(btf, "btf_trace_sched_process_exit", BTF_KIND_TYPEDEF);
	const struct btf_type *t = id > 0 ? btf__type_by_id(btf, id) : NULL;
	if (t)
		t = btf__type_by_id(btf, t->type); /* pointer */
	if (t && btf_is_ptr(t))
		t = btf__type_by_id(btf, t->type); /* function prototype */
	if (t && btf_is_func_proto(t))
		has = btf_vlen(t) >= 3;
	btf__free(btf);
	return has;
}

/* The syscall tracepoints are found through tracefs; mount it where libbpf looks (libbpf
 * prefers /sys/kernel/debug/tracing when that exists: debugfs then automounts tracefs). */
static int bpf_tracefs(const char **what)
{
	struct stat st;
	if (stat(PW_TRACEFS "/events", &st) == 0 || stat("/sys/kernel/debug/tracing/events", &st) == 0)
		return 0;
	*what = "mount tracefs on " PW_TRACEFS " (needed for network, file, uid/gid/sid/ptrace capture)";
	if (mount("tracefs", PW_TRACEFS, "tracefs", 0, NULL) != 0)
		return errno;
	return 0;
}

typedef struct {
	uint32_t ring_bytes;
	int network, files;
	int64_t uid; /* -1: any */
	const char *cgroup_path;
	const char *prefix;
	/* test hooks */
	int exit_fallback;     /* load the pre-6.16 exit program even where group_dead exists */
	uint32_t inflight_max; /* entries of the connect/openat in-progress tables; 0: default */
	int prefix_at_exit;    /* check the path prefix at syscall exit only */
	/* behaviour capture */
	int syscalls;                  /* per-process syscall counts */
	uint32_t syscalls_interval_ms; /* read running processes' counts this often; 0: only at exits */
	uint32_t syscall_table_max;    /* processes counted at once; 0: default (test hook to fill it) */
	int sessions;                  /* TCP sessions, reported when they close */
	int shell;                     /* load the readline uretprobe (attached per binary by attachShell()) */
	uint32_t session_table_max;    /* sockets followed at once; 0: default (test hook) */
	int id_events;                 /* uid, gid, sid and ptrace events (syscall tracepoints) */
	int refuse_change;             /* test hook: 1 + the change group whose attach is made to fail */
} pw_bpf_opts;

/* Which capture programs load, and the sizes of their maps (before load). */
static void capture_configure(pw_handle *h, struct procwatch_bpf *skel, const pw_bpf_opts *o, bool group_dead)
{
	pw_capture *c = &h->cap;
	c->syscalls = o->syscalls != 0;
	c->syscalls_every_ns = (uint64_t)o->syscalls_interval_ms * 1000000ull;
	bpf_program__set_autoload(skel->progs.pw_sys_enter, c->syscalls);
	bpf_program__set_autoload(skel->progs.pw_syscalls_exit, c->syscalls && group_dead);
	bpf_program__set_autoload(skel->progs.pw_syscalls_exit_live, c->syscalls && !group_dead);
	bpf_program__set_autoload(skel->progs.pw_syscalls_iter, c->syscalls);
	bpf_program__set_autoattach(skel->progs.pw_syscalls_iter, false);
	if (o->syscall_table_max)
		skel->rodata->pw_syscall_table_max = o->syscall_table_max;
	bpf_program__set_autoload(skel->progs.pw_sock_state, o->sessions);
	bpf_program__set_autoload(skel->progs.pw_session_accept, o->sessions);
	bpf_program__set_autoload(skel->progs.pw_session_accept4, o->sessions);
	bpf_program__set_autoload(skel->progs.pw_shell_readline, o->shell);
	if (!o->sessions)
		bpf_map__set_max_entries(skel->maps.sessions, 1);
	else if (o->session_table_max)
		bpf_map__set_max_entries(skel->maps.sessions, o->session_table_max);
}

#define PW_STEP_LOAD "load the BPF programs (verifier or BTF)"
static void bpf_stop(pw_handle *h);

/* Opens, configures, loads and attaches, with the process-change groups in change_mask. On
 * failure *what names the step. */
static int bpf_start_once(pw_handle *h, const pw_bpf_opts *o, uint32_t change_mask, const char **what)
{
	struct procwatch_bpf *skel;
	int err;

	libbpf_set_print(bpf_log);
	bpf_last_log[0] = '\0';
	*what = "open the BPF object";
	skel = procwatch_bpf__open();
	if (!skel)
		return errno ? errno : EINVAL;
	h->skel = skel;

	skel->rodata->pw_self_tgid = (uint32_t)getpid();
	skel->rodata->pw_debug_prefix_at_exit = o->prefix_at_exit != 0;
	skel->rodata->pw_uid = o->uid < 0 ? (uint32_t)-1 : (uint32_t)o->uid;
	if (o->prefix) {
		size_t n = strlen(o->prefix);
		if (n >= PWB_PREFIX_MAX)
			return *what = "pathPrefix is too long", ENAMETOOLONG;
		memcpy((char *)skel->rodata->pw_prefix, o->prefix, n);
		skel->rodata->pw_prefix_len = (uint32_t)n;
	}
	if (o->cgroup_path) {
		*what = "open the cgroup directory";
		h->cgroup_fd = open(o->cgroup_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (h->cgroup_fd < 0)
			return errno;
		skel->rodata->pw_cgroup_filter = true;
	}
	/* One exit program: the kernel's group_dead argument where it exists (6.16+), else the
	 * live-count program, which reads only the task. */
	bool group_dead = !o->exit_fallback && bpf_exit_has_group_dead();
	bpf_program__set_autoload(skel->progs.pw_exit, group_dead);
	bpf_program__set_autoload(skel->progs.pw_exit_live, !group_dead);
	if (group_dead)
		bpf_map__set_max_entries(skel->maps.exits_seen, 1); /* unused: keep it minimal */
	/* One assembly buffer per possible CPU, indexed by CPU number. */
	*what = "count CPUs";
	h->ncpus = libbpf_num_possible_cpus();
	if (h->ncpus <= 0)
		return -h->ncpus;
	*what = "size the scratch buffers";
	if ((err = bpf_map__set_max_entries(skel->maps.scratch, (uint32_t)h->ncpus)) != 0)
		return -err;
	/* Network and file programs load only when asked for: nothing runs that nobody reads. */
	bpf_program__set_autoload(skel->progs.pw_connect_enter, o->network);
	bpf_program__set_autoload(skel->progs.pw_connect_exit, o->network);
	bpf_program__set_autoload(skel->progs.pw_accept_exit, o->network);
	bpf_program__set_autoload(skel->progs.pw_accept4_exit, o->network);
	bpf_program__set_autoload(skel->progs.pw_openat_enter, o->files);
	bpf_program__set_autoload(skel->progs.pw_openat_exit, o->files);
	if (!o->network && !o->files) {
		/* Their maps would still be created: keep them minimal. */
		bpf_map__set_max_entries(skel->maps.connects, 1);
		bpf_map__set_max_entries(skel->maps.opens, 1);
	} else if (o->inflight_max) {
		bpf_map__set_max_entries(skel->maps.connects, o->inflight_max);
		bpf_map__set_max_entries(skel->maps.opens, o->inflight_max);
	}
	capture_configure(h, skel, o, group_dead);
	change_mask = change_configure(h, skel, change_mask);
	*what = "size the ring buffer (a power of 2, at least one page)";
	if ((err = bpf_map__set_max_entries(skel->maps.events, o->ring_bytes)) != 0)
		return -err;
	h->ring_bytes = o->ring_bytes;

	*what = PW_STEP_LOAD;
	if ((err = procwatch_bpf__load(skel)) != 0)
		return -err;
	if (h->cgroup_fd >= 0) {
		uint32_t zero = 0;
		*what = "set the cgroup filter";
		if (bpf_map_update_elem(bpf_map__fd(skel->maps.cgroup_filter), &zero, &h->cgroup_fd, BPF_ANY) != 0)
			return errno;
	}
	if (o->network || o->files || o->sessions || (change_mask & PW_CG_IDS)) {
		if ((err = bpf_tracefs(what)) != 0)
			return err;
	}
	*what = "attach the BPF programs";
	if ((err = procwatch_bpf__attach(skel)) != 0)
		return -err;
	change_attach(h, change_mask, o->refuse_change);
	bpf_last_log[0] = '\0'; /* a refused group's warning is in its notice, not a later error */
	*what = "create the ring buffer reader";
	h->rb = ring_buffer__new(bpf_map__fd(skel->maps.events), ring_event, h, NULL);
	if (!h->rb)
		return errno ? errno : ENOMEM;
	h->percpu = calloc((size_t)h->ncpus, sizeof *h->percpu);
	if (!h->percpu)
		return ENOMEM;
	*what = "allocate the capture buffers";
	if ((err = capture_alloc(h)) != 0)
		return err;
	*what = "eventfd";
	h->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (h->wake_fd < 0)
		return errno;
	return 0;
}

/* bpf_start_once() with every process-change group wanted; when the verifier refuses the
 * object, once more without them (the exec/exit core and the asked-for capture must not fail
 * for an optional program), with a notice that names why. */
static int bpf_start(pw_handle *h, const pw_bpf_opts *o, const char **what)
{
	uint32_t mask = o->id_events ? PW_CG_ALL : PW_CG_ALL & ~PW_CG_IDS;
	int err = bpf_start_once(h, o, mask, what);
	char log[PW_LOG_BYTES];

	if (err == 0 || strcmp(*what, PW_STEP_LOAD) != 0)
		return err;
	snprintf(log, sizeof log, "%s", bpf_last_log);
	bpf_stop(h);
	bpf_last_log[0] = '\0';
	err = bpf_start_once(h, o, 0, what);
	if (err == 0)
		notice_add(h, "no uid, gid, sid, ptrace, comm or coredump events: their programs did not load (%s%s)",
			   log[0] ? "libbpf: " : "the verifier refused them", log);
	return err;
}

/* Detaches every link, frees maps and programs (the kernel drops them with their last fd). */
static void bpf_stop(pw_handle *h)
{
	change_detach(h);
	if (h->rb) {
		ring_buffer__free(h->rb);
		h->rb = NULL;
	}
	if (h->cap.iter_link) { /* the skeleton does not know this link */
		bpf_link__destroy(h->cap.iter_link);
		h->cap.iter_link = NULL;
	}
	if (h->skel) {
		procwatch_bpf__destroy(h->skel);
		h->skel = NULL;
	}
	if (h->cgroup_fd >= 0) {
		close(h->cgroup_fd);
		h->cgroup_fd = -1;
	}
}

/* ---- handle_*: lifetime ----------------------------------------------------------------------- */
static pw_handle *handle_new(void)
{
	pw_handle *h = calloc(1, sizeof *h);
	long hz = sysconf(_SC_CLK_TCK);
	if (!h)
		return NULL;
	h->wake_fd = h->cgroup_fd = -1;
	h->cur = -1;
	h->refs = 1; /* the JS wrapper (or open()'s failure path) */
	h->ns_per_tick = 1000000000ull / (uint64_t)(hz > 0 ? hz : 100);
	long page = sysconf(_SC_PAGESIZE);
	h->page_kib = (uint64_t)(page >= 1024 ? page : 4096) / 1024u;
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	for (int i = 0; i < PW_SLOTS; i++) {
		h->slot_buf[i] = malloc(PW_BATCH_BYTES);
		h->slot_msg[i] = (pw_msg){ PW_MSG_BATCH, i, 0, h->slot_buf[i] };
		if (!h->slot_buf[i]) {
			for (int j = 0; j <= i; j++)
				free(h->slot_buf[j]);
			free(h);
			return NULL;
		}
	}
	return h;
}

static void handle_unref(pw_handle *h)
{
	if (--h->refs > 0)
		return;
	bpf_stop(h);
	if (h->wake_fd >= 0)
		close(h->wake_fd);
	for (int i = 0; i < PW_SLOTS; i++)
		free(h->slot_buf[i]);
	free(h->percpu);
	capture_free(h);
	pthread_mutex_destroy(&h->lock);
	pthread_cond_destroy(&h->cond);
	free(h);
}

static void handle_env_cleanup(void *arg);

/* Wake and join the reader, then unload everything. Idempotent; JS thread only. */
static void handle_stop(pw_handle *h)
{
	uint64_t one = 1;
	if (h->stopped)
		return;
	h->stopped = 1;
	if (h->hook_added) {
		h->hook_added = 0;
		napi_remove_env_cleanup_hook(h->env, handle_env_cleanup, h);
	}
	/* No new events from here on, so the reader's final drain is finite even in a storm. */
	handle_detach(h);
	__atomic_store_n(&h->stop_flag, 1, __ATOMIC_RELEASE);
	if (h->wake_fd >= 0 && write(h->wake_fd, &one, sizeof one) < 0)
		(void)0; /* the reader also checks the stop flag every PW_IDLE_MS */
	pthread_mutex_lock(&h->lock);
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	if (h->thread_started) {
		pthread_join(h->thread, NULL);
		h->thread_started = 0;
	}
	bpf_stop(h);
	if (h->wake_fd >= 0) {
		close(h->wake_fd);
		h->wake_fd = -1;
	}
}

/* The environment is going away before stop(): join the reader before the tsfn goes. */
static void handle_env_cleanup(void *arg)
{
	pw_handle *h = arg;
	h->hook_added = 0;
	handle_stop(h);
}

static void handle_wrap_finalize(napi_env env, void *data, void *hint)
{
	(void)env;
	(void)hint;
	handle_stop(data); /* dropped without stop(): still unload from the kernel */
	handle_unref(data);
}

/* ---- tsfn_*: callbacks on the JS thread --------------------------------------------------------- */

static void tsfn_call_js(napi_env env, napi_value js_cb, void *context, void *data)
{
	pw_handle *h = context;
	pw_msg *m = data;
	napi_value arg, fn, undef;
	napi_ref ref = m->type == PW_MSG_BATCH ? h->on_batch : h->on_error;
	napi_status st;
	(void)js_cb;
	if (env == NULL) {
		msg_release(h, m);
		return;
	}
	if (m->type == PW_MSG_BATCH) {
		void *copy; /* one copy per batch gives the slot back at once */
		st = napi_create_buffer_copy(env, m->len, m->buf, &copy, &arg);
	} else {
		st = napi_create_string_utf8(env, (const char *)m->buf, m->len, &arg);
	}
	msg_release(h, m);
	if (st != napi_ok)
		return;
	if (ref && napi_get_reference_value(env, ref, &fn) == napi_ok && fn && napi_get_undefined(env, &undef) == napi_ok)
		napi_call_function(env, undef, fn, 1, &arg, NULL);
}

static void tsfn_finalize(napi_env env, void *data, void *hint)
{
	pw_handle *h = data;
	napi_value fn, undef;
	(void)hint;
	if (h->on_close && napi_get_reference_value(env, h->on_close, &fn) == napi_ok && fn &&
	    napi_get_undefined(env, &undef) == napi_ok)
		napi_call_function(env, undef, fn, 0, NULL, NULL);
	if (h->on_batch) napi_delete_reference(env, h->on_batch);
	if (h->on_error) napi_delete_reference(env, h->on_error);
	if (h->on_close) napi_delete_reference(env, h->on_close);
	h->on_batch = h->on_error = h->on_close = NULL;
	h->tsfn = NULL;
	handle_unref(h);
}

/* ---- js_*: the module's functions ---------------------------------------------------------------- */
#define NAPI_OK(call)                     \
	do {                              \
		if ((call) != napi_ok)    \
			goto napi_failed; \
	} while (0)

static napi_value js_throw(napi_env env, const char *code, const char *fmt, ...)
{
	char text[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	napi_throw_error(env, code, text);
	return NULL;
}

static int js_get_prop(napi_env env, napi_value obj, const char *name, napi_valuetype want, napi_value *out)
{
	napi_valuetype t;
	bool has = false;
	if (napi_has_named_property(env, obj, name, &has) != napi_ok || !has)
		return 0;
	if (napi_get_named_property(env, obj, name, out) != napi_ok || napi_typeof(env, *out, &t) != napi_ok)
		return 0;
	return t == want;
}

static double js_num(napi_env env, napi_value obj, const char *name, double dflt)
{
	napi_value v;
	double d;
	if (!js_get_prop(env, obj, name, napi_number, &v) || napi_get_value_double(env, v, &d) != napi_ok)
		return dflt;
	return d;
}

static int js_bool(napi_env env, napi_value obj, const char *name)
{
	napi_value v;
	bool b = false;
	return js_get_prop(env, obj, name, napi_boolean, &v) && napi_get_value_bool(env, v, &b) == napi_ok && b;
}

/* Whether the property is the boolean false (absent: not false). */
static int js_false(napi_env env, napi_value obj, const char *name)
{
	napi_value v;
	bool b = true;
	return js_get_prop(env, obj, name, napi_boolean, &v) && napi_get_value_bool(env, v, &b) == napi_ok && !b;
}

/* A string property as UTF-8, malloc'd and NUL-terminated (NULL when absent); *lenp gets
 * its byte length, which counts embedded NULs (argv strings have them). */
static char *js_str_len(napi_env env, napi_value obj, const char *name, size_t *lenp)
{
	napi_value v;
	size_t len = 0;
	char *s;
	if (!js_get_prop(env, obj, name, napi_string, &v) || napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok)
		return NULL;
	s = malloc(len + 1);
	if (s && napi_get_value_string_utf8(env, v, s, len + 1, &len) != napi_ok) {
		free(s);
		return NULL;
	}
	if (lenp)
		*lenp = len;
	return s;
}
static char *js_str(napi_env env, napi_value obj, const char *name) { return js_str_len(env, obj, name, NULL); }

static pw_handle *js_this_handle(napi_env env, napi_callback_info info)
{
	napi_value self;
	void *h = NULL;
	if (napi_get_cb_info(env, info, NULL, NULL, &self, NULL) != napi_ok || napi_unwrap(env, self, &h) != napi_ok ||
	    !h) {
		napi_throw_type_error(env, NULL, "not a procbpf handle");
		return NULL;
	}
	return h;
}

static napi_value js_handle_ctor(napi_env env, napi_callback_info info)
{
	napi_value self;
	napi_get_cb_info(env, info, NULL, NULL, &self, NULL);
	return self;
}

static napi_value js_handle_stop(napi_env env, napi_callback_info info)
{
	pw_handle *h = js_this_handle(env, info);
	if (h)
		handle_stop(h);
	return NULL;
}

/* counters(): the reader's, plus the kernel side's own (thread events, filtered). */
static napi_value js_handle_counters(napi_env env, napi_callback_info info)
{
	pw_handle *h = js_this_handle(env, info);
	napi_value obj, v;
	if (!h || napi_create_object(env, &obj) != napi_ok)
		return NULL;
	if (h->skel && h->percpu && !h->stopped) {
		/* JS thread: its own buffer, the reader's h->percpu is not ours to use. */
		uint64_t *vals = calloc((size_t)h->ncpus, sizeof *vals);
		for (uint32_t key = 0; vals && key < PWB_STAT_COUNT; key++) {
			uint64_t sum = 0;
			if (bpf_map_lookup_elem(bpf_map__fd(h->skel->maps.stats), &key, vals) == 0) {
				for (int c = 0; c < h->ncpus; c++)
					sum += vals[c];
				__atomic_store_n(&h->counters[pw_stats[key]], sum, __ATOMIC_RELAXED);
			}
		}
		free(vals);
	}
	for (int i = 0; i < C_COUNT; i++) {
		uint64_t n = __atomic_load_n(&h->counters[i], __ATOMIC_RELAXED);
		if (napi_create_double(env, (double)n, &v) == napi_ok)
			napi_set_named_property(env, obj, pw_counter_names[i], v);
	}
	return obj;
}

/* programIds(): the kernel ids of the loaded programs (empty once stopped), for checks. */
static napi_value js_handle_program_ids(napi_env env, napi_callback_info info)
{
	pw_handle *h = js_this_handle(env, info);
	napi_value arr, v;
	struct bpf_program *prog;
	uint32_t n = 0;
	if (!h || napi_create_array(env, &arr) != napi_ok)
		return NULL;
	if (!h->skel)
		return arr;
	bpf_object__for_each_program(prog, h->skel->obj) {
		struct bpf_prog_info pi;
		uint32_t len = sizeof pi;
		int fd = bpf_program__fd(prog);
		memset(&pi, 0, sizeof pi);
		if (fd >= 0 && bpf_obj_get_info_by_fd(fd, &pi, &len) == 0 && napi_create_uint32(env, pi.id, &v) == napi_ok)
			napi_set_element(env, arr, n++, v);
	}
	return arr;
}

/* notices(): what optional programs do not run, and why, one string each (set at open). */
static napi_value js_handle_notices(napi_env env, napi_callback_info info)
{
	pw_handle *h = js_this_handle(env, info);
	napi_value arr, v;
	uint32_t n = 0;
	if (!h || napi_create_array(env, &arr) != napi_ok)
		return NULL;
	for (const char *p = h->notices; *p;) {
		const char *end = strchr(p, '\n');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (napi_create_string_utf8(env, p, len, &v) == napi_ok)
			napi_set_element(env, arr, n++, v);
		p += len + (end ? 1 : 0);
	}
	return arr;
}

/* attachShell(path, offset): a uretprobe on the function at that file offset of the ELF
 * binary at path (readline in a bash; TypeScript resolved the offset from the binary's own
 * symbol table). Throws a one-line error with the errno's code when the kernel refuses. */
static napi_value js_handle_attach_shell(napi_env env, napi_callback_info info)
{
	size_t argc = 2;
	napi_value argv[2], self;
	pw_handle *h = NULL;
	char path[PW_PATH_MAX];
	size_t len = 0;
	double offset = -1;
	struct bpf_link *link;
	int err = 0;

	if (napi_get_cb_info(env, info, &argc, argv, &self, NULL) != napi_ok || argc < 2 ||
	    napi_unwrap(env, self, (void **)&h) != napi_ok || !h)
		return napi_throw_type_error(env, NULL, "attachShell(path, offset)"), NULL;
	if (napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len) != napi_ok || len == 0 || len >= sizeof path - 1 ||
	    napi_get_value_double(env, argv[1], &offset) != napi_ok || !(offset >= 0 && offset < 9007199254740992.0))
		return napi_throw_type_error(env, NULL, "attachShell(path, offset): a path and a file offset"), NULL;
	if (!h->skel || h->stopped || !bpf_program__autoload(h->skel->progs.pw_shell_readline))
		return js_throw(env, "EINVAL", "procbpf: shell capture was not asked for when the programs were loaded");
	pthread_mutex_lock(&h->lock);
	if (h->detached)
		err = ESHUTDOWN;
	else if (h->cap.nshell >= PW_SHELL_LINKS_MAX)
		err = EMFILE;
	else {
		bpf_last_log[0] = '\0';
		link = bpf_program__attach_uprobe(h->skel->progs.pw_shell_readline, true, -1, path, (size_t)offset);
		if (!link)
			err = errno ? errno : EINVAL;
		else {
			h->cap.shell_links[h->cap.nshell++] = link;
			count(h, C_SHELL_ATTACHED);
		}
	}
	pthread_mutex_unlock(&h->lock);
	if (err)
		return js_throw(env, strerrorname_np(err) ? strerrorname_np(err) : "EIO", "procbpf: uretprobe on %s at offset 0x%llx: %s%s%s%s",
				path, (unsigned long long)offset, err == EMFILE ? "too many shell binaries" : strerror(err),
				bpf_last_log[0] ? " (libbpf: " : "", bpf_last_log, bpf_last_log[0] ? ")" : "");
	return NULL;
}

static napi_value js_handle_ref(napi_env env, napi_callback_info info, int ref)
{
	pw_handle *h = js_this_handle(env, info);
	if (h && h->tsfn && !h->stopped) {
		if (ref)
			napi_ref_threadsafe_function(env, h->tsfn);
		else
			napi_unref_threadsafe_function(env, h->tsfn);
	}
	return NULL;
}
static napi_value js_handle_ref_on(napi_env env, napi_callback_info info) { return js_handle_ref(env, info, 1); }
static napi_value js_handle_ref_off(napi_env env, napi_callback_info info) { return js_handle_ref(env, info, 0); }

/* The capture options of open(): 0, or -1 when one is out of range. */
static int capture_options(napi_env env, napi_value opts, pw_bpf_opts *o)
{
	double interval = js_num(env, opts, "syscallsIntervalMs", 0), table = js_num(env, opts, "debugSyscallTableMax", 0);
	double sessions = js_num(env, opts, "debugSessionTableMax", 0);
	if (!(interval >= 0 && interval <= 86400000.0) || !(table >= 0 && table <= 1e6) || !(sessions >= 0 && sessions <= 1e7))
		return -1;
	o->sessions = js_bool(env, opts, "sessions");
	o->shell = js_bool(env, opts, "shell");
	o->session_table_max = (uint32_t)sessions;
	o->syscalls = js_bool(env, opts, "syscalls");
	o->syscalls_interval_ms = (uint32_t)interval;
	o->syscall_table_max = (uint32_t)table;
	o->id_events = !js_false(env, opts, "idEvents"); /* on unless false */
	char *refuse = js_str(env, opts, "debugRefuseChange");
	o->refuse_change = 0;
	for (int g = 0; refuse && g < PW_CG_COUNT; g++)
		if (strcmp(refuse, pw_change_group_names[g]) == 0)
			o->refuse_change = g + 1;
	int bad = refuse && o->refuse_change == 0;
	free(refuse);
	if (bad)
		return -1;
	return 0;
}

/* open({ onBatch, onError, onClose?, ringBytes?, network?, files?, uid?, cgroupPath?,
 *        pathPrefix?, debugStallMs?, debugExitFallback?, debugInflightMax?,
 *        debugPrefixAtExit?, debugReaderFault? }) -> handle. Options are validated in
 * TypeScript; here only what would be unsafe is refused. */
/* Starts of the programs tried when the kernel answers EAGAIN/EINTR (a signal during verification). */
#define PW_LOAD_ATTEMPTS 8

static napi_value js_open(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value opts, fn_batch, fn_error, fn_close, ctor, obj, name, v;
	napi_ref *ctor_ref = NULL;
	pw_handle *h = NULL;
	const char *what = "";
	char *cgroup_path = NULL, *prefix = NULL;
	pw_bpf_opts o;
	double ring, stall, uid, inflight;
	int err;

	NAPI_OK(napi_get_cb_info(env, info, &argc, &opts, NULL, NULL));
	napi_valuetype t = napi_undefined;
	if (argc < 1 || napi_typeof(env, opts, &t) != napi_ok || t != napi_object)
		return napi_throw_type_error(env, NULL, "open(options): options must be an object"), NULL;
	if (!js_get_prop(env, opts, "onBatch", napi_function, &fn_batch) ||
	    !js_get_prop(env, opts, "onError", napi_function, &fn_error))
		return napi_throw_type_error(env, NULL, "open(options): onBatch and onError must be functions"), NULL;
	int have_close = js_get_prop(env, opts, "onClose", napi_function, &fn_close);
	ring = js_num(env, opts, "ringBytes", PW_DEFAULT_RING);
	stall = js_num(env, opts, "debugStallMs", 0);
	uid = js_num(env, opts, "uid", -1);
	inflight = js_num(env, opts, "debugInflightMax", 0);
	if (!(ring >= 4096 && ring <= (double)(1u << 30)) || ((uint32_t)ring & ((uint32_t)ring - 1)) != 0 ||
	    !(stall >= 0 && stall <= 60000) || !(uid >= -1 && uid <= 0xfffffffe) || !(inflight >= 0 && inflight <= 1e6))
		return napi_throw_range_error(env, NULL,
					      "open(options): ringBytes, uid, debugStallMs or debugInflightMax out of range"), NULL;

	cgroup_path = js_str(env, opts, "cgroupPath");
	prefix = js_str(env, opts, "pathPrefix");
	o = (pw_bpf_opts){ (uint32_t)ring, js_bool(env, opts, "network"), js_bool(env, opts, "files"), (int64_t)uid,
			   cgroup_path, prefix, js_bool(env, opts, "debugExitFallback"), (uint32_t)inflight,
			   js_bool(env, opts, "debugPrefixAtExit") };
	if (capture_options(env, opts, &o) != 0) {
		free(cgroup_path);
		free(prefix);
		handle_unref(h);
		return napi_throw_range_error(env, NULL, "open(options): syscallsIntervalMs, debugSyscallTableMax or debugSessionTableMax out of range, or debugRefuseChange not a change group"), NULL;
	}
	/* A signal during verification makes the kernel answer EAGAIN (or EINTR), and libbpf's own
	 * few retries are not enough when one arrives every millisecond (node --cpu-prof's SIGPROF).
	 * Signals wait while the programs load, and a start that still got EAGAIN/EINTR is
	 * retried from scratch a bounded number of times. */
	for (int attempt = 1;; attempt++) {
		h = handle_new();
		if (!h) {
			free(cgroup_path);
			free(prefix);
			return js_throw(env, "ENOMEM", "procbpf: out of memory");
		}
		h->env = env;
		h->stall_ms = (uint32_t)stall;
		h->reader_fault = js_bool(env, opts, "debugReaderFault");
		sigset_t quiet, old;
		sigfillset(&quiet);
		sigdelset(&quiet, SIGSEGV); /* synchronous faults cannot wait */
		sigdelset(&quiet, SIGBUS);
		sigdelset(&quiet, SIGFPE);
		sigdelset(&quiet, SIGILL);
		pthread_sigmask(SIG_BLOCK, &quiet, &old);
		err = bpf_start(h, &o, &what);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (!err || (err != EAGAIN && err != EINTR) || attempt >= PW_LOAD_ATTEMPTS)
			break;
		handle_stop(h);
		handle_unref(h);
		h = NULL;
		struct timespec pause = { 0, 10 * 1000 * 1000L * attempt };
		nanosleep(&pause, NULL);
	}
	free(cgroup_path);
	free(prefix);
	if (err) {
		char log[PW_LOG_BYTES];
		snprintf(log, sizeof log, "%s", bpf_last_log);
		handle_stop(h);
		handle_unref(h);
		return js_throw(env, strerrorname_np(err) ? strerrorname_np(err) : "EIO", "procbpf: %s: %s%s%s", what,
				strerror(err), log[0] ? " (libbpf: " : "", log[0] ? log : "", log[0] ? ")" : "");
	}

	NAPI_OK(napi_create_reference(env, fn_batch, 1, &h->on_batch));
	NAPI_OK(napi_create_reference(env, fn_error, 1, &h->on_error));
	if (have_close)
		NAPI_OK(napi_create_reference(env, fn_close, 1, &h->on_close));
	NAPI_OK(napi_create_string_utf8(env, "procwatch:procbpf", NAPI_AUTO_LENGTH, &name));
	NAPI_OK(napi_create_threadsafe_function(env, NULL, NULL, name, 0, 1, h, tsfn_finalize, h, tsfn_call_js,
						&h->tsfn));
	h->refs++; /* tsfn_finalize */
	NAPI_OK(napi_add_env_cleanup_hook(env, handle_env_cleanup, h));
	h->hook_added = 1;
	if ((err = pthread_create(&h->thread, NULL, reader_main, h)) != 0) {
		napi_release_threadsafe_function(h->tsfn, napi_tsfn_abort); /* finalize unrefs */
		handle_stop(h);
		handle_unref(h);
		return js_throw(env, "EAGAIN", "procbpf: pthread_create: %s", strerror(err));
	}
	h->thread_started = 1;
	/* Named, so that top -H, ps -L and tests can tell it from Node's own threads. */
	pthread_setname_np(h->thread, "pw-ebpf");

	NAPI_OK(napi_get_instance_data(env, (void **)&ctor_ref));
	NAPI_OK(napi_get_reference_value(env, *ctor_ref, &ctor));
	NAPI_OK(napi_new_instance(env, ctor, 0, NULL, &obj));
	NAPI_OK(napi_wrap(env, obj, h, handle_wrap_finalize, NULL, NULL));
	NAPI_OK(napi_create_uint32(env, h->ring_bytes, &v));
	NAPI_OK(napi_set_named_property(env, obj, "ringBytes", v));
	return obj;

napi_failed:
	/* One path out for N-API failures after the programs are attached: undo everything. */
	if (h) {
		if (h->tsfn && !h->thread_started)
			napi_release_threadsafe_function(h->tsfn, napi_tsfn_abort);
		if (!h->tsfn) {
			if (h->on_batch) napi_delete_reference(env, h->on_batch);
			if (h->on_error) napi_delete_reference(env, h->on_error);
			if (h->on_close) napi_delete_reference(env, h->on_close);
		}
		handle_stop(h);
		handle_unref(h);
	}
	return js_throw(env, "EPROCBPF", "procbpf: N-API call failed in open()");
}

/* layout(): every size and offset of record.h and its constants, the same keys procconn.c
 * reports plus the eBPF kinds, for the agreement test with record.ts. */
#define L_OFF(key, type, field) { key, (uint32_t)offsetof(type, field) }
static const struct {
	const char *name;
	uint32_t value;
} pw_layout[] = {
	{ "version", PW_RECORD_VERSION }, { "batchMagic", PW_BATCH_MAGIC }, { "recordAlign", PW_RECORD_ALIGN },
	{ "batchHeaderSize", sizeof(struct pw_batch_header) },
	L_OFF("batch.magic", struct pw_batch_header, magic), L_OFF("batch.version", struct pw_batch_header, version),
	L_OFF("batch.headerSize", struct pw_batch_header, header_size),
	L_OFF("batch.count", struct pw_batch_header, count), L_OFF("batch.bytes", struct pw_batch_header, bytes),
	{ "recordHeaderSize", sizeof(struct pw_rec_header) },
	L_OFF("rec.size", struct pw_rec_header, size), L_OFF("rec.kind", struct pw_rec_header, kind),
	L_OFF("rec.reserved", struct pw_rec_header, reserved), L_OFF("rec.seq", struct pw_rec_header, seq),
	L_OFF("rec.timestampNs", struct pw_rec_header, timestamp_ns), L_OFF("rec.what", struct pw_rec_header, what),
	L_OFF("rec.cpu", struct pw_rec_header, cpu), L_OFF("rec.pid", struct pw_rec_header, pid),
	L_OFF("rec.tid", struct pw_rec_header, tid),
	{ "forkSize", sizeof(struct pw_rec_fork) },
	L_OFF("fork.parentPid", struct pw_rec_fork, parent_pid), L_OFF("fork.parentTid", struct pw_rec_fork, parent_tid),
	L_OFF("fork.childStartTicks", struct pw_rec_fork, child_start_ticks), L_OFF("fork.childStartNs", struct pw_rec_fork, child_start_ns),
	{ "idSize", sizeof(struct pw_rec_id) },
	L_OFF("id.real", struct pw_rec_id, real), L_OFF("id.effective", struct pw_rec_id, effective),
	{ "ptraceSize", sizeof(struct pw_rec_ptrace) },
	L_OFF("ptrace.tracerPid", struct pw_rec_ptrace, tracer_pid),
	L_OFF("ptrace.tracerTid", struct pw_rec_ptrace, tracer_tid),
	{ "commSize", sizeof(struct pw_rec_comm) }, L_OFF("comm.comm", struct pw_rec_comm, comm),
	{ "coredumpSize", sizeof(struct pw_rec_coredump) },
	L_OFF("coredump.parentPid", struct pw_rec_coredump, parent_pid),
	L_OFF("coredump.parentTid", struct pw_rec_coredump, parent_tid),
	L_OFF("coredump.flags", struct pw_rec_coredump, flags),
	{ "exitSize", sizeof(struct pw_rec_exit) },
	L_OFF("exit.exitCode", struct pw_rec_exit, exit_code), L_OFF("exit.exitSignal", struct pw_rec_exit, exit_signal),
	L_OFF("exit.parentPid", struct pw_rec_exit, parent_pid), L_OFF("exit.parentTid", struct pw_rec_exit, parent_tid),
	L_OFF("exit.flags", struct pw_rec_exit, flags), L_OFF("exit.comm", struct pw_rec_exit, comm),
	{ "lostSize", sizeof(struct pw_rec_lost) },
	L_OFF("lost.count", struct pw_rec_lost, count), L_OFF("lost.reason", struct pw_rec_lost, reason),
	L_OFF("lost.err", struct pw_rec_lost, err),
	{ "strSize", sizeof(struct pw_str) }, L_OFF("str.off", struct pw_str, off), L_OFF("str.len", struct pw_str, len),
	{ "execSize", sizeof(struct pw_rec_exec) },
	L_OFF("exec.flags", struct pw_rec_exec, flags), L_OFF("exec.ppid", struct pw_rec_exec, ppid),
	L_OFF("exec.startTicks", struct pw_rec_exec, start_ticks), L_OFF("exec.readNs", struct pw_rec_exec, read_ns),
	L_OFF("exec.uid", struct pw_rec_exec, uid), L_OFF("exec.gid", struct pw_rec_exec, gid),
	L_OFF("exec.state", struct pw_rec_exec, state), L_OFF("exec.err", struct pw_rec_exec, err),
	L_OFF("exec.comm", struct pw_rec_exec, comm), L_OFF("exec.cmdline", struct pw_rec_exec, cmdline),
	L_OFF("exec.exe", struct pw_rec_exec, exe), L_OFF("exec.cwd", struct pw_rec_exec, cwd),
	L_OFF("exec.cgroupId", struct pw_rec_exec, cgroup_id), L_OFF("exec.filename", struct pw_rec_exec, filename),
	L_OFF("exec.startNs", struct pw_rec_exec, start_ns),
	{ "sockSize", sizeof(struct pw_rec_sock) },
	L_OFF("sock.family", struct pw_rec_sock, family), L_OFF("sock.protocol", struct pw_rec_sock, protocol),
	L_OFF("sock.localPort", struct pw_rec_sock, local_port), L_OFF("sock.remotePort", struct pw_rec_sock, remote_port),
	L_OFF("sock.result", struct pw_rec_sock, result), L_OFF("sock.flags", struct pw_rec_sock, flags),
	L_OFF("sock.localAddr", struct pw_rec_sock, local_addr), L_OFF("sock.remoteAddr", struct pw_rec_sock, remote_addr),
	L_OFF("sock.uid", struct pw_rec_sock, uid), L_OFF("sock.fd", struct pw_rec_sock, fd),
	L_OFF("sock.cgroupId", struct pw_rec_sock, cgroup_id),
	{ "openSize", sizeof(struct pw_rec_open) },
	L_OFF("open.result", struct pw_rec_open, result), L_OFF("open.openFlags", struct pw_rec_open, open_flags),
	L_OFF("open.mode", struct pw_rec_open, mode), L_OFF("open.flags", struct pw_rec_open, flags),
	L_OFF("open.dirFd", struct pw_rec_open, dir_fd), L_OFF("open.uid", struct pw_rec_open, uid),
	L_OFF("open.cgroupId", struct pw_rec_open, cgroup_id), L_OFF("open.path", struct pw_rec_open, path),
	{ "kind.fork", PW_KIND_FORK }, { "kind.exec", PW_KIND_EXEC }, { "kind.uid", PW_KIND_UID },
	{ "kind.gid", PW_KIND_GID }, { "kind.sid", PW_KIND_SID }, { "kind.ptrace", PW_KIND_PTRACE },
	{ "kind.comm", PW_KIND_COMM }, { "kind.coredump", PW_KIND_COREDUMP }, { "kind.exit", PW_KIND_EXIT },
	{ "kind.lost", PW_KIND_LOST }, { "kind.connect", PW_KIND_CONNECT }, { "kind.accept", PW_KIND_ACCEPT },
	{ "kind.open", PW_KIND_OPEN }, { "kind.acct", PW_KIND_ACCT },
	{ "acctSize", sizeof(struct pw_rec_acct) },
	L_OFF("acct.flags", struct pw_rec_acct, flags), L_OFF("acct.startTicks", struct pw_rec_acct, start_ticks),
	L_OFF("acct.cpuNs", struct pw_rec_acct, cpu_ns), L_OFF("acct.userNs", struct pw_rec_acct, user_ns),
	L_OFF("acct.systemNs", struct pw_rec_acct, system_ns), L_OFF("acct.minFlt", struct pw_rec_acct, min_flt),
	L_OFF("acct.majFlt", struct pw_rec_acct, maj_flt), L_OFF("acct.nvcsw", struct pw_rec_acct, nvcsw),
	L_OFF("acct.nivcsw", struct pw_rec_acct, nivcsw), L_OFF("acct.maxRssKib", struct pw_rec_acct, max_rss_kib),
	L_OFF("acct.rchar", struct pw_rec_acct, rchar), L_OFF("acct.wchar", struct pw_rec_acct, wchar),
	L_OFF("acct.readBytes", struct pw_rec_acct, read_bytes), L_OFF("acct.writeBytes", struct pw_rec_acct, write_bytes),
	{ "acctFlag.cpu", PW_ACCT_CPU }, { "acctFlag.cpuTicks", PW_ACCT_CPU_TICKS }, { "acctFlag.faults", PW_ACCT_FAULTS },
	{ "acctFlag.switches", PW_ACCT_SWITCHES }, { "acctFlag.maxRss", PW_ACCT_MAXRSS }, { "acctFlag.io", PW_ACCT_IO },
	{ "execFlag.comm", PW_EXEC_COMM }, { "execFlag.stat", PW_EXEC_STAT }, { "execFlag.uids", PW_EXEC_UIDS },
	{ "execFlag.gids", PW_EXEC_GIDS }, { "execFlag.argv", PW_EXEC_ARGV },
	{ "execFlag.argvTruncated", PW_EXEC_ARGV_TRUNCATED }, { "execFlag.exe", PW_EXEC_EXE },
	{ "execFlag.cwd", PW_EXEC_CWD }, { "execFlag.zombie", PW_EXEC_ZOMBIE }, { "execFlag.gone", PW_EXEC_GONE },
	{ "execFlag.changed", PW_EXEC_CHANGED }, { "execFlag.raced", PW_EXEC_RACED },
	{ "execFlag.filename", PW_EXEC_FILENAME }, { "execFlag.cgroup", PW_EXEC_CGROUP },
	{ "parentKnown", PW_PARENT_KNOWN }, { "exitComm", PW_EXIT_COMM }, { "lostCountUnknown", PW_LOST_COUNT_UNKNOWN },
	{ "lostReason.enobufs", PW_LOST_ENOBUFS }, { "lostReason.ringbuf", PW_LOST_RINGBUF },
	{ "lostReason.unreadable", PW_LOST_UNREADABLE }, { "lostReason.inflight", PW_LOST_INFLIGHT },
	{ "cpuUnknown", PW_CPU_UNKNOWN }, { "commEventLen", PW_COMM_EVENT_LEN }, { "cmdlineMax", PW_CMDLINE_MAX },
	{ "bpfArgvMax", PW_BPF_ARGV_MAX },
	{ "commMax", PW_COMM_MAX }, { "pathMax", PW_PATH_MAX }, { "sockLocal", PW_SOCK_LOCAL },
	{ "openPathTruncated", PW_OPEN_PATH_TRUNCATED },
	/* behaviour capture */
	{ "kind.syscalls", PW_KIND_SYSCALLS }, { "kind.session", PW_KIND_SESSION }, { "kind.shell", PW_KIND_SHELL },
	{ "lostReason.syscallTable", PW_LOST_SYSCALL_TABLE }, { "lostReason.sessionTable", PW_LOST_SESSION_TABLE },
	{ "lostReason.shellUnreadable", PW_LOST_SHELL_UNREADABLE },
	/* process changes */
	{ "lostReason.ptraceUnresolved", PW_LOST_PTRACE_UNRESOLVED },
	{ "syscallCountSize", sizeof(struct pw_syscall_count) },
	L_OFF("syscallCount.nr", struct pw_syscall_count, nr), L_OFF("syscallCount.count", struct pw_syscall_count, count),
	{ "syscallsSize", sizeof(struct pw_rec_syscalls) },
	L_OFF("syscalls.startTicks", struct pw_rec_syscalls, start_ticks), L_OFF("syscalls.total", struct pw_rec_syscalls, total),
	L_OFF("syscalls.flags", struct pw_rec_syscalls, flags), L_OFF("syscalls.counts", struct pw_rec_syscalls, counts),
	{ "syscallsFinal", PW_SYSCALLS_FINAL }, { "syscallOther", PW_SYSCALL_OTHER },
	{ "sessionSize", sizeof(struct pw_rec_session) },
	L_OFF("session.startTicks", struct pw_rec_session, start_ticks),
	L_OFF("session.establishedNs", struct pw_rec_session, established_ns),
	L_OFF("session.bytesSent", struct pw_rec_session, bytes_sent),
	L_OFF("session.bytesReceived", struct pw_rec_session, bytes_received),
	L_OFF("session.bytesRetrans", struct pw_rec_session, bytes_retrans),
	L_OFF("session.cgroupId", struct pw_rec_session, cgroup_id), L_OFF("session.flags", struct pw_rec_session, flags),
	L_OFF("session.uid", struct pw_rec_session, uid), L_OFF("session.retransmits", struct pw_rec_session, retransmits),
	L_OFF("session.family", struct pw_rec_session, family), L_OFF("session.localPort", struct pw_rec_session, local_port),
	L_OFF("session.remotePort", struct pw_rec_session, remote_port),
	L_OFF("session.closeState", struct pw_rec_session, close_state),
	L_OFF("session.localAddr", struct pw_rec_session, local_addr),
	L_OFF("session.remoteAddr", struct pw_rec_session, remote_addr),
	{ "sessionAccepted", PW_SESSION_ACCEPTED }, { "sessionOwner", PW_SESSION_OWNER }, { "sessionEarlier", PW_SESSION_EARLIER },
	{ "shellSize", sizeof(struct pw_rec_shell) },
	L_OFF("shell.startTicks", struct pw_rec_shell, start_ticks), L_OFF("shell.flags", struct pw_rec_shell, flags),
	L_OFF("shell.uid", struct pw_rec_shell, uid), L_OFF("shell.euid", struct pw_rec_shell, euid),
	L_OFF("shell.loginUid", struct pw_rec_shell, login_uid), L_OFF("shell.sessionId", struct pw_rec_shell, session_id),
	L_OFF("shell.line", struct pw_rec_shell, line), L_OFF("shell.tty", struct pw_rec_shell, tty),
	L_OFF("shell.cwd", struct pw_rec_shell, cwd),
	{ "shellTruncated", PW_SHELL_TRUNCATED }, { "shellTty", PW_SHELL_TTY }, { "shellCwd", PW_SHELL_CWD },
	{ "shellLineMax", PW_SHELL_LINE_MAX }, { "idUnset", PW_ID_UNSET },
};

static napi_value js_layout(napi_env env, napi_callback_info info)
{
	napi_value obj, v;
	(void)info;
	if (napi_create_object(env, &obj) != napi_ok)
		return NULL;
	for (size_t i = 0; i < sizeof pw_layout / sizeof pw_layout[0]; i++)
		if (napi_create_uint32(env, pw_layout[i].value, &v) == napi_ok)
			napi_set_named_property(env, obj, pw_layout[i].name, v);
	return obj;
}

/* Copies a string or Buffer property into dst (at most cap bytes). */
static uint32_t js_bytes(napi_env env, napi_value obj, const char *name, void *dst, uint32_t cap)
{
	napi_value v;
	bool is_buf = false;
	size_t len = 0;
	void *data;
	char *s;
	if (js_get_prop(env, obj, name, napi_object, &v) && napi_is_buffer(env, v, &is_buf) == napi_ok && is_buf &&
	    napi_get_buffer_info(env, v, &data, &len) == napi_ok) {
		len = len > cap ? cap : len;
		memcpy(dst, data, len);
		return (uint32_t)len;
	}
	s = js_str_len(env, obj, name, &len);
	if (!s)
		return 0;
	len = len > cap ? cap : len;
	memcpy(dst, s, len);
	free(s);
	return (uint32_t)len;
}

/* encodeTestRecords() for the capture kinds: the record's offset, 0 when it did not fit, or
 * UINT32_MAX for a kind that is not one of them. */
static uint32_t capture_encode_test(napi_env env, napi_value spec, pw_batch *b, struct pw_rec_header *rh)
{
	static struct pw_syscall_count pairs[PWB_SYSCALL_SLOTS];
	static char line[PW_SHELL_LINE_MAX], tty[PWB_TTY_NAME_MAX], cwd[PW_PATH_MAX];
	switch (rh->kind) {
	case PW_KIND_SYSCALLS: {
		struct pw_rec_syscalls r;
		napi_value arr, pair, el;
		uint32_t n = 0;
		double d;
		memset(&r, 0, sizeof r);
		r.start_ticks = (uint64_t)js_num(env, spec, "startTicks", 0);
		r.total = (uint64_t)js_num(env, spec, "total", 0);
		r.flags = (uint32_t)js_num(env, spec, "flags", 0);
		if (js_get_prop(env, spec, "counts", napi_object, &arr))
			napi_get_array_length(env, arr, &n);
		n = n > PWB_SYSCALL_SLOTS ? PWB_SYSCALL_SLOTS : n;
		for (uint32_t i = 0; i < n; i++) {
			memset(&pairs[i], 0, sizeof pairs[i]);
			if (napi_get_element(env, arr, i, &pair) != napi_ok)
				continue;
			if (napi_get_element(env, pair, 0, &el) == napi_ok && napi_get_value_double(env, el, &d) == napi_ok)
				pairs[i].nr = (uint32_t)d;
			if (napi_get_element(env, pair, 1, &el) == napi_ok && napi_get_value_double(env, el, &d) == napi_ok)
				pairs[i].count = (uint64_t)d;
		}
		pw_strref counts = { offsetof(struct pw_rec_syscalls, counts), pairs, n * (uint32_t)sizeof pairs[0] };
		return batch_put(b, rh, &r, sizeof r, &counts, 1);
	}
	case PW_KIND_SESSION: {
		struct pw_rec_session r;
		memset(&r, 0, sizeof r);
		r.start_ticks = (uint64_t)js_num(env, spec, "startTicks", 0);
		r.established_ns = (uint64_t)js_num(env, spec, "establishedNs", 0);
		r.bytes_sent = (uint64_t)js_num(env, spec, "bytesSent", 0);
		r.bytes_received = (uint64_t)js_num(env, spec, "bytesReceived", 0);
		r.bytes_retrans = (uint64_t)js_num(env, spec, "bytesRetrans", 0);
		r.cgroup_id = (uint64_t)js_num(env, spec, "cgroupId", 0);
		r.flags = (uint32_t)js_num(env, spec, "flags", 0);
		r.uid = (uint32_t)js_num(env, spec, "uid", 0);
		r.retransmits = (uint32_t)js_num(env, spec, "retransmits", 0);
		r.family = (uint16_t)js_num(env, spec, "family", 0);
		r.local_port = (uint16_t)js_num(env, spec, "localPort", 0);
		r.remote_port = (uint16_t)js_num(env, spec, "remotePort", 0);
		r.close_state = (uint16_t)js_num(env, spec, "closeState", 0);
		js_bytes(env, spec, "localAddr", r.local_addr, 16);
		js_bytes(env, spec, "remoteAddr", r.remote_addr, 16);
		return batch_put(b, rh, &r, sizeof r, NULL, 0);
	}
	case PW_KIND_SHELL: {
		struct pw_rec_shell r;
		memset(&r, 0, sizeof r);
		r.start_ticks = (uint64_t)js_num(env, spec, "startTicks", 0);
		r.flags = (uint32_t)js_num(env, spec, "flags", 0);
		r.uid = (uint32_t)js_num(env, spec, "uid", 0);
		r.euid = (uint32_t)js_num(env, spec, "euid", 0);
		r.login_uid = (uint32_t)js_num(env, spec, "loginUid", PW_ID_UNSET);
		r.session_id = (uint32_t)js_num(env, spec, "sessionId", PW_ID_UNSET);
		pw_strref strs[3] = {
			{ offsetof(struct pw_rec_shell, line), line, js_bytes(env, spec, "line", line, sizeof line) },
			{ offsetof(struct pw_rec_shell, tty), tty, (r.flags & PW_SHELL_TTY) ? js_bytes(env, spec, "tty", tty, sizeof tty) : 0 },
			{ offsetof(struct pw_rec_shell, cwd), cwd, (r.flags & PW_SHELL_CWD) ? js_bytes(env, spec, "cwd", cwd, sizeof cwd) : 0 },
		};
		return batch_put(b, rh, &r, sizeof r, strs, 3);
	}
	}
	return UINT32_MAX;
}

/* An ACCT body from a test spec: the fields by their record.ts names; with `runtimeNs` (and
 * `utimeNs`, `stimeNs`, `prevUtimeNs`, `prevStimeNs`), the CPU fields go through ring_cpu_split as the reader's would. */
static void js_acct(napi_env env, napi_value spec, struct pw_rec_acct *a)
{
	napi_value v;
	memset(a, 0, sizeof *a);
	a->flags = (uint32_t)js_num(env, spec, "flags", 0);
	a->start_ticks = (uint64_t)js_num(env, spec, "startTicks", 0);
	if (js_get_prop(env, spec, "runtimeNs", napi_number, &v))
		ring_cpu_split((uint64_t)js_num(env, spec, "runtimeNs", 0), (uint64_t)js_num(env, spec, "utimeNs", 0),
			       (uint64_t)js_num(env, spec, "stimeNs", 0), (uint64_t)js_num(env, spec, "prevUtimeNs", 0),
			       (uint64_t)js_num(env, spec, "prevStimeNs", 0), a);
	else {
		a->cpu_ns = (uint64_t)js_num(env, spec, "cpuNs", 0);
		a->user_ns = (uint64_t)js_num(env, spec, "userNs", 0);
		a->system_ns = (uint64_t)js_num(env, spec, "systemNs", 0);
	}
	a->min_flt = (uint64_t)js_num(env, spec, "minFlt", 0);
	a->maj_flt = (uint64_t)js_num(env, spec, "majFlt", 0);
	a->nvcsw = (uint64_t)js_num(env, spec, "nvcsw", 0);
	a->nivcsw = (uint64_t)js_num(env, spec, "nivcsw", 0);
	a->max_rss_kib = (uint64_t)js_num(env, spec, "maxRssKib", 0);
	a->rchar = (uint64_t)js_num(env, spec, "rchar", 0);
	a->wchar = (uint64_t)js_num(env, spec, "wchar", 0);
	a->read_bytes = (uint64_t)js_num(env, spec, "readBytes", 0);
	a->write_bytes = (uint64_t)js_num(env, spec, "writeBytes", 0);
}

/* encodeTestRecords(specs[]) -> Buffer: test-only. Packs records of the kinds this reader
 * writes through its own batch_* writer, so the decoder can be checked against real C
 * output (exec is also compared byte for byte with procconn.c's writer). */
static napi_value js_encode_test_records(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value arr, spec, out;
	uint32_t n = 0;
	bool is_arr = false;
	pw_batch b;
	uint64_t seq = 0;
	void *copy;
	struct { char a[PW_COMM_MAX], c[PW_BPF_ARGV_MAX], e[PW_PATH_MAX], w[PW_PATH_MAX], f[PW_PATH_MAX]; } *s = NULL;
	uint8_t *buf = NULL;
	const char *bad = NULL;

	if (napi_get_cb_info(env, info, &argc, &arr, NULL, NULL) != napi_ok || argc < 1 ||
	    napi_is_array(env, arr, &is_arr) != napi_ok || !is_arr || napi_get_array_length(env, arr, &n) != napi_ok)
		return napi_throw_type_error(env, NULL, "encodeTestRecords(specs): specs must be an array"), NULL;
	buf = malloc(PW_BATCH_BYTES);
	s = calloc(1, sizeof *s);
	if (!buf || !s) {
		bad = "out of memory";
		goto done;
	}
	batch_reset(&b, buf, PW_BATCH_BYTES);
	for (uint32_t i = 0; i < n && !bad; i++) {
		struct pw_rec_header rh;
		uint32_t ok = 0;
		if (napi_get_element(env, arr, i, &spec) != napi_ok) {
			bad = "bad spec";
			break;
		}
		memset(&rh, 0, sizeof rh);
		rh.kind = (uint16_t)js_num(env, spec, "kind", 0);
		rh.seq = ++seq;
		rh.timestamp_ns = (uint64_t)js_num(env, spec, "timestampNs", 0);
		rh.what = (uint32_t)js_num(env, spec, "what", 0); /* the reader writes 0; tests may not */
		rh.cpu = (uint32_t)js_num(env, spec, "cpu", 0);
		rh.pid = (int32_t)js_num(env, spec, "pid", 0);
		rh.tid = (int32_t)js_num(env, spec, "tid", 0);
		switch (rh.kind) {
		case PW_KIND_CONNECT:
		case PW_KIND_ACCEPT: {
			struct pw_rec_sock k;
			memset(&k, 0, sizeof k);
			k.family = (uint16_t)js_num(env, spec, "family", 0);
			k.protocol = (uint16_t)js_num(env, spec, "protocol", 0);
			k.local_port = (uint16_t)js_num(env, spec, "localPort", 0);
			k.remote_port = (uint16_t)js_num(env, spec, "remotePort", 0);
			k.result = (int32_t)js_num(env, spec, "result", 0);
			k.flags = (uint32_t)js_num(env, spec, "flags", 0);
			js_bytes(env, spec, "localAddr", k.local_addr, 16);
			js_bytes(env, spec, "remoteAddr", k.remote_addr, 16);
			k.uid = (uint32_t)js_num(env, spec, "uid", 0);
			k.fd = (int32_t)js_num(env, spec, "fd", 0);
			k.cgroup_id = (uint64_t)js_num(env, spec, "cgroupId", 0);
			ok = batch_put(&b, &rh, &k, sizeof k, NULL, 0);
			break;
		}
		case PW_KIND_OPEN: {
			struct pw_rec_open o;
			memset(&o, 0, sizeof o);
			o.result = (int32_t)js_num(env, spec, "result", 0);
			o.open_flags = (uint32_t)js_num(env, spec, "openFlags", 0);
			o.mode = (uint32_t)js_num(env, spec, "mode", 0);
			o.flags = (uint32_t)js_num(env, spec, "flags", 0);
			o.dir_fd = (int32_t)js_num(env, spec, "dirFd", PW_AT_FDCWD);
			o.uid = (uint32_t)js_num(env, spec, "uid", 0);
			o.cgroup_id = (uint64_t)js_num(env, spec, "cgroupId", 0);
			pw_strref p = { offsetof(struct pw_rec_open, path), s->e, js_bytes(env, spec, "path", s->e, PW_PATH_MAX - 1) };
			ok = batch_put(&b, &rh, &o, sizeof o, &p, 1);
			break;
		}
		case PW_KIND_LOST: {
			struct pw_rec_lost l = { (uint32_t)js_num(env, spec, "count", PW_LOST_COUNT_UNKNOWN),
						 (uint32_t)js_num(env, spec, "reason", PW_LOST_RINGBUF),
						 (int32_t)js_num(env, spec, "err", 0), 0 };
			ok = batch_put(&b, &rh, &l, sizeof l, NULL, 0);
			break;
		}
		case PW_KIND_ACCT: {
			struct pw_rec_acct a;
			js_acct(env, spec, &a);
			ok = batch_put(&b, &rh, &a, sizeof a, NULL, 0);
			break;
		}
		case PW_KIND_EXIT: {
			struct pw_rec_exit x = { .exit_code = (uint32_t)js_num(env, spec, "exitCode", 0),
						 .exit_signal = (uint32_t)js_num(env, spec, "exitSignal", 0),
						 .parent_pid = (int32_t)js_num(env, spec, "parentPid", 0),
						 .parent_tid = (int32_t)js_num(env, spec, "parentTid", 0),
						 .flags = (uint32_t)js_num(env, spec, "flags", 0) };
			if (x.flags & PW_EXIT_COMM)
				js_bytes(env, spec, "comm", x.comm, sizeof x.comm);
			ok = batch_put(&b, &rh, &x, sizeof x, NULL, 0);
			break;
		}
		case PW_KIND_EXEC: {
			struct pw_rec_exec x;
			napi_value q, el;
			double d;
			memset(&x, 0, sizeof x);
			x.flags = (uint32_t)js_num(env, spec, "flags", 0);
			x.ppid = (int32_t)js_num(env, spec, "ppid", 0);
			x.start_ticks = (uint64_t)js_num(env, spec, "startTicks", 0);
			x.read_ns = (uint64_t)js_num(env, spec, "readNs", 0);
			x.state = (uint8_t)js_num(env, spec, "state", 0);
			x.err = (int32_t)js_num(env, spec, "err", 0);
			x.cgroup_id = (uint64_t)js_num(env, spec, "cgroupId", 0);
			x.start_ns = (uint64_t)js_num(env, spec, "startNs", 0);
			for (int w = 0; w < 2; w++) {
				uint32_t *dst = w ? x.gid : x.uid;
				if (!js_get_prop(env, spec, w ? "gids" : "uids", napi_object, &q))
					continue;
				for (uint32_t k = 0; k < 4; k++)
					if (napi_get_element(env, q, k, &el) == napi_ok && napi_get_value_double(env, el, &d) == napi_ok)
						dst[k] = (uint32_t)d;
			}
			uint32_t f = x.flags;
			pw_strref strs[5] = {
				{ offsetof(struct pw_rec_exec, comm), s->a, (f & PW_EXEC_COMM) ? js_bytes(env, spec, "comm", s->a, PW_COMM_MAX) : 0 },
				{ offsetof(struct pw_rec_exec, cmdline), s->c, (f & PW_EXEC_ARGV) ? js_bytes(env, spec, "cmdline", s->c, PW_BPF_ARGV_MAX) : 0 },
				{ offsetof(struct pw_rec_exec, exe), s->e, (f & PW_EXEC_EXE) ? js_bytes(env, spec, "exe", s->e, PW_PATH_MAX - 1) : 0 },
				{ offsetof(struct pw_rec_exec, cwd), s->w, (f & PW_EXEC_CWD) ? js_bytes(env, spec, "cwd", s->w, PW_PATH_MAX - 1) : 0 },
				{ offsetof(struct pw_rec_exec, filename), s->f, (f & PW_EXEC_FILENAME) ? js_bytes(env, spec, "filename", s->f, PW_PATH_MAX - 1) : 0 },
			};
			ok = batch_put(&b, &rh, &x, sizeof x, strs, 5);
			break;
		}
		default:
			ok = capture_encode_test(env, spec, &b, &rh);
			if (ok == UINT32_MAX) {
				bad = "unknown kind";
				continue;
			}
			break;
		}
		if (!ok)
			bad = "batch full";
	}
done:
	if (!bad) {
		batch_seal(&b);
		if (napi_create_buffer_copy(env, b.len, b.buf, &copy, &out) != napi_ok)
			bad = "out of memory";
	}
	free(buf);
	free(s);
	if (bad)
		return napi_throw_range_error(env, NULL, bad), NULL;
	return out;
}

static void module_instance_free(napi_env env, void *data, void *hint)
{
	(void)hint;
	napi_delete_reference(env, *(napi_ref *)data);
	free(data);
}

static napi_value module_init(napi_env env, napi_value exports)
{
	napi_property_descriptor methods[] = {
		{ "stop", NULL, js_handle_stop, NULL, NULL, NULL, napi_default_method, NULL },
		{ "counters", NULL, js_handle_counters, NULL, NULL, NULL, napi_default_method, NULL },
		{ "programIds", NULL, js_handle_program_ids, NULL, NULL, NULL, napi_default_method, NULL },
		{ "notices", NULL, js_handle_notices, NULL, NULL, NULL, napi_default_method, NULL },
		{ "ref", NULL, js_handle_ref_on, NULL, NULL, NULL, napi_default_method, NULL },
		{ "unref", NULL, js_handle_ref_off, NULL, NULL, NULL, napi_default_method, NULL },
		{ "attachShell", NULL, js_handle_attach_shell, NULL, NULL, NULL, napi_default_method, NULL },
	};
	napi_property_descriptor fns[] = {
		{ "open", NULL, js_open, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "layout", NULL, js_layout, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "encodeTestRecords", NULL, js_encode_test_records, NULL, NULL, NULL, napi_enumerable, NULL },
	};
	napi_value ctor;
	napi_ref *ctor_ref = malloc(sizeof *ctor_ref);
	if (!ctor_ref)
		return NULL;
	if (napi_define_class(env, "ProcBpfHandle", NAPI_AUTO_LENGTH, js_handle_ctor, NULL,
			      sizeof methods / sizeof methods[0], methods, &ctor) != napi_ok ||
	    napi_create_reference(env, ctor, 1, ctor_ref) != napi_ok ||
	    napi_set_instance_data(env, ctor_ref, module_instance_free, NULL) != napi_ok ||
	    napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns) != napi_ok || tasksnap_define(env, exports) != 0) {
		free(ctor_ref);
		return NULL;
	}
	return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, module_init)
