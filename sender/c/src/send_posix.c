/*
 * ackscope-send-posix: POSIX send/sendmsg with one completion record per call.
 *
 * A POSIX send "completes" when the call returns: the bytes it reports were copied into
 * the socket's send buffer (or, on loopback, possibly further: see docs/design-notes.md).
 *   --mode serial      blocking socket; a call returns when all its bytes were accepted
 *   --mode overlapped  non-blocking socket driven by poll(); a call accepts what fits in
 *                      the send buffer. A short return is recorded as it is, one partial
 *                      completion (bytesReported < offsetEnd - offsetStart), and the rest
 *                      of the write goes out as the next call and record. Looping inside
 *                      one record would hide exactly what ackscope asks about.
 * tcpInfo is read with getsockopt(TCP_INFO) right after each call returns.
 */
#define _GNU_SOURCE
#include "common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/tcp.h> /* struct tcp_info with bytes_sent/bytes_acked/notsent_bytes (glibc's lacks them) */
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static const char *PROGRAM = "ackscope-send-posix";

static uint64_t realtime_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts); /* the clock libpcap stamps frames with */
  return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

static const char *errno_name(int e) {
  const char *name = strerrorname_np(e); /* glibc >= 2.32 */
  return name ? name : "EUNKNOWN";
}

static void format_addr(const struct sockaddr_storage *sa, char *addr, size_t len, unsigned *port) {
  if (sa->ss_family == AF_INET6) {
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
    inet_ntop(AF_INET6, &s6->sin6_addr, addr, (socklen_t)len);
    *port = ntohs(s6->sin6_port);
  } else {
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
    inet_ntop(AF_INET, &s4->sin_addr, addr, (socklen_t)len);
    *port = ntohs(s4->sin_port);
  }
}

/* The flow as the capture host sees it: src is this (the sending) side. */
static int read_flow(int fd, struct flow_addrs *flow) {
  struct sockaddr_storage local, peer;
  socklen_t ll = sizeof local, pl = sizeof peer;
  if (getsockname(fd, (struct sockaddr *)&local, &ll) || getpeername(fd, (struct sockaddr *)&peer, &pl)) return 0;
  format_addr(&local, flow->src_addr, sizeof flow->src_addr, &flow->src_port);
  format_addr(&peer, flow->dst_addr, sizeof flow->dst_addr, &flow->dst_port);
  return 1;
}

/*
 * TCP_INFO as stream offsets, the same correction as capture/native/index.ts
 * (tcpInfoToStreamOffsets in capture/native/index.ts): tcpi_bytes_sent counts retransmitted bytes again,
 * so bytesSent = bytes_sent - bytes_retrans (first transmissions); on this actively opened
 * socket tcpi_bytes_acked counts the SYN's sequence number, so bytesAcked = bytes_acked - 1,
 * capped at bytesSent (which also removes an acked FIN).
 */
static void read_tcp_info(int fd, struct tcp_info_snapshot *s) {
  struct tcp_info ti;
  socklen_t len = sizeof ti;
  memset(&ti, 0, sizeof ti);
  s->present = getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
               len >= offsetof(struct tcp_info, tcpi_bytes_retrans) + sizeof ti.tcpi_bytes_retrans;
  if (!s->present) return;
  s->bytes_sent = ti.tcpi_bytes_sent >= ti.tcpi_bytes_retrans ? ti.tcpi_bytes_sent - ti.tcpi_bytes_retrans : 0;
  s->bytes_acked = ti.tcpi_bytes_acked > 0 ? ti.tcpi_bytes_acked - 1 : 0;
  if (s->bytes_acked > s->bytes_sent) s->bytes_acked = s->bytes_sent;
  s->notsent_bytes = ti.tcpi_notsent_bytes;
  s->unacked = ti.tcpi_unacked;
  s->bytes_retrans = ti.tcpi_bytes_retrans;
  s->rtt_us = ti.tcpi_rtt;
}

static int connect_target(const struct sender_options *o) {
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  int rc = getaddrinfo(o->host, o->port, &hints, &res);
  if (rc) {
    fprintf(stderr, "%s: cannot resolve %s: %s\n", PROGRAM, o->host, gai_strerror(rc));
    return -1;
  }
  int fd = -1;
  for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd < 0) continue;
    int one = 1;
    /* SO_SNDBUF before connect, as `ackscope send` does; the kernel doubles and clamps it */
    if (o->sndbuf >= 0) {
      int v = (int)o->sndbuf;
      if (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof v))
        fprintf(stderr, "%s: SO_SNDBUF %d: %s\n", PROGRAM, v, strerror(errno));
    }
    if (o->nodelay && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one))
      fprintf(stderr, "%s: TCP_NODELAY: %s\n", PROGRAM, strerror(errno));
    if (connect(fd, ai->ai_addr, ai->ai_addrlen)) {
      fprintf(stderr, "%s: connect %s:%s: %s\n", PROGRAM, o->host, o->port, strerror(errno));
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(res);
  return fd;
}

/* Points iov at bytes [from, len) of a write whose buffers are split by buffer_piece(). */
static int build_iov(unsigned char *buf, uint32_t len, unsigned buffers, uint32_t from, struct iovec *iov) {
  int n = 0;
  uint32_t at = 0;
  for (unsigned b = 0; b < buffers; b++) {
    uint32_t piece = buffer_piece(len, buffers, b);
    if (at + piece > from) {
      uint32_t skip = from > at ? from - at : 0;
      iov[n].iov_base = buf + at + skip;
      iov[n].iov_len = piece - skip;
      n++;
    }
    at += piece;
  }
  return n;
}

/* Waits until the socket takes bytes again (overlapped mode after EAGAIN). */
static void wait_writable(int fd) {
  struct pollfd p = {.fd = fd, .events = POLLOUT};
  while (poll(&p, 1, -1) < 0 && errno == EINTR) {
  }
}

int main(int argc, char **argv) {
  struct sender_options o;
  if (!parse_options(argc, argv, PROGRAM, &o)) return EXIT_USAGE;

  FILE *out = open_output(&o, PROGRAM);
  if (!out) return EXIT_SETUP;

  int fd = connect_target(&o);
  struct flow_addrs flow;
  if (fd < 0) return EXIT_SETUP;
  if (!read_flow(fd, &flow)) {
    fprintf(stderr, "%s: getsockname/getpeername: %s\n", PROGRAM, strerror(errno));
    return EXIT_SETUP;
  }
  int nonblocking = o.mode == MODE_OVERLAPPED;
  if (nonblocking) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);

  uint32_t max_size = 0;
  for (unsigned i = 0; i < o.size_count; i++)
    if (o.sizes[i] > max_size) max_size = o.sizes[i];
  unsigned char *buf = malloc(max_size);
  if (!buf) return EXIT_SETUP;
  fill_payload(buf, max_size, 0);

  struct run_totals totals = {0};
  uint64_t stream_offset = 0, write_id = 0;
  int failed = 0;
  for (uint64_t message = 0; message < o.count && !failed; message++) {
    uint32_t size = write_size(&o, message);
    /* the tag names the write (posting index), as `ackscope send --tag` does; after a short
     * return a write spans several calls, so call writeIds run ahead of write indexes */
    if (o.tag) encode_tag(buf, (uint32_t)message, size, stream_offset);
    uint32_t done = 0;
    while (done < size && !failed) {
      struct iovec iov[ACKSCOPE_MAX_BUFFERS];
      int iovcnt = build_iov(buf, size, o.buffers, done, iov);
      unsigned eagain = 0;
      ssize_t n;
      int err = 0;
      uint64_t submitted = realtime_ns();
      for (;;) {
        if (iovcnt == 1) {
          n = send(fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL);
        } else {
          struct msghdr m;
          memset(&m, 0, sizeof m);
          m.msg_iov = iov;
          m.msg_iovlen = (size_t)iovcnt;
          n = sendmsg(fd, &m, MSG_NOSIGNAL);
        }
        if (n >= 0) break;
        err = errno;
        if (err == EINTR) continue;
        if (nonblocking && (err == EAGAIN || err == EWOULDBLOCK)) {
          /* no byte taken: not a completion; the call stays pending until poll says writable */
          eagain++;
          wait_writable(fd);
          continue;
        }
        break;
      }
      uint64_t completed = realtime_ns();

      struct completion_record r;
      memset(&r, 0, sizeof r);
      read_tcp_info(fd, &r.tcp);
      char extra[96];
      r.flow = &flow;
      r.write_id = write_id++;
      r.offset_start = stream_offset;
      r.offset_end = stream_offset + (size - done);
      r.submitted_ns = submitted;
      r.completed_ns = completed;
      r.bytes_reported = n > 0 ? (uint64_t)n : 0;
      r.api = "posix:send";
      r.buffers = (unsigned)iovcnt;
      r.status = n >= 0 ? "ok" : errno_name(err);
      r.has_write_returned = 1;
      r.write_returned = n;
      if (done > 0 || eagain > 0 || message != r.write_id) {
        /* message: posting index of the write this call belongs to (its tag's writeId) */
        snprintf(extra, sizeof extra, "{\"message\":%" PRIu64 ",\"eagain\":%u}", message, eagain);
        r.extra_json = extra;
      }
      write_record(out, &r);
      count_record(&totals, &r);
      if (n < 0) {
        failed = 1;
        break;
      }
      done += (uint32_t)n;
      stream_offset += (uint64_t)n;
    }
  }

  close(fd);
  close_output(out);
  free(buf);
  print_totals(stderr, PROGRAM, &totals);
  return failed ? EXIT_SEND_ERROR : EXIT_SENT;
}
