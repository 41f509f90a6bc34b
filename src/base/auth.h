/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The job key: a secret every rank of one job shares, so that a connection
 * is accepted only from a process that knows it. Each protocol (the store,
 * TCP, verbs connection setup) runs the same mutual challenge-response:
 *
 *   A -> B   claims, nonce_a                       (who A says it is)
 *   B -> A   nonce_b, tag(B's label, claims, nonce_a, nonce_b)
 *   A -> B   tag(A's label, claims, nonce_a, nonce_b)
 *
 * Each side checks the other's tag before it believes anything else the
 * other sends. Fresh nonces on both sides make a recorded exchange useless
 * to replay; the two labels keep one side's tag from being reflected as the
 * other's; the claims (ranks, size) are covered, so they cannot be changed
 * on the way. The MAC is libsodium's keyed BLAKE2b, compared in constant
 * time.
 *
 * Without a key (local testing), a fixed public key stands in: the same
 * exchange runs and proves nothing, and rcomm says so once at info level.
 */
#ifndef RCOMM_AUTH_H
#define RCOMM_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "rcomm.h"

#define AUTH_KEY_LEN 32
#define AUTH_NONCE_LEN 16
#define AUTH_TAG_LEN 16
/* rcomm-run's keys: 64 hex digits (256 random bits). */
#define AUTH_KEY_TEXT_LEN 64
/* A key given as text must have at least this many characters. */
#define AUTH_KEY_TEXT_MIN 32

typedef struct {
    unsigned char k[AUTH_KEY_LEN];
    bool keyed; /* false: the public stand-in */
} auth_key_t;

/* The job key from RCOMM_JOB_KEY (text) or the file RCOMM_JOB_KEY_FILE
 * names (refused if its group or others may read it), else the stand-in:
 * an error when require is set (RCOMM_REQUIRE_KEY), an info line once per
 * process otherwise. Errors name the variable and what is wrong, never the
 * key. */
rcomm_status_t auth_key_load(auth_key_t *key, int rank, bool require);

/* The user's key alone (RCOMM_JOB_KEY or the file), else the stand-in,
 * silently: for a bootstrap that can make a key itself (PMIx). */
rcomm_status_t auth_key_given(auth_key_t *key, int rank);

/* A key from text (>= AUTH_KEY_TEXT_MIN characters), hashed to the MAC key;
 * what names the source for errors. */
rcomm_status_t auth_key_from_text(auth_key_t *key, const char *text, size_t len,
                                  const char *what);

/* The stand-in key for jobs without one. */
void auth_key_none(auth_key_t *key);

/* A fresh random key as AUTH_KEY_TEXT_LEN hex digits and a NUL. */
rcomm_status_t auth_key_generate_text(char out[AUTH_KEY_TEXT_LEN + 1]);

void auth_key_wipe(auth_key_t *key);

void auth_nonce(unsigned char nonce[AUTH_NONCE_LEN]);

#ifdef RCOMM_FUZZING
/* In fuzz builds every nonce is AUTH_NONCE_LEN bytes of this value. */
#define AUTH_FUZZ_NONCE 0x5a
#endif

/* tag = MAC_key(label, claims, nonce_a, nonce_b). label is a constant
 * string naming the protocol and the side ("kvs server"); claims a few bytes
 * both sides lay out the same way. */
void auth_tag(const auth_key_t *key, const char *label, const void *claims,
              size_t claims_len, const unsigned char nonce_a[AUTH_NONCE_LEN],
              const unsigned char nonce_b[AUTH_NONCE_LEN],
              unsigned char tag[AUTH_TAG_LEN]);

/* Whether tag is what auth_tag gives for the same inputs (constant time). */
bool auth_check(const auth_key_t *key, const char *label, const void *claims,
                size_t claims_len, const unsigned char nonce_a[AUTH_NONCE_LEN],
                const unsigned char nonce_b[AUTH_NONCE_LEN],
                const unsigned char tag[AUTH_TAG_LEN]);

#endif
