/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What the harnesses share: reading an input field by field, the fixed test
 * key, and the setup every harness does once.
 */
#ifndef RCOMM_FUZZ_H
#define RCOMM_FUZZ_H

#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/auth.h"

#ifndef RCOMM_FUZZING
#error "the harnesses need a library built with -DRCOMM_FUZZING (fuzz/build.sh)"
#endif

/* The input, consumed from the front; reading past its end gives zeros. */
typedef struct {
    const uint8_t *p;
    size_t n;
} fuzz_in_t;

static inline unsigned fuzz_u8(fuzz_in_t *in)
{
    if (!in->n)
        return 0;
    in->n--;
    return *in->p++;
}

static inline unsigned fuzz_u16(fuzz_in_t *in)
{
    unsigned v = fuzz_u8(in);
    return v | fuzz_u8(in) << 8;
}

/* len bytes into out, zeros past the input's end; returns how many came
 * from the input. */
static inline size_t fuzz_bytes(fuzz_in_t *in, void *out, size_t len)
{
    size_t k = len < in->n ? len : in->n;

    if (k)
        memcpy(out, in->p, k);
    memset((char *)out + k, 0, len - k);
    in->p += k;
    in->n -= k;
    return k;
}

/* The job key of every harness (fuzz/make_seeds.py computes its tags too). */
#define FUZZ_KEY_TEXT "rcomm fuzzing key: a fixed test key, no secret"

static inline void fuzz_setup(auth_key_t *key)
{
    /* Errors are expected, by the million; RCOMM_LOG_LEVEL=warn shows them. */
    setenv("RCOMM_LOG_LEVEL", "none", 0);
    signal(SIGPIPE, SIG_IGN);
    if (auth_key_from_text(key, FUZZ_KEY_TEXT, sizeof(FUZZ_KEY_TEXT) - 1, "fuzz key") !=
        RCOMM_OK)
        abort();
}

/* ASan: a small quarantine keeps reusing warm memory, twice as fast here as
 * the default 256 MB, and still holds hundreds of executions' frees. An
 * allocation above 2 GB (lengths a peer announced) fails instead of stopping
 * the run, as on a host that does not overcommit: the library must survive
 * it (RCOMM_ERR_NO_MEMORY). libFuzzer's -malloc_limit_mb (the RSS limit,
 * 2 GB by default) then never sees a larger one. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "quarantine_size_mb=16:allocator_may_return_null=1:"
           "max_allocation_size_mb=2048";
}

#endif
