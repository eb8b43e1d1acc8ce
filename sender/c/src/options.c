/* Command-line parsing shared by both senders; the flags mirror `ackscope send`. */
#include "common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void print_usage(FILE *to, const char *program) {
  fprintf(to,
          "usage: %s HOST:PORT [--count N] [--size BYTES[,BYTES...]] [--mode serial|overlapped]\n"
          "          [--window N] [--buffers N] [--sndbuf BYTES] [--nodelay] [--tag] [--out FILE]\n"
          "Sends COUNT writes and prints one NDJSON completion record per send call\n"
          "(docs/completions.md) to FILE or stdout; a summary line goes to stderr.\n"
          "  --count N        writes to send (default 100)\n"
          "  --size LIST      bytes per write, cycled (default 1024)\n"
          "  --mode M         serial: one call at a time (POSIX: blocking socket);\n"
          "                   overlapped: Winsock keeps --window WSASends in flight, POSIX sends on a\n"
          "                   non-blocking socket driven by poll (a short return is one partial record)\n"
          "  --window N       Winsock overlapped: most WSASend calls in flight (default 8);\n"
          "                   a POSIX send call returns before the next, so POSIX ignores it\n"
          "  --buffers N      buffers per call, iovec/WSABUF (default 1)\n"
          "  --sndbuf BYTES   set SO_SNDBUF before connecting (0 allowed)\n"
          "  --nodelay        set TCP_NODELAY\n"
          "  --tag            start every write with the 24-byte ackscope write tag\n"
          "exit: 0 all ok, 1 set-up failed, 2 usage, 3 a send failed (records written)\n",
          program);
}

static int fail(const char *program, const char *what, const char *value) {
  fprintf(stderr, "%s: %s%s%s\n", program, what, value ? ": " : "", value ? value : "");
  print_usage(stderr, program);
  return 0;
}

/* Whole decimal number in [min, max]; 0 when it is not one. */
static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out) {
  if (!s || !*s || *s == '-' || *s == '+') return 0;
  char *end = NULL;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end != '\0' || v < min || v > max) return 0;
  *out = (uint64_t)v;
  return 1;
}

static int parse_sizes(const char *s, struct sender_options *o) {
  char copy[1024];
  if (strlen(s) >= sizeof copy) return 0;
  strcpy(copy, s);
  o->size_count = 0;
  for (char *item = strtok(copy, ","); item; item = strtok(NULL, ",")) {
    uint64_t v;
    if (o->size_count == ACKSCOPE_MAX_SIZES || !parse_u64(item, 1, 0x7fffffffu, &v)) return 0;
    o->sizes[o->size_count++] = (uint32_t)v;
  }
  return o->size_count > 0;
}

/* HOST:PORT, or [V6ADDR]:PORT. */
static int parse_target(const char *s, struct sender_options *o) {
  const char *host = s, *colon;
  size_t host_len;
  if (*s == '[') {
    const char *close = strchr(s, ']');
    if (!close || close[1] != ':') return 0;
    host = s + 1;
    host_len = (size_t)(close - host);
    colon = close + 1;
  } else {
    colon = strrchr(s, ':');
    if (!colon) return 0;
    host_len = (size_t)(colon - s);
  }
  uint64_t port;
  if (host_len == 0 || host_len >= sizeof o->host || !parse_u64(colon + 1, 1, 65535, &port)) return 0;
  memcpy(o->host, host, host_len);
  o->host[host_len] = '\0';
  snprintf(o->port, sizeof o->port, "%u", (unsigned)port);
  return 1;
}

int parse_options(int argc, char **argv, const char *program, struct sender_options *o) {
  memset(o, 0, sizeof *o);
  o->count = 100;
  o->sizes[0] = 1024;
  o->size_count = 1;
  o->mode = MODE_SERIAL;
  o->window = 8;
  o->buffers = 1;
  o->sndbuf = -1;
  int have_target = 0;

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    uint64_t n;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      print_usage(stdout, program);
      exit(EXIT_SENT);
    } else if (!strcmp(a, "--count")) {
      if (!parse_u64(v, 1, UINT64_C(1) << 40, &n)) return fail(program, "--count needs a whole number >= 1", v);
      o->count = n, i++;
    } else if (!strcmp(a, "--size")) {
      if (!v || !parse_sizes(v, o)) return fail(program, "--size needs BYTES or a comma list of them (1..2^31-1)", v);
      i++;
    } else if (!strcmp(a, "--mode")) {
      if (v && !strcmp(v, "serial")) o->mode = MODE_SERIAL;
      else if (v && !strcmp(v, "overlapped")) o->mode = MODE_OVERLAPPED;
      else return fail(program, "--mode is serial or overlapped", v);
      i++;
    } else if (!strcmp(a, "--window")) {
      if (!parse_u64(v, 1, 4096, &n)) return fail(program, "--window needs 1..4096", v);
      o->window = (unsigned)n, i++;
    } else if (!strcmp(a, "--buffers")) {
      if (!parse_u64(v, 1, ACKSCOPE_MAX_BUFFERS, &n)) return fail(program, "--buffers needs 1..64", v);
      o->buffers = (unsigned)n, i++;
    } else if (!strcmp(a, "--sndbuf")) {
      if (!parse_u64(v, 0, 0x7fffffff, &n)) return fail(program, "--sndbuf needs a byte count (0 allowed)", v);
      o->sndbuf = (int64_t)n, i++;
    } else if (!strcmp(a, "--nodelay")) {
      o->nodelay = 1;
    } else if (!strcmp(a, "--tag")) {
      o->tag = 1;
    } else if (!strcmp(a, "--out")) {
      if (!v) return fail(program, "--out needs a file name", NULL);
      o->out_path = v, i++;
    } else if (a[0] != '-' && !have_target) {
      if (!parse_target(a, o)) return fail(program, "target must be HOST:PORT or [V6ADDR]:PORT", a);
      have_target = 1;
    } else {
      return fail(program, "unknown argument", a);
    }
  }
  if (!have_target) return fail(program, "missing HOST:PORT", NULL);
  for (unsigned i = 0; i < o->size_count; i++) {
    /* every buffer of a call carries at least one byte; with --tag the first holds the header */
    uint32_t first = buffer_piece(o->sizes[i], o->buffers, 0);
    if (o->sizes[i] < o->buffers) return fail(program, "--size must be at least --buffers bytes", NULL);
    if (o->tag && first < ACKSCOPE_TAG_BYTES)
      return fail(program, "with --tag, --size / --buffers must be at least 24 bytes (the header)", NULL);
  }
  if (o->mode == MODE_SERIAL) o->window = 1;
  return 1;
}
