/*
 * procconn.c - reads the kernel's process events connector (cn_proc) for procwatch.
 *
 * Only what must be native lives here: a NETLINK_CONNECTOR socket, a reader pthread that
 * decodes kernel frames, enriches an exec from /proc at once (a short-lived process is gone
 * a millisecond later), packs fixed-layout records (record.h) into a batch buffer, and hands
 * each whole batch to JavaScript through one napi_threadsafe_function call. Decoding the
 * records into events is TypeScript's job (src/sources/record.ts).
 *
 * Threads: the JS thread runs open()/stop()/counters() and the tsfn callbacks; the reader
 * thread runs reader_*, netlink_frame/event, procread_*, batch_* and verify_*. They share
 * only the counters (atomics), the stop flag (atomic) and the slot states (mutex).
 *
 * Function prefixes: netlink_* (socket), procread_* (/proc), batch_* (records and batches),
 * verify_* (is an exec's enrichment still the image the event announced?), reader_* (the
 * thread), handle_* (lifetime), js_* (N-API entry points).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sock_diag.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <node_api.h>

#include "record.h"

/* ---- tunables -------------------------------------------------------------------- */
#define PW_DEFAULT_RCVBUF (16u << 20) /* survives a multi-second stall at storm rates */
#define PW_BATCH_BYTES (256u << 10)   /* one batch buffer; >= 20 worst-case exec records */
#define PW_SLOTS 4                    /* batch buffers: one being filled, the rest in flight */
#define PW_QUIET_MS 5                 /* flush a non-empty batch after this long without data */
#define PW_MAX_AGE_NS (20ull * 1000000ull) /* ...and never hold a record longer than this */
#define PW_DRAIN_MAX 256              /* frames per wake-up before re-checking stop/age */
#define PW_RECV_BYTES 8192            /* one frame is ~76 bytes; larger ones are truncated */
#define PW_STAT_BYTES 2048            /* /proc/PID/stat is < 1 KiB even with a 64-byte comm */
#define PW_STATUS_BYTES 4096          /* Uid:/Gid: sit in the first ~600 bytes of status */
#define PW_PENDING 4096               /* exec records remembered for verify_* (power of 2) */
#define PW_GROUPS 256                 /* processes whose leader left before its threads (power of 2) */
#define PW_ACK_TIMEOUT_MS 1000
#define PW_ERROR_EVERY_NS 1000000000ull /* a persistent recv error is reported at most once a second */
#ifndef SO_MEMINFO
#define SO_MEMINFO 55 /* Linux 4.12 */
#endif

_Static_assert(PW_BATCH_BYTES >= PW_BATCH_HEADER_SIZE + 4 * PW_REC_MAX_SIZE, "batch too small");
_Static_assert((PW_PENDING & (PW_PENDING - 1)) == 0, "PW_PENDING must be a power of 2");

/* ---- the kernel's wire format --------------------------------------------------------
 * struct proc_event as the kernel sends it, by offset into cn_msg.data. Spelled out here
 * rather than taken from <linux/cn_proc.h> so that older headers (without the exit and
 * coredump parent fields) build the same reader, and because proc_event sits 4-aligned
 * after the 20-byte cn_msg while its timestamp is a u64: every read is a memcpy. */
#define CN_EV_WHAT 0
#define CN_EV_CPU 4
#define CN_EV_TS 8
#define CN_EV_DATA 16
#define CN_WHAT_NONE 0x00000000u
#define CN_WHAT_FORK 0x00000001u
#define CN_WHAT_EXEC 0x00000002u
#define CN_WHAT_UID 0x00000004u
#define CN_WHAT_GID 0x00000040u
#define CN_WHAT_SID 0x00000080u
#define CN_WHAT_PTRACE 0x00000100u
#define CN_WHAT_COMM 0x00000200u
#define CN_WHAT_COREDUMP 0x40000000u
#define CN_WHAT_EXIT 0x80000000u
#define CN_MCAST_LISTEN 1u
#define CN_MCAST_IGNORE 2u

static uint32_t rd_u32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static int32_t rd_i32(const uint8_t *p) { int32_t v; memcpy(&v, p, 4); return v; }
static uint64_t rd_u64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static uint32_t align8(uint32_t n) { return (n + 7u) & ~7u; }

static uint64_t now_ns(void)
{
	/* CLOCK_MONOTONIC is what the kernel's ktime_get_ns() stamps events with, so a read
	 * time can be compared with event timestamps (verify_*). */
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- counters (written by the reader with atomics, read by counters()) ------------- */
enum pw_counter {
	C_RECEIVED,          /* frames accepted from the kernel */
	C_EVENTS,            /* records produced (LOST included) */
	C_BATCHES,           /* batches handed to JavaScript */
	C_MALFORMED,         /* short, truncated or inconsistent frames, skipped */
	C_IGNORED,           /* acks, frames not from the kernel, other connectors, unknown kinds */
	C_ENOBUFS,           /* recv said the receive buffer overflowed */
	C_RECV_ERRORS,       /* other recv errors */
	C_PROCREAD_FAILURES, /* exec records with at least one field unknown */
	C_EXEC_GONE,         /* exec: process gone before anything was read */
	C_EXEC_ZOMBIE,       /* exec: process already a zombie */
	C_EXEC_CHANGED,      /* exec: stat differed before/after the reads */
	C_EXEC_RACED,        /* exec: fields dropped because a later event beat the reads */
	C_VERIFY_LATE,       /* a race was seen after the exec record had left in a batch */
	C_VERIFY_EVICTED,    /* an unflushed exec record lost its race check to a pid collision */
	C_SLOT_WAITS,        /* reader waited for JavaScript to take a batch */
	C_DROPPED_BATCHES,   /* batches that could not be queued (tsfn closing) */
	C_EXEC_REUSED,       /* exec: /proc showed a process started after the event (pid reused) */
	C_KERNEL_DROPS,      /* events the kernel dropped for this socket (SO_MEMINFO drops) */
	C_ACCT,              /* ACCT records read from a zombie's /proc files after its exit */
	C_COUNT
};
static const char *const pw_counter_names[C_COUNT] = {
	"received", "events", "batches", "malformed", "ignored", "enobufs", "recvErrors",
	"procReadFailures", "execGone", "execZombie", "execChanged", "execRaced",
	"verifyLate", "verifyEvicted", "slotWaits", "droppedBatches", "execReused", "kernelDrops", "acct",
};

/* ---- types ------------------------------------------------------------------------- */
typedef struct {
	uint8_t *buf;
	uint32_t cap, len, count;
} pw_batch;

/* What procread_exec learned; also filled from JS by encodeTestRecords(). */
typedef struct {
	uint32_t flags;
	int32_t ppid;
	uint64_t start_ticks, read_ns;
	uint32_t uid[4], gid[4];
	uint8_t state;
	int32_t err;
	uint32_t mm_known; /* mm[] read (not a zombie, kernel thread or old kernel) */
	uint64_t mm[3];    /* the image's address-space fingerprint, see pw_stat */
	uint32_t comm_len, cmdline_len, exe_len, cwd_len;
	char comm[PW_COMM_MAX];
	char cmdline[PW_CMDLINE_MAX + 1]; /* +1 tells a full read from a cut one */
	char exe[PW_PATH_MAX];
	char cwd[PW_PATH_MAX];
} pw_exec_info;

/* What procread_stat keeps of /proc/PID/stat. mm[] is startstack, arg_start and arg_end
 * (fields 28, 48, 49): every exec builds a new address space, and with ASLR a new random
 * stack, so they tell one image from the next even when comm, exe and argv are alike. They
 * are 0 when there is no mm (zombie, kernel thread) or the kernel is older than 3.5. */
typedef struct {
	char comm[PW_COMM_MAX];
	uint32_t comm_len;
	char state;
	int32_t ppid;
	uint32_t flags; /* field 9: PF_* */
	uint64_t start;
	uint64_t mm[3];
} pw_stat;
#define PW_PF_EXITING 0x00000004u
#define PW_PF_KTHREAD 0x00200000u

/* An exec record still in the batch being filled, for verify_*. */
typedef struct {
	int32_t pid;
	uint32_t gen; /* batch generation it was written in */
	uint32_t off; /* offset of the record in that batch */
	uint32_t valid;
	uint64_t read_ns;
	uint32_t flags; /* the record's PW_EXEC_* flags as they stand now */
	uint32_t mm_known;
	uint64_t mm[3]; /* the address space the reads saw (pw_exec_info.mm) */
	uint32_t comm_len;
	char comm[PW_COMM_EVENT_LEN]; /* its first bytes: enough to compare with a COMM event */
	uint32_t uid[2], gid[2];      /* real and effective, to compare with UID/GID events */
} pw_pending;

enum { PW_MSG_BATCH = 1, PW_MSG_ERROR = 2 };
typedef struct pw_msg {
	int type;
	int slot; /* batch slot index, or -1 for a heap message */
	uint32_t len;
	uint8_t *buf;
} pw_msg;

typedef struct pw_handle {
	/* JS thread only */
	napi_env env;
	napi_threadsafe_function tsfn;
	napi_ref on_batch, on_error, on_close;
	int refs; /* JS wrapper + tsfn finalizer; freed at 0 */
	int stopped, thread_started, hook_added;
	int subscribed; /* the kernel acknowledged LISTEN: stop() owes it an IGNORE */
	int wrapped;    /* a JS object owns a reference: its finalizer drops it, not open()'s failure path */
	pthread_t thread;
	int nl_fd, wake_fd;
	uint32_t rcvbuf_bytes, stall_ms, fail_ms;
	int reader_priority; /* SCHED_FIFO priority the reader thread got; 0: normal scheduling */
	int priority_err;    /* why the asked-for priority was refused (errno), else 0 */
	/* shared */
	uint32_t stop_flag; /* __atomic */
	uint64_t counters[C_COUNT]; /* __atomic */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int slot_busy[PW_SLOTS]; /* under lock: filled by the reader or queued to JS */
	uint8_t *slot_buf[PW_SLOTS];
	pw_msg slot_msg[PW_SLOTS];
	/* reader thread only */
	int cur; /* slot being filled, -1 none */
	pw_batch batch;
	uint64_t seq;
	uint64_t batch_start_ns;
	uint32_t gen;
	int stalled;
	uint64_t fail_at_ns;    /* test hook: the reader fails as on a fatal recv error at this time */
	int drops_known;        /* SO_MEMINFO answers: lost events are counted exactly */
	uint32_t drops_seen;    /* the socket's drop counter when last reported */
	uint64_t last_error_ns; /* when a recv error was last posted (rate limit) */
	uint32_t errors_held;   /* recv errors not posted since */
	uint64_t tick_ns;       /* one clock tick of /proc/PID/stat start times */
	pw_pending pending[PW_PENDING];
	struct { int32_t pid; uint64_t start; } groups[PW_GROUPS]; /* acct_*: leader gone, threads left */
	pw_exec_info exec;
	uint8_t recv_buf[PW_RECV_BYTES];
	char scratch[PW_STATUS_BYTES];
} pw_handle;

static void count(pw_handle *h, enum pw_counter c) { __atomic_fetch_add(&h->counters[c], 1, __ATOMIC_RELAXED); }
static int stop_requested(pw_handle *h) { return __atomic_load_n(&h->stop_flag, __ATOMIC_ACQUIRE) != 0; }

/* ---- batch_*: packing records -------------------------------------------------------- */
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

/* Appends header + fixed body. Returns the record's offset, or 0 when it does not fit. */
static uint32_t batch_put(pw_batch *b, struct pw_rec_header *rh, const void *body, uint32_t body_len)
{
	uint32_t size = align8(PW_REC_HEADER_SIZE + body_len), off = b->len;
	uint8_t *p = b->buf + off;
	if (b->cap - b->len < size)
		return 0;
	rh->size = size;
	rh->reserved = 0;
	memcpy(p, rh, sizeof *rh);
	if (body_len)
		memcpy(p + PW_REC_HEADER_SIZE, body, body_len);
	memset(p + PW_REC_HEADER_SIZE + body_len, 0, size - PW_REC_HEADER_SIZE - body_len);
	b->len += size;
	b->count++;
	return off;
}

static void batch_put_str(uint8_t *rec, uint32_t *pos, struct pw_str *s, const char *src, uint32_t len, int valid)
{
	s->off = 0;
	s->len = 0;
	if (!valid || len == 0)
		return;
	s->off = *pos;
	s->len = len;
	memcpy(rec + *pos, src, len);
	*pos += len;
}

/* Appends an exec record with its strings (only those whose flag is set). */
static uint32_t batch_put_exec(pw_batch *b, struct pw_rec_header *rh, const pw_exec_info *x)
{
	struct pw_rec_exec e;
	uint32_t f = x->flags, strings = 0, size, pos, off = b->len;
	uint8_t *rec = b->buf + off;

	strings += (f & PW_EXEC_COMM) ? x->comm_len : 0;
	strings += (f & PW_EXEC_ARGV) ? x->cmdline_len : 0;
	strings += (f & PW_EXEC_EXE) ? x->exe_len : 0;
	strings += (f & PW_EXEC_CWD) ? x->cwd_len : 0;
	size = align8(PW_REC_HEADER_SIZE + (uint32_t)sizeof e + strings);
	if (b->cap - b->len < size)
		return 0;
	memset(&e, 0, sizeof e);
	e.flags = f;
	e.ppid = x->ppid;
	e.start_ticks = x->start_ticks;
	e.read_ns = x->read_ns;
	memcpy(e.uid, x->uid, sizeof e.uid);
	memcpy(e.gid, x->gid, sizeof e.gid);
	e.state = x->state;
	e.err = x->err;
	pos = PW_REC_HEADER_SIZE + (uint32_t)sizeof e;
	batch_put_str(rec, &pos, &e.comm, x->comm, x->comm_len, f & PW_EXEC_COMM);
	batch_put_str(rec, &pos, &e.cmdline, x->cmdline, x->cmdline_len, f & PW_EXEC_ARGV);
	batch_put_str(rec, &pos, &e.exe, x->exe, x->exe_len, f & PW_EXEC_EXE);
	batch_put_str(rec, &pos, &e.cwd, x->cwd, x->cwd_len, f & PW_EXEC_CWD);
	memset(rec + pos, 0, size - pos);
	rh->size = size;
	rh->reserved = 0;
	memcpy(rec, rh, sizeof *rh);
	memcpy(rec + PW_REC_HEADER_SIZE, &e, sizeof e);
	b->len += size;
	b->count++;
	return off;
}

/* Takes a free slot for the reader to fill; waits (reader stalls, the kernel buffers) while
 * JavaScript still holds every slot. Returns -1 only when stop() was asked meanwhile. */
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
				h->gen++;
				batch_reset(&h->batch, h->slot_buf[i], PW_BATCH_BYTES);
				return 0;
			}
		}
		if (stop_requested(h))
			break;
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
	pthread_mutex_unlock(&h->lock);
	h->cur = -1;
	return -1;
}

static void slot_release(pw_handle *h, int slot)
{
	pthread_mutex_lock(&h->lock);
	h->slot_busy[slot] = 0;
	pthread_cond_signal(&h->cond);
	pthread_mutex_unlock(&h->lock);
}

/* Hands the current batch to JavaScript (one tsfn call); the slot comes back in call_js. */
static void batch_post(pw_handle *h)
{
	int slot = h->cur;
	if (slot < 0 || h->batch.count == 0)
		return;
	if (!h->tsfn) { /* decodeTestFrames(): one batch only, read by the caller; the rest is dropped */
		count(h, C_DROPPED_BATCHES);
		return;
	}
	batch_seal(&h->batch);
	h->slot_msg[slot].len = h->batch.len;
	h->cur = -1;
	if (napi_call_threadsafe_function(h->tsfn, &h->slot_msg[slot], napi_tsfn_nonblocking) == napi_ok) {
		count(h, C_BATCHES);
	} else {
		/* napi_closing: the environment is going away; nobody can take batches now. */
		count(h, C_DROPPED_BATCHES);
		slot_release(h, slot);
		__atomic_store_n(&h->stop_flag, 1, __ATOMIC_RELEASE);
	}
}

static void batch_flush(pw_handle *h)
{
	batch_post(h);
	if (h->cur < 0)
		batch_acquire(h);
}

/* Appends one record, flushing first if the batch is full. Returns its offset or 0. */
static uint32_t batch_emit(pw_handle *h, struct pw_rec_header *rh, const void *body, uint32_t body_len,
			   const pw_exec_info *x)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		uint32_t off;
		if (h->cur < 0)
			return 0; /* stopping: no slot to write into */
		rh->seq = h->seq + 1;
		off = x ? batch_put_exec(&h->batch, rh, x) : batch_put(&h->batch, rh, body, body_len);
		if (off) {
			h->seq++;
			if (h->batch.count == 1)
				h->batch_start_ns = now_ns();
			count(h, C_EVENTS);
			return off;
		}
		batch_flush(h);
	}
	return 0;
}

/* ---- verify_*: does an exec record describe the image its event announced? -------------
 * The kernel installs a new image (begin_new_exec(): mm, hence cmdline, the exe link, comm,
 * credentials) BEFORE it stamps and sends PROC_EVENT_EXEC at the end of exec_binprm(), after
 * a tracer's PTRACE_EVENT_EXEC stop; commit_creds() and set_task_comm() likewise change the
 * process before proc_id_connector() / proc_comm_connector() stamp their events. So what the
 * reader reads from /proc/PID after exec #1's event is never the image from before exec #1
 * (the forkstat failure), but it can already be a LATER one: a second exec, a rename or an id
 * change that happened, or is under way, while its event is not stamped or not read yet.
 * Rules, each leaving a field unknown (flag cleared, PW_EXEC_RACED set), never risking a
 * wrong value:
 *
 *  1. At read time (procread_exec): a process that /proc/PID/syscall shows blocked or
 *     stopped inside execve/execveat, or whose stat shows a new address space without a
 *     stack yet, is mid-exec: its image and ids may be that exec's, whose event is still to
 *     come. (A running task past that point cannot be asked: rules 2-4 cover it. A task
 *     stopped at the syscall exit of the very exec we report, under strace -f, looks the
 *     same: unknown too, the price of never being wrong.)
 *  2. A later event of the same pid stamped before the reads ended: the fields it changes
 *     may hold its values.
 *  3. A later EXEC of the same pid, however late it is stamped: exec #1's image and ids are
 *     kept only if its reads provably saw another image than exec #2's reads: another
 *     address space (pw_stat.mm), or, where either has no mm (zombie, gone), another comm.
 *     Exec #2's reads may themselves have seen exec #3's image, and exec #1's proof leaned on
 *     them: so when this rule drops exec #2's image, it drops the image of every earlier exec
 *     record of that pid still in the batch too. (If exec #1 saw a later image, so did every
 *     exec after it, up to the last one, whose reads see its own image: the rule then fires
 *     at the last pair and reaches back.)
 *  4. A later COMM / UID / GID event, however late it is stamped: when the record's comm /
 *     (real, effective) ids equal the new ones, they may be the new ones: dropped.
 *
 * Rules 2-4 can patch a record only while it is in the batch being filled (a batch leaves
 * after PW_QUIET_MS without data or PW_MAX_AGE_NS); when one fires after its record left,
 * verifyLate counts it. We do not compare comm with basename(exe): comm comes from the path
 * given to execve (symlinks, scripts run through an interpreter), so that rule would throw
 * away right names and still not catch a second exec of the same program. */
#define PW_EXEC_IMAGE (PW_EXEC_COMM | PW_EXEC_ARGV | PW_EXEC_ARGV_TRUNCATED | PW_EXEC_EXE | PW_EXEC_CWD | \
		       PW_EXEC_UIDS | PW_EXEC_GIDS)
#define PW_VERIFY_STALE_NS 1000000000ull /* a delivered record this old is another story (pid reuse) */

static pw_pending *verify_slot(pw_handle *h, int32_t pid) { return &h->pending[(uint32_t)pid & (PW_PENDING - 1)]; }

/* Remembers an exec record just written at off, with what rules 3 and 4 compare. */
static void verify_note(pw_handle *h, int32_t pid, uint32_t off, const pw_exec_info *x)
{
	pw_pending *p = verify_slot(h, pid);
	if (p->valid && p->gen == h->gen && p->pid != pid)
		count(h, C_VERIFY_EVICTED);
	p->pid = pid;
	p->gen = h->gen;
	p->off = off;
	p->read_ns = x->read_ns;
	p->flags = x->flags;
	p->mm_known = x->mm_known;
	memcpy(p->mm, x->mm, sizeof p->mm);
	p->comm_len = x->comm_len;
	memcpy(p->comm, x->comm, x->comm_len < sizeof p->comm ? x->comm_len : sizeof p->comm);
	memcpy(p->uid, x->uid, sizeof p->uid);
	memcpy(p->gid, x->gid, sizeof p->gid);
	p->valid = 1;
}

/* A new process now owns pid: an exec record of the previous one is no longer comparable. */
static void verify_forget(pw_handle *h, int32_t pid)
{
	pw_pending *p = verify_slot(h, pid);
	if (p->valid && p->pid == pid)
		p->valid = 0;
}

static int verify_in_batch(pw_handle *h, const pw_pending *p) { return p->gen == h->gen && h->cur >= 0; }

/* The remembered exec record of pid, if a later event of it can still say something. */
static pw_pending *verify_find(pw_handle *h, int32_t pid, uint64_t ts)
{
	pw_pending *p = verify_slot(h, pid);
	if (!p->valid || p->pid != pid)
		return NULL;
	if (!verify_in_batch(h, p) && ts > p->read_ns + PW_VERIFY_STALE_NS) {
		p->valid = 0;
		return NULL;
	}
	return p;
}

static void verify_wipe_str(uint8_t *rec, struct pw_str *s)
{
	if (s->len)
		memset(rec + s->off, 0, s->len);
	s->off = 0;
	s->len = 0;
}

/* Drops the `clear` fields of the exec record at off in the batch being filled. */
static void verify_wipe(pw_handle *h, uint32_t off, uint32_t clear)
{
	uint8_t *rec = h->batch.buf + off;
	struct pw_rec_exec e;
	memcpy(&e, rec + PW_REC_HEADER_SIZE, sizeof e);
	if ((e.flags & clear) == 0)
		return;
	if (clear & PW_EXEC_COMM) verify_wipe_str(rec, &e.comm);
	if (clear & PW_EXEC_ARGV) verify_wipe_str(rec, &e.cmdline);
	if (clear & PW_EXEC_EXE) verify_wipe_str(rec, &e.exe);
	if (clear & PW_EXEC_CWD) verify_wipe_str(rec, &e.cwd);
	if (clear & PW_EXEC_UIDS) memset(e.uid, 0, sizeof e.uid);
	if (clear & PW_EXEC_GIDS) memset(e.gid, 0, sizeof e.gid);
	if (!(e.flags & PW_EXEC_RACED))
		count(h, C_EXEC_RACED);
	e.flags = (e.flags & ~clear) | PW_EXEC_RACED;
	memcpy(rec + PW_REC_HEADER_SIZE, &e, sizeof e);
}

/* Drops `doubt` from pid's remembered record: patched while in the batch, else counted late. */
static void verify_apply(pw_handle *h, pw_pending *p, uint32_t doubt)
{
	doubt &= p->flags;
	if (!doubt)
		return;
	p->flags &= ~doubt;
	if (verify_in_batch(h, p))
		verify_wipe(h, p->off, doubt);
	else
		count(h, C_VERIFY_LATE);
}

/* Rule 3's reach back: every exec record of pid before `off` in the batch being filled. */
static void verify_wipe_earlier(pw_handle *h, int32_t pid, uint32_t off)
{
	uint32_t pos = PW_BATCH_HEADER_SIZE;
	while (pos < off) {
		struct pw_rec_header rh;
		memcpy(&rh, h->batch.buf + pos, sizeof rh);
		if (rh.kind == PW_KIND_EXEC && rh.pid == pid)
			verify_wipe(h, pos, PW_EXEC_IMAGE);
		if (rh.size == 0)
			break; /* cannot happen (batch_put writes every size); never loop on it */
		pos += rh.size;
	}
}

/* Rule 3: whether the reads of the remembered exec provably saw another image than x's. */
static int verify_other_image(const pw_pending *p, const pw_exec_info *x)
{
	uint32_t n = p->comm_len < sizeof p->comm ? p->comm_len : (uint32_t)sizeof p->comm;
	if (p->mm_known && x->mm_known)
		return memcmp(p->mm, x->mm, sizeof p->mm) != 0;
	if (!(p->flags & PW_EXEC_COMM) || !(x->flags & PW_EXEC_COMM))
		return 0; /* nothing left to compare: not provable */
	return p->comm_len != x->comm_len || memcmp(p->comm, x->comm, n) != 0;
}

/* A later exec of pid at ts, whose reads are x (rules 2 and 3). */
static void verify_exec(pw_handle *h, int32_t pid, uint64_t ts, const pw_exec_info *x)
{
	pw_pending *p = verify_find(h, pid, ts);
	if (!p || (ts >= p->read_ns && verify_other_image(p, x)))
		return;
	verify_apply(h, p, PW_EXEC_IMAGE);
	if (verify_in_batch(h, p))
		verify_wipe_earlier(h, pid, p->off);
}

/* A rename of pid at ts to comm (rules 2 and 4). */
static void verify_comm(pw_handle *h, int32_t pid, uint64_t ts, const uint8_t comm[PW_COMM_EVENT_LEN])
{
	pw_pending *p = verify_find(h, pid, ts);
	uint32_t n = (uint32_t)strnlen((const char *)comm, PW_COMM_EVENT_LEN);
	if (p && (ts < p->read_ns || (p->comm_len == n && memcmp(p->comm, comm, n) == 0)))
		verify_apply(h, p, PW_EXEC_COMM);
}

/* A uid or gid change of pid at ts to (real, effective) (rules 2 and 4). */
static void verify_ids(pw_handle *h, uint32_t what, int32_t pid, uint64_t ts, uint32_t real, uint32_t effective)
{
	pw_pending *p = verify_find(h, pid, ts);
	const uint32_t *ids;
	if (!p)
		return;
	ids = what == CN_WHAT_UID ? p->uid : p->gid;
	if (ts < p->read_ns || (ids[0] == real && ids[1] == effective))
		verify_apply(h, p, what == CN_WHAT_UID ? PW_EXEC_UIDS : PW_EXEC_GIDS);
}

/* ---- procread_*: enrich an exec from /proc, on the reader thread ------------------------ */

/* Reads up to cap bytes of dfd/name. Returns 0 or an errno. */
static int procread_file(int dfd, const char *name, char *buf, size_t cap, size_t *len)
{
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
	size_t got = 0;
	if (fd < 0)
		return errno;
	while (got < cap) {
		ssize_t n = read(fd, buf + got, cap - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int err = errno;
			close(fd);
			return err;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	*len = got;
	return 0;
}

/* stat: "pid (comm) S ppid ... starttime(22) ...". The comm may hold spaces and ")", so it
 * ends at the LAST ')'. */
static int procread_stat_at(pw_handle *h, int dfd, const char *name, pw_stat *st)
{
	size_t n = 0;
	int err = procread_file(dfd, name, h->scratch, PW_STAT_BYTES - 1, &n);
	char *open_paren, *close_paren, *p;
	if (err)
		return err;
	h->scratch[n] = '\0';
	open_paren = memchr(h->scratch, '(', n);
	close_paren = memrchr(h->scratch, ')', n);
	if (!open_paren || !close_paren || close_paren < open_paren)
		return EINVAL;
	st->comm_len = (uint32_t)(close_paren - open_paren - 1);
	if (st->comm_len > PW_COMM_MAX)
		st->comm_len = PW_COMM_MAX;
	memcpy(st->comm, open_paren + 1, st->comm_len);
	p = close_paren + 1;
	if (p[0] != ' ' || p[1] == '\0')
		return EINVAL;
	st->state = p[1];
	p += 2;
	memset(st->mm, 0, sizeof st->mm);
	st->flags = 0;
	for (int field = 4; field <= 49; field++) {
		char *end;
		unsigned long long v = strtoull(p, &end, 10);
		if (end == p) {
			if (field <= 22)
				return EINVAL;
			break; /* an older kernel: the fingerprint fields not reached stay 0 */
		}
		if (field == 4)
			st->ppid = (int32_t)(long long)v;
		else if (field == 9)
			st->flags = (uint32_t)v;
		else if (field == 22)
			st->start = (uint64_t)v;
		else if (field == 28)
			st->mm[0] = (uint64_t)v;
		else if (field == 48 || field == 49)
			st->mm[field - 47] = (uint64_t)v;
		p = end;
	}
	return 0;
}

static int procread_stat(pw_handle *h, int dfd, pw_stat *st)
{
	return procread_stat_at(h, dfd, "stat", st);
}

/* Whether stat shows a process between installing a new address space and finishing it: a
 * live, not exiting user process has a stack; during exec, from exec_mmap() until
 * create_elf_tables(), its new mm has none yet (start_stack 0). Its exe link, and soon its
 * comm, already are the new image's (rule 1 of verify_*). */
static int procread_mid_exec(const pw_stat *st)
{
	return st->state != 'Z' && st->state != 'X' && !(st->flags & (PW_PF_EXITING | PW_PF_KTHREAD)) && st->mm[0] == 0;
}

/* Whether the task is inside execve/execveat now: blocked or ptrace-stopped there (rule 1 of
 * verify_*). "running" (a task on a CPU cannot be asked) and errors say no. */
static int procread_in_exec(pw_handle *h, int dfd)
{
	size_t n = 0;
	char *end;
	long nr;
	if (procread_file(dfd, "syscall", h->scratch, 64, &n) != 0 || n == 0)
		return 0;
	h->scratch[n] = '\0';
	nr = strtol(h->scratch, &end, 10);
	if (end == h->scratch)
		return 0;
#ifdef SYS_execveat
	if (nr == SYS_execveat)
		return 1;
#endif
	return nr == SYS_execve;
}

/* Whether the process /proc shows started after the event at ts: then it is another instance
 * that reuses the pid (the event's process is gone). Start times are clock ticks on
 * CLOCK_BOOTTIME, event times ns on CLOCK_MONOTONIC; one tick of tolerance for the rounding. */
static int procread_started_after(pw_handle *h, uint64_t start_ticks, uint64_t ts)
{
	struct timespec boot, mono;
	uint64_t suspended;
	clock_gettime(CLOCK_BOOTTIME, &boot);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	suspended = ((uint64_t)boot.tv_sec - (uint64_t)mono.tv_sec) * 1000000000ull + (uint64_t)boot.tv_nsec -
		    (uint64_t)mono.tv_nsec;
	return start_ticks * h->tick_ns > ts + suspended + h->tick_ns;
}

/* A new process's start time, read at once: the table keys it (pid, start) without reading
 * /proc later, when a short-lived child is long gone. PW_TICKS_UNKNOWN when it is already
 * gone, or when /proc shows a later process with this pid. */
static uint64_t procread_fork_start(pw_handle *h, int32_t pid, uint64_t ts)
{
	char path[40];
	pw_stat st;
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if (procread_stat_at(h, AT_FDCWD, path, &st) != 0 || procread_started_after(h, st.start, ts))
		return PW_TICKS_UNKNOWN;
	return st.start;
}

static int procread_idline(const char *text, const char *key, uint32_t out[4])
{
	const char *p = strstr(text, key);
	if (!p)
		return ENOENT;
	p += strlen(key);
	for (int i = 0; i < 4; i++) {
		char *end;
		unsigned long v = strtoul(p, &end, 10);
		if (end == p)
			return EINVAL;
		out[i] = (uint32_t)v;
		p = end;
	}
	return 0;
}

static int procread_status(pw_handle *h, int dfd, uint32_t uid[4], uint32_t gid[4], uint32_t *got)
{
	size_t n = 0;
	int err = procread_file(dfd, "status", h->scratch, PW_STATUS_BYTES - 1, &n);
	if (err)
		return err;
	h->scratch[n] = '\0';
	if (procread_idline(h->scratch, "\nUid:", uid) == 0)
		*got |= PW_EXEC_UIDS;
	if (procread_idline(h->scratch, "\nGid:", gid) == 0)
		*got |= PW_EXEC_GIDS;
	return 0;
}

static int procread_link(int dfd, const char *name, char *buf, uint32_t *len)
{
	ssize_t n = readlinkat(dfd, name, buf, PW_PATH_MAX);
	if (n < 0)
		return errno;
	if ((size_t)n >= PW_PATH_MAX)
		return ENAMETOOLONG; /* may be cut: unknown rather than a wrong path */
	*len = (uint32_t)n;
	return 0;
}

static void procread_keep_err(pw_exec_info *x, int err)
{
	if (err && !x->err)
		x->err = err;
}

/* Fills x for the process `pid` whose exec event is stamped ts. Reads stat first and last
 * through one directory fd of /proc/PID (which pins the instance: if the pid dies and is
 * reused, openat through the old fd fails); keeps nothing when that instance started after
 * the event (the pid was reused before we got here), and keeps what was read only if both
 * stats agree on the start time (same instance), on comm and on the address space (no
 * rename or exec in between). A zombie has no cmdline, exe or cwd any more, but still has
 * comm, stat and status. */
static void procread_exec(pw_handle *h, int32_t pid, uint64_t ts, pw_exec_info *x)
{
	char path[32];
	pw_stat before, after;
	uint32_t got = 0;
	int dfd, err;

	x->flags = 0;
	x->err = 0;
	x->ppid = 0;
	x->state = 0;
	x->start_ticks = 0;
	x->comm_len = x->cmdline_len = x->exe_len = x->cwd_len = 0;
	x->mm_known = 0;
	memset(x->mm, 0, sizeof x->mm);
	memset(x->uid, 0, sizeof x->uid);
	memset(x->gid, 0, sizeof x->gid);

	snprintf(path, sizeof path, "/proc/%d", (int)pid);
	dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		x->err = errno;
		x->flags = PW_EXEC_GONE;
		goto done;
	}
	err = procread_stat(h, dfd, &before);
	if (err) {
		x->err = err;
		x->flags = PW_EXEC_GONE;
		goto done;
	}
	if (procread_started_after(h, before.start, ts)) {
		x->err = ESRCH;
		x->flags = PW_EXEC_GONE;
		count(h, C_EXEC_REUSED);
		goto done;
	}
	if (before.state != 'Z' && before.state != 'X') {
		size_t n = 0;
		err = procread_file(dfd, "cmdline", x->cmdline, PW_CMDLINE_MAX + 1, &n);
		procread_keep_err(x, err);
		if (!err && n > 0) { /* empty: the mm is gone (exiting), not an empty argv */
			got |= PW_EXEC_ARGV;
			if (n > PW_CMDLINE_MAX) {
				got |= PW_EXEC_ARGV_TRUNCATED;
				n = PW_CMDLINE_MAX;
			}
			x->cmdline_len = (uint32_t)n;
		}
		err = procread_link(dfd, "exe", x->exe, &x->exe_len);
		procread_keep_err(x, err);
		got |= err ? 0 : PW_EXEC_EXE;
		err = procread_link(dfd, "cwd", x->cwd, &x->cwd_len);
		procread_keep_err(x, err);
		got |= err ? 0 : PW_EXEC_CWD;
	}
	procread_keep_err(x, procread_status(h, dfd, x->uid, x->gid, &got));
	err = procread_stat(h, dfd, &after);
	x->read_ns = now_ns();

	x->ppid = before.ppid;
	x->start_ticks = before.start;
	x->state = (uint8_t)before.state;
	memcpy(x->comm, before.comm, before.comm_len);
	x->comm_len = before.comm_len;
	memcpy(x->mm, before.mm, sizeof x->mm);
	x->mm_known = (before.mm[0] | before.mm[1] | before.mm[2]) != 0;
	if (err || after.start != before.start) {
		/* Reaped or replaced mid-read: only the first stat is certain. */
		procread_keep_err(x, err ? err : ESRCH);
		x->flags = PW_EXEC_CHANGED | PW_EXEC_STAT | PW_EXEC_COMM;
		count(h, C_EXEC_CHANGED);
	} else if (after.comm_len != before.comm_len || memcmp(after.comm, before.comm, before.comm_len) != 0 ||
		   ((after.mm[0] | after.mm[1] | after.mm[2]) != 0 && memcmp(after.mm, before.mm, sizeof after.mm) != 0)) {
		/* Renamed or exec'd again while we read: same instance, but which image? (An mm
		 * that went away is an exit, which changes nothing we read before it.) */
		x->flags = PW_EXEC_CHANGED | PW_EXEC_STAT;
		x->comm_len = 0;
		count(h, C_EXEC_CHANGED);
	} else {
		x->flags = PW_EXEC_STAT | PW_EXEC_COMM | got;
	}
	if (before.state == 'Z' || before.state == 'X') {
		x->flags |= PW_EXEC_ZOMBIE;
		count(h, C_EXEC_ZOMBIE);
	} else if ((x->flags & PW_EXEC_IMAGE) &&
		   (procread_mid_exec(&before) || (!err && procread_mid_exec(&after)) ||
		    ((err ? before.state : after.state) != 'R' && procread_in_exec(h, dfd)))) {
		/* Rule 1 of verify_*: inside another exec (building its address space, or stopped or
		 * blocked in execve), whose image may be what we just read. */
		x->flags = (x->flags & ~PW_EXEC_IMAGE) | PW_EXEC_RACED;
		x->comm_len = x->cmdline_len = x->exe_len = x->cwd_len = 0;
		memset(x->uid, 0, sizeof x->uid);
		memset(x->gid, 0, sizeof x->gid);
		count(h, C_EXEC_RACED);
	}
done:
	if (dfd >= 0)
		close(dfd);
	if (x->flags & PW_EXEC_GONE) {
		x->read_ns = now_ns();
		count(h, C_EXEC_GONE);
	}
	{
		uint32_t want = PW_EXEC_STAT | PW_EXEC_COMM | PW_EXEC_UIDS | PW_EXEC_GIDS;
		if (!(x->flags & PW_EXEC_ZOMBIE))
			want |= PW_EXEC_ARGV | PW_EXEC_EXE | PW_EXEC_CWD;
		if ((x->flags & want) != want)
			count(h, C_PROCREAD_FAILURES);
	}
}

/* ---- acct_*: a process's totals at its exit, from what /proc still shows ------------------ */

/* The numbers of /proc/PID/stat this reader keeps for accounting: fields 3 (state), 10 and 12
 * (minor and major faults), 14 and 15 (user and system time, ticks), 20 (threads), 22 (start).
 * For a thread-group leader they are the whole group's (do_task_stat with whole = 1). */
typedef struct {
	char state;
	uint64_t min_flt, maj_flt, utime, stime, threads, start;
} pw_acct_stat;

static int acct_stat(pw_handle *h, int dfd, pw_acct_stat *st)
{
	size_t n = 0;
	int err = procread_file(dfd, "stat", h->scratch, PW_STAT_BYTES - 1, &n);
	char *p;
	if (err)
		return err;
	h->scratch[n] = '\0';
	p = memrchr(h->scratch, ')', n); /* the comm may hold ")": it ends at the last one */
	if (!p || p[1] != ' ' || p[2] == '\0')
		return EINVAL;
	st->state = p[2];
	p += 3;
	for (int field = 4; field <= 22; field++) {
		char *end;
		unsigned long long v = strtoull(p, &end, 10);
		if (end == p)
			return EINVAL;
		switch (field) {
		case 10: st->min_flt = v; break;
		case 12: st->maj_flt = v; break;
		case 14: st->utime = v; break;
		case 15: st->stime = v; break;
		case 20: st->threads = v; break;
		case 22: st->start = v; break;
		}
		p = end;
	}
	return 0;
}

/* /proc/PID/io: "rchar: N\nwchar: N\n...read_bytes: N\nwrite_bytes: N\n...". */
static int acct_io(pw_handle *h, int dfd, struct pw_rec_acct *a)
{
	static const char *const keys[4] = { "rchar: ", "wchar: ", "read_bytes: ", "write_bytes: " };
	uint64_t *dst[4] = { &a->rchar, &a->wchar, &a->read_bytes, &a->write_bytes };
	size_t n = 0;
	if (procread_file(dfd, "io", h->scratch, PW_STATUS_BYTES - 1, &n) != 0)
		return -1;
	h->scratch[n] = '\0';
	for (int i = 0; i < 4; i++) {
		const char *at = strstr(h->scratch, keys[i]);
		char *end;
		if (!at)
			return -1;
		*dst[i] = strtoull(at + strlen(keys[i]), &end, 10);
		if (end == at + strlen(keys[i]))
			return -1;
	}
	return 0;
}

static void acct_group_forget(pw_handle *h, int32_t pid)
{
	if (h->groups[(uint32_t)pid & (PW_GROUPS - 1)].pid == pid)
		h->groups[(uint32_t)pid & (PW_GROUPS - 1)].pid = 0;
}

/* After the exit of thread tid of process pid (event time ts): when that ended the process
 * and its leader is still a zombie of the same instance, an ACCT record with what stat and
 * io show: the CPU at clock-tick resolution, faults and I/O. Peak RSS and context switches
 * are gone with the address space and the threads: left unknown. A process already reaped
 * (its parent waited at once) gets no ACCT. A leader that left before its other threads is
 * remembered, and the process is read again at the exit of a later thread. */
static void acct_exit(pw_handle *h, int32_t pid, int32_t tid, uint64_t ts)
{
	char path[32];
	pw_acct_stat st;
	struct pw_rec_acct a;
	struct pw_rec_header rh;
	uint32_t slot = (uint32_t)pid & (PW_GROUPS - 1);
	int dfd;

	if (pid <= 0 || (tid != pid && h->groups[slot].pid != pid))
		return;
	snprintf(path, sizeof path, "/proc/%d", (int)pid);
	/* A /proc/PID directory fd stays with this process: once it is reaped, reads through it
	 * fail (ESRCH), never show a later process that took the pid. */
	dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		acct_group_forget(h, pid);
		return;
	}
	if (acct_stat(h, dfd, &st) != 0 || procread_started_after(h, st.start, ts) ||
	    (tid != pid && h->groups[slot].start != st.start)) {
		acct_group_forget(h, pid);
		close(dfd);
		return;
	}
	if (st.state != 'Z' || st.threads > 1) {
		/* The leader left, other threads run on: the process ends with the last of them. */
		if (tid == pid && st.state == 'Z') {
			h->groups[slot].pid = pid;
			h->groups[slot].start = st.start;
		}
		close(dfd);
		return;
	}
	acct_group_forget(h, pid);
	memset(&a, 0, sizeof a);
	a.flags = PW_ACCT_CPU | PW_ACCT_CPU_TICKS | PW_ACCT_FAULTS;
	a.start_ticks = st.start;
	a.user_ns = st.utime * h->tick_ns;
	a.system_ns = st.stime * h->tick_ns;
	a.cpu_ns = a.user_ns + a.system_ns;
	a.min_flt = st.min_flt;
	a.maj_flt = st.maj_flt;
	if (acct_io(h, dfd, &a) == 0)
		a.flags |= PW_ACCT_IO;
	close(dfd);
	memset(&rh, 0, sizeof rh);
	rh.kind = PW_KIND_ACCT;
	rh.timestamp_ns = ts; /* sorts right after its exit (same time, later seq) */
	rh.cpu = PW_CPU_UNKNOWN;
	rh.pid = rh.tid = pid;
	if (batch_emit(h, &rh, &a, sizeof a, NULL))
		count(h, C_ACCT);
}

/* ---- netlink_*: the socket and the kernel's frames ------------------------------------ */

/* Steps to the next whole netlink message of a datagram: 1 with its header and payload, 0 at
 * the end, -1 when the rest is not a whole message (shorter than a header, a length below
 * the header or past the data). The last message may lack its alignment padding. Nothing
 * past `len` is ever read, and `len` never wraps (NLMSG_NEXT on a size_t does, when an
 * unaligned length is followed by less than its padding). */
static int netlink_next(const uint8_t **p, size_t *len, struct nlmsghdr *nh, const uint8_t **payload, size_t *plen)
{
	size_t step;
	if (*len == 0)
		return 0;
	if (*len < NLMSG_HDRLEN)
		return -1;
	memcpy(nh, *p, sizeof *nh);
	if (nh->nlmsg_len < NLMSG_HDRLEN || nh->nlmsg_len > *len)
		return -1;
	*payload = *p + NLMSG_HDRLEN;
	*plen = nh->nlmsg_len - NLMSG_HDRLEN;
	step = NLMSG_ALIGN(nh->nlmsg_len);
	if (step > *len)
		step = *len;
	*p += step;
	*len -= step;
	return 1;
}

/* Sends PROC_CN_MCAST_LISTEN or _IGNORE. The kernel's ack carries our ack + 1 (not always
 * our seq: 6.18 answers seq 1), which is how we recognise our own among other listeners'. */
static int netlink_send_op(int fd, uint32_t op, uint32_t seq)
{
	struct {
		struct nlmsghdr nl;
		struct cn_msg cn;
		uint32_t op;
	} __attribute__((packed)) req;
	struct sockaddr_nl to = { .nl_family = AF_NETLINK }; /* nl_pid 0: the kernel */

	memset(&req, 0, sizeof req);
	req.nl.nlmsg_len = sizeof req;
	req.nl.nlmsg_type = NLMSG_DONE;
	req.cn.id.idx = CN_IDX_PROC;
	req.cn.id.val = CN_VAL_PROC;
	req.cn.seq = seq;
	req.cn.ack = seq; /* the kernel answers with ack + 1 */
	req.cn.len = sizeof req.op;
	req.op = op;
	if (sendto(fd, &req, sizeof req, 0, (struct sockaddr *)&to, sizeof to) < 0)
		return errno;
	return 0;
}

/* Waits for the kernel's answer to our LISTEN (a PROC_EVENT_NONE carrying an errno) so that
 * open() fails loudly instead of listening to silence. Events seen before the ack belong to
 * no subscription yet and are dropped. Returns 0, the kernel's errno, or ETIMEDOUT. */
static int netlink_wait_ack(int fd, uint32_t seq)
{
	uint8_t buf[PW_RECV_BYTES];
	uint64_t deadline = now_ns() + (uint64_t)PW_ACK_TIMEOUT_MS * 1000000ull;
	for (;;) {
		uint64_t now = now_ns();
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		if (now >= deadline)
			return ETIMEDOUT;
		int r = poll(&pfd, 1, (int)((deadline - now) / 1000000ull) + 1);
		if (r < 0 && errno != EINTR)
			return errno;
		if (r <= 0)
			continue;
		struct sockaddr_nl from;
		socklen_t fromlen = sizeof from;
		ssize_t n = recvfrom(fd, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&from, &fromlen);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == ENOBUFS)
				continue;
			return errno;
		}
		if (fromlen < sizeof from || from.nl_pid != 0)
			continue;
		size_t len = (size_t)n, plen;
		const uint8_t *p = buf, *pl;
		struct nlmsghdr nh;
		while (netlink_next(&p, &len, &nh, &pl, &plen) > 0) {
			struct cn_msg cn;
			if (plen < sizeof cn + CN_EV_DATA + 4)
				continue;
			memcpy(&cn, pl, sizeof cn);
			if (cn.id.idx != CN_IDX_PROC || cn.id.val != CN_VAL_PROC || cn.ack != seq + 1)
				continue;
			if (cn.len < CN_EV_DATA + 4 || rd_u32(pl + sizeof cn + CN_EV_WHAT) != CN_WHAT_NONE)
				continue;
			return (int)rd_u32(pl + sizeof cn + CN_EV_DATA); /* ack.err */
		}
	}
}

/* The socket's drop counter: every event the kernel could not queue for us (netlink_overrun
 * counts each one), so a loss has an exact size. Returns 0 or an errno (kernels before 4.12). */
static int netlink_drops(int fd, uint32_t *drops)
{
	uint32_t mem[SK_MEMINFO_VARS];
	socklen_t len = sizeof mem;
	memset(mem, 0, sizeof mem);
	if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mem, &len) < 0)
		return errno;
	if (len < (SK_MEMINFO_DROPS + 1) * sizeof mem[0])
		return EINVAL;
	*drops = mem[SK_MEMINFO_DROPS];
	return 0;
}

/* Opens, sizes, binds and subscribes the socket. On failure *what names the step. */
static int netlink_open(pw_handle *h, uint32_t rcvbuf, const char **what)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = CN_IDX_PROC };
	int size = (int)(rcvbuf > 0x7fffffffu ? 0x7fffffffu : rcvbuf), err;
	socklen_t len = sizeof size;
	uint32_t seq;

	*what = "socket(NETLINK_CONNECTOR)";
	h->nl_fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_CONNECTOR);
	if (h->nl_fd < 0)
		return errno;
	/* As root, SO_RCVBUFFORCE ignores net.core.rmem_max; otherwise take what rmem_max allows. */
	if (setsockopt(h->nl_fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0)
		setsockopt(h->nl_fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
	if (getsockopt(h->nl_fd, SOL_SOCKET, SO_RCVBUF, &size, &len) == 0)
		h->rcvbuf_bytes = (uint32_t)size;
	*what = "bind(CN_IDX_PROC)"; /* nl_pid 0: the kernel picks a unique port id */
	if (bind(h->nl_fd, (struct sockaddr *)&sa, sizeof sa) < 0)
		return errno;
	*what = "eventfd";
	h->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (h->wake_fd < 0)
		return errno;
	seq = (uint32_t)getpid() ^ (uint32_t)now_ns();
	*what = "send(PROC_CN_MCAST_LISTEN)";
	err = netlink_send_op(h->nl_fd, CN_MCAST_LISTEN, seq);
	if (err)
		return err;
	*what = "no answer to PROC_CN_MCAST_LISTEN (the kernel serves the proc connector only to the initial user and "
		"pid namespace, and before 6.6 only with CAP_NET_ADMIN)";
	err = netlink_wait_ack(h->nl_fd, seq);
	if (err)
		return err;
	h->subscribed = 1;
	h->drops_known = netlink_drops(h->nl_fd, &h->drops_seen) == 0;
	return 0;
}

/* One proc_event of len bytes. */
static void netlink_event(pw_handle *h, const uint8_t *ev, uint32_t len)
{
	struct pw_rec_header rh;
	const uint8_t *d = ev + CN_EV_DATA;
	uint32_t what, dlen;

	if (len < CN_EV_DATA + 4) {
		count(h, C_MALFORMED);
		return;
	}
	memset(&rh, 0, sizeof rh);
	what = rd_u32(ev + CN_EV_WHAT);
	rh.what = what;
	rh.cpu = rd_u32(ev + CN_EV_CPU);
	rh.timestamp_ns = rd_u64(ev + CN_EV_TS);
	dlen = len - CN_EV_DATA;

	/* Minimum body per kind; a shorter one is malformed. */
	uint32_t need;
	switch (what) {
	case CN_WHAT_NONE: count(h, C_IGNORED); return; /* an ack, ours or another listener's */
	case CN_WHAT_EXEC: case CN_WHAT_SID: case CN_WHAT_COREDUMP: need = 8; break;
	case CN_WHAT_EXIT: case CN_WHAT_FORK: case CN_WHAT_UID: case CN_WHAT_GID: case CN_WHAT_PTRACE: need = 16; break;
	case CN_WHAT_COMM: need = 8 + PW_COMM_EVENT_LEN; break;
	default: count(h, C_IGNORED); return; /* a kind newer than this reader */
	}
	if (dlen < need) {
		count(h, C_MALFORMED);
		return;
	}
	if (what == CN_WHAT_FORK) {
		/* parent_pid(tid), parent_tgid, child_pid(tid), child_tgid */
		struct pw_rec_fork f = { rd_i32(d + 4), rd_i32(d + 0), PW_TICKS_UNKNOWN, 0 };
		rh.kind = PW_KIND_FORK;
		rh.tid = rd_i32(d + 8);
		rh.pid = rd_i32(d + 12);
		if (rh.tid == rh.pid) {
			verify_forget(h, rh.pid); /* a new process has this pid now */
			f.child_start_ticks = procread_fork_start(h, rh.pid, rh.timestamp_ns);
		}
		batch_emit(h, &rh, &f, sizeof f, NULL);
		return;
	}
	/* Every other kind starts with process_pid(tid), process_tgid. */
	rh.tid = rd_i32(d + 0);
	rh.pid = rd_i32(d + 4);
	switch (what) {
	case CN_WHAT_EXEC: {
		uint32_t off;
		procread_exec(h, rh.pid, rh.timestamp_ns, &h->exec);
		verify_exec(h, rh.pid, rh.timestamp_ns, &h->exec); /* an earlier exec of this pid? */
		rh.kind = PW_KIND_EXEC;
		off = batch_emit(h, &rh, NULL, 0, &h->exec);
		if (off)
			verify_note(h, rh.pid, off, &h->exec);
		return;
	}
	case CN_WHAT_UID:
	case CN_WHAT_GID: {
		struct pw_rec_id id = { rd_u32(d + 8), rd_u32(d + 12) };
		verify_ids(h, what, rh.pid, rh.timestamp_ns, id.real, id.effective);
		rh.kind = what == CN_WHAT_UID ? PW_KIND_UID : PW_KIND_GID;
		batch_emit(h, &rh, &id, sizeof id, NULL);
		return;
	}
	case CN_WHAT_SID:
		rh.kind = PW_KIND_SID;
		batch_emit(h, &rh, NULL, 0, NULL);
		return;
	case CN_WHAT_PTRACE: {
		struct pw_rec_ptrace p = { rd_i32(d + 12), rd_i32(d + 8) };
		rh.kind = PW_KIND_PTRACE;
		batch_emit(h, &rh, &p, sizeof p, NULL);
		return;
	}
	case CN_WHAT_COMM: {
		struct pw_rec_comm c;
		memcpy(c.comm, d + 8, PW_COMM_EVENT_LEN);
		verify_comm(h, rh.pid, rh.timestamp_ns, c.comm);
		rh.kind = PW_KIND_COMM;
		batch_emit(h, &rh, &c, sizeof c, NULL);
		return;
	}
	case CN_WHAT_COREDUMP: {
		struct pw_rec_coredump c = { 0, 0, 0, 0 };
		if (dlen >= 16) {
			c.parent_tid = rd_i32(d + 8);
			c.parent_pid = rd_i32(d + 12);
			c.flags = c.parent_pid > 0 ? PW_PARENT_KNOWN : 0;
		}
		rh.kind = PW_KIND_COREDUMP;
		batch_emit(h, &rh, &c, sizeof c, NULL);
		return;
	}
	case CN_WHAT_EXIT: {
		/* comm stays unknown (PW_EXIT_COMM unset): cn_proc does not send it, and reading
		 * /proc here would race the reaping of the pid. */
		struct pw_rec_exit x = { .exit_code = rd_u32(d + 8), .exit_signal = rd_u32(d + 12) };
		if (dlen >= 24) { /* 6.x kernels append the parent */
			x.parent_tid = rd_i32(d + 16);
			x.parent_pid = rd_i32(d + 20);
			x.flags = x.parent_pid > 0 ? PW_PARENT_KNOWN : 0;
		}
		rh.kind = PW_KIND_EXIT;
		batch_emit(h, &rh, &x, sizeof x, NULL);
		acct_exit(h, rh.pid, rh.tid, rh.timestamp_ns);
		return;
	}
	}
}

/* One datagram: only from the kernel (nl_pid 0), complete, and for the proc connector. */
static void netlink_frame(pw_handle *h, const uint8_t *buf, size_t len, const struct sockaddr_nl *from,
			  socklen_t fromlen, int msg_flags)
{
	if (fromlen < sizeof *from || from->nl_pid != 0) {
		count(h, C_IGNORED); /* user space can send to our port id: never trust it */
		return;
	}
	if (msg_flags & MSG_TRUNC) {
		count(h, C_MALFORMED);
		return;
	}
	count(h, C_RECEIVED);
	struct nlmsghdr nh;
	const uint8_t *pl;
	size_t plen;
	int more;
	while ((more = netlink_next(&buf, &len, &nh, &pl, &plen)) > 0) {
		struct cn_msg cn;
		if (nh.nlmsg_type == NLMSG_NOOP || nh.nlmsg_type == NLMSG_ERROR || nh.nlmsg_type == NLMSG_OVERRUN) {
			count(h, C_IGNORED);
			continue;
		}
		if (plen < sizeof cn) {
			count(h, C_MALFORMED);
			continue;
		}
		memcpy(&cn, pl, sizeof cn);
		if (cn.id.idx != CN_IDX_PROC || cn.id.val != CN_VAL_PROC) {
			count(h, C_IGNORED);
			continue;
		}
		if (cn.len > plen - sizeof cn) {
			count(h, C_MALFORMED);
			continue;
		}
		netlink_event(h, pl + sizeof cn, cn.len);
	}
	if (more < 0)
		count(h, C_MALFORMED); /* the rest is not a whole message: skipped */
}

/* ---- reader_*: the thread ------------------------------------------------------------- */
static void reader_post_error(pw_handle *h, const char *fmt, ...)
{
	pw_msg *m = calloc(1, sizeof *m);
	char *text = malloc(256);
	va_list ap;
	if (!m || !text) {
		free(m);
		free(text);
		return;
	}
	va_start(ap, fmt);
	vsnprintf(text, 256, fmt, ap);
	va_end(ap);
	m->type = PW_MSG_ERROR;
	m->slot = -1;
	m->buf = (uint8_t *)text;
	m->len = (uint32_t)strlen(text);
	if (napi_call_threadsafe_function(h->tsfn, m, napi_tsfn_nonblocking) != napi_ok) {
		free(text);
		free(m);
	}
}

static int reader_emit_lost(pw_handle *h, uint32_t n, int err)
{
	struct pw_rec_header rh;
	struct pw_rec_lost l = { n, PW_LOST_ENOBUFS, err, 0 };
	memset(&rh, 0, sizeof rh);
	rh.kind = PW_KIND_LOST;
	rh.cpu = PW_CPU_UNKNOWN;
	rh.timestamp_ns = now_ns();
	return batch_emit(h, &rh, &l, sizeof l, NULL) != 0;
}

/* Reports events the kernel dropped since the last report, as one LOST record with their
 * exact number (the socket's drop counter). recv says ENOBUFS once per overflow, but drops
 * go on until the queue drains: so this also runs after every drain. Where the counter
 * cannot be read, an ENOBUFS is a LOST record of unknown size. */
static void reader_check_drops(pw_handle *h, int enobufs)
{
	uint32_t now = 0, n;
	if (enobufs)
		count(h, C_ENOBUFS);
	if (!h->drops_known || netlink_drops(h->nl_fd, &now) != 0) {
		if (enobufs)
			reader_emit_lost(h, PW_LOST_COUNT_UNKNOWN, ENOBUFS);
		return;
	}
	n = now - h->drops_seen; /* u32 arithmetic: the kernel's counter wraps the same way */
	if (n == PW_LOST_COUNT_UNKNOWN)
		n--; /* that value means "unknown" in a LOST record; the last one is reported next time */
	if (n == 0 || !reader_emit_lost(h, n, ENOBUFS))
		return; /* nothing new, or no batch to report it in (stopping): reported later, or never sent */
	h->drops_seen += n;
	__atomic_fetch_add(&h->counters[C_KERNEL_DROPS], n, __ATOMIC_RELAXED);
}

/* A recv error the reader survives: posted at most once per PW_ERROR_EVERY_NS, with how
 * many were held back, so a persistent one does not flood JavaScript at every wake-up. */
static void reader_recv_error(pw_handle *h, int err)
{
	uint64_t now = now_ns();
	count(h, C_RECV_ERRORS);
	if (h->last_error_ns && now - h->last_error_ns < PW_ERROR_EVERY_NS) {
		h->errors_held++;
		return;
	}
	if (h->errors_held)
		reader_post_error(h, "procconn: recv: %s (and %u more recv errors in the last second)", strerror(err),
				  h->errors_held);
	else
		reader_post_error(h, "procconn: recv: %s", strerror(err));
	h->errors_held = 0;
	h->last_error_ns = now;
}

/* Reads every queued frame (bounded). Returns -1 on an error the socket will not recover from. */
static int reader_drain(pw_handle *h)
{
	for (int i = 0; i < PW_DRAIN_MAX && !stop_requested(h); i++) {
		struct sockaddr_nl from;
		struct iovec iov = { h->recv_buf, sizeof h->recv_buf };
		struct msghdr mh = { .msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n;
		if (h->fail_at_ns && now_ns() >= h->fail_at_ns) { /* test hook: a socket gone bad */
			count(h, C_RECV_ERRORS);
			reader_post_error(h, "procconn: recv: %s (simulated by debugFailMs)", strerror(EBADF));
			return -1;
		}
		n = recvmsg(h->nl_fd, &mh, MSG_DONTWAIT);
		if (n < 0) {
			int err = errno;
			if (err == EINTR)
				continue;
			if (err == EAGAIN || err == EWOULDBLOCK) {
				reader_check_drops(h, 0);
				return 0;
			}
			if (err == ENOBUFS) { /* the kernel dropped events for us: say how many, go on */
				reader_check_drops(h, 1);
				continue;
			}
			if (err == EBADF || err == ENOTSOCK || err == EFAULT || err == EINVAL) {
				count(h, C_RECV_ERRORS);
				reader_post_error(h, "procconn: recv: %s", strerror(err));
				return -1;
			}
			reader_recv_error(h, err);
			return 0;
		}
		if (h->stall_ms && !h->stalled) { /* test hook: simulate a reader that falls behind */
			h->stalled = 1;
			usleep(h->stall_ms * 1000u);
		}
		netlink_frame(h, h->recv_buf, (size_t)n, &from, mh.msg_namelen, mh.msg_flags);
	}
	return 0;
}

static void *reader_main(void *arg)
{
	pw_handle *h = arg;
	struct pollfd pfd[2] = { { .fd = h->nl_fd, .events = POLLIN }, { .fd = h->wake_fd, .events = POLLIN } };

	if (batch_acquire(h) != 0)
		goto out;
	if (h->fail_ms)
		h->fail_at_ns = now_ns() + (uint64_t)h->fail_ms * 1000000ull;
	while (!stop_requested(h)) {
		int r = poll(pfd, 2, h->batch.count ? PW_QUIET_MS : h->fail_at_ns ? (int)h->fail_ms : -1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			reader_post_error(h, "procconn: poll: %s", strerror(errno));
			break;
		}
		if (pfd[1].revents)
			break; /* stop() */
		if (r == 0 && !h->fail_at_ns) {
			batch_flush(h); /* quiet: deliver what we have */
			continue;
		}
		if (reader_drain(h) != 0)
			break;
		if (r == 0)
			batch_flush(h);
		if (h->batch.count && now_ns() - h->batch_start_ns >= PW_MAX_AGE_NS)
			batch_flush(h);
	}
	if (h->cur >= 0)
		reader_check_drops(h, 0); /* drops up to the end are still ours to report */
	batch_post(h); /* the last batch; its slot is ours, so this never waits */
out:
	napi_release_threadsafe_function(h->tsfn, napi_tsfn_release);
	return NULL;
}

/* ---- handle_*: lifetime ------------------------------------------------------------------ */
static pw_handle *handle_new(void)
{
	pw_handle *h = calloc(1, sizeof *h);
	if (!h)
		return NULL;
	h->nl_fd = h->wake_fd = -1;
	h->cur = -1;
	h->refs = 1; /* the JS wrapper (or open()'s failure path) */
	long hz = sysconf(_SC_CLK_TCK);
	h->tick_ns = 1000000000ull / (uint64_t)(hz > 0 ? hz : 100);
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
	if (h->nl_fd >= 0)
		close(h->nl_fd);
	if (h->wake_fd >= 0)
		close(h->wake_fd);
	for (int i = 0; i < PW_SLOTS; i++)
		free(h->slot_buf[i]);
	pthread_mutex_destroy(&h->lock);
	pthread_cond_destroy(&h->cond);
	free(h);
}

static void handle_env_cleanup(void *arg);

/* Unsubscribe, wake and join the reader, close. Idempotent; JS thread only. */
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
	__atomic_store_n(&h->stop_flag, 1, __ATOMIC_RELEASE);
	if (h->wake_fd >= 0 && write(h->wake_fd, &one, sizeof one) < 0)
		(void)0; /* the reader also polls the stop flag between frames */
	pthread_mutex_lock(&h->lock);
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	if (h->thread_started) {
		pthread_join(h->thread, NULL);
		h->thread_started = 0;
	}
	if (h->nl_fd >= 0) {
		if (h->subscribed) /* an IGNORE without a LISTEN would unbalance the kernel's listener count */
			netlink_send_op(h->nl_fd, CN_MCAST_IGNORE, 0);
		h->subscribed = 0;
		close(h->nl_fd);
		h->nl_fd = -1;
	}
	if (h->wake_fd >= 0) {
		close(h->wake_fd);
		h->wake_fd = -1;
	}
}

/* The environment is going away (process exit, worker end) before stop(): the tsfn is
 * about to be deleted, so the reader must be joined first. Registered after the tsfn, so
 * it runs before the tsfn's own cleanup. */
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
	handle_stop(data); /* dropped without stop(): still release the kernel side */
	handle_unref(data);
}

/* ---- tsfn callbacks (JS thread) -------------------------------------------------------- */
static void msg_release(pw_handle *h, pw_msg *m)
{
	if (m->slot >= 0) {
		slot_release(h, m->slot);
	} else {
		free(m->buf);
		free(m);
	}
}

static void tsfn_call_js(napi_env env, napi_value js_cb, void *context, void *data)
{
	pw_handle *h = context;
	pw_msg *m = data;
	napi_value arg, fn, undef;
	napi_ref ref = m->type == PW_MSG_BATCH ? h->on_batch : h->on_error;
	(void)js_cb;
	if (env == NULL) { /* being torn down: just give the memory back */
		msg_release(h, m);
		return;
	}
	if (m->type == PW_MSG_BATCH) {
		/* One copy per batch lets the slot go back to the reader at once; the finalizer
		 * of a zero-copy external buffer would hold it until some later GC. */
		void *copy;
		napi_status st = napi_create_buffer_copy(env, m->len, m->buf, &copy, &arg);
		msg_release(h, m);
		if (st != napi_ok)
			return;
	} else {
		napi_status st = napi_create_string_utf8(env, (const char *)m->buf, m->len, &arg);
		msg_release(h, m);
		if (st != napi_ok)
			return;
	}
	if (ref && napi_get_reference_value(env, ref, &fn) == napi_ok && fn && napi_get_undefined(env, &undef) == napi_ok)
		napi_call_function(env, undef, fn, 1, &arg, NULL);
}

/* Runs on the JS thread after the reader released the tsfn and every queued batch ran. */
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

/* ---- js_*: the module's functions ------------------------------------------------------- */
#define NAPI_OK(call)                          \
	do {                                   \
		if ((call) != napi_ok)         \
			goto napi_failed;      \
	} while (0)

static napi_value js_throw(napi_env env, const char *code, const char *fmt, ...)
{
	char text[512];
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

static pw_handle *js_this_handle(napi_env env, napi_callback_info info)
{
	napi_value self;
	void *h = NULL;
	if (napi_get_cb_info(env, info, NULL, NULL, &self, NULL) != napi_ok ||
	    napi_unwrap(env, self, &h) != napi_ok || !h) {
		napi_throw_type_error(env, NULL, "not a procconn handle");
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

static napi_value js_counters_object(napi_env env, pw_handle *h)
{
	napi_value obj, v;
	if (napi_create_object(env, &obj) != napi_ok)
		return NULL;
	for (int i = 0; i < C_COUNT; i++) {
		uint64_t n = __atomic_load_n(&h->counters[i], __ATOMIC_RELAXED);
		if (napi_create_double(env, (double)n, &v) == napi_ok)
			napi_set_named_property(env, obj, pw_counter_names[i], v);
	}
	return obj;
}

static napi_value js_handle_counters(napi_env env, napi_callback_info info)
{
	pw_handle *h = js_this_handle(env, info);
	return h ? js_counters_object(env, h) : NULL;
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

/* open({ onBatch, onError, onClose?, rcvbufBytes?, readerPriority?, debugStallMs?, debugFailMs? }) -> handle */
static napi_value js_open(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value opts, fn_batch, fn_error, fn_close, ctor, obj, name, v;
	napi_ref *ctor_ref = NULL;
	pw_handle *h = NULL;
	const char *what = "";
	int err;
	double rcvbuf, stall, fail, prio;

	NAPI_OK(napi_get_cb_info(env, info, &argc, &opts, NULL, NULL));
	napi_valuetype t = napi_undefined;
	if (argc < 1 || napi_typeof(env, opts, &t) != napi_ok || t != napi_object)
		return napi_throw_type_error(env, NULL, "open(options): options must be an object"), NULL;
	if (!js_get_prop(env, opts, "onBatch", napi_function, &fn_batch) ||
	    !js_get_prop(env, opts, "onError", napi_function, &fn_error))
		return napi_throw_type_error(env, NULL, "open(options): onBatch and onError must be functions"), NULL;
	int have_close = js_get_prop(env, opts, "onClose", napi_function, &fn_close);
	rcvbuf = js_num(env, opts, "rcvbufBytes", PW_DEFAULT_RCVBUF);
	stall = js_num(env, opts, "debugStallMs", 0);
	fail = js_num(env, opts, "debugFailMs", 0);
	prio = js_num(env, opts, "readerPriority", 0);
	if (!(rcvbuf >= 1 && rcvbuf <= 0x7fffffff) || !(stall >= 0 && stall <= 60000) || !(fail >= 0 && fail <= 60000) ||
	    !(prio >= 0 && prio <= 99))
		return napi_throw_range_error(env, NULL, "open(options): rcvbufBytes, readerPriority, debugStallMs or debugFailMs out of range"), NULL;

	h = handle_new();
	if (!h)
		return js_throw(env, "ENOMEM", "procconn: out of memory");
	h->env = env;
	h->stall_ms = (uint32_t)stall;
	h->fail_ms = (uint32_t)fail;
	err = netlink_open(h, (uint32_t)rcvbuf, &what);
	if (err) {
		handle_stop(h);
		handle_unref(h);
		return js_throw(env, strerrorname_np(err) ? strerrorname_np(err) : "EIO", "procconn: %s: %s", what,
				strerror(err));
	}

	NAPI_OK(napi_create_reference(env, fn_batch, 1, &h->on_batch));
	NAPI_OK(napi_create_reference(env, fn_error, 1, &h->on_error));
	if (have_close)
		NAPI_OK(napi_create_reference(env, fn_close, 1, &h->on_close));
	NAPI_OK(napi_create_string_utf8(env, "procwatch:procconn", NAPI_AUTO_LENGTH, &name));
	/* initial_thread_count 1: the reader's; the JS thread holds none. */
	NAPI_OK(napi_create_threadsafe_function(env, NULL, NULL, name, 0, 1, h, tsfn_finalize, h, tsfn_call_js,
						&h->tsfn));
	h->refs++; /* tsfn_finalize */
	NAPI_OK(napi_add_env_cleanup_hook(env, handle_env_cleanup, h));
	h->hook_added = 1;
	if ((err = pthread_create(&h->thread, NULL, reader_main, h)) != 0) {
		napi_release_threadsafe_function(h->tsfn, napi_tsfn_abort); /* finalize unrefs */
		handle_stop(h);
		handle_unref(h);
		return js_throw(env, "EAGAIN", "procconn: pthread_create: %s", strerror(err));
	}
	h->thread_started = 1;
	/* Named, so that top -H, ps -L and tests can tell it from Node's own threads. */
	pthread_setname_np(h->thread, "pw-netlink");
	if ((int)prio > 0) {
		/* The reader races each new process's exit to read its /proc files: under SCHED_FIFO it
		 * runs as soon as the event arrives instead of after whatever shares its CPU. Refused
		 * (EPERM without CAP_SYS_NICE): it runs at normal priority, and JavaScript says so. */
		struct sched_param sp = { .sched_priority = (int)prio };
		int e = pthread_setschedparam(h->thread, SCHED_FIFO, &sp);
		if (e == 0)
			h->reader_priority = (int)prio;
		else
			h->priority_err = e;
	}

	NAPI_OK(napi_get_instance_data(env, (void **)&ctor_ref));
	NAPI_OK(napi_get_reference_value(env, *ctor_ref, &ctor));
	NAPI_OK(napi_new_instance(env, ctor, 0, NULL, &obj));
	NAPI_OK(napi_wrap(env, obj, h, handle_wrap_finalize, NULL, NULL));
	h->wrapped = 1;
	NAPI_OK(napi_create_uint32(env, h->rcvbuf_bytes, &v));
	NAPI_OK(napi_set_named_property(env, obj, "rcvbufBytes", v));
	NAPI_OK(napi_create_uint32(env, (uint32_t)h->reader_priority, &v));
	NAPI_OK(napi_set_named_property(env, obj, "readerPriority", v));
	if (h->priority_err) {
		NAPI_OK(napi_create_string_utf8(env, strerrorname_np(h->priority_err) ? strerrorname_np(h->priority_err) : "EINVAL",
						NAPI_AUTO_LENGTH, &v));
	} else {
		NAPI_OK(napi_get_null(env, &v));
	}
	NAPI_OK(napi_set_named_property(env, obj, "readerPriorityError", v));
	return obj;

napi_failed:
	/* One path out for N-API failures after the socket exists: stop everything we made. */
	if (h) {
		if (h->tsfn && !h->thread_started)
			napi_release_threadsafe_function(h->tsfn, napi_tsfn_abort);
		if (!h->tsfn) {
			if (h->on_batch) napi_delete_reference(env, h->on_batch);
			if (h->on_error) napi_delete_reference(env, h->on_error);
			if (h->on_close) napi_delete_reference(env, h->on_close);
		}
		handle_stop(h);
		if (!h->wrapped) /* else the wrapper's finalizer holds that reference, and drops it */
			handle_unref(h);
	}
	return js_throw(env, "EPROCCONN", "procconn: N-API call failed in open()");
}

/* layout(): every size and offset of record.h, plus its constants, for the agreement test. */
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
	L_OFF("exit.flags", struct pw_rec_exit, flags),
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
	{ "kind.fork", PW_KIND_FORK }, { "kind.exec", PW_KIND_EXEC }, { "kind.uid", PW_KIND_UID },
	{ "kind.gid", PW_KIND_GID }, { "kind.sid", PW_KIND_SID }, { "kind.ptrace", PW_KIND_PTRACE },
	{ "kind.comm", PW_KIND_COMM }, { "kind.coredump", PW_KIND_COREDUMP }, { "kind.exit", PW_KIND_EXIT },
	{ "kind.lost", PW_KIND_LOST }, { "kind.acct", PW_KIND_ACCT },
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
	{ "parentKnown", PW_PARENT_KNOWN }, { "lostCountUnknown", PW_LOST_COUNT_UNKNOWN },
	{ "lostReason.enobufs", PW_LOST_ENOBUFS }, { "cpuUnknown", PW_CPU_UNKNOWN },
	{ "commEventLen", PW_COMM_EVENT_LEN }, { "cmdlineMax", PW_CMDLINE_MAX }, { "commMax", PW_COMM_MAX },
	{ "pathMax", PW_PATH_MAX },
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
static uint32_t js_bytes(napi_env env, napi_value obj, const char *name, char *dst, uint32_t cap)
{
	napi_value v;
	bool is_buf = false;
	size_t len = 0;
	void *data;
	if (!js_get_prop(env, obj, name, napi_string, &v)) {
		if (!js_get_prop(env, obj, name, napi_object, &v) || napi_is_buffer(env, v, &is_buf) != napi_ok || !is_buf ||
		    napi_get_buffer_info(env, v, &data, &len) != napi_ok)
			return 0;
		len = len > cap ? cap : len;
		memcpy(dst, data, len);
		return (uint32_t)len;
	}
	/* napi_get_value_string_utf8 NUL-terminates within bufsize, so ask for one more. */
	char *tmp = malloc((size_t)cap + 1);
	if (!tmp || napi_get_value_string_utf8(env, v, tmp, (size_t)cap + 1, &len) != napi_ok)
		len = 0;
	else
		memcpy(dst, tmp, len);
	free(tmp);
	return (uint32_t)len;
}

static void js_quad(napi_env env, napi_value obj, const char *name, uint32_t out[4])
{
	napi_value arr, el;
	double d;
	memset(out, 0, 4 * sizeof out[0]);
	if (!js_get_prop(env, obj, name, napi_object, &arr))
		return;
	for (uint32_t i = 0; i < 4; i++)
		if (napi_get_element(env, arr, i, &el) == napi_ok && napi_get_value_double(env, el, &d) == napi_ok)
			out[i] = (uint32_t)d;
}

/* encodeTestRecords(specs[]) -> Buffer: test-only. Packs records through the same batch_*
 * writers the reader uses, so the TypeScript decoder can be checked against real C output. */
static napi_value js_encode_test_records(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value arr, spec, out;
	uint32_t n = 0;
	bool is_arr = false;
	pw_batch b;
	pw_exec_info *x = NULL;
	uint8_t *buf = NULL;
	uint64_t seq = 0;
	void *copy;

	if (napi_get_cb_info(env, info, &argc, &arr, NULL, NULL) != napi_ok || argc < 1 ||
	    napi_is_array(env, arr, &is_arr) != napi_ok || !is_arr || napi_get_array_length(env, arr, &n) != napi_ok)
		return napi_throw_type_error(env, NULL, "encodeTestRecords(specs): specs must be an array"), NULL;
	buf = malloc(PW_BATCH_BYTES);
	x = calloc(1, sizeof *x);
	if (!buf || !x)
		goto fail;
	batch_reset(&b, buf, PW_BATCH_BYTES);
	for (uint32_t i = 0; i < n; i++) {
		struct pw_rec_header rh;
		uint32_t ok = 0;
		if (napi_get_element(env, arr, i, &spec) != napi_ok)
			goto fail;
		memset(&rh, 0, sizeof rh);
		rh.kind = (uint16_t)js_num(env, spec, "kind", 0);
		rh.seq = ++seq;
		rh.timestamp_ns = (uint64_t)js_num(env, spec, "timestampNs", 0);
		rh.what = (uint32_t)js_num(env, spec, "what", 0);
		rh.cpu = (uint32_t)js_num(env, spec, "cpu", 0);
		rh.pid = (int32_t)js_num(env, spec, "pid", 0);
		rh.tid = (int32_t)js_num(env, spec, "tid", 0);
		switch (rh.kind) {
		case PW_KIND_FORK: {
			double ticks = js_num(env, spec, "childStartTicks", -1);
			struct pw_rec_fork f = { (int32_t)js_num(env, spec, "parentPid", 0), (int32_t)js_num(env, spec, "parentTid", 0),
						 ticks < 0 ? PW_TICKS_UNKNOWN : (uint64_t)ticks, (uint64_t)js_num(env, spec, "childStartNs", 0) };
			ok = batch_put(&b, &rh, &f, sizeof f);
			break;
		}
		case PW_KIND_UID:
		case PW_KIND_GID: {
			struct pw_rec_id id = { (uint32_t)js_num(env, spec, "real", 0), (uint32_t)js_num(env, spec, "effective", 0) };
			ok = batch_put(&b, &rh, &id, sizeof id);
			break;
		}
		case PW_KIND_SID: ok = batch_put(&b, &rh, NULL, 0); break;
		case PW_KIND_PTRACE: {
			struct pw_rec_ptrace p = { (int32_t)js_num(env, spec, "tracerPid", 0), (int32_t)js_num(env, spec, "tracerTid", 0) };
			ok = batch_put(&b, &rh, &p, sizeof p);
			break;
		}
		case PW_KIND_COMM: {
			struct pw_rec_comm c;
			memset(&c, 0, sizeof c);
			js_bytes(env, spec, "comm", (char *)c.comm, PW_COMM_EVENT_LEN);
			ok = batch_put(&b, &rh, &c, sizeof c);
			break;
		}
		case PW_KIND_COREDUMP: {
			struct pw_rec_coredump c = { (int32_t)js_num(env, spec, "parentPid", 0), (int32_t)js_num(env, spec, "parentTid", 0),
						     (uint32_t)js_num(env, spec, "flags", 0), 0 };
			ok = batch_put(&b, &rh, &c, sizeof c);
			break;
		}
		case PW_KIND_EXIT: {
			struct pw_rec_exit e = { .exit_code = (uint32_t)js_num(env, spec, "exitCode", 0),
						 .exit_signal = (uint32_t)js_num(env, spec, "exitSignal", 0),
						 .parent_pid = (int32_t)js_num(env, spec, "parentPid", 0),
						 .parent_tid = (int32_t)js_num(env, spec, "parentTid", 0),
						 .flags = (uint32_t)js_num(env, spec, "flags", 0) };
			ok = batch_put(&b, &rh, &e, sizeof e);
			break;
		}
		case PW_KIND_ACCT: {
			struct pw_rec_acct a = {
				.flags = (uint32_t)js_num(env, spec, "flags", 0),
				.start_ticks = (uint64_t)js_num(env, spec, "startTicks", 0),
				.cpu_ns = (uint64_t)js_num(env, spec, "cpuNs", 0),
				.user_ns = (uint64_t)js_num(env, spec, "userNs", 0),
				.system_ns = (uint64_t)js_num(env, spec, "systemNs", 0),
				.min_flt = (uint64_t)js_num(env, spec, "minFlt", 0),
				.maj_flt = (uint64_t)js_num(env, spec, "majFlt", 0),
				.nvcsw = (uint64_t)js_num(env, spec, "nvcsw", 0),
				.nivcsw = (uint64_t)js_num(env, spec, "nivcsw", 0),
				.max_rss_kib = (uint64_t)js_num(env, spec, "maxRssKib", 0),
				.rchar = (uint64_t)js_num(env, spec, "rchar", 0),
				.wchar = (uint64_t)js_num(env, spec, "wchar", 0),
				.read_bytes = (uint64_t)js_num(env, spec, "readBytes", 0),
				.write_bytes = (uint64_t)js_num(env, spec, "writeBytes", 0),
			};
			ok = batch_put(&b, &rh, &a, sizeof a);
			break;
		}
		case PW_KIND_LOST: {
			struct pw_rec_lost l = { (uint32_t)js_num(env, spec, "count", PW_LOST_COUNT_UNKNOWN),
						 (uint32_t)js_num(env, spec, "reason", PW_LOST_ENOBUFS), (int32_t)js_num(env, spec, "err", 0), 0 };
			ok = batch_put(&b, &rh, &l, sizeof l);
			break;
		}
		case PW_KIND_EXEC:
			x->flags = (uint32_t)js_num(env, spec, "flags", 0);
			x->ppid = (int32_t)js_num(env, spec, "ppid", 0);
			x->start_ticks = (uint64_t)js_num(env, spec, "startTicks", 0);
			x->read_ns = (uint64_t)js_num(env, spec, "readNs", 0);
			x->state = (uint8_t)js_num(env, spec, "state", 0);
			x->err = (int32_t)js_num(env, spec, "err", 0);
			js_quad(env, spec, "uids", x->uid);
			js_quad(env, spec, "gids", x->gid);
			x->comm_len = js_bytes(env, spec, "comm", x->comm, PW_COMM_MAX);
			x->cmdline_len = js_bytes(env, spec, "cmdline", x->cmdline, PW_CMDLINE_MAX);
			x->exe_len = js_bytes(env, spec, "exe", x->exe, PW_PATH_MAX - 1);
			x->cwd_len = js_bytes(env, spec, "cwd", x->cwd, PW_PATH_MAX - 1);
			ok = batch_put_exec(&b, &rh, x);
			break;
		default:
			free(buf);
			free(x);
			return napi_throw_range_error(env, NULL, "encodeTestRecords: unknown kind"), NULL;
		}
		if (!ok) {
			free(buf);
			free(x);
			return napi_throw_range_error(env, NULL, "encodeTestRecords: batch full"), NULL;
		}
	}
	batch_seal(&b);
	if (napi_create_buffer_copy(env, b.len, b.buf, &copy, &out) != napi_ok)
		goto fail;
	free(buf);
	free(x);
	return out;
fail:
	free(buf);
	free(x);
	return js_throw(env, "ENOMEM", "encodeTestRecords failed");
}

/* decodeTestFrames(datagram, { fromPid?, truncated? }) -> { batch, counters }: test-only. Runs
 * one datagram through the reader's own parser (netlink_frame, netlink_event, procread_exec,
 * verify_*) as if recv had returned it from port fromPid (0: the kernel), with MSG_TRUNC when
 * truncated, and returns the batch it packed (one; records beyond it are dropped and
 * counted) and the counters. The datagram is copied to a buffer of exactly its size, so a
 * read past its end is a heap overflow that valgrind or ASan would report. */
static napi_value js_decode_test_frames(napi_env env, napi_callback_info info)
{
	size_t argc = 2, len = 0;
	napi_value argv[2], out, batch, counters, v;
	bool is_buf = false, truncated = false;
	void *data, *copy_out;
	uint8_t *copy;
	pw_handle *h;
	struct sockaddr_nl from = { .nl_family = AF_NETLINK };

	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
	    napi_is_buffer(env, argv[0], &is_buf) != napi_ok || !is_buf ||
	    napi_get_buffer_info(env, argv[0], &data, &len) != napi_ok)
		return napi_throw_type_error(env, NULL, "decodeTestFrames(datagram): datagram must be a Buffer"), NULL;
	if (len > PW_RECV_BYTES)
		return napi_throw_range_error(env, NULL, "decodeTestFrames: a datagram is at most 8192 bytes (one recv)"), NULL;
	if (argc >= 2) {
		napi_valuetype t = napi_undefined;
		if (napi_typeof(env, argv[1], &t) == napi_ok && t == napi_object) {
			from.nl_pid = (uint32_t)js_num(env, argv[1], "fromPid", 0);
			if (js_get_prop(env, argv[1], "truncated", napi_boolean, &v))
				napi_get_value_bool(env, v, &truncated);
		}
	}
	h = handle_new();
	copy = malloc(len ? len : 1);
	if (!h || !copy) {
		free(copy);
		if (h)
			handle_unref(h);
		return js_throw(env, "ENOMEM", "decodeTestFrames: out of memory");
	}
	memcpy(copy, data, len);
	h->slot_busy[0] = 1;
	h->cur = 0;
	batch_reset(&h->batch, h->slot_buf[0], PW_BATCH_BYTES);
	netlink_frame(h, copy, len, &from, sizeof from, truncated ? MSG_TRUNC : 0);
	batch_seal(&h->batch);
	free(copy);
	if (napi_create_object(env, &out) != napi_ok ||
	    napi_create_buffer_copy(env, h->batch.len, h->batch.buf, &copy_out, &batch) != napi_ok ||
	    (counters = js_counters_object(env, h)) == NULL || napi_set_named_property(env, out, "batch", batch) != napi_ok ||
	    napi_set_named_property(env, out, "counters", counters) != napi_ok) {
		handle_unref(h);
		return js_throw(env, "EPROCCONN", "decodeTestFrames: N-API call failed");
	}
	handle_unref(h);
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
		{ "ref", NULL, js_handle_ref_on, NULL, NULL, NULL, napi_default_method, NULL },
		{ "unref", NULL, js_handle_ref_off, NULL, NULL, NULL, napi_default_method, NULL },
	};
	napi_property_descriptor fns[] = {
		{ "open", NULL, js_open, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "layout", NULL, js_layout, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "encodeTestRecords", NULL, js_encode_test_records, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "decodeTestFrames", NULL, js_decode_test_frames, NULL, NULL, NULL, napi_enumerable, NULL },
	};
	napi_value ctor;
	napi_ref *ctor_ref = malloc(sizeof *ctor_ref);
	if (!ctor_ref)
		return NULL;
	/* The handle class is not exported: only open() makes instances, each wrapping a pw_handle. */
	if (napi_define_class(env, "ProcConnHandle", NAPI_AUTO_LENGTH, js_handle_ctor, NULL,
			      sizeof methods / sizeof methods[0], methods, &ctor) != napi_ok ||
	    napi_create_reference(env, ctor, 1, ctor_ref) != napi_ok ||
	    napi_set_instance_data(env, ctor_ref, module_instance_free, NULL) != napi_ok ||
	    napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns) != napi_ok) {
		free(ctor_ref);
		return NULL;
	}
	return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, module_init)
