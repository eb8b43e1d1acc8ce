/*
 * A SQLite loadable extension with one aggregate, f64_pack(x): the values of a column, in
 * the order the aggregate sees them, as one BLOB of native-endian IEEE doubles (NULL as a
 * NaN). db/correlation-reads.ts reads its runs of advances and completions through it: a
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

typedef struct {
  double *values;
  sqlite3_int64 count;
  sqlite3_int64 capacity;
  int failed;
} Packed;

static void packStep(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  Packed *p = (Packed *)sqlite3_aggregate_context(ctx, sizeof(Packed));
  if (p == 0 || p->failed) return;
  if (p->count == p->capacity) {
    sqlite3_int64 grown = p->capacity == 0 ? 256 : p->capacity * 2;
    double *bigger = (double *)sqlite3_realloc64(p->values, (sqlite3_uint64)grown * sizeof(double));
    if (bigger == 0) {
      p->failed = 1;
      return;
    }
    p->values = bigger;
    p->capacity = grown;
  }
  p->values[p->count++] = sqlite3_value_type(argv[0]) == SQLITE_NULL ? NAN : sqlite3_value_double(argv[0]);
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
  /* the buffer becomes the result: SQLite frees it, no copy */
  sqlite3_result_blob64(ctx, p->values, (sqlite3_uint64)p->count * sizeof(double), sqlite3_free);
  p->values = 0;
}

#ifdef _WIN32
__declspec(dllexport)
#endif
int sqlite3_extension_init(sqlite3 *db, char **pzErrMsg, const sqlite3_api_routines *pApi) {
  SQLITE_EXTENSION_INIT2(pApi);
  (void)pzErrMsg;
  return sqlite3_create_function(db, "f64_pack", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, 0, 0, packStep, packFinal);
}
