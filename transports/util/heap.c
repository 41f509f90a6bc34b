/* SPDX-License-Identifier: BSD-3-Clause */
/* Memory that ranks of one host can map: a memfd per allocation, kept in a
 * list of the process's own (see heap.h). */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "transports/util/heap.h"

typedef struct {
    void *addr;
    size_t len;
    int fd;
    uint64_t ino;
} block_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static block_t *blocks;
static size_t nblocks, cap;

static size_t page_up(size_t len)
{
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);

    return len > SIZE_MAX - page ? 0 : (len + page - 1) / page * page;
}

/* Ordinary memory, when no memfd can be had: peers reach it the way they
 * reach any other (cross-memory attach). */
static rcomm_status_t plain(size_t n, void **addr)
{
    void *p = NULL;

    if (posix_memalign(&p, (size_t)sysconf(_SC_PAGESIZE), n))
        return base_err(RCOMM_ERR_NO_MEMORY, "tp_heap_alloc: no memory for %zu bytes", n);
    *addr = memset(p, 0, n);
    return RCOMM_OK;
}

rcomm_status_t tp_heap_alloc(size_t len, void **addr)
{
    const size_t n = page_up(len);
    rcomm_status_t st = RCOMM_OK;
    struct stat sb;
    void *p;
    int fd;

    if (!addr || !len)
        return base_err(RCOMM_ERR_INVALID_ARG, "tp_heap_alloc: %s",
                        !addr ? "addr is NULL" : "len is 0");
    if (!n)
        return base_err(RCOMM_ERR_NO_MEMORY, "tp_heap_alloc: %zu bytes", len);
    pthread_mutex_lock(&lock);
    if (nblocks == cap) {
        size_t c = cap ? 2 * cap : 16;
        block_t *b = realloc(blocks, c * sizeof(*b));
        if (!b) {
            pthread_mutex_unlock(&lock);
            return base_err(RCOMM_ERR_NO_MEMORY, "tp_heap_alloc: out of memory");
        }
        blocks = b;
        cap = c;
    }
    if ((fd = memfd_create("rcomm-heap", MFD_CLOEXEC)) < 0) {
        pthread_mutex_unlock(&lock); /* out of descriptors, say */
        return plain(n, addr);
    }
    if (ftruncate(fd, (off_t)n) != 0 || fstat(fd, &sb) != 0 ||
        (p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
        st = base_err_sys("tp_heap_alloc: a memfd of %zu bytes", n);
        close(fd);
    } else {
        blocks[nblocks++] = (block_t){p, n, fd, (uint64_t)sb.st_ino};
        *addr = p;
    }
    pthread_mutex_unlock(&lock);
    return st;
}

void tp_heap_free(void *addr)
{
    if (!addr)
        return;
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < nblocks; i++)
        if (blocks[i].addr == addr) {
            munmap(addr, blocks[i].len);
            close(blocks[i].fd);
            blocks[i] = blocks[--nblocks];
            pthread_mutex_unlock(&lock);
            return;
        }
    pthread_mutex_unlock(&lock);
    free(addr); /* plain()'s */
}

bool tp_heap_find(const void *addr, size_t len, int *fd, uint64_t *ino, uint64_t *off)
{
    const uintptr_t a = (uintptr_t)addr;
    bool found = false;

    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < nblocks && !found; i++) {
        const uintptr_t b = (uintptr_t)blocks[i].addr;
        if (a >= b && a - b <= blocks[i].len && len <= blocks[i].len - (a - b)) {
            *fd = blocks[i].fd;
            *ino = blocks[i].ino;
            *off = a - b;
            found = true;
        }
    }
    pthread_mutex_unlock(&lock);
    return found;
}
