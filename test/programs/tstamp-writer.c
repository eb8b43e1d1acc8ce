/*
 * The kernel's own witness of a TCP write's later moments: SO_TIMESTAMPING.
 *
 *   tstamp-writer HOST PORT WRITES SIZE OUTFILE
 *
 * Connects, asks for software SCHED (entered the qdisc layer: __dev_queue_xmit),
 * SND (the driver's skb_tx_timestamp) and ACK (the ACK covering the byte was processed)
 * stamps with OPT_ID (the key of a stamp is the stream offset of its skb's last byte,
 * counted from the write sequence at the setsockopt: 0 = the first byte written) and
 * OPT_TSONLY (no payload copy on the error queue), then makes WRITES blocking writes of
 * SIZE bytes with MSG_EOR, so each write ends its own skb and its last byte is a key.
 * The error queue is drained between writes (its skbs are charged to the receive
 * buffer: a full one drops stamps silently) and after the last write until every write
 * has its ACK stamp (or 5 s passed). Then the socket is closed.
 *
 * OUTFILE gets one line per stamp: "stamp KIND KEY NS" (KIND sched|snd|ack, NS
 * CLOCK_REALTIME epoch ns: software stamps are ktime_get_real()), then
 * "done WRITES SIZE". Exit 0, or 1 with the failing call on stderr.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/errqueue.h>
#include <linux/net_tstamp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what)
{
	fprintf(stderr, "tstamp-writer: %s: %s\n", what, strerror(errno));
	exit(1);
}

static FILE *out;
static long acks;

/* Reads every message waiting on the error queue; returns how many stamps were read. */
static int drain(int fd)
{
	int n = 0;
	for (;;) {
		char control[512];
		struct msghdr msg = { .msg_control = control, .msg_controllen = sizeof(control) };
		ssize_t r = recvmsg(fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT);
		if (r < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return n;
			if (errno == EINTR)
				continue;
			die("recvmsg(MSG_ERRQUEUE)");
		}
		struct scm_timestamping *ts = NULL;
		struct sock_extended_err *ee = NULL;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_TIMESTAMPING)
				ts = (struct scm_timestamping *)CMSG_DATA(c);
			else if ((c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR) ||
				 (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVERR))
				ee = (struct sock_extended_err *)CMSG_DATA(c);
		}
		if (!ts || !ee || ee->ee_origin != SO_EE_ORIGIN_TIMESTAMPING)
			continue;
		const char *kind = ee->ee_info == SCM_TSTAMP_SCHED ? "sched"
				 : ee->ee_info == SCM_TSTAMP_SND   ? "snd"
				 : ee->ee_info == SCM_TSTAMP_ACK   ? "ack"
								   : NULL;
		if (!kind)
			continue;
		if (ee->ee_info == SCM_TSTAMP_ACK)
			acks++;
		/* software stamps are in ts[0] */
		fprintf(out, "stamp %s %u %lld\n", kind, ee->ee_data,
			(long long)ts->ts[0].tv_sec * 1000000000LL + ts->ts[0].tv_nsec);
		n++;
	}
}

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: tstamp-writer HOST PORT WRITES SIZE OUTFILE\n");
		return 64;
	}
	long writes = atol(argv[3]);
	size_t size = (size_t)atol(argv[4]);
	out = fopen(argv[5], "w");
	if (!out)
		die("fopen");

	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *ai;
	int gai = getaddrinfo(argv[1], argv[2], &hints, &ai);
	if (gai) {
		fprintf(stderr, "tstamp-writer: %s\n", gai_strerror(gai));
		return 1;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (fd < 0)
		die("socket");
	if (connect(fd, ai->ai_addr, ai->ai_addrlen))
		die("connect");
	int one = 1;
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)))
		die("TCP_NODELAY");
	/* room for every stamp on the error queue (root: past rmem_max) */
	int rcvbuf = 8 << 20;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	/* after connect: OPT_ID counts from the write sequence at this moment */
	int flags = SOF_TIMESTAMPING_TX_SCHED | SOF_TIMESTAMPING_TX_SOFTWARE | SOF_TIMESTAMPING_TX_ACK |
		    SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_OPT_ID | SOF_TIMESTAMPING_OPT_TSONLY;
	if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPING, &flags, sizeof(flags)))
		die("SO_TIMESTAMPING");

	char *buf = malloc(size);
	if (!buf)
		die("malloc");
	for (long i = 0; i < writes; i++) {
		memset(buf, 'a' + (int)(i % 26), size);
		size_t done = 0;
		while (done < size) {
			ssize_t w = send(fd, buf + done, size - done, MSG_EOR);
			if (w < 0) {
				if (errno == EINTR)
					continue;
				die("send");
			}
			done += (size_t)w;
		}
		drain(fd);
	}
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (acks < writes) {
		struct pollfd p = { .fd = fd, .events = 0 };
		poll(&p, 1, 50);
		drain(fd);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec > 5)
			break;
	}
	fprintf(out, "done %ld %zu\n", writes, size);
	fclose(out);
	close(fd);
	return 0;
}
