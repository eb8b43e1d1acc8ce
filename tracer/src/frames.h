/* The binary event stream (--events-format binary), read by tracer/frames.ts: frames of
 *   u32 kind, u32 length (payload bytes), payload
 * little-endian (the tracer runs on x86_64 only). The frequent events (a call that
 * returned >= 0, a moment) are fixed-layout records; everything else is its NDJSON line
 * as a text frame, so both formats carry the same events (docs/trace.md). */
#ifndef ACKSCOPE_FRAMES_H
#define ACKSCOPE_FRAMES_H
#include <stdint.h>

#define FRAME_TEXT 1   /* one NDJSON event, no newline */
#define FRAME_FLOW 2   /* a flowId's 4-tuple, written before the first record that names it */
#define FRAME_CALL 3
#define FRAME_MOMENT 4

struct frame_header {
	uint32_t kind;
	uint32_t length;
} __attribute__((packed));

struct frame_flow {
	uint32_t flow_id;
	uint16_t src_port, dst_port;
	char src_addr[46]; /* inet_ntop text, NUL-padded */
	char dst_addr[46];
} __attribute__((packed)); /* 100 bytes */

#define BASIS_ESTABLISHED 0
#define BASIS_LISTENER 1
#define BASIS_NO_LISTENER 2

struct frame_call {
	uint64_t enter_ns, exit_ns; /* CLOCK_REALTIME */
	uint64_t offset_start, offset_end, requested, bytes;
	int64_t returned;           /* >= 0 (a failed call is a text frame) */
	uint32_t pid, tid;
	int32_t fd;
	uint32_t flow_id;
	uint32_t seq_start, seq_end;
	uint32_t buffers, messages;
	uint16_t nr;                /* syscall number */
	uint8_t basis;              /* BASIS_* */
	uint8_t interleaved;
	uint32_t pad;
} __attribute__((packed)); /* 96 bytes */

struct frame_moment {
	uint64_t ns;                /* CLOCK_REALTIME */
	uint64_t offset_start, offset_end; /* ACK: offset_end = ackOffset */
	uint32_t flow_id;
	uint32_t seq, end_seq;      /* ACK: seq = ackSeq */
	uint32_t cpu;
	uint8_t moment;             /* M_* (bpf/ackscope.h) */
	uint8_t fin;
	uint8_t pad[6];
} __attribute__((packed)); /* 48 bytes */

_Static_assert(sizeof(struct frame_header) == 8, "frame header");
_Static_assert(sizeof(struct frame_flow) == 100, "flow frame");
_Static_assert(sizeof(struct frame_call) == 96, "call frame");
_Static_assert(sizeof(struct frame_moment) == 48, "moment frame");

#endif
