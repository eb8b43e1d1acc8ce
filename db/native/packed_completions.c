/*
 * packed_completions: a SQLite table-valued function over a batch of completions packed
 * in typed columns (core/completion-columns.ts), so a batch of 4096 rows is handed to
 * SQLite as ONE bound BLOB instead of ~22 bound parameters per row (better-sqlite3's
 * binding was about half of SQLite's cost per stored row: db/completion-staging.ts).
 *
 *   SELECT * FROM packed_completions(:first, :packed, :strings, :extras)
 *
 * - first:   record index (in the upload) of the batch's row 0; a row's rowid and
 *            `record` column are first + its row.
 * - packed:  the batch's ArrayBuffer, capacity C rows (its size is C * 144 bytes):
 *            ints  float64[C * 14] (INT_FIELDS order; NaN: NULL)   at 0
 *            ns    int64[C * 2]    (submitted, completed)          at C * 112
 *            flow  int32[C]                                         at C * 128
 *            texts int32[C * 3]    (api, status, immediate; -1: NULL) at C * 132
 *            Rows 0 .. count-1 are read; count is the 5th argument.
 * - strings: the upload's texts so far, each as a little-endian uint32 byte length and
 *            its UTF-8 bytes; texts[] number them from 0.
 * - extras:  NULL, or int32[count]: the row's `extra` as a number into strings, -1: NULL.
 *
 * Byte order and float layout are the writer's own (the same process wrote the buffer).
 * Loaded by db/completion-staging.ts with better-sqlite3's loadExtension(); built by
 * scripts/build.sh.
 */
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT1

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define INT_WIDTH 14
#define ROW_BYTES 144

/* Visible columns (in this order), then the hidden arguments. */
enum {
  COL_RECORD, COL_FLOW,
  COL_INTS, /* COL_INTS .. COL_INTS + 13: the INT_FIELDS */
  COL_SUBMITTED = COL_INTS + INT_WIDTH, COL_COMPLETED,
  COL_API, COL_STATUS, COL_IMMEDIATE, COL_EXTRA,
  ARG_FIRST, ARG_PACKED, ARG_STRINGS, ARG_EXTRAS, ARG_COUNT,
  N_COLUMNS
};
#define N_ARGS 5

typedef struct {
  sqlite3_vtab base;
} PackedVtab;

typedef struct {
  sqlite3_vtab_cursor base;
  sqlite3_int64 first;
  int count;
  int row;
  const double* ints;
  const int64_t* ns;
  const int32_t* flow;
  const int32_t* texts;
  const int32_t* extras; /* NULL: no extras */
  int n_strings;
  const unsigned char** string_at;
  int* string_len;
  /* the bound values are copied: SQLite may free its own after xFilter returns */
  unsigned char* packed_copy;
  unsigned char* strings_copy;
  int32_t* extras_copy;
} PackedCursor;

static int packed_connect(sqlite3* db, void* aux, int argc, const char* const* argv, sqlite3_vtab** out, char** err) {
  int rc = sqlite3_declare_vtab(db,
      "CREATE TABLE x(record INTEGER, flow INTEGER, write_id INTEGER, offset_start INTEGER, offset_end INTEGER,"
      " bytes_reported INTEGER, buffers INTEGER, write_returned INTEGER, writable_length INTEGER,"
      " tcp_bytes_sent INTEGER, tcp_bytes_acked INTEGER, tcp_notsent_bytes INTEGER, tcp_unacked INTEGER,"
      " tcp_bytes_retrans INTEGER, tcp_rtt_us INTEGER, tcp_info_from INTEGER, submitted_ns INTEGER, completed_ns INTEGER,"
      " api TEXT, status TEXT, immediate TEXT, extra TEXT,"
      " first HIDDEN, packed HIDDEN, strings HIDDEN, extras HIDDEN, count HIDDEN)");
  if (rc != SQLITE_OK) return rc;
  PackedVtab* vtab = sqlite3_malloc(sizeof *vtab);
  if (!vtab) return SQLITE_NOMEM;
  memset(vtab, 0, sizeof *vtab);
  *out = &vtab->base;
  return SQLITE_OK;
}

static int packed_disconnect(sqlite3_vtab* vtab) {
  sqlite3_free(vtab);
  return SQLITE_OK;
}

/* All five arguments must be given as equality constraints; rows come in rowid order. */
static int packed_best_index(sqlite3_vtab* vtab, sqlite3_index_info* info) {
  int seen = 0;
  for (int i = 0; i < info->nConstraint; i++) {
    const struct sqlite3_index_constraint* c = &info->aConstraint[i];
    if (c->iColumn < ARG_FIRST) continue;
    if (!c->usable || c->op != SQLITE_INDEX_CONSTRAINT_EQ) return SQLITE_CONSTRAINT;
    int arg = c->iColumn - ARG_FIRST;
    info->aConstraintUsage[i].argvIndex = arg + 1;
    info->aConstraintUsage[i].omit = 1;
    seen |= 1 << arg;
  }
  if (seen != (1 << N_ARGS) - 1) {
    vtab->zErrMsg = sqlite3_mprintf("packed_completions needs its five arguments (first, packed, strings, extras, count)");
    return SQLITE_ERROR;
  }
  if (info->nOrderBy == 1 && (info->aOrderBy[0].iColumn == -1 || info->aOrderBy[0].iColumn == COL_RECORD) && !info->aOrderBy[0].desc) {
    info->orderByConsumed = 1;
  }
  info->estimatedCost = 1;
  info->estimatedRows = 4096;
  return SQLITE_OK;
}

static int packed_open(sqlite3_vtab* vtab, sqlite3_vtab_cursor** out) {
  PackedCursor* cur = sqlite3_malloc(sizeof *cur);
  if (!cur) return SQLITE_NOMEM;
  memset(cur, 0, sizeof *cur);
  *out = &cur->base;
  return SQLITE_OK;
}

static void packed_reset(PackedCursor* cur) {
  sqlite3_free(cur->packed_copy);
  sqlite3_free(cur->strings_copy);
  sqlite3_free(cur->extras_copy);
  sqlite3_free(cur->string_at);
  sqlite3_free(cur->string_len);
  cur->packed_copy = cur->strings_copy = NULL;
  cur->extras_copy = NULL;
  cur->string_at = NULL;
  cur->string_len = NULL;
  cur->count = cur->row = cur->n_strings = 0;
}

static int packed_close(sqlite3_vtab_cursor* base) {
  PackedCursor* cur = (PackedCursor*)base;
  packed_reset(cur);
  sqlite3_free(cur);
  return SQLITE_OK;
}

static unsigned char* copy_blob(sqlite3_value* v, int* size) {
  *size = sqlite3_value_bytes(v);
  const void* src = sqlite3_value_blob(v);
  unsigned char* out = sqlite3_malloc(*size > 0 ? *size : 1);
  if (out && *size > 0) memcpy(out, src, *size);
  return out;
}

static int fail(PackedCursor* cur, const char* message) {
  sqlite3_free(cur->base.pVtab->zErrMsg);
  cur->base.pVtab->zErrMsg = sqlite3_mprintf("packed_completions: %s", message);
  return SQLITE_ERROR;
}

static int packed_filter(sqlite3_vtab_cursor* base, int idxNum, const char* idxStr, int argc, sqlite3_value** argv) {
  PackedCursor* cur = (PackedCursor*)base;
  packed_reset(cur);
  if (argc != N_ARGS) return fail(cur, "wrong number of arguments");
  cur->first = sqlite3_value_int64(argv[0]);
  int count = sqlite3_value_int(argv[4]);

  int packed_size = 0;
  if (sqlite3_value_type(argv[1]) != SQLITE_BLOB) return fail(cur, "packed is not a BLOB");
  cur->packed_copy = copy_blob(argv[1], &packed_size);
  if (!cur->packed_copy) return SQLITE_NOMEM;
  if (packed_size % ROW_BYTES != 0) return fail(cur, "packed is not a whole number of rows");
  int capacity = packed_size / ROW_BYTES;
  if (count < 0 || count > capacity) return fail(cur, "count is more than packed holds");
  cur->ints = (const double*)cur->packed_copy;
  cur->ns = (const int64_t*)(cur->packed_copy + (size_t)capacity * 112);
  cur->flow = (const int32_t*)(cur->packed_copy + (size_t)capacity * 128);
  cur->texts = (const int32_t*)(cur->packed_copy + (size_t)capacity * 132);

  int strings_size = 0;
  if (sqlite3_value_type(argv[2]) != SQLITE_BLOB && sqlite3_value_type(argv[2]) != SQLITE_NULL) return fail(cur, "strings is not a BLOB");
  cur->strings_copy = copy_blob(argv[2], &strings_size);
  if (!cur->strings_copy) return SQLITE_NOMEM;
  int n = 0;
  for (int at = 0; at + 4 <= strings_size; n++) {
    uint32_t len;
    memcpy(&len, cur->strings_copy + at, 4);
    if (len > (uint32_t)(strings_size - at - 4)) return fail(cur, "a string runs past the end of strings");
    at += 4 + (int)len;
  }
  cur->string_at = sqlite3_malloc((n > 0 ? n : 1) * sizeof *cur->string_at);
  cur->string_len = sqlite3_malloc((n > 0 ? n : 1) * sizeof *cur->string_len);
  if (!cur->string_at || !cur->string_len) return SQLITE_NOMEM;
  for (int i = 0, at = 0; i < n; i++) {
    uint32_t len;
    memcpy(&len, cur->strings_copy + at, 4);
    cur->string_at[i] = cur->strings_copy + at + 4;
    cur->string_len[i] = (int)len;
    at += 4 + (int)len;
  }
  cur->n_strings = n;

  if (sqlite3_value_type(argv[3]) == SQLITE_BLOB) {
    int extras_size = 0;
    cur->extras_copy = (int32_t*)copy_blob(argv[3], &extras_size);
    if (!cur->extras_copy) return SQLITE_NOMEM;
    if (extras_size < count * 4) return fail(cur, "extras is shorter than count");
    cur->extras = cur->extras_copy;
  } else {
    cur->extras = NULL;
  }
  /* every text number must name a string: checked once here, not per column read */
  for (int r = 0; r < count; r++) {
    for (int k = 0; k < 3; k++) {
      int32_t t = cur->texts[3 * r + k];
      if (t < -1 || t >= n) return fail(cur, "a text number names no string");
    }
    if (cur->extras && (cur->extras[r] < -1 || cur->extras[r] >= n)) return fail(cur, "an extra names no string");
  }
  cur->count = count;
  cur->row = 0;
  return SQLITE_OK;
}

static int packed_next(sqlite3_vtab_cursor* base) {
  ((PackedCursor*)base)->row++;
  return SQLITE_OK;
}

static int packed_eof(sqlite3_vtab_cursor* base) {
  PackedCursor* cur = (PackedCursor*)base;
  return cur->row >= cur->count;
}

static void result_string(sqlite3_context* ctx, PackedCursor* cur, int32_t t) {
  if (t < 0) sqlite3_result_null(ctx);
  else sqlite3_result_text(ctx, (const char*)cur->string_at[t], cur->string_len[t], SQLITE_TRANSIENT);
}

static int packed_column(sqlite3_vtab_cursor* base, sqlite3_context* ctx, int col) {
  PackedCursor* cur = (PackedCursor*)base;
  int r = cur->row;
  if (col == COL_RECORD) {
    sqlite3_result_int64(ctx, cur->first + r);
  } else if (col == COL_FLOW) {
    sqlite3_result_int(ctx, cur->flow[r]);
  } else if (col >= COL_INTS && col < COL_INTS + INT_WIDTH) {
    double v = cur->ints[r * INT_WIDTH + (col - COL_INTS)];
    if (isnan(v)) sqlite3_result_null(ctx);
    else sqlite3_result_int64(ctx, (sqlite3_int64)v); /* whole numbers below 2^53: validated by the writer */
  } else if (col == COL_SUBMITTED || col == COL_COMPLETED) {
    sqlite3_result_int64(ctx, cur->ns[2 * r + (col - COL_SUBMITTED)]);
  } else if (col >= COL_API && col <= COL_IMMEDIATE) {
    result_string(ctx, cur, cur->texts[3 * r + (col - COL_API)]);
  } else if (col == COL_EXTRA) {
    result_string(ctx, cur, cur->extras ? cur->extras[r] : -1);
  } else {
    sqlite3_result_null(ctx); /* the hidden arguments are not read back */
  }
  return SQLITE_OK;
}

static int packed_rowid(sqlite3_vtab_cursor* base, sqlite3_int64* out) {
  PackedCursor* cur = (PackedCursor*)base;
  *out = cur->first + cur->row;
  return SQLITE_OK;
}

static sqlite3_module packed_module = {
  0,                 /* iVersion */
  0,                 /* xCreate: eponymous only */
  packed_connect,
  packed_best_index,
  packed_disconnect,
  0,                 /* xDestroy */
  packed_open,
  packed_close,
  packed_filter,
  packed_next,
  packed_eof,
  packed_column,
  packed_rowid,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
};

#ifdef _WIN32
__declspec(dllexport)
#endif
int sqlite3_packedcompletions_init(sqlite3* db, char** err, const sqlite3_api_routines* api) {
  SQLITE_EXTENSION_INIT2(api);
  return sqlite3_create_module(db, "packed_completions", &packed_module, 0);
}
