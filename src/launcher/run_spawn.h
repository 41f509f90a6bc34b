/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rcomm-run's process starting (run_spawn.c): the ranks' environment, the
 * job's process group and its watchdog, and the ranks themselves. The
 * supervision (output, exits, signals) stays in rcomm_run.c.
 */
#ifndef RCOMM_RUN_SPAWN_H
#define RCOMM_RUN_SPAWN_H

#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

/* Every rank's environment. Built once in rcomm-run; only the rank numbers
 * change from rank to rank, so one array serves them all. */
typedef struct {
    char **envp;             /* NULL-terminated */
    char rank_var[32];       /* "RCOMM_RANK=r" */
    char local_rank_var[40]; /* "RCOMM_LOCAL_RANK=r" */
    char size_var[32];
    char local_size_var[40];
    char addr_var[320];
    char key_var[80];   /* "RCOMM_JOB_KEY=<hex>" when rcomm-run made the key */
    char store_var[40]; /* "RCOMM_STORE_FD=n", rank 0's alone; "" when none */
    size_t store_slot;  /* its place in envp, the last */
} run_env_t;

/* rcomm-run's environment without the RCOMM_* variables it sets, with the
 * -x VAR=VALUE settings and the job's RCOMM_* variables. Makes a fresh job
 * key unless RCOMM_JOB_KEY or RCOMM_JOB_KEY_FILE is set (here or by -x).
 * store_fd (-1: none) is rank 0's store listener, which rank 0 inherits.
 * Returns 0, or -1 after saying why. */
int run_env_init(run_env_t *env, int nranks, const char *addr, int store_fd, char **xvars,
                 int nx);
void run_env_set_rank(run_env_t *env, int rank);
/* Wipes the key. */
void run_env_free(run_env_t *env);

/* The job's process group and its leader, the watchdog: a fork of
 * rcomm-run that waits for rcomm-run to end, however it ends, then kills the
 * group (the ranks and whatever they started). *hold_fd is the pipe end whose
 * closing (by our exit) wakes it. argv is main's: the watchdog overwrites
 * its copy. Returns the group id, or -1 with errno. */
pid_t run_watchdog_start(int *hold_fd, int argc, char **argv);

/* What a rank's process needs between fork and exec, prepared beforehand:
 * the child shares rcomm-run's memory until it execs. */
typedef struct {
    char **argv;
    const run_env_t *env;
    int in_fd;  /* its stdin; -1 to inherit ours */
    int out_fd; /* its stdout and stderr */
    int err_fd;
    pid_t pgid;                     /* the job's process group */
    const sigset_t *mask;           /* its signal mask */
    const int *sigs;                /* signals whose action it gets back */
    const struct sigaction *sig_sa; /* ... namely these */
    int nsigs;
    const cpu_set_t *cpus; /* where it may run; NULL: where we may */
    int keep_fd;           /* a descriptor it inherits; -1: none */
} run_child_t;

/* Starts one rank; call with every signal blocked. Returns its pid, or -1:
 * *exec_errno is then 0 if no process was made (errno says why), or why the
 * program could not be executed (the child has exited with 127). */
pid_t run_spawn(const run_child_t *c, int *exec_errno);

/* The limit behind a failed fork or pipe, for the message: "the limit on
 * processes is 512 (ulimit -u)", or "" if none applies. */
const char *run_limit_hint(int err);

/* Raises the descriptor limit as far as the job needs (two pipes a rank),
 * or exits with a message naming the limit the job cannot fit under:
 * RLIMIT_NOFILE or RLIMIT_NPROC. */
void run_check_limits(int nranks);

#endif
