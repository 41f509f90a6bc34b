/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * cma_bench: how fast cross-memory attach (process_vm_readv) copies a large
 * buffer out of another process, beside memcpy in one process: the ceiling
 * of the shared-memory transport's single-copy path (docs/PERFORMANCE.md,
 * "A third pass").
 *
 *   perf/cma_bench [BYTES [CHUNK]]     (default 64 MiB, 256 KiB)
 *
 * Prints, best of 5 each: memcpy of BYTES; process_vm_readv of BYTES in
 * CHUNK pieces into a BYTES buffer, and into one CHUNK buffer reused (a
 * receive slot, which stays in cache); and the same two with both buffers
 * on transparent huge pages (MADV_HUGEPAGE; where the kernel has them).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static char *buffer(size_t n, int huge)
{
    char *p = NULL;

    if (posix_memalign((void **)&p, 2u << 20, n) != 0) {
        perror("cma_bench: posix_memalign");
        exit(1);
    }
    if (huge)
        (void)madvise(p, n, MADV_HUGEPAGE);
    memset(p, huge + 1, n);
    return p;
}

/* GB/s of the best of 5 reads of n bytes of pid's src, in chunk pieces;
 * into dst, or into dst's first chunk bytes again and again (slot). */
static double readv_gbs(pid_t pid, const char *src, char *dst, size_t n, size_t chunk,
                        int slot)
{
    double best = 1e30;

    for (int r = 0; r < 5; r++) {
        double t = now_s();
        for (size_t o = 0; o < n; o += chunk) {
            size_t len = n - o < chunk ? n - o : chunk;
            struct iovec l = {dst + (slot ? 0 : o), len}, rem = {(void *)(src + o), len};
            if (process_vm_readv(pid, &l, 1, &rem, 1, 0) != (ssize_t)len) {
                perror("cma_bench: process_vm_readv");
                exit(1);
            }
        }
        t = now_s() - t;
        best = t < best ? t : best;
    }
    return (double)n / best / 1e9;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoull(argv[1], NULL, 0) : 64u << 20;
    size_t chunk = argc > 2 ? strtoull(argv[2], NULL, 0) : 256u << 10;
    pid_t parent = getpid(), child;
    int status;

    if (n == 0 || chunk == 0 || chunk > n) {
        fprintf(stderr, "usage: cma_bench [BYTES [CHUNK]], 0 < CHUNK <= BYTES\n");
        return 2;
    }
    for (int huge = 0; huge < 2; huge++) {
        char *src = buffer(n, huge);
        if ((child = fork()) == 0) {
            char *dst = buffer(n, huge);
            double best = 1e30;
            for (int r = 0; r < 5; r++) {
                double t = now_s();
                memcpy(dst, src, n); /* the child's copy of src: its own pages */
                t = now_s() - t;
                best = t < best ? t : best;
            }
            printf("%s pages: memcpy %.2f GB/s; process_vm_readv into a buffer %.2f "
                   "GB/s, into one %zu-byte slot %.2f GB/s\n",
                   huge ? "huge" : "4 KiB", (double)n / best / 1e9,
                   readv_gbs(parent, src, dst, n, chunk, 0), chunk,
                   readv_gbs(parent, src, dst, n, chunk, 1));
            fflush(stdout);
            _exit(0);
        }
        /* We stay, with src, until the child has read it. */
        if (child < 0 || waitpid(child, &status, 0) != child || status != 0) {
            fprintf(stderr, "cma_bench: the reading process failed\n");
            return 1;
        }
        free(src);
    }
    return 0;
}
