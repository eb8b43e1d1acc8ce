/*
 * packed_frames: a SQLite table-valued function over a batch of frame rows packed in
 * typed columns by the frame packer (capture/frame-packer.ts), so a batch of 20,000
 * frames is handed to SQLite as three bound BLOBs instead of 21 bound parameters per row.
 * Binding was most of the import's writer thread (db/frame-rows.ts; docs/import.md).
 *
 *   INSERT INTO frames (...) SELECT ... FROM packed_frames(:frames, :ts, :flow_ids, :count, :id_base)
 *
 * - frames:   float64[count * 19], each row the FRAME_NUMBERS of capture/frame-packer.ts in
 *             that order (frame_no, flow, dir, caplen, ..., file_offset); NaN: NULL.
 * - ts:       int64[count], each row's ts_ns.
 * - flow_ids: float64[n], the database id of each flow number the packer gave; a row's
 *             `flow` must be a whole number below n naming a flow (checked once per batch).
 * - count:    the rows to read.
 * - id_base:  the session's first frame id (core/frame-id.ts); a row's id is id_base + frame_no.
 *
 * packed_advances: the same for a batch of sent_advances / ack_advances rows
 * (capture/advance-runs.ts, written by db/advances.ts):
 *
 *   INSERT OR IGNORE INTO sent_advances (...) SELECT ... FROM packed_advances(:numbers, :ts, :flow_ids, :count)
 *
 * - numbers:  float64[count * 4], each row (flow, dir, maximum, extra); NaN: NULL.
 * - ts, flow_ids, count: as above.
 *
 * Byte order and float layout are the writer's own (the same process wrote the buffers).
 * Loaded by db/native-extension.ts; built by scripts/build.sh.
 */
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT1

#include <math.h>
#include <stdint.h>
#include <string.h>

#define WIDTH 19
#define ADVANCE_WIDTH 4
/* positions in a packed row (FRAME_NUMBERS) */
enum { F_FRAME_NO, F_FLOW, F_DIR /* then caplen .. file_offset in column order */ };

/* Visible columns (in this order), then the hidden arguments. */
enum {
  COL_ID, COL_FRAME_NO, COL_FLOW_ID, COL_DIR, COL_TS_NS,
  COL_CAPLEN, /* COL_CAPLEN .. COL_FILE_OFFSET: packed positions 3 .. 18 */
  COL_FILE_OFFSET = COL_CAPLEN + 15,
  ARG_FRAMES, ARG_TS, ARG_FLOW_IDS, ARG_COUNT, ARG_ID_BASE,
  N_COLUMNS
};
#define N_ARGS 5

typedef struct {
  sqlite3_vtab base;
  int advances; /* 0: packed_frames, 1: packed_advances */
} FramesVtab;

typedef struct {
  sqlite3_vtab_cursor base;
  int count;
  int row;
  sqlite3_int64 id_base;
  int width; /* numbers per packed row */
  /* the bound values are copied: SQLite may free its own after xFilter returns */
  double* frames;
  int64_t* ts;
  double* flow_ids;
  int n_flows;
} FramesCursor;

static int frames_connect(sqlite3* db, void* aux, int argc, const char* const* argv, sqlite3_vtab** out, char** err);

/* packed_advances: columns flow_id, dir, max_off, ts_ns, extra, then its four arguments */
enum { A_FLOW_ID, A_DIR, A_MAX_OFF, A_TS_NS, A_EXTRA, A_ARG_NUMBERS, A_ARG_TS, A_ARG_FLOW_IDS, A_ARG_COUNT };
#define A_N_ARGS 4

static int advances_connect(sqlite3* db, void* aux, int argc, const char* const* argv, sqlite3_vtab** out, char** err) {
  int rc = sqlite3_declare_vtab(db,
      "CREATE TABLE x(flow_id INTEGER, dir INTEGER, max_off INTEGER, ts_ns INTEGER, extra INTEGER,"
      " numbers HIDDEN, ts HIDDEN, flow_ids HIDDEN, count HIDDEN)");
  if (rc != SQLITE_OK) return rc;
  FramesVtab* vtab = sqlite3_malloc(sizeof *vtab);
  if (!vtab) return SQLITE_NOMEM;
  memset(vtab, 0, sizeof *vtab);
  vtab->advances = 1;
  *out = &vtab->base;
  return SQLITE_OK;
}

static int frames_connect(sqlite3* db, void* aux, int argc, const char* const* argv, sqlite3_vtab** out, char** err) {
  int rc = sqlite3_declare_vtab(db,
      "CREATE TABLE x(id INTEGER, frame_no INTEGER, flow_id INTEGER, dir INTEGER, ts_ns INTEGER,"
      " caplen INTEGER, wirelen INTEGER, tcp_flags INTEGER, seq_raw INTEGER, ack_raw INTEGER, seq_off INTEGER,"
      " payload_len INTEGER, ack_off INTEGER, window INTEGER, retransmit INTEGER, sent_max INTEGER,"
      " acked_max INTEGER, sent_advanced INTEGER, ack_advanced INTEGER, sack_count INTEGER, file_offset INTEGER,"
      " frames HIDDEN, ts HIDDEN, flow_ids HIDDEN, count HIDDEN, id_base HIDDEN)");
  if (rc != SQLITE_OK) return rc;
  FramesVtab* vtab = sqlite3_malloc(sizeof *vtab);
  if (!vtab) return SQLITE_NOMEM;
  memset(vtab, 0, sizeof *vtab);
  *out = &vtab->base;
  return SQLITE_OK;
}

static int frames_disconnect(sqlite3_vtab* vtab) {
  sqlite3_free(vtab);
  return SQLITE_OK;
}

/* All five arguments must be given as equality constraints; rows come in the batch's order. */
static int frames_best_index(sqlite3_vtab* vtab, sqlite3_index_info* info) {
  int advances = ((FramesVtab*)vtab)->advances;
  int first_arg = advances ? A_ARG_NUMBERS : ARG_FRAMES;
  int n_args = advances ? A_N_ARGS : N_ARGS;
  int seen = 0;
  for (int i = 0; i < info->nConstraint; i++) {
    const struct sqlite3_index_constraint* c = &info->aConstraint[i];
    if (c->iColumn < first_arg) continue;
    if (!c->usable || c->op != SQLITE_INDEX_CONSTRAINT_EQ) return SQLITE_CONSTRAINT;
    int arg = c->iColumn - first_arg;
    info->aConstraintUsage[i].argvIndex = arg + 1;
    info->aConstraintUsage[i].omit = 1;
    seen |= 1 << arg;
  }
  if (seen != (1 << n_args) - 1) {
    vtab->zErrMsg = sqlite3_mprintf(advances ? "packed_advances needs its four arguments (numbers, ts, flow_ids, count)"
                                             : "packed_frames needs its five arguments (frames, ts, flow_ids, count, id_base)");
    return SQLITE_ERROR;
  }
  info->estimatedCost = 1;
  info->estimatedRows = 20000;
  return SQLITE_OK;
}

static int frames_open(sqlite3_vtab* vtab, sqlite3_vtab_cursor** out) {
  FramesCursor* cur = sqlite3_malloc(sizeof *cur);
  if (!cur) return SQLITE_NOMEM;
  memset(cur, 0, sizeof *cur);
  *out = &cur->base;
  return SQLITE_OK;
}

static void frames_reset(FramesCursor* cur) {
  sqlite3_free(cur->frames);
  sqlite3_free(cur->ts);
  sqlite3_free(cur->flow_ids);
  cur->frames = NULL;
  cur->ts = NULL;
  cur->flow_ids = NULL;
  cur->count = cur->row = cur->n_flows = 0;
}

static int frames_close(sqlite3_vtab_cursor* base) {
  FramesCursor* cur = (FramesCursor*)base;
  frames_reset(cur);
  sqlite3_free(cur);
  return SQLITE_OK;
}

static int fail(FramesCursor* cur, const char* message) {
  sqlite3_free(cur->base.pVtab->zErrMsg);
  cur->base.pVtab->zErrMsg = sqlite3_mprintf("%s: %s", ((FramesVtab*)cur->base.pVtab)->advances ? "packed_advances" : "packed_frames", message);
  return SQLITE_ERROR;
}

/* A copy of a BLOB argument of at least `need` bytes; NULL with *rc set when it is not one. */
static void* copy_blob(FramesCursor* cur, sqlite3_value* v, sqlite3_int64 need, const char* name, int* rc) {
  if (sqlite3_value_type(v) != SQLITE_BLOB) {
    *rc = fail(cur, name);
    return NULL;
  }
  int size = sqlite3_value_bytes(v);
  if (size < need) {
    *rc = fail(cur, name);
    return NULL;
  }
  void* out = sqlite3_malloc(size > 0 ? size : 1);
  if (!out) {
    *rc = SQLITE_NOMEM;
    return NULL;
  }
  if (size > 0) memcpy(out, sqlite3_value_blob(v), size);
  return out;
}

static int frames_filter(sqlite3_vtab_cursor* base, int idxNum, const char* idxStr, int argc, sqlite3_value** argv) {
  FramesCursor* cur = (FramesCursor*)base;
  frames_reset(cur);
  int advances = ((FramesVtab*)base->pVtab)->advances;
  if (argc != (advances ? A_N_ARGS : N_ARGS)) return fail(cur, "wrong number of arguments");
  int count = sqlite3_value_int(argv[3]);
  if (count < 0) return fail(cur, "count is negative");
  cur->width = advances ? ADVANCE_WIDTH : WIDTH;
  cur->id_base = advances ? 0 : sqlite3_value_int64(argv[4]);
  int rc = SQLITE_OK;
  cur->frames = copy_blob(cur, argv[0], (sqlite3_int64)count * cur->width * 8,
      advances ? "numbers is not a BLOB of count rows" : "frames is not a BLOB of count rows", &rc);
  if (!cur->frames) return rc;
  cur->ts = copy_blob(cur, argv[1], (sqlite3_int64)count * 8, "ts is not a BLOB of count times", &rc);
  if (!cur->ts) return rc;
  cur->flow_ids = copy_blob(cur, argv[2], 0, "flow_ids is not a BLOB", &rc);
  if (!cur->flow_ids) return rc;
  cur->n_flows = sqlite3_value_bytes(argv[2]) / 8;
  /* every row's flow must name a stored flow: checked once here, not per column read
     (the flow number is at position 1 of a frame row, 0 of an advance row) */
  int flow_at = advances ? 0 : F_FLOW;
  for (int r = 0; r < count; r++) {
    double flow = cur->frames[(size_t)r * cur->width + flow_at];
    if (!(flow >= 0 && flow < cur->n_flows) || flow != floor(flow)) return fail(cur, "a row's flow number names no flow");
    if (isnan(cur->flow_ids[(int)flow])) return fail(cur, "a row's flow has no database id");
  }
  cur->count = count;
  cur->row = 0;
  return SQLITE_OK;
}

static int frames_next(sqlite3_vtab_cursor* base) {
  ((FramesCursor*)base)->row++;
  return SQLITE_OK;
}

static int frames_eof(sqlite3_vtab_cursor* base) {
  FramesCursor* cur = (FramesCursor*)base;
  return cur->row >= cur->count;
}

static void result_number(sqlite3_context* ctx, double v) {
  if (isnan(v)) sqlite3_result_null(ctx);
  else sqlite3_result_int64(ctx, (sqlite3_int64)v); /* whole numbers below 2^53: the packer's */
}

static int advances_column(sqlite3_vtab_cursor* base, sqlite3_context* ctx, int col) {
  FramesCursor* cur = (FramesCursor*)base;
  const double* row = cur->frames + (size_t)cur->row * ADVANCE_WIDTH;
  switch (col) {
    case A_FLOW_ID: result_number(ctx, cur->flow_ids[(int)row[0]]); break;
    case A_DIR: result_number(ctx, row[1]); break;
    case A_MAX_OFF: result_number(ctx, row[2]); break;
    case A_TS_NS: sqlite3_result_int64(ctx, cur->ts[cur->row]); break;
    case A_EXTRA: result_number(ctx, row[3]); break;
    default: sqlite3_result_null(ctx); /* the hidden arguments are not read back */
  }
  return SQLITE_OK;
}

static int frames_column(sqlite3_vtab_cursor* base, sqlite3_context* ctx, int col) {
  FramesCursor* cur = (FramesCursor*)base;
  const double* row = cur->frames + (size_t)cur->row * WIDTH;
  switch (col) {
    case COL_ID: sqlite3_result_int64(ctx, cur->id_base + (sqlite3_int64)row[F_FRAME_NO]); break;
    case COL_FRAME_NO: result_number(ctx, row[F_FRAME_NO]); break;
    case COL_FLOW_ID: result_number(ctx, cur->flow_ids[(int)row[F_FLOW]]); break;
    case COL_DIR: result_number(ctx, row[F_DIR]); break;
    case COL_TS_NS: sqlite3_result_int64(ctx, cur->ts[cur->row]); break;
    default:
      if (col >= COL_CAPLEN && col <= COL_FILE_OFFSET) result_number(ctx, row[3 + (col - COL_CAPLEN)]);
      else sqlite3_result_null(ctx); /* the hidden arguments are not read back */
  }
  return SQLITE_OK;
}

static int frames_rowid(sqlite3_vtab_cursor* base, sqlite3_int64* out) {
  *out = ((FramesCursor*)base)->row;
  return SQLITE_OK;
}

static sqlite3_module frames_module = {
  0,                 /* iVersion */
  0,                 /* xCreate: eponymous only */
  frames_connect,
  frames_best_index,
  frames_disconnect,
  0,                 /* xDestroy */
  frames_open,
  frames_close,
  frames_filter,
  frames_next,
  frames_eof,
  frames_column,
  frames_rowid,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
};

static sqlite3_module advances_module = {
  0,                 /* iVersion */
  0,                 /* xCreate: eponymous only */
  advances_connect,
  frames_best_index,
  frames_disconnect,
  0,                 /* xDestroy */
  frames_open,
  frames_close,
  frames_filter,
  frames_next,
  frames_eof,
  advances_column,
  frames_rowid,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
};

#ifdef _WIN32
__declspec(dllexport)
#endif
int sqlite3_packedframes_init(sqlite3* db, char** err, const sqlite3_api_routines* api) {
  SQLITE_EXTENSION_INIT2(api);
  int rc = sqlite3_create_module(db, "packed_frames", &frames_module, 0);
  if (rc == SQLITE_OK) rc = sqlite3_create_module(db, "packed_advances", &advances_module, 0);
  return rc;
}
