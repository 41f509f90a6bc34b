/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Error reporting. The code that first decides an error calls base_err():
 * it formats the message into the calling thread's last-error buffer, logs it
 * once (unless RCOMM_LOG_LEVEL says otherwise) and returns the status so the
 * call site reads `return base_err(RCOMM_ERR_..., "...")`. Callers that only
 * propagate a status do not log again.
 */
#ifndef RCOMM_ERROR_H
#define RCOMM_ERROR_H

#include <stdbool.h>

#include "rcomm.h"

enum { BASE_LOG_NONE = 0, BASE_LOG_ERROR, BASE_LOG_WARN, BASE_LOG_INFO, BASE_LOG_DEBUG };

/* The rank printed in log lines of this thread (-1 = unknown); returns the
 * previous one so that a failed rcomm_comm_create can restore it. */
int base_log_set_rank(int rank);

rcomm_status_t base_err(rcomm_status_t status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Same, appending ": strerror(errno)" for a failed OS call. */
rcomm_status_t base_err_sys(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Errors set by this thread between base_err_mute(true) and
 * base_err_mute(false) are kept as the last error but not logged: a probe
 * whose refusal is an answer, not a failure (calls nest). */
void base_err_mute(bool on);

/* Set the thread's last error without logging (an error already logged once
 * that a later call reports again). */
rcomm_status_t base_err_quiet(rcomm_status_t status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void base_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A warning shown at the default level (error), for mistakes nobody would
 * see otherwise; hidden only by RCOMM_LOG_LEVEL=none. */
void base_log_loud_warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prefix the current thread's last error with context ("allreduce #3: ")
 * without logging again. */
void base_err_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void base_err_clear(void);

#endif
