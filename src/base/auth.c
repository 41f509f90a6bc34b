/* SPDX-License-Identifier: BSD-3-Clause */
/* The job key (auth.h): loading it, and the MAC every handshake uses. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/auth.h"
#include "base/error.h"

/* A key file longer than this is not a key. */
#define KEY_FILE_MAX 4096

static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static int sodium_status;

static void sodium_start(void)
{
    sodium_status = sodium_init();
}

/* libsodium needs sodium_init() once before its random numbers. */
static rcomm_status_t sodium_ready(void)
{
    pthread_once(&sodium_once, sodium_start);
    if (sodium_status < 0)
        return base_err(RCOMM_ERR_SYSTEM, "libsodium failed to initialise");
    return RCOMM_OK;
}

/* Text keys are hashed, so any printable secret of enough length works and
 * the MAC key is always 32 uniform bytes. */
rcomm_status_t auth_key_from_text(auth_key_t *key, const char *text, size_t len,
                                  const char *what)
{
    static const unsigned char domain[] = "rcomm job key v1";

    if (len < AUTH_KEY_TEXT_MIN)
        return base_err(RCOMM_ERR_CONFIG,
                        "%s has %zu characters; a job key needs at least %d (rcomm-run "
                        "makes %d hex digits; so does `head -c 32 /dev/urandom | "
                        "od -An -tx1 | tr -d ' \\n'`)",
                        what, len, AUTH_KEY_TEXT_MIN, AUTH_KEY_TEXT_LEN);
    crypto_generichash(key->k, sizeof(key->k), (const unsigned char *)text, len, domain,
                       sizeof(domain) - 1);
    key->keyed = true;
    return RCOMM_OK;
}

void auth_key_none(auth_key_t *key)
{
    static const char none[] = "rcomm: this job has no key";

    crypto_generichash(key->k, sizeof(key->k), (const unsigned char *)none,
                       sizeof(none) - 1, NULL, 0);
    key->keyed = false;
}

/* The file's text without trailing white space, into buf (KEY_FILE_MAX + 1). */
static rcomm_status_t read_key_file(const char *path, char *buf, size_t *len)
{
    struct stat st;
    ssize_t n;
    size_t got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

    if (fd < 0)
        return base_err_sys("RCOMM_JOB_KEY_FILE=%s cannot be opened", path);
    if (fstat(fd, &st) != 0) {
        close(fd);
        return base_err_sys("RCOMM_JOB_KEY_FILE=%s: fstat", path);
    }
    /* What others can read is not a secret (ssh refuses such keys too). */
    if (!S_ISREG(st.st_mode) || (st.st_mode & (S_IRWXG | S_IRWXO)) ||
        st.st_uid != geteuid()) {
        close(fd);
        return base_err(RCOMM_ERR_CONFIG,
                        "RCOMM_JOB_KEY_FILE=%s is %s (mode %04o, owner uid %u): a key "
                        "file must be a regular file of yours that only you can read "
                        "(chmod 600 %s)",
                        path,
                        !S_ISREG(st.st_mode)     ? "not a regular file"
                        : st.st_uid != geteuid() ? "owned by another user"
                                                 : "open to group or others",
                        (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid, path);
    }
    while (got <= KEY_FILE_MAX &&
           (n = read(fd, buf + got, KEY_FILE_MAX + 1 - got)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            close(fd);
            return base_err_sys("RCOMM_JOB_KEY_FILE=%s: read", path);
        }
        got += (size_t)n;
    }
    close(fd);
    if (got > KEY_FILE_MAX) {
        sodium_memzero(buf, got);
        return base_err(RCOMM_ERR_CONFIG,
                        "RCOMM_JOB_KEY_FILE=%s has more than %d bytes: not a key file",
                        path, KEY_FILE_MAX);
    }
    while (got && (buf[got - 1] == '\n' || buf[got - 1] == '\r' || buf[got - 1] == ' ' ||
                   buf[got - 1] == '\t'))
        got--;
    *len = got;
    return RCOMM_OK;
}

static atomic_bool told_unkeyed;

rcomm_status_t auth_key_given(auth_key_t *key, int rank)
{
    const char *text = getenv("RCOMM_JOB_KEY");
    const char *path = getenv("RCOMM_JOB_KEY_FILE");
    rcomm_status_t st;

    if (!key)
        return base_err(RCOMM_ERR_INVALID_ARG, "auth_key_load: key is NULL");
    if ((st = sodium_ready()) != RCOMM_OK)
        return st;
    if (text && *text && path && *path)
        return base_err(RCOMM_ERR_CONFIG,
                        "rank %d: both RCOMM_JOB_KEY and RCOMM_JOB_KEY_FILE are set; "
                        "set one",
                        rank);
    if (text && *text)
        return auth_key_from_text(key, text, strlen(text), "RCOMM_JOB_KEY");
    if (path && *path) {
        char *buf = malloc(KEY_FILE_MAX + 1);
        size_t len = 0;

        if (!buf)
            return base_err(RCOMM_ERR_NO_MEMORY, "rank %d: reading the key file", rank);
        if ((st = read_key_file(path, buf, &len)) == RCOMM_OK)
            st = auth_key_from_text(key, buf, len, "the key in RCOMM_JOB_KEY_FILE");
        sodium_memzero(buf, KEY_FILE_MAX + 1);
        free(buf);
        return st;
    }
    auth_key_none(key);
    return RCOMM_OK;
}

rcomm_status_t auth_key_load(auth_key_t *key, int rank, bool require)
{
    rcomm_status_t st = auth_key_given(key, rank);

    if (st != RCOMM_OK || key->keyed)
        return st;
    if (require)
        return base_err(RCOMM_ERR_CONFIG,
                        "rank %d: RCOMM_REQUIRE_KEY is set but there is no job key: set "
                        "RCOMM_JOB_KEY or RCOMM_JOB_KEY_FILE (rcomm-run does it for you)",
                        rank);
    if (!atomic_exchange(&told_unkeyed, true))
        base_log(BASE_LOG_INFO,
                 "no job key (RCOMM_JOB_KEY, RCOMM_JOB_KEY_FILE): joins are not "
                 "authenticated; any local process can join this job");
    return RCOMM_OK;
}

rcomm_status_t auth_key_generate_text(char out[AUTH_KEY_TEXT_LEN + 1])
{
    unsigned char raw[AUTH_KEY_TEXT_LEN / 2];
    rcomm_status_t st;

    if ((st = sodium_ready()) != RCOMM_OK)
        return st;
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2hex(out, AUTH_KEY_TEXT_LEN + 1, raw, sizeof(raw));
    sodium_memzero(raw, sizeof(raw));
    return RCOMM_OK;
}

void auth_key_wipe(auth_key_t *key)
{
    if (key)
        sodium_memzero(key, sizeof(*key));
}

void auth_nonce(unsigned char nonce[AUTH_NONCE_LEN])
{
#ifdef RCOMM_FUZZING
    /* Fuzz builds only (fuzz/): a known nonce lets a harness compute the
     * tags that get it past the handshakes. */
    memset(nonce, AUTH_FUZZ_NONCE, AUTH_NONCE_LEN);
#else
    /* randombytes_buf needs no sodium_init on Linux (getrandom), but the
     * library asks for it: a process that loaded a key has done it. */
    if (sodium_ready() != RCOMM_OK)
        abort(); /* not reached: sodium_init only fails without entropy */
    randombytes_buf(nonce, AUTH_NONCE_LEN);
#endif
}

void auth_tag(const auth_key_t *key, const char *label, const void *claims,
              size_t claims_len, const unsigned char nonce_a[AUTH_NONCE_LEN],
              const unsigned char nonce_b[AUTH_NONCE_LEN],
              unsigned char tag[AUTH_TAG_LEN])
{
    crypto_generichash_state s;
    unsigned char llen = (unsigned char)strlen(label);

    /* The label's length first, so no label is a prefix of another's input. */
    crypto_generichash_init(&s, key->k, sizeof(key->k), AUTH_TAG_LEN);
    crypto_generichash_update(&s, &llen, 1);
    crypto_generichash_update(&s, (const unsigned char *)label, llen);
    crypto_generichash_update(&s, nonce_a, AUTH_NONCE_LEN);
    crypto_generichash_update(&s, nonce_b, AUTH_NONCE_LEN);
    crypto_generichash_update(&s, claims, claims_len);
    crypto_generichash_final(&s, tag, AUTH_TAG_LEN);
    sodium_memzero(&s, sizeof(s));
}

bool auth_check(const auth_key_t *key, const char *label, const void *claims,
                size_t claims_len, const unsigned char nonce_a[AUTH_NONCE_LEN],
                const unsigned char nonce_b[AUTH_NONCE_LEN],
                const unsigned char tag[AUTH_TAG_LEN])
{
    unsigned char want[AUTH_TAG_LEN];
    bool ok;

    auth_tag(key, label, claims, claims_len, nonce_a, nonce_b, want);
    ok = sodium_memcmp(want, tag, AUTH_TAG_LEN) == 0;
    sodium_memzero(want, sizeof(want));
    return ok;
}
