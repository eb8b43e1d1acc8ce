/*
 * A SQLite loadable extension with one aggregate, f64_pack(x, ...): the values of up to 16
 * columns, in the order the aggregate sees the rows, as one BLOB of native-endian IEEE
 * doubles (NULL as a NaN), column after column: rows × columns doubles. One call per row
 * for all the columns, not one per column (each call is a dispatch through the VDBE). db/correlation-reads.ts reads its runs of advances and completions through it: a
 * JavaScript Float64Array over the BLOB needs no text at all, where json_group_array
 * formats every integer as decimal text for JSON.parse to read back (measured on a
 * 10 M-frame session: formatting and parsing were ~70% of the correlation's CPU time).
 *
 * Exactness: the correlation holds these values as JavaScript numbers anyway (offsets and
 * session-relative nanoseconds, exact below 2^53); a double of an integer rounds as
 * JSON.parse of its decimal text does (to nearest), so both reads give the same numbers.
 *
 * Built by scripts/build.sh against the sqlite3ext.h better-sqlite3 ships (the SQLite the
 * service links), loaded per connection by db/correlation-reads.ts.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT1

/* Columns one call packs at most (a run of completions has 10 numeric ones). */
#define MAX_COLUMNS 16

typedef struct {
  double *values; /* row-major while stepping: values[row * columns + column] */
  sqlite3_int64 rows;
  sqlite3_int64 capacity; /* rows */
  int columns;
  int failed;
} Packed;

static void packStep(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  Packed *p = (Packed *)sqlite3_aggregate_context(ctx, sizeof(Packed));
  if (p == 0 || p->failed) return;
  if (p->columns == 0) p->columns = argc;
  if (p->rows == p->capacity) {
    sqlite3_int64 grown = p->capacity == 0 ? 256 : p->capacity * 2;
    double *bigger = (double *)sqlite3_realloc64(p->values, (sqlite3_uint64)grown * (sqlite3_uint64)argc * sizeof(double));
    if (bigger == 0) {
      p->failed = 1;
      return;
    }
    p->values = bigger;
    p->capacity = grown;
  }
  double *row = p->values + p->rows * argc;
  for (int c = 0; c < argc; c++) {
    row[c] = sqlite3_value_type(argv[c]) == SQLITE_NULL ? NAN : sqlite3_value_double(argv[c]);
  }
  p->rows++;
}

static void packFinal(sqlite3_context *ctx) {
  Packed *p = (Packed *)sqlite3_aggregate_context(ctx, 0);
  if (p == 0) {
    /* no rows: an empty BLOB, as json_group_array gives an empty array */
    sqlite3_result_zeroblob(ctx, 0);
    return;
  }
  if (p->failed) {
    sqlite3_free(p->values);
    sqlite3_result_error_nomem(ctx);
    return;
  }
  sqlite3_int64 rows = p->rows;
  int columns = p->columns;
  if (columns == 1) {
    /* the buffer becomes the result: SQLite frees it, no copy */
    sqlite3_result_blob64(ctx, p->values, (sqlite3_uint64)rows * sizeof(double), sqlite3_free);
    p->values = 0;
    return;
  }
  /* column after column, each `rows` doubles long */
  double *out = (double *)sqlite3_malloc64((sqlite3_uint64)rows * (sqlite3_uint64)columns * sizeof(double));
  if (out == 0) {
    sqlite3_free(p->values);
    sqlite3_result_error_nomem(ctx);
    return;
  }
  for (sqlite3_int64 r = 0; r < rows; r++) {
    for (int c = 0; c < columns; c++) out[c * rows + r] = p->values[r * columns + c];
  }
  sqlite3_free(p->values);
  p->values = 0;
  sqlite3_result_blob64(ctx, out, (sqlite3_uint64)rows * (sqlite3_uint64)columns * sizeof(double), sqlite3_free);
}

#ifdef _WIN32
__declspec(dllexport)
#endif
int sqlite3_extension_init(sqlite3 *db, char **pzErrMsg, const sqlite3_api_routines *pApi) {
  SQLITE_EXTENSION_INIT2(pApi);
  (void)pzErrMsg;
  int rc = SQLITE_OK;
  for (int columns = 1; columns <= MAX_COLUMNS && rc == SQLITE_OK; columns++) {
    rc = sqlite3_create_function(db, "f64_pack", columns, SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, 0, 0, packStep, packFinal);
  }
  return rc;
}
