/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Rank 0's listening socket for the bootstrap store (kvs_listen.c): bound
 * here, or inherited from rcomm-run, which made it before starting the ranks.
 */
#ifndef RCOMM_KVS_LISTEN_H
#define RCOMM_KVS_LISTEN_H

#include <netdb.h>

#include "rcomm.h"

/* A non-blocking listener for the addresses of res, addr being the user's
 * "host:port" for messages: those addresses when all are loopback ones (a
 * single-host job stays off the network), else every interface. On a
 * loopback address it is rcomm-run's (RCOMM_STORE_FD) when that one is a
 * TCP listener on one of res's addresses not in use by another store of
 * this process. */
rcomm_status_t kvs_listen_open(const char *addr, const struct addrinfo *res, int *fd);
void kvs_listen_close(int fd);

#endif
