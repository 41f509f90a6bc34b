/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The benchmarks' machine-readable output: one record per measurement, as
 * JSON (an array of flat objects) or CSV (a header line, then one line per
 * record). One writer for every tool, so that all files read the same way:
 *
 *   perf_out_t *out = perf_out_open("x.csv", PERF_OUT_CSV);
 *   perf_out_begin(out);
 *   perf_out_str(out, "tool", "rcomm-send-lat");
 *   perf_out_int(out, "bytes", 8);
 *   perf_out_double(out, "t_min_us", 1.5);
 *   perf_out_end(out);
 *   if (perf_out_close(out) != 0) ... errno says why
 *
 * The CSV header is the field names of the first record; every record must
 * have the same fields in the same order (perf_out_close fails otherwise).
 * Doubles are written with 6 decimals; a NaN or an infinity as JSON null and
 * an empty CSV field. Write errors are remembered and reported by close.
 */
#ifndef RCOMM_PERF_OUT_H
#define RCOMM_PERF_OUT_H

#include <stdint.h>

typedef enum { PERF_OUT_JSON, PERF_OUT_CSV } perf_out_format_t;
typedef struct perf_out perf_out_t;

/* Create (truncate) path. NULL with errno set when it cannot be written. */
perf_out_t *perf_out_open(const char *path, perf_out_format_t format);
void perf_out_begin(perf_out_t *out);
void perf_out_str(perf_out_t *out, const char *name, const char *value);
void perf_out_int(perf_out_t *out, const char *name, int64_t value);
void perf_out_double(perf_out_t *out, const char *name, double value);
void perf_out_end(perf_out_t *out);
/* Finish the file and free out (NULL is fine). 0, or -1 with errno set when
 * anything failed to be written since open. */
int perf_out_close(perf_out_t *out);

#endif
