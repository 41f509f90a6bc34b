/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Starting a job's processes (run_spawn.h). Three promises hold here:
 *
 * - Each job gets its own key: RCOMM_JOB_KEY, 256 random bits, unless the
 *   user gave one. Only the ranks' environment holds it; it is never printed.
 * - No process of a job outlives rcomm-run. The job is one process group led
 *   by a watchdog that kills the group once rcomm-run is gone (a pipe only
 *   rcomm-run holds reaches EOF, whether it exited or was killed -9). Each
 *   rank also has PR_SET_PDEATHSIG = SIGKILL, for when the watchdog itself
 *   was killed (say, by a pkill of every rcomm-run).
 * - Starting is cheap: ranks are made with vfork, so a large job does not
 *   copy rcomm-run's page tables 4096 times. The child shares our memory
 *   until it execs, hence everything it needs is prepared beforehand
 *   (run_child_t, the environment array) and it only makes system calls.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* execvpe */
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/auth.h"
#include "launcher/run_spawn.h"

extern char **environ;

/* The variables rcomm-run sets for each rank; the user's values give way. */
static const char *const job_vars[] = {"RCOMM_RANK", "RCOMM_LOCAL_RANK",
                                       "RCOMM_SIZE", "RCOMM_LOCAL_SIZE",
                                       "RCOMM_ADDR", "RCOMM_STORE_FD"};

static size_t name_len(const char *entry)
{
    const char *eq = strchr(entry, '=');

    return eq ? (size_t)(eq - entry) : strlen(entry);
}

static bool same_name(const char *entry, const char *name, size_t len)
{
    return name_len(entry) == len && strncmp(entry, name, len) == 0;
}

/* Whether a later -x VAR=VALUE sets the same VAR (the last one wins). */
static bool set_later(char **xvars, int nx, int i)
{
    size_t len = name_len(xvars[i]);

    for (int j = i + 1; j < nx; j++)
        if (strchr(xvars[j], '=') && same_name(xvars[j], xvars[i], len))
            return true;
    return false;
}

/* Whether some -x NAME=VALUE sets the variable whose name is name[0..len). */
static bool set_by_x(char **xvars, int nx, const char *name, size_t len)
{
    for (int i = 0; i < nx; i++)
        if (strchr(xvars[i], '=') && same_name(xvars[i], name, len))
            return true;
    return false;
}

static bool ours(const char *entry)
{
    for (size_t i = 0; i < sizeof(job_vars) / sizeof(job_vars[0]); i++)
        if (same_name(entry, job_vars[i], strlen(job_vars[i])))
            return true;
    return false;
}

int run_env_init(run_env_t *env, int nranks, const char *addr, int store_fd, char **xvars,
                 int nx)
{
    size_t nenv = 0, n = 0;
    bool have_key;

    memset(env, 0, sizeof(*env));
    while (environ[nenv])
        nenv++;
    env->envp = calloc(nenv + (size_t)nx + 8, sizeof(char *));
    if (!env->envp) {
        perror("rcomm-run");
        return -1;
    }
    for (size_t i = 0; i < nenv; i++)
        if (!ours(environ[i]) && !set_by_x(xvars, nx, environ[i], name_len(environ[i])))
            env->envp[n++] = environ[i];
    for (int i = 0; i < nx; i++) {
        if (!strchr(xvars[i], '=') || set_later(xvars, nx, i))
            continue; /* -x VAR: ours is in environ already */
        env->envp[n++] = xvars[i];
        /* execvpe searches our PATH: make it the ranks' one, as it was when
         * each rank set its variables before execvp. */
        if (same_name(xvars[i], "PATH", 4))
            setenv("PATH", xvars[i] + 5, 1);
    }
    snprintf(env->size_var, sizeof(env->size_var), "RCOMM_SIZE=%d", nranks);
    snprintf(env->local_size_var, sizeof(env->local_size_var), "RCOMM_LOCAL_SIZE=%d",
             nranks);
    snprintf(env->addr_var, sizeof(env->addr_var), "RCOMM_ADDR=%s", addr);
    env->envp[n++] = env->rank_var;
    env->envp[n++] = env->local_rank_var;
    env->envp[n++] = env->size_var;
    env->envp[n++] = env->local_size_var;
    env->envp[n++] = env->addr_var;

    have_key = getenv("RCOMM_JOB_KEY") || getenv("RCOMM_JOB_KEY_FILE") ||
               set_by_x(xvars, nx, "RCOMM_JOB_KEY", strlen("RCOMM_JOB_KEY")) ||
               set_by_x(xvars, nx, "RCOMM_JOB_KEY_FILE", strlen("RCOMM_JOB_KEY_FILE"));
    if (!have_key) {
        char key[AUTH_KEY_TEXT_LEN + 1];

        if (auth_key_generate_text(key) != RCOMM_OK) {
            fprintf(stderr, "rcomm-run: cannot make a job key (libsodium failed to "
                            "initialise); set RCOMM_JOB_KEY to run anyway\n");
            free(env->envp);
            env->envp = NULL;
            return -1;
        }
        snprintf(env->key_var, sizeof(env->key_var), "RCOMM_JOB_KEY=%s", key);
        explicit_bzero(key, sizeof(key));
        env->envp[n++] = env->key_var;
    }
    if (store_fd >= 0)
        snprintf(env->store_var, sizeof(env->store_var), "RCOMM_STORE_FD=%d", store_fd);
    env->store_slot = n;
    env->envp[n + 1] = NULL;
    run_env_set_rank(env, 0);
    return 0;
}

void run_env_set_rank(run_env_t *env, int rank)
{
    snprintf(env->rank_var, sizeof(env->rank_var), "RCOMM_RANK=%d", rank);
    snprintf(env->local_rank_var, sizeof(env->local_rank_var), "RCOMM_LOCAL_RANK=%d",
             rank);
    env->envp[env->store_slot] = rank == 0 && env->store_var[0] ? env->store_var : NULL;
}

void run_env_free(run_env_t *env)
{
    explicit_bzero(env->key_var, sizeof(env->key_var));
    free(env->envp);
    env->envp = NULL;
}

/* Our command line (argv's strings are contiguous) becomes the watchdog's
 * name, so that `pgrep -f PROGRAM` finds the ranks, not it. */
static void rename_watchdog(int argc, char **argv)
{
    static const char name[] = "rcomm-run-wd";
    char *end = argv[argc - 1] + strlen(argv[argc - 1]);

    memset(argv[0], 0, (size_t)(end - argv[0]));
    if ((size_t)(end - argv[0]) >= sizeof(name))
        memcpy(argv[0], name, sizeof(name));
    prctl(PR_SET_NAME, name);
}

pid_t run_watchdog_start(int *hold_fd, int argc, char **argv)
{
    sigset_t all, old;
    int p[2];
    pid_t pid;

    if (pipe2(p, O_CLOEXEC) != 0)
        return -1;
    /* Our handlers must never run in it (they would write to our
     * self-pipe), and it has no use for the signals we forward to the group:
     * it keeps them all blocked. */
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old);
    pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        char b;

        /* Never kill(0) from our caller's group: that may be a shell's. */
        if (setpgid(0, 0) != 0)
            _exit(1);
        rename_watchdog(argc, argv);
        close(p[1]);
        /* Holding our terminal or our output pipe would keep a reader of
         * rcomm-run's output waiting for us. */
        for (int fd = 0; fd < 3 && null >= 0; fd++)
            dup2(null, fd);
        while (read(p[0], &b, 1) < 0 && errno == EINTR)
            ;
        kill(0, SIGKILL); /* the group: the ranks, their children and us */
        _exit(0);
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    close(p[0]);
    if (pid < 0) {
        int e = errno;
        close(p[1]);
        errno = e;
        return -1;
    }
    /* Here too, so the group exists before the first rank joins it. */
    if (setpgid(pid, pid) != 0 && getpgid(pid) != pid) {
        int e = errno;
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        close(p[1]);
        errno = e;
        return -1;
    }
    *hold_fd = p[1];
    return pid;
}

/* The rank's side of the vfork: system calls only, then exec. */
static _Noreturn void run_child(const run_child_t *c, pid_t parent, volatile int *err)
{
    for (int i = 0; i < c->nsigs; i++)
        sigaction(c->sigs[i], &c->sig_sa[i], NULL);
    /* Dies with rcomm-run. If rcomm-run died before the prctl, the signal
     * will never come, but we have a new parent already: leave. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
        _exit(127);
    if (setpgid(0, c->pgid) != 0)
        goto fail;
    if ((c->in_fd >= 0 && dup2(c->in_fd, 0) < 0) || dup2(c->out_fd, 1) < 0 ||
        dup2(c->err_fd, 2) < 0 || (c->keep_fd >= 0 && fcntl(c->keep_fd, F_SETFD, 0) != 0))
        goto fail;
    /* A failed binding leaves the rank where the scheduler puts it: slower
     * perhaps, never wrong. */
    if (c->cpus)
        sched_setaffinity(0, sizeof(*c->cpus), c->cpus);
    sigprocmask(SIG_SETMASK, c->mask, NULL);
    execvpe(c->argv[0], c->argv, c->env->envp);
fail:
    *err = errno ? errno : EINVAL;
    _exit(127);
}

pid_t run_spawn(const run_child_t *c, int *exec_errno)
{
    volatile int err = 0;
    pid_t parent = getpid();
    pid_t pid;

    pid = vfork();
    if (pid == 0)
        run_child(c, parent, &err);
    /* The child has exec'd or exited: err is final. */
    *exec_errno = pid > 0 ? err : 0;
    return pid;
}

const char *run_limit_hint(int err)
{
    static char buf[200];
    struct rlimit rl;

    buf[0] = '\0';
    if (err == EAGAIN && getrlimit(RLIMIT_NPROC, &rl) == 0) {
        if (rl.rlim_cur != RLIM_INFINITY && getuid() != 0)
            snprintf(buf, sizeof(buf),
                     "; the limit on processes is %llu (ulimit -u, RLIMIT_NPROC)",
                     (unsigned long long)rl.rlim_cur);
        else
            snprintf(buf, sizeof(buf),
                     "; a limit on processes was reached (kernel.threads-max, "
                     "kernel.pid_max or the cgroup's pids.max)");
    } else if (err == EMFILE && getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        snprintf(buf, sizeof(buf),
                 "; the limit on open files is %llu (ulimit -n, RLIMIT_NOFILE)",
                 (unsigned long long)rl.rlim_cur);
    } else if (err == ENFILE) {
        snprintf(buf, sizeof(buf), "; the system's limit on open files (fs.file-max)");
    }
    return buf;
}

/* Two pipes per rank: make sure the descriptor limit allows them. */
static void raise_fd_limit(int nranks)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)nranks * 2 + 32;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= need)
        return;
    rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need ? rl.rlim_max : need;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < need) {
        fprintf(stderr,
                "rcomm-run: -n %d needs %llu file descriptors; the limit is "
                "%llu (ulimit -n, RLIMIT_NOFILE)\n",
                nranks, (unsigned long long)need, (unsigned long long)rl.rlim_cur);
        exit(1);
    }
}

static void check_nproc(int nranks)
{
    struct rlimit rl;

    /* The kernel does not hold root to it. */
    if (getuid() == 0 || getrlimit(RLIMIT_NPROC, &rl) != 0 ||
        rl.rlim_cur == RLIM_INFINITY)
        return;
    /* The ranks, the watchdog and us, before counting the user's others. */
    if ((rlim_t)nranks + 2 > rl.rlim_cur) {
        fprintf(stderr,
                "rcomm-run: -n %d needs at least %d processes; the limit on processes "
                "is %llu (ulimit -u, RLIMIT_NPROC)\n",
                nranks, nranks + 2, (unsigned long long)rl.rlim_cur);
        exit(1);
    }
}

void run_check_limits(int nranks)
{
    raise_fd_limit(nranks);
    check_nproc(nranks);
}
