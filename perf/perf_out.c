/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * JSON and CSV records for the benchmarks (see perf_out.h). JSON: "[", then
 * one object per line, two spaces in, then "]". CSV: the header is only
 * known once the first record has named its fields, so that record is built
 * in memory and written after the header; the others go straight out.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "perf/perf_out.h"

struct perf_out {
    FILE *f;
    perf_out_format_t format;
    /* CSV, first record: the header and the values until the record ends */
    FILE *hdr, *row;
    char *hdr_buf, *row_buf;
    size_t hdr_len, row_len;
    long records;
    int fields, header_fields; /* in this record so far; in the header */
    int failed, mismatch;
};

perf_out_t *perf_out_open(const char *path, perf_out_format_t format)
{
    perf_out_t *out = calloc(1, sizeof(*out));

    if (!out)
        return NULL;
    out->format = format;
    out->f = fopen(path, "w");
    if (!out->f) {
        free(out);
        return NULL;
    }
    if (format == PERF_OUT_JSON)
        fputs("[\n", out->f);
    return out;
}

/* Where this record's values go. */
static FILE *target(const perf_out_t *out)
{
    return out->row ? out->row : out->f;
}

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

/* RFC 4180: quoted only when it has to be. */
static void csv_string(FILE *f, const char *s)
{
    if (!s[strcspn(s, ",\"\r\n")]) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

void perf_out_begin(perf_out_t *out)
{
    out->fields = 0;
    if (out->format == PERF_OUT_JSON) {
        fputs(out->records ? ",\n  {" : "  {", out->f);
        return;
    }
    if (out->records == 0) {
        out->hdr = open_memstream(&out->hdr_buf, &out->hdr_len);
        out->row = open_memstream(&out->row_buf, &out->row_len);
        out->failed |= !out->hdr || !out->row;
    }
}

/* The separator and, where it goes, the name of the next field. */
static void name_field(perf_out_t *out, const char *name)
{
    FILE *t = target(out);

    if (out->format == PERF_OUT_JSON) {
        if (out->fields)
            fputs(", ", t);
        json_string(t, name);
        fputs(": ", t);
    } else {
        if (out->fields)
            fputc(',', t);
        if (out->hdr) {
            if (out->fields)
                fputc(',', out->hdr);
            csv_string(out->hdr, name);
        }
    }
    out->fields++;
}

void perf_out_str(perf_out_t *out, const char *name, const char *value)
{
    if (out->failed)
        return;
    name_field(out, name);
    (out->format == PERF_OUT_JSON ? json_string : csv_string)(target(out), value);
}

void perf_out_int(perf_out_t *out, const char *name, int64_t value)
{
    if (out->failed)
        return;
    name_field(out, name);
    fprintf(target(out), "%" PRId64, value);
}

void perf_out_double(perf_out_t *out, const char *name, double value)
{
    if (out->failed)
        return;
    name_field(out, name);
    if (isfinite(value))
        fprintf(target(out), "%.6f", value);
    else if (out->format == PERF_OUT_JSON)
        fputs("null", target(out)); /* JSON has no NaN or infinity */
}

/* CSV: the first record is complete, so its header can go out, then it. */
static void flush_first(perf_out_t *out)
{
    int bad = fclose(out->hdr) | fclose(out->row);

    out->hdr = out->row = NULL;
    if (bad) {
        out->failed = 1;
    } else {
        fwrite(out->hdr_buf, 1, out->hdr_len, out->f);
        fputc('\n', out->f);
        fwrite(out->row_buf, 1, out->row_len, out->f);
    }
    free(out->hdr_buf);
    free(out->row_buf);
    out->hdr_buf = out->row_buf = NULL;
    out->header_fields = out->fields;
}

void perf_out_end(perf_out_t *out)
{
    if (out->format == PERF_OUT_CSV && out->hdr)
        flush_first(out);
    if (out->failed)
        return;
    out->mismatch |= out->format == PERF_OUT_CSV && out->fields != out->header_fields;
    fputs(out->format == PERF_OUT_JSON ? "}" : "\n", out->f);
    out->records++;
}

int perf_out_close(perf_out_t *out)
{
    int failed, err;

    if (!out)
        return 0;
    if (out->hdr) { /* a record that never ended: out, but an error */
        flush_first(out);
        out->mismatch = 1;
    }
    if (out->format == PERF_OUT_JSON)
        fputs("\n]\n", out->f);
    failed = out->failed | out->mismatch | ferror(out->f);
    err = out->mismatch ? EINVAL : EIO;
    if (fclose(out->f) != 0) {
        failed = 1;
        err = errno;
    }
    free(out);
    if (!failed)
        return 0;
    errno = err;
    return -1;
}
