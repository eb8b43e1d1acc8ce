// SPDX-License-Identifier: GPL-2.0
/* ackscope-tracer: loads the kernel witness (bpf/ackscope.bpf.c), traces a PID, a cgroup
 * or a command it starts, and writes one NDJSON event per line on stdout (or, with
 * --events-format binary, frames: src/frames.h). The event format is documented in
 * docs/trace.md; tracer/events.ts parses the lines, tracer/frames.ts the frames. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "../bpf/ackscope.h"
#include "frames.h"
#include "ackscope.skel.h"

/* Exit codes of the tracer's own failures (a traced command's code is passed through
 * otherwise; the `exit` event on stdout tells the two apart). */
enum {
	EXIT_USAGE = 64,
	EXIT_PERMISSION = 65,
	EXIT_NO_BTF = 66,
	EXIT_NO_TRACEPOINT = 67,
	EXIT_NO_PID = 68,
	EXIT_COMMAND = 69,
	EXIT_LOAD = 70,
	EXIT_ARCH = 71,
};

static const char *const TRACEPOINTS[] = {
	"sys_enter", "sys_exit", "tcp_sendmsg_locked", "sock_send_length", "net_dev_queue",
	"qdisc_dequeue", "net_dev_start_xmit", "netif_receive_skb", "tcp_probe",
	"tcp_retransmit_skb", "inet_sock_set_state", "sched_process_fork",
};

static void fail(int code, const char *name, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "ackscope-tracer: error %s: ", name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

/* ---- clock: CLOCK_REALTIME = bpf_ktime_get_ns() (CLOCK_MONOTONIC) + offset ---- */
static int64_t clock_offset;   /* realtime - monotonic, ns */
static int64_t clock_window;   /* width of the best sample, ns */

static int64_t ts_ns(clockid_t c)
{
	struct timespec t;
	clock_gettime(c, &t);
	return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void sample_clock(void)
{
	int64_t best = INT64_MAX, off = 0;
	for (int i = 0; i < 50; i++) {
		int64_t a = ts_ns(CLOCK_MONOTONIC);
		int64_t r = ts_ns(CLOCK_REALTIME);
		int64_t b = ts_ns(CLOCK_MONOTONIC);
		if (b - a < best) {
			best = b - a;
			off = r - (a + (b - a) / 2);
		}
	}
	clock_offset = off;
	clock_window = best;
}

static unsigned long long real_ns(unsigned long long mono)
{
	return (unsigned long long)((int64_t)mono + clock_offset);
}

/* ---- names ---- */
static const char *syscall_name(unsigned nr)
{
	switch (nr) {
	case 1: return "write";
	case 20: return "writev";
	case 40: return "sendfile";
	case 44: return "sendto";
	case 46: return "sendmsg";
	case 275: return "splice";
	case 307: return "sendmmsg";
	case 426: return "io_uring_enter";
	default: return NULL;
	}
}

static const char *moment_name(unsigned m)
{
	switch (m) {
	case M_QDISC_IN: return "qdisc-in";
	case M_QDISC_OUT: return "qdisc-out";
	case M_DRIVER: return "driver";
	case M_ACK_ARRIVED: return "ack-arrived";
	case M_ACK_PROCESSED: return "ack-processed";
	case M_RETRANSMIT: return "retransmit";
	default: return "unknown";
	}
}

/* ---- output: NDJSON lines, or frames (src/frames.h) ---- */
static FILE *out; /* the event stream: stdout, or --events-fd */
static bool binary_out;
static char line[4096];
static size_t line_len;

/* Appends to the event being written. */
static void lput(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void lput(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line + line_len, sizeof(line) - line_len, fmt, ap);
	va_end(ap);
	if (n > 0)
		line_len = line_len + (size_t)n < sizeof(line) ? line_len + (size_t)n : sizeof(line) - 1;
}

/* Writes the event: a line, or a text frame. */
static void lend(void)
{
	if (binary_out) {
		struct frame_header h = {FRAME_TEXT, (uint32_t)line_len};
		fwrite(&h, sizeof(h), 1, out);
		fwrite(line, 1, line_len, out);
	} else {
		line[line_len++] = '\n';
		fwrite(line, 1, line_len, out);
	}
	line_len = 0;
}

static void flow_text(const struct flow *f, char *l, char *r)
{
	int af = f->family == 6 ? AF_INET6 : AF_INET;
	inet_ntop(af, f->laddr, l, INET6_ADDRSTRLEN);
	inet_ntop(af, f->raddr, r, INET6_ADDRSTRLEN);
}

static void print_flow(const struct flow *f)
{
	char l[INET6_ADDRSTRLEN], r[INET6_ADDRSTRLEN];
	flow_text(f, l, r);
	lput("\"flow\":{\"srcAddr\":\"%s\",\"srcPort\":%u,\"dstAddr\":\"%s\",\"dstPort\":%u}", l,
	     f->lport, r, f->rport);
}

/* Binary: a flow's addresses go once, before the first record naming its flowId. */
static unsigned char *flow_sent;
static size_t flow_sent_len;

static void frame_flow_once(unsigned flow_id, const struct flow *f)
{
	if (flow_id >= flow_sent_len) {
		size_t n = flow_sent_len ? flow_sent_len : 1024;
		while (n <= flow_id)
			n *= 2;
		unsigned char *p = realloc(flow_sent, n);
		if (!p)
			fail(EXIT_LOAD, "LOAD", "out of memory");
		memset(p + flow_sent_len, 0, n - flow_sent_len);
		flow_sent = p;
		flow_sent_len = n;
	}
	if (flow_sent[flow_id])
		return;
	flow_sent[flow_id] = 1;
	struct frame_flow ff;
	memset(&ff, 0, sizeof(ff));
	ff.flow_id = flow_id;
	ff.src_port = f->lport;
	ff.dst_port = f->rport;
	char l[INET6_ADDRSTRLEN], r[INET6_ADDRSTRLEN];
	flow_text(f, l, r);
	memcpy(ff.src_addr, l, strnlen(l, sizeof(ff.src_addr) - 1));
	memcpy(ff.dst_addr, r, strnlen(r, sizeof(ff.dst_addr) - 1));
	struct frame_header h = {FRAME_FLOW, sizeof(ff)};
	fwrite(&h, sizeof(h), 1, out);
	fwrite(&ff, sizeof(ff), 1, out);
}

static uint8_t basis_code(const char *basis)
{
	return basis[0] == 'e' ? BASIS_ESTABLISHED : basis[0] == 'l' ? BASIS_LISTENER : BASIS_NO_LISTENER;
}

/* ---- SYN correction for sockets established before the tracer attached ---- */
static int netns_pid; /* whose /proc/PID/net/tcp to read (0: self) */

/* An accepted socket shares its local port with a listener; a connect()ed one does not. */
static bool port_has_listener(unsigned port)
{
	const char *files[] = {"tcp", "tcp6"};
	for (int i = 0; i < 2; i++) {
		char path[64], line[512];
		if (netns_pid)
			snprintf(path, sizeof(path), "/proc/%d/net/%s", netns_pid, files[i]);
		else
			snprintf(path, sizeof(path), "/proc/self/net/%s", files[i]);
		FILE *fp = fopen(path, "r");
		if (!fp)
			continue;
		while (fgets(line, sizeof(line), fp)) {
			char local[128];
			unsigned st;
			if (sscanf(line, " %*d: %127s %*s %x", local, &st) != 2)
				continue;
			char *colon = strrchr(local, ':');
			if (st == 0x0A && colon && strtoul(colon + 1, NULL, 16) == port) {
				fclose(fp);
				return true;
			}
		}
		fclose(fp);
	}
	return false;
}

#define FLOW_CACHE 8192
static struct {
	unsigned id;
	unsigned long long adj;
	const char *basis;
} syn_cache[FLOW_CACHE];

static unsigned long long syn_adjust(unsigned flow_id, bool known, unsigned long long adj,
				     unsigned lport, const char **basis)
{
	if (known) {
		*basis = "established";
		return adj;
	}
	unsigned slot = flow_id % FLOW_CACHE;
	if (syn_cache[slot].id != flow_id) {
		syn_cache[slot].id = flow_id;
		bool accepted = port_has_listener(lport);
		syn_cache[slot].adj = accepted ? 0 : 1;
		syn_cache[slot].basis = accepted ? "listener" : "no-listener";
	}
	*basis = syn_cache[slot].basis;
	return syn_cache[slot].adj;
}

/* ---- events ---- */
static unsigned long long n_events;

static int on_event(void *ctx, void *data, size_t size)
{
	unsigned type = *(unsigned *)data;
	n_events++;
	if (type == EV_CALL && size >= sizeof(struct ev_call)) {
		const struct ev_call *e = data;
		const char *name = syscall_name(e->nr);
		const char *basis;
		unsigned long long adj = syn_adjust(e->flow_id, e->syn_known, e->syn_adj,
						    e->flow.lport, &basis);
		long long ret = e->ret;
		if (binary_out && ret >= 0 && name && e->flow_id) {
			frame_flow_once(e->flow_id, &e->flow);
			struct frame_header h = {FRAME_CALL, sizeof(struct frame_call)};
			struct frame_call fc = {
				.enter_ns = real_ns(e->enter_ns),
				.exit_ns = real_ns(e->exit_ns),
				.offset_start = e->off_before - adj,
				.offset_end = e->off_after - adj,
				.requested = e->requested,
				.bytes = e->bytes,
				.returned = ret,
				.pid = e->pid,
				.tid = e->tid,
				.fd = e->fd,
				.flow_id = e->flow_id,
				.seq_start = e->seq_before,
				.seq_end = e->seq_after,
				.buffers = e->buffers,
				.messages = e->msgs,
				.nr = (uint16_t)e->nr,
				.basis = basis_code(basis),
				.interleaved = e->interleaved,
			};
			fwrite(&h, sizeof(h), 1, out);
			fwrite(&fc, sizeof(fc), 1, out);
			return 0;
		}
		lput("{\"type\":\"call\",\"pid\":%u,\"tid\":%u,\"syscall\":\"%s\",\"api\":\"linux:%s\",\"fd\":%d,",
			e->pid, e->tid, name ? name : "?", name ? name : "?", e->fd);
		print_flow(&e->flow);
		lput(",\"flowId\":%u,\"seqStart\":%u,\"seqEnd\":%u,\"offsetStart\":%llu,\"offsetEnd\":%llu,"
			   "\"requested\":%llu,\"returned\":%lld,\"bytes\":%llu,\"buffers\":%u,\"messages\":%u,",
			e->flow_id, e->seq_before, e->seq_after, e->off_before - adj, e->off_after - adj,
			e->requested, ret, e->bytes, e->buffers, e->msgs);
		if (ret < 0) {
			const char *en = strerrorname_np((int)-ret);
			if (en)
				lput("\"errno\":\"%s\",", en);
			else
				lput("\"errno\":\"E%lld\",", -ret);
		} else {
			lput("\"errno\":null,");
		}
		lput("\"enterNs\":\"%llu\",\"exitNs\":\"%llu\",\"offsetBasis\":\"%s\",\"interleaved\":%s}",
			real_ns(e->enter_ns), real_ns(e->exit_ns), basis, e->interleaved ? "true" : "false");
		lend();
	} else if (type == EV_MOMENT && size >= sizeof(struct ev_moment)) {
		const struct ev_moment *e = data;
		const char *basis;
		unsigned long long adj = syn_adjust(e->flow_id, e->syn_known, e->syn_adj,
						    e->flow.lport, &basis);
		if (binary_out && e->moment >= M_QDISC_IN && e->moment <= M_RETRANSMIT && e->flow_id) {
			frame_flow_once(e->flow_id, &e->flow);
			struct frame_header h = {FRAME_MOMENT, sizeof(struct frame_moment)};
			bool ack = e->moment == M_ACK_ARRIVED || e->moment == M_ACK_PROCESSED;
			struct frame_moment fm = {
				.ns = real_ns(e->ns),
				.offset_start = ack ? e->off_end - adj : e->off_start - adj,
				.offset_end = e->off_end - adj,
				.flow_id = e->flow_id,
				.seq = e->seq,
				.end_seq = e->end_seq,
				.cpu = e->cpu,
				.moment = (uint8_t)e->moment,
				.fin = (e->tcp_flags & 1) ? 1 : 0,
			};
			fwrite(&h, sizeof(h), 1, out);
			fwrite(&fm, sizeof(fm), 1, out);
			return 0;
		}
		lput("{\"type\":\"moment\",\"moment\":\"%s\",\"flowId\":%u,", moment_name(e->moment),
			e->flow_id);
		print_flow(&e->flow);
		if (e->moment == M_ACK_ARRIVED || e->moment == M_ACK_PROCESSED)
			lput(",\"ackSeq\":%u,\"ackOffset\":%llu", e->seq, e->off_end - adj);
		else
			lput(",\"seq\":%u,\"endSeq\":%u,\"offsetStart\":%llu,\"offsetEnd\":%llu,\"fin\":%s",
				e->seq, e->end_seq, e->off_start - adj, e->off_end - adj,
				(e->tcp_flags & 1) ? "true" : "false");
		lput(",\"cpu\":%u,\"ns\":\"%llu\"}", e->cpu, real_ns(e->ns));
		lend();
	} else if (type == EV_UNCOVERED && size >= sizeof(struct ev_uncovered)) {
		const struct ev_uncovered *e = data;
		const char *name = syscall_name(e->nr);
		lput("{\"type\":\"uncovered\",\"pid\":%u,\"tid\":%u,", e->pid, e->tid);
		if (name)
			lput("\"syscall\":\"%s\",\"api\":\"linux:%s\",", name, name);
		else
			lput("\"syscall\":null,\"api\":\"kernel:sock_sendmsg\",");
		lput("\"fd\":%d,\"returned\":%lld,\"bytes\":%llu,", e->fd, e->ret, e->bytes);
		if (e->flow_id) {
			lput("\"flowId\":%u,", e->flow_id);
			print_flow(&e->flow);
			lput(",");
		} else {
			lput("\"flowId\":null,\"flow\":null,");
		}
		lput("\"enterNs\":\"%llu\",\"exitNs\":\"%llu\"}", real_ns(e->enter_ns),
		     real_ns(e->exit_ns));
		lend();
	}
	return 0;
}

/* The target's end: a command's exit code or the signal that killed it; a PID's end (no code to read). */
static void print_exit(pid_t child, pid_t pid, int exit_status, int exit_sig)
{
	if (child && exit_sig)
		lput("{\"type\":\"exit\",\"pid\":%d,\"exitCode\":null,\"signal\":\"SIG%s\"}", (int)child,
		     sigabbrev_np(exit_sig) ? sigabbrev_np(exit_sig) : "?");
	else if (child)
		lput("{\"type\":\"exit\",\"pid\":%d,\"exitCode\":%d,\"signal\":null}", (int)child, exit_status);
	else if (pid)
		lput("{\"type\":\"exit\",\"pid\":%d,\"exitCode\":null,\"signal\":null}", (int)pid);
	if (line_len)
		lend();
	fflush(out);
}

static void print_stats(struct ackscope_bpf *skel, bool final)
{
	int ncpu = libbpf_num_possible_cpus();
	unsigned long long sum[C_MAX] = {0};
	__u64 *vals = calloc(ncpu, sizeof(__u64));
	for (__u32 k = 0; k < C_MAX && vals; k++) {
		if (bpf_map__lookup_elem(skel->maps.counters, &k, sizeof(k), vals,
					 sizeof(__u64) * ncpu, 0))
			continue;
		for (int c = 0; c < ncpu; c++)
			sum[k] += vals[c];
	}
	free(vals);
	lput("{\"type\":\"stats\",\"final\":%s,\"lost\":%llu,\"callsSeen\":%llu,\"calls\":%llu,"
	       "\"callsNotTcp\":%llu,\"uncovered\":%llu,\"sendsOutsideSyscall\":%llu,\"moments\":%llu,"
	       "\"momentsWithoutAnchor\":%llu,\"inflightFull\":%llu,\"events\":%llu,"
	       "\"clockOffsetNs\":\"%lld\",\"clockWindowNs\":%lld,\"ns\":\"%lld\"}",
	       final ? "true" : "false", sum[C_RB_FAIL], sum[C_CALLS_SEEN], sum[C_CALLS_TCP],
	       sum[C_CALLS_NOT_TCP], sum[C_UNCOVERED], sum[C_SEND_NO_SYSCALL], sum[C_MOMENTS],
	       sum[C_NO_ANCHOR], sum[C_INFLIGHT_FULL], n_events, (long long)clock_offset,
	       (long long)clock_window, (long long)ts_ns(CLOCK_REALTIME));
	lend();
}

/* ---- signals ---- */
static volatile sig_atomic_t stop_signal;
static volatile sig_atomic_t stop_from_user; /* sent by kill(), not by the terminal */

static void on_signal(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (stop_signal) { /* second signal: stop now */
		stop_from_user = 2;
		return;
	}
	stop_signal = sig;
	stop_from_user = si && (si->si_code == SI_USER || si->si_code == SI_QUEUE);
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_WARN && getenv("ACKSCOPE_TRACER_VERBOSE"))
		return vfprintf(stderr, fmt, args);
	if (level == LIBBPF_DEBUG)
		return 0;
	if (getenv("ACKSCOPE_TRACER_VERBOSE"))
		return vfprintf(stderr, fmt, args);
	return 0;
}

/* ---- preflight ---- */
static unsigned long long cap_eff(void)
{
	FILE *fp = fopen("/proc/self/status", "r");
	char line[256];
	unsigned long long v = 0;
	while (fp && fgets(line, sizeof(line), fp))
		if (sscanf(line, "CapEff: %llx", &v) == 1)
			break;
	if (fp)
		fclose(fp);
	return v;
}

static void check_capabilities(void)
{
	unsigned long long c = cap_eff();
	const struct { int bit; const char *name; } need[] = {
		{39, "CAP_BPF"}, {38, "CAP_PERFMON"}, {21, "CAP_SYS_ADMIN"}};
	char missing[128] = "";
	/* CAP_BPF + CAP_PERFMON load and attach tracing programs; CAP_SYS_ADMIN alone does too
	 * on kernels before 5.8. */
	bool ok = ((c >> 39) & 1) && ((c >> 38) & 1);
	if (!ok && !((c >> 21) & 1)) {
		for (int i = 0; i < 2; i++)
			if (!((c >> need[i].bit) & 1)) {
				strcat(missing, missing[0] ? ", " : "");
				strcat(missing, need[i].name);
			}
		fail(EXIT_PERMISSION, "PERMISSION",
		     "missing capabilities %s (run as root, or grant CAP_BPF and CAP_PERFMON; "
		     "CAP_SYS_ADMIN also works)",
		     missing);
	}
}

static void check_btf(void)
{
	const char *path = getenv("ACKSCOPE_TRACER_BTF");
	if (!path)
		path = "/sys/kernel/btf/vmlinux";
	if (access(path, R_OK) != 0)
		fail(EXIT_NO_BTF, "NO_BTF",
		     "kernel has no BTF (%s: %s); the tracer needs a kernel built with CONFIG_DEBUG_INFO_BTF",
		     path, strerror(errno));
	struct btf *btf = btf__parse(path, NULL);
	if (!btf)
		fail(EXIT_NO_BTF, "NO_BTF", "kernel BTF %s cannot be read: %s", path, strerror(errno));
	char missing[512] = "";
	const char *extra = getenv("ACKSCOPE_TRACER_EXTRA_TP"); /* tests: require a name */
	size_t n = sizeof(TRACEPOINTS) / sizeof(TRACEPOINTS[0]);
	for (size_t i = 0; i <= n; i++) {
		const char *tp = i < n ? TRACEPOINTS[i] : extra;
		if (!tp)
			continue;
		char name[128];
		snprintf(name, sizeof(name), "btf_trace_%s", tp);
		if (btf__find_by_name_kind(btf, name, BTF_KIND_TYPEDEF) < 0) {
			if (strlen(missing) + strlen(tp) + 3 < sizeof(missing)) {
				strcat(missing, missing[0] ? ", " : "");
				strcat(missing, tp);
			}
		}
	}
	btf__free(btf);
	if (missing[0])
		fail(EXIT_NO_TRACEPOINT, "NO_TRACEPOINT", "the kernel lacks tracepoint(s) %s", missing);
}

static int pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static void usage(FILE *o)
{
	fprintf(o,
		"usage: ackscope-tracer --pid PID [--follow-children] [options]\n"
		"       ackscope-tracer --cgroup PATH [options]\n"
		"       ackscope-tracer [options] -- COMMAND ARGS...\n"
		"options: --events-fd N (write the events there; the command keeps stdout; default: events\n"
		"         on stdout and the command's stdout goes to stderr)\n"
		"         --linger-ms N (default 200: keep collecting late moments after the target ends)\n"
		"         --stats-ms N (default 1000), --poll-ms N (default 20)\n"
		"         --events-format ndjson|binary (default ndjson; binary: frames, src/frames.h)\n"
		"         --nice N (the tracer's own niceness once attached; a command keeps the caller's)\n"
		"NDJSON events on stdout (docs/trace.md). Exit codes: the command's own, or\n"
		"64 usage, 65 permission, 66 no BTF, 67 missing tracepoint, 68 unknown PID,\n"
		"69 command cannot start, 70 load/attach failure, 71 unsupported architecture.\n");
}

int main(int argc, char **argv)
{
	pid_t pid = 0;
	const char *cgroup = NULL;
	int events_fd = -1;
	int follow = 0, linger_ms = 200, stats_ms = 1000, poll_ms = 20, nice_to = 0;
	bool use_nice = false;
	static const struct option opts[] = {
		{"pid", required_argument, NULL, 'p'},
		{"follow-children", no_argument, NULL, 'f'},
		{"cgroup", required_argument, NULL, 'c'},
		{"linger-ms", required_argument, NULL, 'l'},
		{"nice", required_argument, NULL, 'n'},
		{"stats-ms", required_argument, NULL, 's'},
		{"poll-ms", required_argument, NULL, 'P'},
		{"events-fd", required_argument, NULL, 'e'},
		{"events-format", required_argument, NULL, 'F'},
		{"help", no_argument, NULL, 'h'},
		{0}};
	int c;
	while ((c = getopt_long(argc, argv, "+p:fc:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p': pid = (pid_t)atoi(optarg); if (pid <= 0) fail(EXIT_USAGE, "USAGE", "bad --pid %s", optarg); break;
		case 'f': follow = 1; break;
		case 'c': cgroup = optarg; break;
		case 'l': linger_ms = atoi(optarg); break;
		case 'n': nice_to = atoi(optarg); use_nice = true; break;
		case 's': stats_ms = atoi(optarg); break;
		case 'P': poll_ms = atoi(optarg); break;
		case 'e': events_fd = atoi(optarg); break;
		case 'F':
			if (strcmp(optarg, "binary") == 0)
				binary_out = true;
			else if (strcmp(optarg, "ndjson") != 0)
				fail(EXIT_USAGE, "USAGE", "--events-format %s: ndjson or binary", optarg);
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	char **cmd = optind < argc ? argv + optind : NULL;
	out = stdout;
	if (events_fd >= 0) {
		fcntl(events_fd, F_SETFD, FD_CLOEXEC); /* the traced command does not inherit it */
		out = fdopen(events_fd, "w");
		if (!out)
			fail(EXIT_USAGE, "USAGE", "--events-fd %d: %s", events_fd, strerror(errno));
	}
	if ((pid != 0) + (cgroup != NULL) + (cmd != NULL) != 1) {
		usage(stderr);
		fail(EXIT_USAGE, "USAGE", "give exactly one of --pid, --cgroup, -- COMMAND");
	}
	struct utsname u;
	if (uname(&u) == 0 && strcmp(u.machine, "x86_64") != 0)
		fail(EXIT_ARCH, "ARCH", "syscall numbers are x86_64's; this machine is %s", u.machine);

	check_capabilities();
	check_btf();

	unsigned long long cg_id = 0;
	int cg_level = 0;
	if (cgroup) {
		struct stat st;
		if (stat(cgroup, &st) != 0)
			fail(EXIT_USAGE, "USAGE", "--cgroup %s: %s", cgroup, strerror(errno));
		cg_id = st.st_ino; /* cgroup v2: the directory's inode number is the cgroup id */
		/* level: path components below the cgroup2 mount */
		const char *root = getenv("ACKSCOPE_CGROUP_ROOT");
		if (!root)
			root = "/sys/fs/cgroup/unified";
		char real[4096], rroot[4096];
		if (!realpath(cgroup, real) || !realpath(root, rroot) ||
		    strncmp(real, rroot, strlen(rroot)) != 0)
			fail(EXIT_USAGE, "USAGE", "--cgroup %s is not under the cgroup v2 mount %s", cgroup, root);
		for (const char *p = real + strlen(rroot); *p; p++)
			if (*p == '/' && p[1])
				cg_level++;
	}
	int pidfd = -1;
	if (pid) {
		pidfd = pidfd_open(pid);
		if (pidfd < 0)
			fail(EXIT_NO_PID, "NO_PID", "no process %d (%s)", pid, strerror(errno));
		netns_pid = pid;
	}

	/* a command: started now, held before exec until the programs are attached */
	int go_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
	pid_t child = 0;
	if (cmd) {
		if (pipe2(go_pipe, O_CLOEXEC) || pipe2(err_pipe, O_CLOEXEC))
			fail(EXIT_COMMAND, "COMMAND", "pipe: %s", strerror(errno));
		fflush(NULL);
		child = fork();
		if (child < 0)
			fail(EXIT_COMMAND, "COMMAND", "fork: %s", strerror(errno));
		if (child == 0) {
			close(go_pipe[1]);
			close(err_pipe[0]);
			char b;
			if (read(go_pipe[0], &b, 1) != 1)
				_exit(127); /* the tracer failed before attaching */
			close(go_pipe[0]);
			if (events_fd < 0)
				dup2(2, 1); /* stdout carries the events: the command's output goes to stderr */
			execvp(cmd[0], cmd);
			int e = errno;
			if (write(err_pipe[1], &e, sizeof(e)) < 0) {}
			_exit(127);
		}
		close(go_pipe[0]);
		close(err_pipe[1]);
		pid = child;
		follow = 1;
		netns_pid = child;
		pidfd = pidfd_open(child);
	}

	libbpf_set_print(libbpf_quiet);
	struct ackscope_bpf *skel = ackscope_bpf__open();
	if (!skel)
		fail(EXIT_LOAD, "LOAD", "cannot open the BPF object: %s", strerror(errno));
	skel->rodata->cfg_mode = cgroup ? MODE_CGROUP : MODE_PID;
	skel->rodata->cfg_cgroup_id = cg_id;
	skel->rodata->cfg_cgroup_level = cg_level;
	skel->rodata->cfg_follow_children = follow;
	int err = ackscope_bpf__load(skel);
	if (err) {
		ackscope_bpf__destroy(skel);
		if (child)
			kill(child, SIGKILL);
		if (err == -EPERM || err == -EACCES)
			fail(EXIT_PERMISSION, "PERMISSION",
			     "the kernel refused to load the programs (%s): missing CAP_BPF/CAP_PERFMON, or lockdown",
			     strerror(-err));
		fail(EXIT_LOAD, "LOAD", "loading the BPF programs failed: %s (ACKSCOPE_TRACER_VERBOSE=1 shows the verifier log)",
		     strerror(-err));
	}
	if (pid) {
		__u32 k = (__u32)pid;
		__u8 one = 1;
		bpf_map__update_elem(skel->maps.targets, &k, sizeof(k), &one, sizeof(one), BPF_ANY);
	}
	err = ackscope_bpf__attach(skel);
	if (err) {
		ackscope_bpf__destroy(skel);
		if (child)
			kill(child, SIGKILL);
		if (err == -EPERM || err == -EACCES)
			fail(EXIT_PERMISSION, "PERMISSION", "attaching was refused (%s)", strerror(-err));
		fail(EXIT_LOAD, "LOAD", "attaching the BPF programs failed: %s", strerror(-err));
	}
	struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(skel->maps.events), on_event, NULL, NULL);
	if (!rb) {
		ackscope_bpf__destroy(skel);
		if (child)
			kill(child, SIGKILL);
		fail(EXIT_LOAD, "LOAD", "ring buffer: %s", strerror(errno));
	}

	/* The command was forked before this, so it keeps the caller's priority: only the
	 * tracer's reading of the ring buffer yields to the traced program. */
	if (use_nice && setpriority(PRIO_PROCESS, 0, nice_to) != 0)
		fprintf(stderr, "ackscope-tracer: --nice %d: %s\n", nice_to, strerror(errno));

	struct sigaction sa = {0};
	sa.sa_sigaction = on_signal;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	static char obuf[1 << 20];
	setvbuf(out, obuf, _IOFBF, sizeof(obuf));
	/* A reader that falls behind for a moment blocks the writes, and while they block the
	 * ring buffer is not drained: a 1 MiB pipe (the default maximum) absorbs more of that. */
	if (fcntl(fileno(out), F_SETPIPE_SZ, 1 << 20) < 0) {}
	sample_clock();
	lput("{\"type\":\"start\",\"mode\":\"%s\",\"pid\":%d,\"cgroupId\":%llu,\"followChildren\":%s,"
	       "\"clockOffsetNs\":\"%lld\",\"clockWindowNs\":%lld,\"ns\":\"%lld\"}",
	       cgroup ? "cgroup" : cmd ? "command" : "pid", (int)pid, cg_id, follow ? "true" : "false",
	       (long long)clock_offset, (long long)clock_window, (long long)ts_ns(CLOCK_REALTIME));
	lend();
	fflush(out);

	int exit_code = 0, exit_status = -1, exit_sig = 0;
	if (cmd) {
		if (write(go_pipe[1], "g", 1) != 1) {}
		close(go_pipe[1]);
		int e = 0;
		ssize_t n = read(err_pipe[0], &e, sizeof(e));
		close(err_pipe[0]);
		if (n == (ssize_t)sizeof(e)) {
			waitpid(child, NULL, 0);
			ring_buffer__free(rb);
			ackscope_bpf__destroy(skel);
			fflush(out);
			fail(EXIT_COMMAND, "COMMAND", "cannot start %s: %s (%s)", cmd[0],
			     strerrorname_np(e) ? strerrorname_np(e) : "?", strerror(e));
		}
	}

	int64_t last_stats = ts_ns(CLOCK_MONOTONIC), last_clock = last_stats;
	int64_t target_gone_at = 0, stop_at = 0;
	for (;;) {
		struct pollfd pfd = {.fd = pidfd, .events = POLLIN};
		int pr = poll(&pfd, pidfd >= 0 ? 1 : 0, poll_ms);
		ring_buffer__consume(rb);
		int64_t now = ts_ns(CLOCK_MONOTONIC);
		if (pr > 0 && !target_gone_at) {
			target_gone_at = now;
			if (child) {
				int status;
				if (waitpid(child, &status, 0) == child) {
					if (WIFEXITED(status)) {
						exit_status = WEXITSTATUS(status);
						exit_code = exit_status;
					} else if (WIFSIGNALED(status)) {
						exit_sig = WTERMSIG(status);
						exit_code = 128 + exit_sig;
					}
				}
			}
			close(pidfd);
			pidfd = -1;
			/* said at once, not after the linger: a reader learns that the program ended
			 * while the late moments still come (and may stop us when it has them) */
			print_exit(child, pid, exit_status, exit_sig);
		}
		if (stop_signal && !stop_at) {
			stop_at = now;
			if (child && !target_gone_at && stop_from_user)
				kill(child, stop_signal); /* the terminal already signalled the group */
		}
		if (target_gone_at && now - target_gone_at >= (int64_t)linger_ms * 1000000)
			break;
		if (stop_at && (!child || stop_from_user == 2 || now - stop_at > 2000000000LL))
			break; /* PID/cgroup: stop at once; a command: wait up to 2 s for it */
		if (stop_at && target_gone_at && stop_at >= target_gone_at)
			break; /* stopped while lingering: the reader has the moments it waited for */
		if (now - last_clock > 1000000000LL) {
			sample_clock();
			last_clock = now;
		}
		if (now - last_stats >= (int64_t)stats_ms * 1000000) {
			print_stats(skel, false);
			last_stats = now;
		}
		fflush(out);
	}
	ring_buffer__consume(rb);
	print_stats(skel, true);
	fflush(out);
	ring_buffer__free(rb);
	ackscope_bpf__destroy(skel);
	if (!target_gone_at && stop_signal && !child)
		return 0;
	if (!target_gone_at && stop_signal)
		return 128 + stop_signal;
	return exit_code;
}
