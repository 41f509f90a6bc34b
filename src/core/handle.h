/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The public handles' magic words, and the quarantine that keeps checking
 * them meaningful after destroy.
 *
 * A communicator, a request and a parameter server carry their kind's magic
 * word from creation until destruction clears it; every public function
 * checks it before it touches anything else, so that a destroyed handle (a
 * second destroy, a wait on a request already waited for) or a pointer to
 * something else is RCOMM_ERR_INVALID_ARG naming the handle instead of a
 * crash in the allocator. Reading freed memory would itself be undefined,
 * so a destroyed handle, once it has released everything it owned, is not
 * freed at once: it waits in its kind's quarantine and is freed when
 * HANDLE_QUARANTINE newer ones of its kind have followed it. The check is
 * reliable for those; beyond them, as for any pointer that never was a
 * handle, it is a best effort (rcomm.h states the guarantee).
 */
#ifndef RCOMM_HANDLE_H
#define RCOMM_HANDLE_H

#include <stdint.h>

#include "rcomm.h"

typedef enum {
    HANDLE_COMM,
    HANDLE_REQUEST,
    HANDLE_PS,
    HANDLE_GRAPH,
    HANDLE_GWIN,
    HANDLE_KINDS
} handle_kind_t;

/* Unlikely as data: "rcommCOM", "rcommREQ", "rcommPS!" with the top bit set. */
#define HANDLE_MAGIC_COMM 0xf2636f6d6d434f4dull
#define HANDLE_MAGIC_REQUEST 0xf2636f6d6d524551ull
#define HANDLE_MAGIC_PS 0xf2636f6d6d505321ull
#define HANDLE_MAGIC_GRAPH 0xf2636f6d6d475248ull /* "rcommGRH" */
#define HANDLE_MAGIC_GWIN 0xf2636f6d6d47574eull  /* "rcommGWN" */

/* Destroyed handles kept per kind before they are freed. */
#define HANDLE_QUARANTINE 32

/* p, a destroyed handle of kind (magic word cleared, nothing else held), is
 * freed after HANDLE_QUARANTINE more. Thread-safe. */
void handle_bury(handle_kind_t kind, void *p);

/* OK, or INVALID_ARG "fn: comm is NULL" / "fn: comm was destroyed or is not
 * a communicator". */
rcomm_status_t comm_valid(const rcomm_comm_t *comm, const char *fn);

#endif
