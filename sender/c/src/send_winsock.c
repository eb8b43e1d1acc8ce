/*
 * ackscope-send-winsock.exe: Winsock 2 overlapped WSASend on an I/O completion port, one
 * completion record per WSASend.
 *
 * The socket is made with WSASocketW(WSA_FLAG_OVERLAPPED) and bound to an IOCP; up to
 * --window WSASend calls are outstanding at once, each with --buffers WSABUFs over one
 * write. submittedNs is read just before WSASend, completedNs when GetQueuedCompletionStatus
 * hands the completion back (records are written in that dequeue order; writeId keeps
 * posting order). Both come from GetSystemTimePreciseAsFileTime, converted to epoch ns.
 * bytesReported is the completion's transferred count: a completion shorter than its
 * write is recorded as it is, never topped up. "immediate" is what WSASend itself
 * returned: "0" (done at once; the completion is still queued to the port, because
 * FILE_SKIP_COMPLETION_PORT_ON_SUCCESS is not set) or "WSA_IO_PENDING".
 */
#define WIN32_LEAN_AND_MEAN
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>

#include "common.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const char *PROGRAM = "ackscope-send-winsock";

/* FILETIME counts 100 ns ticks since 1601-01-01; this many lie before 1970-01-01. */
#define FILETIME_UNIX_EPOCH UINT64_C(116444736000000000)

static uint64_t realtime_ns(void) {
  FILETIME ft;
  GetSystemTimePreciseAsFileTime(&ft);
  uint64_t ticks = ((uint64_t)ft.dwHighDateTime << 32) | ft.dwLowDateTime;
  return (ticks - FILETIME_UNIX_EPOCH) * 100;
}

static const char *wsa_error_name(int e) {
  switch (e) {
    case 0: return "ok";
    case WSA_IO_PENDING: return "WSA_IO_PENDING";
    case WSA_OPERATION_ABORTED: return "WSA_OPERATION_ABORTED";
    case WSAECONNRESET: return "WSAECONNRESET";
    case WSAECONNABORTED: return "WSAECONNABORTED";
    case WSAENETRESET: return "WSAENETRESET";
    case WSAENETDOWN: return "WSAENETDOWN";
    case WSAENETUNREACH: return "WSAENETUNREACH";
    case WSAENOBUFS: return "WSAENOBUFS";
    case WSAENOTCONN: return "WSAENOTCONN";
    case WSAENOTSOCK: return "WSAENOTSOCK";
    case WSAESHUTDOWN: return "WSAESHUTDOWN";
    case WSAETIMEDOUT: return "WSAETIMEDOUT";
    case WSAEWOULDBLOCK: return "WSAEWOULDBLOCK";
    case WSAEINTR: return "WSAEINTR";
    case WSAEINVAL: return "WSAEINVAL";
    case WSAEFAULT: return "WSAEFAULT";
    case WSAEINPROGRESS: return "WSAEINPROGRESS";
    case WSAEMSGSIZE: return "WSAEMSGSIZE";
    case WSAECONNREFUSED: return "WSAECONNREFUSED";
    case WSAEHOSTUNREACH: return "WSAEHOSTUNREACH";
    case WSANOTINITIALISED: return "WSANOTINITIALISED";
    default: {
      static char unknown[32];
      snprintf(unknown, sizeof unknown, "WSA_ERROR_%d", e);
      return unknown;
    }
  }
}

static void format_addr(const SOCKADDR_STORAGE *sa, char *addr, size_t len, unsigned *port) {
  if (sa->ss_family == AF_INET6) {
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
    InetNtopA(AF_INET6, (void *)&s6->sin6_addr, addr, len);
    *port = ntohs(s6->sin6_port);
  } else {
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
    InetNtopA(AF_INET, (void *)&s4->sin_addr, addr, len);
    *port = ntohs(s4->sin_port);
  }
}

/* The flow as the capture host sees it: src is this (the sending) side. */
static int read_flow(SOCKET s, struct flow_addrs *flow) {
  SOCKADDR_STORAGE local, peer;
  int ll = sizeof local, pl = sizeof peer;
  if (getsockname(s, (struct sockaddr *)&local, &ll) || getpeername(s, (struct sockaddr *)&peer, &pl)) return 0;
  format_addr(&local, flow->src_addr, sizeof flow->src_addr, &flow->src_port);
  format_addr(&peer, flow->dst_addr, sizeof flow->dst_addr, &flow->dst_port);
  return 1;
}

static SOCKET connect_target(const struct sender_options *o) {
  ADDRINFOA hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  if (getaddrinfo(o->host, o->port, &hints, &res)) {
    fprintf(stderr, "%s: cannot resolve %s: %s\n", PROGRAM, o->host, wsa_error_name(WSAGetLastError()));
    return INVALID_SOCKET;
  }
  SOCKET s = INVALID_SOCKET;
  for (ADDRINFOA *ai = res; ai && s == INVALID_SOCKET; ai = ai->ai_next) {
    s = WSASocketW(ai->ai_family, SOCK_STREAM, IPPROTO_TCP, NULL, 0, WSA_FLAG_OVERLAPPED);
    if (s == INVALID_SOCKET) continue;
    /* SO_SNDBUF before connect; 0 is the case KB 214397 singles out (completion waits for the wire) */
    if (o->sndbuf >= 0) {
      int v = (int)o->sndbuf;
      if (setsockopt(s, SOL_SOCKET, SO_SNDBUF, (const char *)&v, sizeof v))
        fprintf(stderr, "%s: SO_SNDBUF %d: %s\n", PROGRAM, v, wsa_error_name(WSAGetLastError()));
    }
    BOOL one = TRUE;
    if (o->nodelay && setsockopt(s, IPPROTO_TCP, TCP_NODELAY, (const char *)&one, sizeof one))
      fprintf(stderr, "%s: TCP_NODELAY: %s\n", PROGRAM, wsa_error_name(WSAGetLastError()));
    if (connect(s, ai->ai_addr, (int)ai->ai_addrlen)) {
      fprintf(stderr, "%s: connect %s:%s: %s\n", PROGRAM, o->host, o->port, wsa_error_name(WSAGetLastError()));
      closesocket(s);
      s = INVALID_SOCKET;
    }
  }
  freeaddrinfo(res);
  return s;
}

/* One outstanding WSASend. OVERLAPPED first: the pointer the port hands back is the slot. */
struct pending_send {
  OVERLAPPED ov;
  WSABUF bufs[ACKSCOPE_MAX_BUFFERS];
  unsigned char *data;
  uint32_t size;
  uint64_t write_id, offset_start, submitted_ns;
  const char *immediate;
  int64_t write_returned;
  int busy;
};

/* How long GetQueuedCompletionStatus waits before checking that the connection still lives. */
#define STALL_CHECK_MS 250

/* True once the peer reset or closed the connection (no send can complete after that). */
static int connection_broken(SOCKET s) {
  WSAPOLLFD p;
  p.fd = s;
  p.events = POLLRDNORM;
  p.revents = 0;
  return WSAPoll(&p, 1, 0) > 0 && (p.revents & (POLLERR | POLLHUP)) != 0;
}

static struct pending_send *free_slot(struct pending_send *slots, unsigned n) {
  for (unsigned i = 0; i < n; i++)
    if (!slots[i].busy) return &slots[i];
  return NULL;
}

/* The fields a WSASend's record has however it ended (failed at once or completed);
 * the caller sets the outcome: completion time, bytes, status, write return, immediate. */
static void start_record(struct completion_record *r, const struct pending_send *p, const struct flow_addrs *flow,
                         unsigned buffers) {
  memset(r, 0, sizeof *r);
  r->flow = flow;
  r->write_id = p->write_id;
  r->offset_start = p->offset_start;
  r->offset_end = p->offset_start + p->size;
  r->submitted_ns = p->submitted_ns;
  r->api = "winsock:WSASend";
  r->buffers = buffers;
  r->has_write_returned = 1;
}

int main(int argc, char **argv) {
  struct sender_options o;
  if (!parse_options(argc, argv, PROGRAM, &o)) return EXIT_USAGE;
  FILE *out = open_output(&o, PROGRAM);
  if (!out) return EXIT_SETUP;

  WSADATA wsa;
  if (WSAStartup(MAKEWORD(2, 2), &wsa)) {
    fprintf(stderr, "%s: WSAStartup failed\n", PROGRAM);
    return EXIT_SETUP;
  }
  SOCKET s = connect_target(&o);
  if (s == INVALID_SOCKET) return EXIT_SETUP;
  struct flow_addrs flow;
  if (!read_flow(s, &flow)) {
    fprintf(stderr, "%s: getsockname/getpeername: %s\n", PROGRAM, wsa_error_name(WSAGetLastError()));
    return EXIT_SETUP;
  }
  HANDLE port = CreateIoCompletionPort((HANDLE)s, NULL, 0, 1);
  if (!port) {
    fprintf(stderr, "%s: CreateIoCompletionPort failed (%lu)\n", PROGRAM, (unsigned long)GetLastError());
    return EXIT_SETUP;
  }

  uint32_t max_size = 0;
  for (unsigned i = 0; i < o.size_count; i++)
    if (o.sizes[i] > max_size) max_size = o.sizes[i];
  struct pending_send *slots = calloc(o.window, sizeof *slots);
  if (!slots) return EXIT_SETUP;
  for (unsigned i = 0; i < o.window; i++) {
    /* each outstanding send owns its bytes until its completion is dequeued */
    slots[i].data = malloc(max_size);
    if (!slots[i].data) return EXIT_SETUP;
    fill_payload(slots[i].data, max_size, 0);
  }

  struct run_totals totals = {0};
  uint64_t posted = 0, stream_offset = 0, dequeued = 0;
  unsigned outstanding = 0;
  int failed = 0, cancelled = 0;
  char extra[128];
  for (;;) {
    while (!failed && posted < o.count && outstanding < o.window) {
      struct pending_send *p = free_slot(slots, o.window);
      p->size = write_size(&o, posted);
      p->write_id = posted;
      p->offset_start = stream_offset;
      if (o.tag) encode_tag(p->data, (uint32_t)p->write_id, p->size, stream_offset);
      uint32_t at = 0;
      for (unsigned b = 0; b < o.buffers; b++) {
        p->bufs[b].buf = (char *)p->data + at;
        p->bufs[b].len = buffer_piece(p->size, o.buffers, b);
        at += p->bufs[b].len;
      }
      memset(&p->ov, 0, sizeof p->ov);
      DWORD sent_now = 0;
      p->submitted_ns = realtime_ns();
      int rc = WSASend(s, p->bufs, o.buffers, &sent_now, 0, &p->ov, NULL);
      int err = rc == 0 ? 0 : WSAGetLastError();
      posted++;
      if (rc == 0 || err == WSA_IO_PENDING) {
        p->immediate = rc == 0 ? "0" : "WSA_IO_PENDING";
        p->write_returned = rc;
        p->busy = 1;
        outstanding++;
        stream_offset += p->size;
        continue;
      }
      /* failed at once: no completion will be queued, so this is the record */
      struct completion_record r;
      start_record(&r, p, &flow, o.buffers);
      r.completed_ns = realtime_ns();
      r.bytes_reported = 0;
      r.status = wsa_error_name(err);
      r.write_returned = rc;
      r.immediate = r.status;
      write_record(out, &r);
      count_record(&totals, &r);
      failed = 1;
    }
    if (outstanding == 0) break;

    DWORD transferred = 0;
    ULONG_PTR key = 0;
    OVERLAPPED *ov = NULL;
    BOOL ok = GetQueuedCompletionStatus(port, &transferred, &key, &ov, STALL_CHECK_MS);
    uint64_t completed = realtime_ns();
    if (!ov && GetLastError() == WAIT_TIMEOUT) {
      if (!cancelled && connection_broken(s)) {
        /* Wine 8 can leave sends pending forever after a reset (Windows fails them):
         * cancel them, so they complete as WSA_OPERATION_ABORTED and get their records */
        CancelIoEx((HANDLE)s, NULL);
        cancelled = 1;
        failed = 1;
      }
      continue;
    }
    if (!ov) {
      fprintf(stderr, "%s: GetQueuedCompletionStatus failed (%lu)\n", PROGRAM, (unsigned long)GetLastError());
      failed = 1;
      break;
    }
    struct pending_send *p = (struct pending_send *)ov;
    const char *status = "ok";
    if (!ok) {
      /* GetLastError holds an NT-mapped code here; WSAGetOverlappedResult gives the WSA one */
      DWORD again = 0, flags = 0;
      WSAGetOverlappedResult(s, ov, &again, FALSE, &flags);
      status = wsa_error_name(WSAGetLastError());
      if (!strcmp(status, "ok")) status = "WSA_ERROR_UNKNOWN";
      failed = 1;
    }
    struct completion_record r;
    start_record(&r, p, &flow, o.buffers);
    r.completed_ns = completed;
    r.bytes_reported = transferred;
    r.status = status;
    r.write_returned = p->write_returned;
    r.immediate = p->immediate;
    /* dequeueIndex: order the port handed completions back (not promised to be posting order) */
    snprintf(extra, sizeof extra, "{\"dequeueIndex\":%" PRIu64 ",\"outstanding\":%u%s}", dequeued++, outstanding,
             cancelled && !ok ? ",\"afterCancelIoEx\":true" : "");
    r.extra_json = extra;
    write_record(out, &r);
    count_record(&totals, &r);
    p->busy = 0;
    outstanding--;
  }

  shutdown(s, SD_SEND);
  closesocket(s);
  CloseHandle(port);
  WSACleanup();
  close_output(out);
  print_totals(stderr, PROGRAM, &totals);
  return failed ? EXIT_SEND_ERROR : EXIT_SENT;
}
