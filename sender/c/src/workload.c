/* The workload plan shared by both senders: write sizes, buffer split, tag, payload bytes. */
#include "common.h"

uint32_t write_size(const struct sender_options *o, uint64_t i) {
  return o->sizes[i % o->size_count];
}

static void put_u32be(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)(v >> 24);
  p[1] = (unsigned char)(v >> 16);
  p[2] = (unsigned char)(v >> 8);
  p[3] = (unsigned char)v;
}

void encode_tag(unsigned char *out, uint32_t write_id, uint32_t length, uint64_t offset) {
  out[0] = 'A', out[1] = 'K', out[2] = 'S', out[3] = 'T';
  out[4] = 1; /* version */
  out[5] = out[6] = out[7] = 0;
  put_u32be(out + 8, write_id);
  put_u32be(out + 12, length);
  put_u32be(out + 16, (uint32_t)(offset >> 32));
  put_u32be(out + 20, (uint32_t)offset);
}

void fill_payload(unsigned char *buf, uint32_t len, uint64_t seed) {
  /* lowercase letters: never forms the "AKST" magic, readable in a hex dump */
  for (uint32_t i = 0; i < len; i++) buf[i] = (unsigned char)('a' + (seed + i) % 26);
}

uint32_t buffer_piece(uint32_t len, unsigned n, unsigned index) {
  uint32_t piece = len / n;
  return index + 1 < n ? piece : len - piece * (n - 1);
}

void count_record(struct run_totals *t, const struct completion_record *r) {
  t->records++;
  t->bytes += r->bytes_reported;
  if (r->bytes_reported < r->offset_end - r->offset_start) t->partial++;
  if (r->status[0] != 'o' || r->status[1] != 'k' || r->status[2] != '\0') t->errors++;
}

void print_totals(FILE *to, const char *program, const struct run_totals *t) {
  fprintf(to, "%s: records=%llu bytes=%llu partial=%llu errors=%llu\n", program,
          (unsigned long long)t->records, (unsigned long long)t->bytes, (unsigned long long)t->partial,
          (unsigned long long)t->errors);
}
