/* SPDX-License-Identifier: BSD-3-Clause */
/* Command line and output files of the multi-rank tools (perf_cli.h). */
#include "perf/perf_cli.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

const char *perf_prog = "rcomm-perf";
void (*perf_usage)(FILE *f);
int perf_rank = -1;

void perf_die(const char *what)
{
    if (perf_rank >= 0)
        fprintf(stderr, "%s: rank %d: %s: %s\n", perf_prog, perf_rank, what,
                rcomm_last_error());
    else /* before the communicator: no rank yet */
        fprintf(stderr, "%s: %s: %s\n", perf_prog, what, rcomm_last_error());
    exit(1);
}

rcomm_comm_t *perf_comm_create(int *rank, int *size, const char **transport)
{
    rcomm_comm_t *comm;

    if (rcomm_comm_create_from_env(&comm) != RCOMM_OK)
        perf_die("creating the communicator");
    rcomm_comm_rank(comm, rank);
    rcomm_comm_size(comm, size);
    rcomm_comm_transport(comm, transport);
    perf_rank = *rank;
    return comm;
}

void perf_bad_usage(const char *what, const char *arg)
{
    if (arg)
        fprintf(stderr, "%s: %s '%s'\n", perf_prog, what, arg);
    else
        fprintf(stderr, "%s: %s\n", perf_prog, what);
    if (perf_usage)
        perf_usage(stderr);
    exit(2);
}

size_t perf_parse_size(const char *s)
{
    static const char units[] = "kKmMgG";
    const char *u;
    char *end;
    double v = strtod(s, &end);

    if (end != s && *end && (u = strchr(units, *end))) {
        v *= (double)(1ull << (10 * (1 + (u - units) / 2)));
        end++;
    }
    if (end == s || *end || v < 0 || v > 1e15)
        perf_bad_usage("bad size", s);
    return (size_t)v;
}

int perf_parse_int(const char *s, int min)
{
    char *end;
    long v = strtol(s, &end, 10);

    if (end == s || *end || v < min || v > 1000000000)
        perf_bad_usage("bad number", s);
    return (int)v;
}

int perf_parse_list(const char *s, const char *const *names, int n, int *out,
                    const char *option)
{
    char *list = strdup(s), *save = NULL, what[64];
    int count = 0;

    if (!list)
        perf_die("strdup");
    snprintf(what, sizeof(what), "unknown or repeated name in %s", option);
    for (char *k = strtok_r(list, ",", &save); k; k = strtok_r(NULL, ",", &save)) {
        int found = -1;
        for (int i = 0; i < n; i++)
            if (!strcmp(k, names[i]))
                found = i;
        for (int i = 0; i < count && found >= 0; i++)
            if (out[i] == found)
                found = -1;
        if (found < 0)
            perf_bad_usage(what, k);
        out[count++] = found;
    }
    free(list);
    return count;
}

void perf_open_outputs(rcomm_comm_t *comm, const char *json_path, const char *csv_path,
                       perf_out_t **json, perf_out_t **csv)
{
    int32_t ok = 1;

    *json = *csv = NULL;
    if (perf_rank == 0) {
        const char *bad = NULL;
        if (json_path && !(*json = perf_out_open(json_path, PERF_OUT_JSON)))
            bad = json_path;
        else if (csv_path && !(*csv = perf_out_open(csv_path, PERF_OUT_CSV)))
            bad = csv_path;
        if (bad) {
            fprintf(stderr, "%s: cannot write %s: %s\n", perf_prog, bad, strerror(errno));
            ok = 0;
        }
    }
    if (rcomm_broadcast(comm, &ok, 1, RCOMM_I32, 0) != RCOMM_OK)
        perf_die("broadcast");
    if (!ok)
        exit(1);
}

int perf_close_output(perf_out_t *out, const char *path)
{
    if (perf_out_close(out) == 0)
        return 0;
    fprintf(stderr, "%s: writing %s failed: %s\n", perf_prog, path, strerror(errno));
    return 1;
}
