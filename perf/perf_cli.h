/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Command line and output files, shared by the multi-rank tools
 * (coll_perf.c, ps_perf.c). A tool sets perf_prog and perf_usage before
 * parsing, and perf_rank once its communicator exists.
 */
#ifndef RCOMM_PERF_CLI_H
#define RCOMM_PERF_CLI_H

#include <stddef.h>
#include <stdio.h>

#include "perf/perf_out.h"
#include "rcomm.h"

extern const char *perf_prog;
extern void (*perf_usage)(FILE *f);
extern int perf_rank;

/* The communicator from the environment (perf_die on failure); sets
 * perf_rank and the outputs. */
rcomm_comm_t *perf_comm_create(int *rank, int *size, const char **transport);
/* "PROG: rank R: WHAT: <rcomm's last error>", exit 1. */
void perf_die(const char *what) __attribute__((noreturn));
/* A bad command line: what was wrong (and with which argument), the usage,
 * exit 2. */
void perf_bad_usage(const char *what, const char *arg) __attribute__((noreturn));
/* Bytes, with K, M, G for powers of 1024; a bad one is a usage error. */
size_t perf_parse_size(const char *s);
/* An integer in [min, 1e9]; a bad one is a usage error. */
int perf_parse_int(const char *s, int min);
/* A comma-separated list of names[0 .. n) ("-K topk,sign"): their indices
 * into out (n slots), the count returned. An unknown or repeated name is a
 * usage error naming option. */
int perf_parse_list(const char *s, const char *const *names, int n, int *out,
                    const char *option);
/* Rank 0 opens the files (NULL paths are skipped); every rank learns whether
 * it could, so that all stop together (exit 1) instead of waiting for it. */
void perf_open_outputs(rcomm_comm_t *comm, const char *json_path, const char *csv_path,
                       perf_out_t **json, perf_out_t **csv);
/* 0, or 1 after saying why the file is incomplete. */
int perf_close_output(perf_out_t *out, const char *path);

#endif
