// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tasks.bpf.c - procwatch's resource snapshot (issue 12): an iter/task program that writes
 * one record.h pw_task per task in the system. One read of the iterator (tasksnap.c) is a
 * snapshot of every process's CPU, memory, faults, switches, I/O and fds: task_diag's idea
 * (one binary answer for a chosen set of fields) without a kernel patch, where /proc needs
 * several files per process, each a text format to parse.
 *
 * A process's figures are the sums the kernel itself makes for /proc/PID/stat and io
 * (thread_group_cputime, do_io_accounting): every live thread's own plus what the signal
 * struct kept of its ended threads. The leader's record carries the signal struct's part and
 * the process-wide fields; user space adds the threads' records to it.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "../record.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define PF_KTHREAD 0x00200000
#define RLIMIT_NOFILE 7
#define FDS_MAX_WORDS 16384 /* count open fds in tables of up to 1M descriptors */
#define CPUS_MAX 1024       /* per-CPU counter parts summed at most */

/* Possible CPUs (libbpf_num_possible_cpus), set by the loader: the parts of a percpu_counter. */
const volatile __u32 pw_ncpus = 1;

/* ---- per-CPU offsets ------------------------------------------------------------------------
 * /proc/PID/status sums each RSS percpu_counter over its per-CPU parts; reading them needs each
 * CPU's per-CPU area offset (per_cpu_ptr(p, cpu) = p + __per_cpu_offset[cpu]). Neither that
 * table nor a per-CPU variable is in kallsyms on every kernel, and the counters' BTF type has
 * no percpu tag for bpf_per_cpu_ptr(). So the offsets are measured on a per-CPU array of our
 * own: bpf_map_lookup_percpu_elem() gives CPU c's copy, the array's own per-CPU pointer is in
 * its struct bpf_array, and the difference is c's offset. Measured at the first task of each
 * walk; if that fails (kernels before 5.19), the RSS is the counter's central value. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} percpu_probe SEC(".maps");

long cpu_off[CPUS_MAX];
__u32 cpu_off_count; /* offsets known (0: use central values) */

/* A pointer's value as a plain number (privileged programs may: the copy hides its type). */
static __always_inline unsigned long address_of(void *p)
{
	unsigned long v = 0;
	bpf_probe_read_kernel(&v, sizeof v, &p);
	return v;
}

static __always_inline void cpu_offsets_measure(void)
{
	unsigned long array = address_of(&percpu_probe), pptr = 0;
	__u32 zero = 0, n = 0;

	cpu_off_count = 0;
	if (!bpf_core_field_exists(struct bpf_array, pptrs) ||
	    bpf_probe_read_kernel(&pptr, sizeof pptr, (void *)(array + bpf_core_field_offset(struct bpf_array, pptrs))) != 0 || !pptr)
		return;
	for (__u32 cpu = 0; cpu < CPUS_MAX && cpu < pw_ncpus; cpu++) {
		void *copy = bpf_map_lookup_percpu_elem(&percpu_probe, &zero, cpu);
		if (!copy)
			return;
		cpu_off[cpu & (CPUS_MAX - 1)] = (long)(address_of(copy) - pptr);
		n++;
	}
	cpu_off_count = n;
}

/* Before 6.2 the RSS counters were atomics in struct mm_rss_stat, not percpu_counters. */
struct mm_rss_stat___old {
	atomic_long_t count[4];
} __attribute__((preserve_access_index));
struct mm_struct___old {
	struct mm_rss_stat___old rss_stat;
} __attribute__((preserve_access_index));
/* Before 5.14 the task state was `state`, not `__state`. */
struct task_struct___old {
	long state;
} __attribute__((preserve_access_index));

/* The four RSS counters as /proc/PID/status shows them: since 6.2 percpu_counters, summed over
 * their per-CPU parts as status does (get_mm_counter_sum; the central value alone lags by up to
 * a batch per CPU); before, atomics. Never below 0. The four counters' per-CPU parts are one
 * allocation (percpu_counter_init_many), so where they are adjacent one read per CPU fetches
 * all four. `mm` is a BTF pointer: plain loads. */
static __always_inline void rss_read(struct mm_struct *mm, long v[4])
{
	if (bpf_core_type_exists(struct mm_rss_stat___old)) {
		struct mm_struct___old *old = (void *)mm;
		for (int k = 0; k < 4; k++)
			v[k] = BPF_CORE_READ(old, rss_stat.count[k].counter);
		return;
	}
	char *base = (char *)mm->rss_stat[0].counters;
	bool adjacent = (char *)mm->rss_stat[1].counters == base + 4 && (char *)mm->rss_stat[2].counters == base + 8 &&
			(char *)mm->rss_stat[3].counters == base + 12;
	for (int k = 0; k < 4; k++)
		v[k] = mm->rss_stat[k].count;
	for (__u32 cpu = 0; cpu < CPUS_MAX && cpu < cpu_off_count; cpu++) {
		long off = cpu_off[cpu & (CPUS_MAX - 1)];
		s32 parts[4] = {};
		if (adjacent) {
			if (bpf_probe_read_kernel(parts, sizeof parts, base + off) != 0)
				break;
		} else {
			for (int k = 0; k < 4; k++)
				bpf_probe_read_kernel(&parts[k], sizeof parts[k], (char *)mm->rss_stat[k].counters + off);
		}
		for (int k = 0; k < 4; k++)
			v[k] += parts[k];
	}
}

static __always_inline __u64 positive(long v)
{
	return v > 0 ? (__u64)v : 0;
}

/* The letter /proc/PID/stat shows (task_state_index): "RSDTtXZPI". */
static __always_inline __u8 state_letter(struct task_struct *t)
{
	unsigned int raw, state, i = 0;

	if (bpf_core_field_exists(t->__state))
		raw = t->__state;
	else
		raw = (unsigned int)BPF_CORE_READ((struct task_struct___old *)t, state);
	state = (raw | (unsigned int)t->exit_state) & 0x7f; /* TASK_REPORT */
	if ((raw & 0x402) == 0x402)                                          /* TASK_IDLE */
		state = 0x80;                                                /* TASK_REPORT_IDLE */
	if (raw & (0x1000 | 0x8000)) /* TASK_RTLOCK_WAIT, TASK_FROZEN: shown as D */
		state = 0x2;
	for (; i < 8 && state; i++) /* i = fls(state): 0 for R ... 8 for I */
		state >>= 1;
	switch (i) {
	case 0: return 'R';
	case 1: return 'S';
	case 2: return 'D';
	case 3: return 'T';
	case 4: return 't';
	case 5: return 'X';
	case 6: return 'Z';
	case 7: return 'P';
	default: return 'I';
	}
}

struct fd_count {
	unsigned long *bits;
	__u64 n;
};

static long count_word(__u32 i, struct fd_count *c)
{
	unsigned long w = 0;
	bpf_probe_read_kernel(&w, sizeof w, c->bits + i);
	/* popcount, without an instruction for it */
	w = w - ((w >> 1) & 0x5555555555555555UL);
	w = (w & 0x3333333333333333UL) + ((w >> 2) & 0x3333333333333333UL);
	w = (w + (w >> 4)) & 0x0f0f0f0f0f0f0f0fUL;
	c->n += (w * 0x0101010101010101UL) >> 56;
	return 0;
}

/* Open fds: bits set in the fd table's open_fds. False when the table is too large to count. */
static __always_inline bool fds_open(struct files_struct *files, __u64 *n)
{
	struct fdtable *fdt = files->fdt;
	__u32 words = (fdt->max_fds + 63) / 64;
	struct fd_count c = { fdt->open_fds, 0 };

	if (words > FDS_MAX_WORDS)
		return false;
	if (words == 1) /* the common case, without the loop */
		count_word(0, &c);
	else
		bpf_loop(words, count_word, &c, 0);
	*n = c.n;
	return true;
}

SEC("iter/task")
int pw_tasks(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	struct task_struct *leader;
	struct signal_struct *sig;
	struct mm_struct *mm;
	struct files_struct *files;
	struct pw_task r;

	if (ctx->meta->seq_num == 0)
		cpu_offsets_measure();
	if (!task)
		return 0;
	/* Plain loads through BTF pointers (the verifier makes them fault-safe), not a helper
	 * call per field: at 20,000 tasks that is most of the walk's cost. */
	__builtin_memset(&r, 0, sizeof r);
	leader = task->group_leader;
	sig = task->signal;
	r.tgid = task->tgid;
	r.tid = task->pid;
	r.start_ns = leader->start_boottime;
	r.runtime_ns = task->se.sum_exec_runtime;
	r.utime_ns = task->utime;
	r.stime_ns = task->stime;
	r.min_flt = task->min_flt;
	r.maj_flt = task->maj_flt;
	r.nvcsw = task->nvcsw;
	r.nivcsw = task->nivcsw;
	r.rchar = task->ioac.rchar;
	r.wchar = task->ioac.wchar;
	r.read_bytes = task->ioac.read_bytes;
	r.write_bytes = task->ioac.write_bytes;
	if (task->flags & PF_KTHREAD)
		r.flags |= PW_TASK_KTHREAD;

	if (leader == task) {
		r.flags |= PW_TASK_LEADER;
		/* What the group's ended threads left in the signal struct. */
		r.runtime_ns += sig->sum_sched_runtime;
		r.utime_ns += sig->utime;
		r.stime_ns += sig->stime;
		r.min_flt += sig->min_flt;
		r.maj_flt += sig->maj_flt;
		r.nvcsw += sig->nvcsw;
		r.nivcsw += sig->nivcsw;
		r.rchar += sig->ioac.rchar;
		r.wchar += sig->ioac.wchar;
		r.read_bytes += sig->ioac.read_bytes;
		r.write_bytes += sig->ioac.write_bytes;
		r.ppid = task->real_parent->tgid;
		r.uid = task->real_cred->uid.val;
		r.euid = task->real_cred->euid.val;
		r.threads = sig->nr_threads;
		r.fd_limit = sig->rlim[RLIMIT_NOFILE].rlim_cur;
		r.state = state_letter(task);
		bpf_probe_read_kernel(&r.comm, sizeof r.comm, task->comm);
	}
	/* Memory and files are the process's: the leader's, or a thread's when the leader has
	 * none left (it exited before its threads). Kernel threads have neither. */
	mm = task->mm;
	if (mm && (leader == task || !leader->mm)) {
		r.flags |= PW_TASK_MM;
		long rss[4];
		rss_read(mm, rss);
		r.vm_pages = mm->total_vm;
		r.rss_file = positive(rss[MM_FILEPAGES]);
		r.rss_anon = positive(rss[MM_ANONPAGES]);
		r.rss_shmem = positive(rss[MM_SHMEMPAGES]);
		r.swap_ents = positive(rss[MM_SWAPENTS]);
	}
	files = task->files;
	if (files && (leader == task || !leader->files) && !(r.flags & PW_TASK_KTHREAD)) {
		if (fds_open(files, &r.fds))
			r.flags |= PW_TASK_FILES;
		else
			r.flags |= PW_TASK_FDS_CUT;
	}
	bpf_seq_write(seq, &r, sizeof r);
	return 0;
}
