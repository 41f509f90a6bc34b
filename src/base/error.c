/* SPDX-License-Identifier: BSD-3-Clause */
#include "base/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"

#define BASE_ERRMSG_MAX 512

/* Per-thread, like errno: the only state outside a communicator. */
static _Thread_local char last_error[BASE_ERRMSG_MAX];
static _Thread_local int muted;
static _Thread_local int log_rank = -1;

const char *rcomm_strerror(rcomm_status_t status)
{
    switch (status) {
    case RCOMM_OK: return "success";
    case RCOMM_INPROGRESS: return "operation in progress";
    case RCOMM_ERR_INVALID_ARG: return "invalid argument";
    case RCOMM_ERR_UNSUPPORTED: return "operation not supported";
    case RCOMM_ERR_NO_MEMORY: return "out of memory";
    case RCOMM_ERR_CONFIG: return "invalid configuration";
    case RCOMM_ERR_PEER_FAILED: return "peer failed";
    case RCOMM_ERR_TIMEOUT: return "timed out";
    case RCOMM_ERR_PROTOCOL: return "protocol error";
    case RCOMM_ERR_MISMATCH: return "ranks disagree on collective arguments";
    case RCOMM_ERR_ACCESS: return "remote access denied";
    case RCOMM_ERR_COMM_FAILED: return "communicator failed earlier";
    case RCOMM_ERR_BOOTSTRAP: return "bootstrap failed";
    case RCOMM_ERR_AUTH: return "authentication failed";
    case RCOMM_ERR_SYSTEM: return "system call failed";
    case RCOMM_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

const char *rcomm_last_error(void)
{
    return last_error;
}

void base_err_mute(bool on)
{
    muted += on ? 1 : -1;
}

void base_err_clear(void)
{
    last_error[0] = '\0';
}

int base_log_set_rank(int rank)
{
    int old = log_rank;
    log_rank = rank;
    return old;
}

/* level decides whether the line shows; label names it. */
static void vlog_as(int level, int label, const char *fmt, va_list ap)
{
    static const char *names[] = {"", "error", "warning", "info", "debug"};
    char line[BASE_ERRMSG_MAX + 64];
    int n;

    if (level > base_config_log_level())
        return;
    if (log_rank >= 0)
        n = snprintf(line, sizeof(line), "rcomm[%d] %s: ", log_rank, names[label]);
    else
        n = snprintf(line, sizeof(line), "rcomm %s: ", names[label]);
    vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    /* One write so lines of concurrent ranks do not interleave. */
    fprintf(stderr, "%s\n", line);
}

void base_log(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog_as(level, level, fmt, ap);
    va_end(ap);
}

void base_log_loud_warning(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog_as(BASE_LOG_ERROR, BASE_LOG_WARN, fmt, ap);
    va_end(ap);
}

static rcomm_status_t verr(rcomm_status_t status, const char *fmt, va_list ap,
                           const char *suffix)
{
    size_t n;

    vsnprintf(last_error, sizeof(last_error), fmt, ap);
    if (suffix) {
        n = strlen(last_error);
        snprintf(last_error + n, sizeof(last_error) - n, ": %s", suffix);
    }
    if (!muted)
        base_log(BASE_LOG_ERROR, "%s (%s)", last_error, rcomm_strerror(status));
    return status;
}

rcomm_status_t base_err(rcomm_status_t status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verr(status, fmt, ap, NULL);
    va_end(ap);
    return status;
}

rcomm_status_t base_err_quiet(rcomm_status_t status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof(last_error), fmt, ap);
    va_end(ap);
    return status;
}

rcomm_status_t base_err_sys(const char *fmt, ...)
{
    char buf[128];
    const char *msg;
    int saved = errno;
    va_list ap;

    /* GNU strerror_r returns the string it chose. */
    msg = strerror_r(saved, buf, sizeof(buf));
    va_start(ap, fmt);
    verr(RCOMM_ERR_SYSTEM, fmt, ap, msg);
    va_end(ap);
    errno = saved;
    return RCOMM_ERR_SYSTEM;
}

void base_err_prefix(const char *fmt, ...)
{
    char prefix[128], old[BASE_ERRMSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, last_error, sizeof(old));
    snprintf(last_error, sizeof(last_error), "%.127s%.383s", prefix, old);
}
