/*
 * What the two C senders (POSIX send/sendmsg, Winsock overlapped WSASend + IOCP) share:
 * options, the workload plan (sizes, buffer split, write tags) and the NDJSON completion
 * record of docs/completions.md. Everything here is portable C11: no sockets, no clock.
 */
#ifndef ACKSCOPE_SENDER_COMMON_H
#define ACKSCOPE_SENDER_COMMON_H

#include <stdint.h>
#include <stdio.h>

#define ACKSCOPE_TAG_BYTES 24
#define ACKSCOPE_MAX_SIZES 64
#define ACKSCOPE_MAX_BUFFERS 64

/* Exit codes, documented in sender/c/README.md and read by sender/c/run.ts. */
enum {
  EXIT_SENT = 0,        /* every write completed with status ok */
  EXIT_SETUP = 1,       /* resolve/connect/socket option failed: no record written */
  EXIT_USAGE = 2,       /* bad command line */
  EXIT_SEND_ERROR = 3   /* a send failed mid-run: records up to and including it were written */
};

enum send_mode { MODE_SERIAL, MODE_OVERLAPPED };

struct sender_options {
  char host[256];
  char port[16];
  uint64_t count;
  uint32_t sizes[ACKSCOPE_MAX_SIZES]; /* --size 1024 or --size 1024,65536: cycled per write */
  unsigned size_count;
  enum send_mode mode;
  unsigned window;                    /* overlapped: most writes outstanding at once */
  unsigned buffers;                   /* buffers per call (iovec / WSABUF) */
  int64_t sndbuf;                     /* -1: leave SO_SNDBUF alone; 0 allowed */
  int nodelay;
  int tag;
  const char *out_path;               /* NULL: stdout */
};

/* Parses argv; on error prints the reason and usage to stderr and returns 0. */
int parse_options(int argc, char **argv, const char *program, struct sender_options *out);
void print_usage(FILE *to, const char *program);

/* Size of the write with posting index i. */
uint32_t write_size(const struct sender_options *o, uint64_t i);

/*
 * The write tag of capture/decode/tag.ts, big-endian:
 *   0 "AKST"  4 version 1  5..7 zero  8 writeId u32  12 length u32  16 offset u64
 */
void encode_tag(unsigned char *out, uint32_t write_id, uint32_t length, uint64_t offset);

/* Fills a payload with a byte pattern derived from its stream offset (cheap, recognisable). */
void fill_payload(unsigned char *buf, uint32_t len, uint64_t stream_offset);

/* Splits len bytes over n buffers: the first n-1 get len/n, the last the rest. */
uint32_t buffer_piece(uint32_t len, unsigned n, unsigned index);

struct flow_addrs {
  char src_addr[64];
  unsigned src_port;
  char dst_addr[64];
  unsigned dst_port;
};

struct tcp_info_snapshot {
  int present;
  uint64_t bytes_sent, bytes_acked, notsent_bytes, unacked, bytes_retrans, rtt_us;
};

/* One completion record (docs/completions.md). */
struct completion_record {
  const struct flow_addrs *flow;
  uint64_t write_id;
  uint64_t offset_start, offset_end;   /* end exclusive: the range the call was asked to send */
  uint64_t submitted_ns, completed_ns;
  uint64_t bytes_reported;
  const char *api;
  unsigned buffers;
  const char *status;                  /* "ok" or the error name */
  int has_write_returned;
  int64_t write_returned;
  const char *immediate;               /* NULL when not applicable */
  struct tcp_info_snapshot tcp;
  const char *extra_json;              /* NULL or a JSON object literal, written as "extra" */
};

/* --out FILE or stdout, binary (no CRLF on Windows) and fully buffered; NULL after printing why. */
FILE *open_output(const struct sender_options *o, const char *program);
void close_output(FILE *out);

/* Writes one NDJSON line. Numbers are exact: ns as decimal strings, offsets as integers. */
void write_record(FILE *out, const struct completion_record *r);

/* Totals printed on stderr at the end of a run (one line, key=value). */
struct run_totals {
  uint64_t records, bytes, partial, errors;
};
void count_record(struct run_totals *t, const struct completion_record *r);
void print_totals(FILE *to, const char *program, const struct run_totals *t);

#endif
