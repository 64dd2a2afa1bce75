/*
 * tasksnap.c - the resource snapshot by eBPF task iterator (issue 12): loads tasks.bpf.c (its
 * own skeleton, apart from the event programs: a snapshot does not need the event source),
 * attaches the iter/task program once, and reads it on demand. Each read creates an iterator
 * instance and reads it to the end: one pw_task (record.h) per task in the system, read by
 * src/sources/record.ts (TaskReader).
 *
 * The read runs on libuv's thread pool (napi_async_work), so the JS thread does not wait for
 * the kernel walk of every task. close() waits for no read: the handle is freed when the last
 * read in flight completes.
 *
 * JavaScript API: openTasks() -> handle { readInto(buf): Promise<n>, copyLast(buf), close() };
 * throws an Error whose message names the step that failed (load, attach) and the kernel's
 * reason. readInto reads straight into buf, which the caller keeps and reuses: the daemon's
 * snapshot every 2 s allocates nothing (a new 1 MB Buffer per read made V8 run full garbage
 * collections for it) and keeps no copy of its own (one was 2 MiB of RSS at 10,000 processes).
 * It resolves with the bytes read; when that is more than buf holds, the walk went on into
 * the handle's memory, and copyLast(bigger) copies all of it (that memory is then let go).
 * One read at a time.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <node_api.h>

#include "../record.h"
#include "tasks.skel.h" /* generated at build time by bpftool gen skeleton */
#include "tasksnap.h"

#define TS_FIRST_BYTES (256u << 10) /* the least a read that outgrew the caller's buffer maps; then doubled */
#define TS_LOG_BYTES 512

/* Lives until its JS wrapper is finalized and no read is in flight; the BPF program and link
 * go at close() (or then), once no read uses them. JS thread only. */
typedef struct {
	struct tasks_bpf *skel; /* NULL once released */
	int link_fd;
	int reads;     /* reads in flight */
	int closed;    /* close() was called: no new reads */
	int finalized; /* the JS wrapper is gone */
	uint8_t *keep; /* a read that outgrew the caller's buffer: all its bytes, until copyLast */
	size_t keep_cap, keep_len;
	int into_busy; /* a readInto in flight (one at a time) */
} ts_handle;

typedef struct {
	ts_handle *h;
	napi_async_work work;
	napi_deferred deferred;
	uint8_t *dst;     /* the caller's Buffer, written on the pool thread (referenced by `into`) */
	size_t dst_len;
	uint8_t *buf;     /* NULL, or (the walk outgrew dst) mapped memory holding every byte read */
	size_t len, cap;
	int err;          /* errno of the failed step, 0 on success */
	const char *what; /* the failed step */
	napi_ref into;    /* the caller's Buffer (kept alive until the copy) */
} ts_read;

static __thread char ts_last_log[TS_LOG_BYTES];
static int ts_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char *nl;
	if (level == LIBBPF_DEBUG || ts_last_log[0])
		return 0;
	vsnprintf(ts_last_log, sizeof ts_last_log, fmt, ap);
	if ((nl = strchr(ts_last_log, '\n')) != NULL)
		*nl = '\0';
	return 0;
}

/* Memory of its own, mapped rather than malloc'd: unmapped, it is given back at once (glibc
 * would keep a freed chunk this size in its heap). */
static void ts_unmap(uint8_t *p, size_t cap)
{
	if (p)
		munmap(p, cap);
}

/* Releases what can go now: the program once closed and idle, the handle once also finalized. */
static void ts_settle(ts_handle *h)
{
	if (h->reads > 0)
		return;
	if (h->closed && h->skel) {
		tasks_bpf__destroy(h->skel); /* detaches the link too */
		h->skel = NULL;
	}
	if (h->finalized) {
		ts_unmap(h->keep, h->keep_cap);
		free(h);
	}
}

/* ---- the read, on a pool thread ------------------------------------------------------------ */

static void ts_execute(napi_env env, void *data)
{
	ts_read *r = data;
	int fd;
	(void)env;
	r->what = "create the task iterator";
	fd = bpf_iter_create(r->h->link_fd);
	if (fd < 0) {
		r->err = errno;
		return;
	}
	r->what = "read the task iterator";
	for (;;) {
		uint8_t *at;
		size_t room;
		ssize_t n;
		if (!r->buf && r->len == r->dst_len) {
			/* The caller's buffer is full: go on in memory of our own, with what it holds. */
			size_t cap = r->dst_len < TS_FIRST_BYTES ? TS_FIRST_BYTES : r->dst_len * 2;
			void *mem = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (mem == MAP_FAILED) {
				r->err = ENOMEM;
				break;
			}
			r->buf = mem;
			r->cap = cap;
			memcpy(r->buf, r->dst, r->len);
		} else if (r->buf && r->len == r->cap) {
			void *bigger = mremap(r->buf, r->cap, r->cap * 2, MREMAP_MAYMOVE);
			if (bigger == MAP_FAILED) {
				r->err = ENOMEM;
				break;
			}
			r->buf = bigger;
			r->cap *= 2;
		}
		at = r->buf ? r->buf + r->len : r->dst + r->len;
		room = r->buf ? r->cap - r->len : r->dst_len - r->len;
		n = read(fd, at, room);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			/* EAGAIN: the kernel restarts a walk that raced too much; the caller may retry. */
			r->err = errno;
			break;
		}
		if (n == 0)
			break;
		r->len += (size_t)n;
	}
	close(fd);
}

static void ts_reject(napi_env env, ts_read *r)
{
	char msg[160];
	napi_value text, error;
	snprintf(msg, sizeof msg, "task snapshot: cannot %s: %s", r->what ? r->what : "read", strerror(r->err ? r->err : EIO));
	napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text);
	napi_create_error(env, NULL, text, &error);
	napi_reject_deferred(env, r->deferred, error);
}

/* readInto's end: the bytes are in the caller's buffer, or (it was short) in the handle's memory for copyLast. */
static void ts_complete_into(napi_env env, napi_status status, ts_read *r)
{
	ts_handle *h = r->h;
	napi_value result;
	h->into_busy = 0;
	if (status == napi_ok && r->err == 0 && r->len % sizeof(struct pw_task) != 0) {
		r->what = "read the task iterator (a partial record)";
		r->err = EIO;
	}
	if (status != napi_ok || r->err != 0) {
		ts_unmap(r->buf, r->cap);
		ts_reject(env, r);
	} else {
		h->keep = r->buf; /* NULL when it all fit */
		h->keep_cap = r->cap;
		h->keep_len = r->buf ? r->len : 0;
		napi_create_double(env, (double)r->len, &result);
		napi_resolve_deferred(env, r->deferred, result);
	}
	napi_delete_reference(env, r->into);
}

static void ts_complete(napi_env env, napi_status status, void *data)
{
	ts_read *r = data;
	ts_complete_into(env, status, r);
	napi_delete_async_work(env, r->work);
	r->h->reads--;
	ts_settle(r->h);
	free(r);
}

/* ---- JavaScript ---------------------------------------------------------------------------- */

static ts_handle *ts_this(napi_env env, napi_callback_info info)
{
	napi_value self;
	void *h = NULL;
	if (napi_get_cb_info(env, info, NULL, NULL, &self, NULL) != napi_ok || napi_unwrap(env, self, &h) != napi_ok || !h)
		return NULL;
	return h;
}

/* readInto(buf) -> Promise<bytes>: see the top of the file. */
static napi_value ts_js_read_into(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value arg, self, promise, name;
	void *h_ptr = NULL;
	bool is_buffer = false;
	ts_handle *h;
	ts_read *r;
	if (napi_get_cb_info(env, info, &argc, &arg, &self, NULL) != napi_ok || napi_unwrap(env, self, &h_ptr) != napi_ok || !h_ptr)
		return napi_throw_error(env, NULL, "task snapshot: not a handle"), NULL;
	h = h_ptr;
	if (h->closed)
		return napi_throw_error(env, NULL, "task snapshot: the handle is closed"), NULL;
	if (argc < 1 || napi_is_buffer(env, arg, &is_buffer) != napi_ok || !is_buffer)
		return napi_throw_type_error(env, NULL, "task snapshot: readInto(buffer) takes a Buffer"), NULL;
	if (h->into_busy)
		return napi_throw_error(env, NULL, "task snapshot: a readInto is already in flight"), NULL;
	r = calloc(1, sizeof *r);
	if (!r)
		return napi_throw_error(env, NULL, "task snapshot: out of memory"), NULL;
	r->h = h;
	/* A last read's bytes that copyLast was not asked for are no longer wanted. */
	ts_unmap(h->keep, h->keep_cap);
	h->keep = NULL;
	h->keep_cap = h->keep_len = 0;
	if (napi_get_buffer_info(env, arg, (void **)&r->dst, &r->dst_len) != napi_ok ||
	    napi_create_reference(env, arg, 1, &r->into) != napi_ok || napi_create_promise(env, &r->deferred, &promise) != napi_ok ||
	    napi_create_string_utf8(env, "procwatch:tasks", NAPI_AUTO_LENGTH, &name) != napi_ok ||
	    napi_create_async_work(env, NULL, name, ts_execute, ts_complete, r, &r->work) != napi_ok ||
	    napi_queue_async_work(env, r->work) != napi_ok) {
		free(r);
		return napi_throw_error(env, NULL, "task snapshot: cannot queue the read"), NULL;
	}
	h->into_busy = 1;
	h->reads++;
	return promise;
}

/* copyLast(buf) -> bytes copied: the last readInto's bytes, for a caller whose buffer was short. */
static napi_value ts_js_copy_last(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value arg, self, result;
	void *h_ptr = NULL, *dst = NULL;
	size_t dst_len = 0, n;
	ts_handle *h;
	if (napi_get_cb_info(env, info, &argc, &arg, &self, NULL) != napi_ok || napi_unwrap(env, self, &h_ptr) != napi_ok || !h_ptr)
		return napi_throw_error(env, NULL, "task snapshot: not a handle"), NULL;
	h = h_ptr;
	if (argc < 1 || napi_get_buffer_info(env, arg, &dst, &dst_len) != napi_ok)
		return napi_throw_type_error(env, NULL, "task snapshot: copyLast(buffer) takes a Buffer"), NULL;
	n = h->into_busy || !h->keep ? 0 : (h->keep_len < dst_len ? h->keep_len : dst_len);
	if (n)
		memcpy(dst, h->keep, n);
	if (n == h->keep_len) {
		/* All of it copied: the caller's (bigger) buffer holds it from now on. */
		ts_unmap(h->keep, h->keep_cap);
		h->keep = NULL;
		h->keep_cap = h->keep_len = 0;
	}
	napi_create_double(env, (double)n, &result);
	return result;
}

static napi_value ts_js_close(napi_env env, napi_callback_info info)
{
	ts_handle *h = ts_this(env, info);
	if (h && !h->closed) {
		h->closed = 1;
		ts_settle(h);
	}
	return NULL;
}

/* The wrapper was collected (closed or not). */
static void ts_finalize(napi_env env, void *data, void *hint)
{
	ts_handle *h = data;
	(void)env;
	(void)hint;
	h->closed = 1;
	h->finalized = 1;
	ts_settle(h);
}

static napi_value ts_js_open(napi_env env, napi_callback_info info)
{
	ts_handle *h = calloc(1, sizeof *h);
	napi_value obj, fn;
	struct bpf_link *link;
	const char *what;
	int err;
	(void)info;
	if (!h)
		return napi_throw_error(env, NULL, "task snapshot: out of memory"), NULL;
	libbpf_set_print(ts_log);
	ts_last_log[0] = '\0';
	what = "open the task iterator program";
	h->skel = tasks_bpf__open();
	if (!h->skel) {
		err = errno ? errno : EINVAL;
		goto fail;
	}
	what = "count CPUs";
	err = libbpf_num_possible_cpus();
	if (err <= 0) {
		err = -err;
		goto fail;
	}
	h->skel->rodata->pw_ncpus = (uint32_t)err;
	what = "load the task iterator program";
	{
		/* Signals wait during verification: one arriving (node --cpu-prof's SIGPROF) makes the
		 * kernel answer EAGAIN. */
		sigset_t quiet, old;
		sigfillset(&quiet);
		sigdelset(&quiet, SIGSEGV);
		sigdelset(&quiet, SIGBUS);
		sigdelset(&quiet, SIGFPE);
		sigdelset(&quiet, SIGILL);
		pthread_sigmask(SIG_BLOCK, &quiet, &old);
		err = tasks_bpf__load(h->skel);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	if (err != 0) {
		err = -err;
		goto fail;
	}
	what = "attach the task iterator";
	link = bpf_program__attach_iter(h->skel->progs.pw_tasks, NULL);
	if (!link) {
		err = errno ? errno : EINVAL;
		goto fail;
	}
	h->skel->links.pw_tasks = link;
	h->link_fd = bpf_link__fd(link);
	if (napi_create_object(env, &obj) != napi_ok || napi_wrap(env, obj, h, ts_finalize, NULL, NULL) != napi_ok) {
		h->closed = h->finalized = 1;
		ts_settle(h);
		return napi_throw_error(env, NULL, "task snapshot: cannot create the handle"), NULL;
	}
	napi_create_function(env, "close", NAPI_AUTO_LENGTH, ts_js_close, NULL, &fn);
	napi_set_named_property(env, obj, "close", fn);
	napi_create_function(env, "readInto", NAPI_AUTO_LENGTH, ts_js_read_into, NULL, &fn);
	napi_set_named_property(env, obj, "readInto", fn);
	napi_create_function(env, "copyLast", NAPI_AUTO_LENGTH, ts_js_copy_last, NULL, &fn);
	napi_set_named_property(env, obj, "copyLast", fn);
	return obj;
fail: {
	char msg[TS_LOG_BYTES + 160];
	snprintf(msg, sizeof msg, "task snapshot: cannot %s: %s%s%s", what, strerror(err), ts_last_log[0] ? ": " : "", ts_last_log);
	tasks_bpf__destroy(h->skel);
	free(h);
	return napi_throw_error(env, NULL, msg), NULL;
}
}

/* Sizes and offsets of pw_task for record.test.ts (the decoder's constants must match). */
#define TS_OFF(name, field) { name, offsetof(struct pw_task, field) }
static const struct {
	const char *name;
	uint32_t value;
} ts_layout[] = {
	{ "size", sizeof(struct pw_task) }, TS_OFF("flags", flags), TS_OFF("tgid", tgid), TS_OFF("tid", tid), TS_OFF("ppid", ppid),
	TS_OFF("startNs", start_ns), TS_OFF("runtimeNs", runtime_ns), TS_OFF("utimeNs", utime_ns), TS_OFF("stimeNs", stime_ns),
	TS_OFF("minFlt", min_flt), TS_OFF("majFlt", maj_flt), TS_OFF("nvcsw", nvcsw), TS_OFF("nivcsw", nivcsw),
	TS_OFF("rchar", rchar), TS_OFF("wchar", wchar), TS_OFF("readBytes", read_bytes), TS_OFF("writeBytes", write_bytes),
	TS_OFF("vmPages", vm_pages), TS_OFF("rssFile", rss_file), TS_OFF("rssAnon", rss_anon), TS_OFF("rssShmem", rss_shmem),
	TS_OFF("swapEnts", swap_ents), TS_OFF("fds", fds), TS_OFF("fdLimit", fd_limit), TS_OFF("uid", uid), TS_OFF("euid", euid),
	TS_OFF("threads", threads), TS_OFF("state", state), TS_OFF("comm", comm),
	{ "flag.leader", PW_TASK_LEADER }, { "flag.mm", PW_TASK_MM }, { "flag.files", PW_TASK_FILES },
	{ "flag.kthread", PW_TASK_KTHREAD }, { "flag.fdsCut", PW_TASK_FDS_CUT },
};

static napi_value ts_js_layout(napi_env env, napi_callback_info info)
{
	napi_value out, v;
	(void)info;
	napi_create_object(env, &out);
	for (size_t i = 0; i < sizeof ts_layout / sizeof ts_layout[0]; i++) {
		napi_create_uint32(env, ts_layout[i].value, &v);
		napi_set_named_property(env, out, ts_layout[i].name, v);
	}
	/* Not layout, but what the page counts are counted in. */
	napi_create_uint32(env, (uint32_t)sysconf(_SC_PAGESIZE), &v);
	napi_set_named_property(env, out, "pageSize", v);
	return out;
}

int tasksnap_define(napi_env env, napi_value exports)
{
	napi_property_descriptor fns[] = {
		{ "openTasks", NULL, ts_js_open, NULL, NULL, NULL, napi_enumerable, NULL },
		{ "taskLayout", NULL, ts_js_layout, NULL, NULL, NULL, napi_enumerable, NULL },
	};
	return napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns) == napi_ok ? 0 : -1;
}
