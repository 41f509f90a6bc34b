/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * reduce_perf: throughput of the reduction kernels next to memcpy, in GB/s of
 * output, best of -r runs over arrays of -s bytes (default 8 MiB, larger than
 * the caches of this machine's cores). Out of place (dst = a op b) and in
 * place (dst = dst op b), the two ways the collectives call them. -i picks
 * the tier of kernels (reduce.h): the widest the CPU has by default; "all"
 * times every tier it has, case by case, side by side in one run.
 *   perf/reduce_perf [-s BYTES] [-r REPS] [-i baseline|avx2|avx512|all]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hooks/hooks.h"
#include "perf/grade.h" /* the clock, and the memcpy the perf tools compare with */

/* Best time of reps runs of one kernel call. */
static double best(char *dst, const char *a, const char *b, size_t bytes,
                   rcomm_dtype_t dt, rcomm_op_t op, int reps)
{
    double t_best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = grade_now_s();
        reduce_apply(dst, a, b, bytes / rcomm_dtype_size(dt), dt, op);
        double t = grade_now_s() - t0;
        t_best = t < t_best ? t : t_best;
    }
    return t_best;
}

int main(int argc, char **argv)
{
    size_t bytes = 8u << 20;
    int reps = 30, c, lo, hi;
    const char *tier = NULL;
    const struct {
        rcomm_dtype_t dt;
        rcomm_op_t op;
    } cases[] = {{RCOMM_F32, RCOMM_SUM}, {RCOMM_F64, RCOMM_SUM}, {RCOMM_BF16, RCOMM_SUM},
                 {RCOMM_F16, RCOMM_SUM}, {RCOMM_I32, RCOMM_MAX}, {RCOMM_I64, RCOMM_SUM},
                 {RCOMM_U8, RCOMM_SUM},  {RCOMM_F32, RCOMM_PROD}};

    while ((c = getopt(argc, argv, "s:r:i:h")) != -1) {
        if (c == 's') {
            bytes = (size_t)strtoull(optarg, NULL, 0);
        } else if (c == 'r') {
            reps = atoi(optarg);
        } else if (c == 'i') {
            tier = optarg;
        } else {
            fprintf(stderr, "usage: reduce_perf [-s BYTES] [-r REPS] [-i "
                            "baseline|avx2|avx512|all]\n");
            return c == 'h' ? 0 : 2;
        }
    }
    /* The tiers to time: [lo, hi]. */
    if (!tier) {
        lo = hi = (int)reduce_isa();
    } else if (strcmp(tier, "all") == 0) {
        lo = REDUCE_ISA_BASE;
        hi = (int)reduce_set_isa(REDUCE_ISA_COUNT);
    } else {
        for (lo = 0; lo < REDUCE_ISA_COUNT; lo++)
            if (strcmp(tier, reduce_isa_name((reduce_isa_t)lo)) == 0)
                break;
        if (lo == REDUCE_ISA_COUNT || (int)reduce_set_isa((reduce_isa_t)lo) != lo) {
            fprintf(stderr, "reduce_perf: -i %s: not a tier this CPU runs\n", tier);
            return 2;
        }
        hi = lo;
    }
    if (bytes < 64 || reps < 1) {
        fprintf(stderr, "reduce_perf: -s must be >= 64 and -r >= 1\n");
        return 2;
    }
    char *a = malloc(bytes), *b = malloc(bytes), *d = malloc(bytes);
    if (!a || !b || !d)
        return 1;
    memset(d, 0, bytes); /* fault the pages in before timing */
    double mc = grade_memcpy_gbs(bytes, reps);
    if (mc == 0)
        return 1;
    printf("# reduce_perf: %zu-byte arrays, best of %d\n", bytes, reps);
    printf("# %-6s %-5s %-8s %12s %12s %10s\n", "type", "op", "tier", "out (GB/s)",
           "in-place", "vs memcpy");
    printf("  %-6s %-5s %-8s %12.2f %12s %10s\n", "memcpy", "", "", mc, "", "1.00");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (int t = lo; t <= hi; t++) {
            reduce_set_isa((reduce_isa_t)t);
            memset(a, 0, bytes); /* zeros: valid values of every type, no NaN */
            memset(b, 0, bytes);
            double out =
                bytes / best(d, a, b, bytes, cases[i].dt, cases[i].op, reps) / 1e9;
            double inp =
                bytes / best(d, d, b, bytes, cases[i].dt, cases[i].op, reps) / 1e9;
            printf("  %-6s %-5s %-8s %12.2f %12.2f %10.2f\n",
                   rcomm_dtype_name(cases[i].dt), rcomm_op_name(cases[i].op),
                   reduce_isa_name((reduce_isa_t)t), out, inp, out / mc);
        }
    }
    free(a);
    free(b);
    free(d);
    return 0;
}
