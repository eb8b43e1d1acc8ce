/* The NDJSON completion record (docs/completions.md). Strings written here are addresses,
 * API names and error names: none needs JSON escaping, so none is escaped. */
#include "common.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#ifdef _WIN32
#include <fcntl.h>
#include <io.h>
#endif

FILE *open_output(const struct sender_options *o, const char *program) {
  FILE *out = stdout;
  if (o->out_path) {
    out = fopen(o->out_path, "wb");
    if (!out) {
      fprintf(stderr, "%s: cannot write %s: %s\n", program, o->out_path, strerror(errno));
      return NULL;
    }
  } else {
#ifdef _WIN32
    _setmode(_fileno(stdout), _O_BINARY);
#endif
  }
  setvbuf(out, NULL, _IOFBF, 1 << 20);
  return out;
}

void close_output(FILE *out) {
  fflush(out);
  if (out != stdout) fclose(out);
}

void write_record(FILE *out, const struct completion_record *r) {
  const struct flow_addrs *f = r->flow;
  fprintf(out,
          "{\"flow\":{\"srcAddr\":\"%s\",\"srcPort\":%u,\"dstAddr\":\"%s\",\"dstPort\":%u},"
          "\"writeId\":%" PRIu64 ",\"offsetStart\":%" PRIu64 ",\"offsetEnd\":%" PRIu64 ","
          "\"submittedNs\":\"%" PRIu64 "\",\"completedNs\":\"%" PRIu64 "\","
          "\"bytesReported\":%" PRIu64 ",\"api\":\"%s\",\"buffers\":%u,\"status\":\"%s\"",
          f->src_addr, f->src_port, f->dst_addr, f->dst_port, r->write_id, r->offset_start, r->offset_end,
          r->submitted_ns, r->completed_ns, r->bytes_reported, r->api, r->buffers, r->status);
  if (r->has_write_returned) fprintf(out, ",\"writeReturned\":%" PRId64, r->write_returned);
  if (r->immediate) fprintf(out, ",\"immediate\":\"%s\"", r->immediate);
  if (r->tcp.present)
    fprintf(out,
            ",\"tcpInfo\":{\"bytesSent\":%" PRIu64 ",\"bytesAcked\":%" PRIu64 ",\"notsentBytes\":%" PRIu64
            ",\"unacked\":%" PRIu64 ",\"bytesRetrans\":%" PRIu64 ",\"rttUs\":%" PRIu64 "}",
            r->tcp.bytes_sent, r->tcp.bytes_acked, r->tcp.notsent_bytes, r->tcp.unacked, r->tcp.bytes_retrans,
            r->tcp.rtt_us);
  if (r->extra_json) fprintf(out, ",\"extra\":%s", r->extra_json);
  fputs("}\n", out);
}
