/* SPDX-License-Identifier: BSD-3-Clause */
/* The second-largest eigenvalue modulus of a mixing matrix (the largest is
 * 1), from LAPACK's dgeev (OpenBLAS): the rate at which averaging on a graph
 * reaches consensus. Shared by unit_graph and gossip_check. */
#ifndef RCOMM_TESTS_SLEM_H
#define RCOMM_TESTS_SLEM_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

void dgeev_(const char *jobvl, const char *jobvr, const int *n, double *a, const int *lda,
            double *wr, double *wi, double *vl, const int *ldvl, double *vr,
            const int *ldvr, double *work, const int *lwork, int *info);

/* w: n x n, row-major (its transpose has the same eigenvalues). -1 when
 * dgeev fails, no eigenvalue has modulus 1, or one exceeds 1. */
static inline double slem(const double *w, int n)
{
    double *a = malloc((size_t)n * n * sizeof(double)), *wr = malloc(n * sizeof(double));
    double *wi = malloc(n * sizeof(double)),
           *work = malloc(8 * (size_t)n * sizeof(double));
    double best = 0, top = 0, dummy;
    int lwork = 8 * n, one = 1, info = -1, skip = -1;

    if (a && wr && wi && work) {
        memcpy(a, w, (size_t)n * n * sizeof(double));
        dgeev_("N", "N", &n, a, &n, wr, wi, &dummy, &one, &dummy, &one, work, &lwork,
               &info);
    }
    /* Drop one eigenvalue of modulus 1 (the consensus direction). */
    for (int i = 0; info == 0 && i < n; i++)
        if (fabs(hypot(wr[i], wi[i]) - 1) < 1e-9 && skip < 0)
            skip = i;
    for (int i = 0; info == 0 && i < n; i++) {
        double m = hypot(wr[i], wi[i]);
        top = m > top ? m : top;
        if (i != skip && m > best)
            best = m;
    }
    free(a);
    free(wr);
    free(wi);
    free(work);
    return info != 0 || skip < 0 || top > 1 + 1e-9 ? -1 : best;
}

#endif
