/*
 * The workload of bench/tracer-overhead.ts: plain blocking writes over TCP, and a sink.
 *
 *   blocking-sender sink                     listens on 127.0.0.1, an ephemeral port
 *                                            ("port N" on stdout), reads every
 *                                            connection to its end, one after the other
 *   blocking-sender send HOST PORT COUNT SIZE
 *                                            COUNT blocking write()s of SIZE bytes, then
 *                                            close; "writes N seconds S" on stderr (the
 *                                            first write's entry to the last one's return,
 *                                            CLOCK_MONOTONIC: start-up is not counted)
 *                                            "cpu C": the sender's user + system CPU
 *                                            seconds over the same loop (BPF programs
 *                                            and softirqs run in its context count)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what)
{
	fprintf(stderr, "blocking-sender: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void __attribute__((noreturn)) sink(void)
{
	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 16) || getsockname(l, (struct sockaddr *)&a, &len))
		die("listen");
	printf("port %d\n", ntohs(a.sin_port));
	fflush(stdout);
	static char buf[1 << 18];
	for (;;) {
		int c = accept(l, NULL, NULL);
		if (c < 0) {
			if (errno == EINTR)
				continue;
			die("accept");
		}
		ssize_t r;
		while ((r = read(c, buf, sizeof(buf))) > 0 || (r < 0 && errno == EINTR))
			;
		close(c);
	}
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "sink"))
		sink();
	if (argc != 6 || strcmp(argv[1], "send")) {
		fprintf(stderr, "usage: blocking-sender sink | send HOST PORT COUNT SIZE\n");
		return 64;
	}
	long count = atol(argv[4]);
	size_t size = (size_t)atol(argv[5]);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[3])) };
	if (fd < 0 || inet_pton(AF_INET, argv[2], &a.sin_addr) != 1 || connect(fd, (struct sockaddr *)&a, sizeof(a)))
		die("connect");
	char *buf = malloc(size);
	if (!buf)
		die("malloc");
	memset(buf, 'x', size);
	struct timespec t0, t1;
	struct rusage r0, r1;
	getrusage(RUSAGE_SELF, &r0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < count; i++) {
		size_t done = 0;
		while (done < size) {
			ssize_t w = write(fd, buf + done, size - done);
			if (w < 0) {
				if (errno == EINTR)
					continue;
				die("write");
			}
			done += (size_t)w;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	getrusage(RUSAGE_SELF, &r1);
	close(fd);
#define SECS(a, b) ((double)((b).tv_sec - (a).tv_sec) + ((b).tv_usec - (a).tv_usec) / 1e6)
	fprintf(stderr, "writes %ld seconds %.6f cpu %.6f\n", count, (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9,
		SECS(r0.ru_utime, r1.ru_utime) + SECS(r0.ru_stime, r1.ru_stime));
	return 0;
}
