/* Shared between the BPF program and the loader: event layouts and constants. */
#ifndef ACKSCOPE_TRACER_H
#define ACKSCOPE_TRACER_H

#define EV_CALL 1
#define EV_MOMENT 2
#define EV_UNCOVERED 3

#define M_QDISC_IN 1
#define M_QDISC_OUT 2
#define M_DRIVER 3
#define M_ACK_ARRIVED 4
#define M_ACK_PROCESSED 5
#define M_RETRANSMIT 6

#define MODE_PID 0
#define MODE_CGROUP 1

/* per-CPU counters */
#define C_RB_FAIL 0          /* ring-buffer reserve failed: an event lost */
#define C_CALLS_SEEN 1       /* covered send syscalls entered by the target */
#define C_CALLS_TCP 2        /* ... that were on a TCP socket (a call event) */
#define C_CALLS_NOT_TCP 3    /* ... that were not (files, pipes, UNIX, UDP) */
#define C_UNCOVERED 4        /* sendfile / splice / io_uring_enter calls */
#define C_SEND_NO_SYSCALL 5  /* a TCP send by the target outside any traced syscall */
#define C_MOMENTS 6          /* moment events emitted */
#define C_NO_ANCHOR 7        /* moment on a traced socket before any anchor (not emitted) */
#define C_INFLIGHT_FULL 8    /* per-thread call state could not be stored */
#define C_MAX 9

struct flow {
	unsigned long long net;  /* struct net pointer: the network namespace */
	unsigned short family;   /* 4 or 6 (a v4-mapped IPv6 socket is 4) */
	unsigned short lport;    /* host order */
	unsigned short rport;
	unsigned short pad;
	unsigned char laddr[16];
	unsigned char raddr[16];
};

struct ev_call {
	unsigned int type;
	unsigned int nr;          /* syscall number */
	unsigned long long enter_ns, exit_ns; /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
	unsigned int pid, tid;
	int fd;
	unsigned int buffers;
	long long ret;            /* the syscall's return value (negative errno) */
	unsigned long long requested; /* bytes asked for (iov_iter count, or the length argument) */
	unsigned long long bytes; /* bytes TCP accepted (sum of sock_send_length > 0) */
	unsigned long long off_before, off_after; /* raw: bytes_acked-based, SYN not removed */
	unsigned long long syn_adj; /* bytes_acked when the socket became ESTABLISHED */
	unsigned int seq_before, seq_after;
	unsigned int flow_id;
	unsigned char have_before; /* tcp_sendmsg_locked fired during the call */
	unsigned char syn_known;   /* syn_adj seen at the ESTABLISHED transition */
	unsigned char interleaved; /* write_seq moved by more than this call's bytes */
	unsigned char msgs;        /* messages (sendmmsg) */
	struct flow flow;
};

struct ev_moment {
	unsigned int type;
	unsigned int moment;
	unsigned long long ns;
	unsigned long long off_start, off_end; /* raw offsets (SYN not removed); ack: off_end = acked */
	unsigned long long syn_adj;
	unsigned int seq, end_seq; /* ack: seq = end_seq = ack_seq */
	unsigned int flow_id;
	unsigned int cpu;
	unsigned char tcp_flags;
	unsigned char syn_known;
	unsigned char pad[6];
	struct flow flow;
};

struct ev_uncovered {
	unsigned int type;
	unsigned int nr;  /* 0: a send outside any syscall (io_uring worker, kernel) */
	unsigned long long enter_ns, exit_ns;
	unsigned int pid, tid;
	int fd;
	unsigned int flow_id; /* 0 when no TCP socket was seen */
	long long ret;
	unsigned long long bytes;
	struct flow flow;
};

#endif
