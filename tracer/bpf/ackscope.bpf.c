// SPDX-License-Identifier: GPL-2.0
/* ackscope kernel witness: every send syscall of a target on a TCP socket, and the
 * kernel's later moments for its bytes. Tracepoints only (see shared/KERNEL-TRACE.md):
 * this machine's kernel has no kprobes and refuses fentry. CO-RE: vmlinux.h is generated
 * at build time from the running kernel's BTF. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "ackscope.h"

char LICENSE[] SEC("license") = "GPL";

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define SOCK_STREAM 1
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_SYN_RECV 3
#define TCP_CLOSE 7
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD

/* x86_64 syscall numbers (the loader refuses other architectures). */
#define NR_WRITE 1
#define NR_WRITEV 20
#define NR_SENDFILE 40
#define NR_SENDTO 44
#define NR_SENDMSG 46
#define NR_SPLICE 275
#define NR_SENDMMSG 307
#define NR_IO_URING_ENTER 426

const volatile int cfg_mode = MODE_PID;
const volatile __u64 cfg_cgroup_id = 0;
const volatile int cfg_cgroup_level = 0;
const volatile int cfg_follow_children = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, C_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* tgids traced (PID mode) */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u8);
} targets SEC(".maps");

struct inflight {
	__u64 enter_ns;
	__u64 sk;
	__u64 req_arg, req_iter, bytes;
	__u64 off_before, off_after, syn_adj;
	__u32 nr;
	__s32 fd;
	__u32 buffers;
	__u32 seq_before, seq_after;
	__u32 flow_id;
	__u8 have_before, seq_set, msg_open, msgs, interleaved, syn_known;
	__u8 active; /* a covered or uncovered syscall of this thread is under way */
	struct flow flow; /* copied from the socket's state when the call reaches it: no lookup at exit */
};

/* The thread's call under way, in task-local storage: a pointer walk from the task, where a
 * hash map keyed by pid_tgid cost an update, three lookups and a delete per call (and a
 * lookup after every syscall on the machine). Freed with the task. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct inflight);
} inflight SEC(".maps");

static __always_inline struct inflight *inflight_get(void)
{
	struct inflight *st = bpf_task_storage_get(&inflight, bpf_get_current_task_btf(), 0, 0);
	return st && st->active ? st : NULL;
}

/* What the ESTABLISHED transition told about a socket: bytes_acked then (1 on the
 * connect()ing side, which counts its SYN; 0 on an accepted socket). Machine-wide:
 * the transition of an accepted socket runs in softirq, outside the target. */
struct origin {
	__u64 syn_adj;
};
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64); /* struct sock * */
	__type(value, struct origin);
} origins SEC(".maps");

/* Sockets the target has sent on. */
struct sockstate {
	__u64 anchor_off;    /* raw offset of anchor_seq */
	__u64 syn_adj;
	__u32 anchor_seq;
	__u32 flow_id;
	__u32 last_ack_arrived, last_ack_processed;
	__u8 have_anchor, syn_known, acked_arrived_any, acked_processed_any;
	struct flow flow;
};
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* struct sock * */
	__type(value, struct sockstate);
} socks SEC(".maps");

/* netns + 4-tuple (as the sender sees it) -> struct sock *, for incoming ACKs */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct flow);
	__type(value, __u64);
} flows SEC(".maps");

__u32 next_flow_id = 0;

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);
	if (v)
		(*v)++;
}

static __always_inline bool covered_nr(long nr)
{
	return nr == NR_WRITE || nr == NR_WRITEV || nr == NR_SENDTO || nr == NR_SENDMSG ||
	       nr == NR_SENDMMSG;
}

static __always_inline bool uncovered_nr(long nr)
{
	return nr == NR_SENDFILE || nr == NR_SPLICE || nr == NR_IO_URING_ENTER;
}

static __always_inline bool is_target(void)
{
	if (cfg_mode == MODE_CGROUP)
		return bpf_get_current_ancestor_cgroup_id(cfg_cgroup_level) == cfg_cgroup_id;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	return bpf_map_lookup_elem(&targets, &tgid) != NULL;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(on_sys_enter, struct pt_regs *regs, long id)
{
	if (!covered_nr(id) && !uncovered_nr(id))
		return 0;
	if (!is_target())
		return 0;
	if (covered_nr(id))
		count(C_CALLS_SEEN);
	struct inflight *st = bpf_task_storage_get(&inflight, bpf_get_current_task_btf(), 0,
						   BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!st) {
		count(C_INFLIGHT_FULL);
		return 0;
	}
	__builtin_memset(st, 0, sizeof(*st));
	st->enter_ns = bpf_ktime_get_ns();
	st->nr = id;
	st->fd = (int)regs->di;
	if (id == NR_WRITE || id == NR_SENDTO) {
		st->req_arg = regs->dx;
		st->buffers = 1;
	} else if (id == NR_WRITEV) {
		st->buffers = (__u32)regs->dx;
	} else if (id == NR_SPLICE) {
		st->fd = (int)regs->dx; /* fd_out */
	}
	st->active = 1;
	return 0;
}

static __always_inline void read_flow(const struct sock *sk, struct flow *f)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	f->net = (__u64)BPF_CORE_READ(sk, __sk_common.skc_net.net);
	f->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	f->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	bool v4 = family == AF_INET;
	if (family == AF_INET6) {
		struct in6_addr d = BPF_CORE_READ(sk, __sk_common.skc_v6_daddr);
		/* v4-mapped (::ffff:a.b.c.d): the packets are IPv4 */
		if (d.in6_u.u6_addr32[0] == 0 && d.in6_u.u6_addr32[1] == 0 &&
		    d.in6_u.u6_addr32[2] == bpf_htonl(0xffff)) {
			v4 = true;
		} else {
			struct in6_addr s = BPF_CORE_READ(sk, __sk_common.skc_v6_rcv_saddr);
			__builtin_memcpy(f->laddr, &s, 16);
			__builtin_memcpy(f->raddr, &d, 16);
			f->family = 6;
		}
	}
	if (v4) {
		__u32 s = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__u32 d = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		__builtin_memcpy(f->laddr, &s, 4);
		__builtin_memcpy(f->raddr, &d, 4);
		f->family = 4;
	}
}

/* The hot programs read their tracepoint's arguments (typed, BTF) with plain loads: each
 * BPF_CORE_READ is a bpf_probe_read_kernel() call, and they were a good part of the
 * per-write cost (bench/tracer-cost.ts). A struct tcp_sock is reached with
 * bpf_skc_to_tcp_sock(), which keeps the pointer typed. */
static __always_inline bool is_tcp(const struct sock *sk)
{
	__u16 family = sk->__sk_common.skc_family;
	if (family != AF_INET && family != AF_INET6)
		return false;
	return sk->sk_protocol == IPPROTO_TCP && sk->sk_type == SOCK_STREAM;
}

/* raw offset of seq: bytes_acked + (seq - snd_una); the SYN is removed in user space
 * (syn_adj). Exact only under the socket lock (tcp_sendmsg_locked). */
static __always_inline __u64 raw_offset(const struct tcp_sock *tp, __u32 seq)
{
	return tp->bytes_acked + (__u32)(seq - tp->snd_una);
}

/* The socket's state, created on its first traced send. */
static __always_inline struct sockstate *sock_get(const struct sock *sk, bool create)
{
	__u64 key = (__u64)sk;
	struct sockstate *ss = bpf_map_lookup_elem(&socks, &key);
	if (ss || !create)
		return ss;
	struct sockstate init = {};
	init.flow_id = __sync_fetch_and_add(&next_flow_id, 1) + 1;
	read_flow(sk, &init.flow);
	struct origin *o = bpf_map_lookup_elem(&origins, &key);
	if (o) {
		init.syn_adj = o->syn_adj;
		init.syn_known = 1;
	}
	bpf_map_update_elem(&socks, &key, &init, BPF_NOEXIST);
	bpf_map_update_elem(&flows, &init.flow, &key, BPF_ANY);
	return bpf_map_lookup_elem(&socks, &key);
}

SEC("tp_btf/tcp_sendmsg_locked")
int BPF_PROG(on_tcp_sendmsg_locked, const struct sock *sk, const struct msghdr *msg,
	     const struct sk_buff *skb, int size_goal)
{
	__u64 key = bpf_get_current_pid_tgid();
	struct inflight *st = inflight_get();
	if (!st || st->msg_open)
		return 0; /* fires once per loop turn: only the first of each message counts */
	struct tcp_sock *tp = bpf_skc_to_tcp_sock((void *)sk);
	if (!tp)
		return 0;
	st->msg_open = 1;
	__u32 seq = tp->write_seq;
	__u64 off = raw_offset(tp, seq);
	st->req_iter += msg->msg_iter.count;
	if (st->nr == NR_SENDMSG || st->nr == NR_SENDMMSG) {
		__u8 t = msg->msg_iter.iter_type;
		st->buffers += t == 0 /* ITER_UBUF */ ? 1 : (__u32)msg->msg_iter.nr_segs;
	}
	st->have_before = 1;
	if (!st->seq_set) {
		st->seq_set = 1;
		st->seq_before = seq;
		st->off_before = off;
	}
	struct sockstate *ss = sock_get(sk, true);
	if (ss) {
		ss->anchor_seq = seq;
		ss->anchor_off = off;
		ss->have_anchor = 1;
	}
	return 0;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(on_sock_send_length, struct sock *sk, int ret, int flags)
{
	if (!is_tcp(sk))
		return 0;
	__u64 key = bpf_get_current_pid_tgid();
	struct inflight *st = inflight_get();
	if (!st) {
		/* a TCP send by the target with no traced syscall around it */
		if (is_target()) {
			count(C_SEND_NO_SYSCALL);
			struct sockstate *ss = sock_get(sk, true);
			struct ev_uncovered *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
			if (!e) {
				count(C_RB_FAIL);
				return 0;
			}
			__builtin_memset(e, 0, sizeof(*e));
			e->type = EV_UNCOVERED;
			e->enter_ns = e->exit_ns = bpf_ktime_get_ns();
			e->pid = key >> 32;
			e->tid = (__u32)key;
			e->fd = -1;
			e->ret = ret;
			e->bytes = ret > 0 ? ret : 0;
			if (ss) {
				e->flow_id = ss->flow_id;
				e->flow = ss->flow;
			}
			bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
		}
		return 0;
	}
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
	if (!tp)
		return 0;
	__u32 seq = tp->write_seq;
	if (!st->seq_set) {
		st->seq_set = 1;
		st->seq_before = seq;
		st->off_before = raw_offset(tp, seq);
	}
	st->seq_after = seq;
	st->off_after = st->off_before + (__u32)(seq - st->seq_before);
	st->sk = (__u64)sk;
	st->msg_open = 0;
	st->msgs++;
	if (ret > 0)
		st->bytes += ret;
	if (st->off_after - st->off_before != st->bytes)
		st->interleaved = 1;
	struct sockstate *ss = sock_get(sk, true);
	if (ss) {
		if (st->flow_id != ss->flow_id)
			st->flow = ss->flow;
		st->flow_id = ss->flow_id;
		st->syn_adj = ss->syn_adj;
		st->syn_known = ss->syn_known;
	}
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(on_sys_exit, struct pt_regs *regs, long ret)
{
	/* Runs after every syscall on the machine: reject the others by number before any
	 * map lookup (orig_ax holds the syscall number on x86_64). */
	long nr = regs->orig_ax;
	if (!covered_nr(nr) && !uncovered_nr(nr))
		return 0;
	__u64 key = bpf_get_current_pid_tgid();
	struct inflight *st = inflight_get();
	if (!st)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	if (uncovered_nr(st->nr)) {
		count(C_UNCOVERED);
		struct ev_uncovered *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
		if (!e) {
			count(C_RB_FAIL);
			goto out;
		}
		__builtin_memset(e, 0, sizeof(*e));
		e->type = EV_UNCOVERED;
		e->nr = st->nr;
		e->enter_ns = st->enter_ns;
		e->exit_ns = now;
		e->pid = key >> 32;
		e->tid = (__u32)key;
		e->fd = st->fd;
		e->ret = ret;
		e->bytes = st->bytes;
		if (st->sk) {
			struct sockstate *ss = bpf_map_lookup_elem(&socks, &st->sk);
			if (ss) {
				e->flow_id = ss->flow_id;
				e->flow = ss->flow;
			}
		}
		bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
		goto out;
	}
	if (!st->sk) {
		count(C_CALLS_NOT_TCP);
		goto out;
	}
	count(C_CALLS_TCP);
	struct ev_call *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(C_RB_FAIL);
		goto out;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->type = EV_CALL;
	e->nr = st->nr;
	e->enter_ns = st->enter_ns;
	e->exit_ns = now;
	e->pid = key >> 32;
	e->tid = (__u32)key;
	e->fd = st->fd;
	e->buffers = st->buffers;
	e->ret = ret;
	e->requested = st->req_iter ? st->req_iter : st->req_arg;
	e->bytes = st->bytes;
	e->off_before = st->off_before;
	e->off_after = st->off_after;
	e->syn_adj = st->syn_adj;
	e->seq_before = st->seq_before;
	e->seq_after = st->seq_after;
	e->flow_id = st->flow_id;
	e->have_before = st->have_before;
	e->syn_known = st->syn_known;
	e->interleaved = st->interleaved;
	e->msgs = st->msgs;
	e->flow = st->flow;
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
out:
	st->active = 0;
	return 0;
}

static __always_inline void emit_moment(struct sockstate *ss, __u32 moment, __u32 seq,
					__u32 end_seq, __u8 flags)
{
	if (!ss->have_anchor) {
		count(C_NO_ANCHOR);
		return;
	}
	struct ev_moment *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(C_RB_FAIL);
		return;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->type = EV_MOMENT;
	e->moment = moment;
	e->ns = bpf_ktime_get_ns();
	e->seq = seq;
	e->end_seq = end_seq;
	e->off_start = ss->anchor_off + (__s64)(__s32)(seq - ss->anchor_seq);
	e->off_end = ss->anchor_off + (__s64)(__s32)(end_seq - ss->anchor_seq);
	e->syn_adj = ss->syn_adj;
	e->syn_known = ss->syn_known;
	e->flow_id = ss->flow_id;
	e->cpu = bpf_get_smp_processor_id();
	e->tcp_flags = flags;
	e->flow = ss->flow;
	count(C_MOMENTS);
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
}

/* A transmitted skb of a traced socket: sequence range from its TCP header
 * (TCP_SKB_CB(skb)->seq is overwritten by now on this path). */
static __always_inline void on_tx(const struct sk_buff *skb, __u32 moment)
{
	struct sock *sk = skb->sk;
	if (!sk)
		return;
	__u64 key = (__u64)sk;
	struct sockstate *ss = bpf_map_lookup_elem(&socks, &key);
	if (!ss)
		return;
	unsigned char *head = skb->head;
	unsigned char *data = skb->data;
	__u16 th_off = skb->transport_header;
	__u32 len = skb->len;
	if (th_off == 0xffff)
		return;
	struct tcphdr th;
	if (bpf_probe_read_kernel(&th, sizeof(th), head + th_off))
		return;
	__u32 hdrs = (__u32)(head + th_off - data) + th.doff * 4;
	__u32 payload = len > hdrs ? len - hdrs : 0;
	__u8 flags = ((__u8 *)&th)[13];
	if (payload == 0 && !(flags & 0x01 /* FIN */))
		return; /* a pure ACK carries none of the writes' bytes */
	__u32 seq = bpf_ntohl(th.seq);
	emit_moment(ss, moment, seq, seq + payload, flags);
}

SEC("tp_btf/net_dev_queue")
int BPF_PROG(on_net_dev_queue, struct sk_buff *skb)
{
	on_tx(skb, M_QDISC_IN);
	return 0;
}

SEC("tp_btf/qdisc_dequeue")
int BPF_PROG(on_qdisc_dequeue, struct Qdisc *q, const struct netdev_queue *txq, int packets,
	     struct sk_buff *skb)
{
	/* skb is the first of up to `packets` dequeued; a bulk dequeue chains them on ->next */
	struct sk_buff *s = skb;
	for (int i = 0; i < 8 && s; i++) {
		on_tx(s, M_QDISC_OUT);
		s = s->next;
	}
	return 0;
}

SEC("tp_btf/net_dev_start_xmit")
int BPF_PROG(on_net_dev_start_xmit, const struct sk_buff *skb, const struct net_device *dev)
{
	on_tx(skb, M_DRIVER);
	return 0;
}

/* An ACK arrives: match by network namespace + 4-tuple (the skb has no socket yet). */
SEC("tp_btf/netif_receive_skb")
int BPF_PROG(on_netif_receive_skb, struct sk_buff *skb)
{
	__u16 proto = bpf_ntohs(skb->protocol);
	unsigned char *head = skb->head;
	__u16 nh = skb->network_header;
	struct flow key = {};
	__u32 th_pos;
	if (proto == ETH_P_IP) {
		struct iphdr ip;
		if (bpf_probe_read_kernel(&ip, sizeof(ip), head + nh))
			return 0;
		if (ip.protocol != IPPROTO_TCP)
			return 0;
		key.family = 4;
		__builtin_memcpy(key.laddr, &ip.daddr, 4);
		__builtin_memcpy(key.raddr, &ip.saddr, 4);
		th_pos = nh + ip.ihl * 4;
	} else if (proto == ETH_P_IPV6) {
		struct ipv6hdr ip6;
		if (bpf_probe_read_kernel(&ip6, sizeof(ip6), head + nh))
			return 0;
		if (ip6.nexthdr != IPPROTO_TCP)
			return 0;
		key.family = 6;
		__builtin_memcpy(key.laddr, &ip6.daddr, 16);
		__builtin_memcpy(key.raddr, &ip6.saddr, 16);
		th_pos = nh + sizeof(ip6);
	} else {
		return 0;
	}
	struct tcphdr th;
	if (bpf_probe_read_kernel(&th, sizeof(th), head + th_pos))
		return 0;
	if (!th.ack)
		return 0;
	key.lport = bpf_ntohs(th.dest);
	key.rport = bpf_ntohs(th.source);
	key.net = (__u64)skb->dev->nd_net.net;
	__u64 *skp = bpf_map_lookup_elem(&flows, &key);
	if (!skp)
		return 0;
	struct sockstate *ss = bpf_map_lookup_elem(&socks, skp);
	if (!ss)
		return 0;
	__u32 ack = bpf_ntohl(th.ack_seq);
	if (ss->acked_arrived_any && (__s32)(ack - ss->last_ack_arrived) <= 0)
		return 0; /* only ACKs that move forward */
	ss->acked_arrived_any = 1;
	ss->last_ack_arrived = ack;
	emit_moment(ss, M_ACK_ARRIVED, ack, ack, ((__u8 *)&th)[13]);
	return 0;
}

/* TCP processes an ACK (start of tcp_rcv_established; its snd_una is the value before
 * this ACK, so the segment's own ack_seq is used). */
SEC("tp_btf/tcp_probe")
int BPF_PROG(on_tcp_probe, struct sock *sk, const struct sk_buff *skb)
{
	__u64 key = (__u64)sk;
	struct sockstate *ss = bpf_map_lookup_elem(&socks, &key);
	if (!ss)
		return 0;
	unsigned char *head = skb->head;
	__u16 th_off = skb->transport_header;
	struct tcphdr th;
	if (bpf_probe_read_kernel(&th, sizeof(th), head + th_off))
		return 0;
	if (!th.ack)
		return 0;
	__u32 ack = bpf_ntohl(th.ack_seq);
	if (ss->acked_processed_any && (__s32)(ack - ss->last_ack_processed) <= 0)
		return 0;
	ss->acked_processed_any = 1;
	ss->last_ack_processed = ack;
	emit_moment(ss, M_ACK_PROCESSED, ack, ack, ((__u8 *)&th)[13]);
	return 0;
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(on_tcp_retransmit_skb, const struct sock *sk, const struct sk_buff *skb, int err)
{
	__u64 key = (__u64)sk;
	struct sockstate *ss = bpf_map_lookup_elem(&socks, &key);
	if (!ss)
		return 0;
	/* the control block is valid here (retransmit queue) */
	const struct tcp_skb_cb *cb = (const struct tcp_skb_cb *)&skb->cb[0];
	__u32 seq = BPF_CORE_READ(cb, seq);
	__u32 end_seq = BPF_CORE_READ(cb, end_seq);
	__u8 flags = (__u8)BPF_CORE_READ(cb, tcp_flags);
	emit_moment(ss, M_RETRANSMIT, seq, end_seq, flags);
	return 0;
}

/* Connection state: the ESTABLISHED transition tells whether bytes_acked counts a SYN;
 * CLOSE forgets the socket. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(on_inet_sock_set_state, const struct sock *sk, const int oldstate, const int newstate)
{
	__u64 key = (__u64)sk;
	if (newstate == TCP_ESTABLISHED && (oldstate == TCP_SYN_SENT || oldstate == TCP_SYN_RECV)) {
		if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
			return 0;
		struct origin o = {};
		const struct tcp_sock *tp = (const struct tcp_sock *)sk;
		o.syn_adj = BPF_CORE_READ(tp, bytes_acked);
		bpf_map_update_elem(&origins, &key, &o, BPF_ANY);
	} else if (newstate == TCP_CLOSE) {
		bpf_map_delete_elem(&origins, &key);
		struct sockstate *ss = bpf_map_lookup_elem(&socks, &key);
		if (ss) {
			struct flow f = ss->flow;
			bpf_map_delete_elem(&flows, &f);
			bpf_map_delete_elem(&socks, &key);
		}
	}
	return 0;
}

/* --follow-children: a new process of a traced one is traced too */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_sched_process_fork, struct task_struct *parent, struct task_struct *child)
{
	if (!cfg_follow_children || cfg_mode != MODE_PID)
		return 0;
	__u32 ptgid = BPF_CORE_READ(parent, tgid);
	if (!bpf_map_lookup_elem(&targets, &ptgid))
		return 0;
	__u32 ctgid = BPF_CORE_READ(child, tgid);
	__u8 one = 1;
	bpf_map_update_elem(&targets, &ctgid, &one, BPF_ANY);
	return 0;
}
