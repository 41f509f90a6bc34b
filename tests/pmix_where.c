/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What communicator a launcher gives (tests/pmix_mpirun.sh,
 * tests/pmix_slurm.sh): created from the environment, each rank prints one
 * line, "rank R size S local L of N hosts H sum X", where X is an exact
 * allreduce checksum (i64 and f64 of values known on every rank). The same
 * job under rcomm-run (the store) and under mpirun or srun (PMIx) must
 * print the same lines.
 *
 * usage: pmix_where [--stall R | --again]   (--stall R: rank R, as the
 * launcher numbers it, sleeps RCOMM_TIMEOUT + 5 s before it creates the
 * communicator: the others must fail naming the bootstrap's call within the
 * timeout; --again: a second communicator from the environment after the
 * first, whose bootstrap must not read the first one's values)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hooks/hooks.h"
#include "rcomm.h"

/* The launcher's rank, before rcomm knows it. */
static int launcher_rank(void)
{
    const char *vars[] = {"PMIX_RANK", "OMPI_COMM_WORLD_RANK", "SLURM_PROCID",
                          "RCOMM_RANK"};

    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        if (getenv(vars[i]))
            return atoi(getenv(vars[i]));
    return -1;
}

static int run(void);

int main(int argc, char **argv)
{
    int stall = -1, again = 0, st;

    if (argc == 3 && strcmp(argv[1], "--stall") == 0)
        stall = atoi(argv[2]);
    else if (argc == 2 && strcmp(argv[1], "--again") == 0)
        again = 1;
    else if (argc != 1) {
        fprintf(stderr, "usage: pmix_where [--stall RANK | --again]\n");
        return 2;
    }
    if (stall >= 0 && launcher_rank() == stall) {
        const char *t = getenv("RCOMM_TIMEOUT");
        sleep((unsigned)(t ? atoi(t) : 60) + 5);
        return 0;
    }
    st = run();
    return st || !again ? st : run();
}

/* One communicator: create, print, check, destroy. */
static int run(void)
{
    rcomm_comm_t *comm;
    rcomm_status_t st;
    hook_host_t host;
    int rank, size;
    int64_t isum[2];
    double fsum[2];

    if ((st = rcomm_comm_create_from_env(&comm)) != RCOMM_OK) {
        fprintf(stderr, "pmix_where: create: %s: %s\n", rcomm_strerror(st),
                rcomm_last_error());
        return 1;
    }
    rcomm_comm_rank(comm, &rank);
    rcomm_comm_size(comm, &size);
    hook_host(comm, &host);
    /* Exact in both types: small integers. */
    isum[0] = rank + 1;
    isum[1] = (int64_t)rank * rank;
    fsum[0] = 0.5 * rank;
    fsum[1] = host.local_size;
    if ((st = rcomm_allreduce(comm, isum, isum, 2, RCOMM_I64, RCOMM_SUM)) != RCOMM_OK ||
        (st = rcomm_allreduce(comm, fsum, fsum, 2, RCOMM_F64, RCOMM_SUM)) != RCOMM_OK) {
        fprintf(stderr, "pmix_where: allreduce: %s: %s\n", rcomm_strerror(st),
                rcomm_last_error());
        return 1;
    }
    if (isum[0] != (int64_t)size * (size + 1) / 2 ||
        isum[1] != (int64_t)(size - 1) * size * (2 * size - 1) / 6 ||
        fsum[0] != 0.25 * size * (size - 1)) {
        fprintf(stderr, "pmix_where: rank %d: wrong sums %lld %lld %g\n", rank,
                (long long)isum[0], (long long)isum[1], fsum[0]);
        return 1;
    }
    printf("rank %d size %d local %d of %d hosts %d sum %lld/%lld/%g/%g\n", rank, size,
           host.local_index, host.local_size, host.nhosts ? host.nhosts : 1,
           (long long)isum[0], (long long)isum[1], fsum[0], fsum[1]);
    fflush(stdout);
    return rcomm_comm_destroy(comm) == RCOMM_OK ? 0 : 1;
}
