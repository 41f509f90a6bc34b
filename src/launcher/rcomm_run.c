/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rcomm-run: start N ranks of a program on this host, the way mpirun or srun
 * would, for tests and single-node jobs. It listens on a free loopback port
 * for RCOMM_ADDR and hands that socket to rank 0 (RCOMM_STORE_FD), sets each
 * rank's RCOMM_* variables and a fresh RCOMM_JOB_KEY,
 * prefixes every output line with "[rank] ", forwards signals, and stops the
 * whole job as soon as one rank fails, so a crashed rank never leaves its
 * peers waiting for a timeout. No process of the job outlives it, however it
 * ends (run_spawn.c starts them so).
 *
 * It uses nothing of librcomm but the job key's generator and the
 * placement (base_topo_share): it must work when the library does not. One thread, one
 * poll() loop over the ranks' output pipes and a self-pipe that carries signals.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pipe2, sigabbrev_np */
#endif
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/topo.h"
#include "launcher/run_spawn.h"

#define MAX_RANKS 4096
#define LINE_MAX_BYTES 65536 /* a longer line is split, each piece prefixed */
#define KILL_GRACE_MS 2000   /* SIGTERM, then SIGKILL after this */
#define SKIP_GRACE_MS 5000   /* after a rank exits 77, how long the others may run */
#define DRAIN_MS 1000        /* output of grandchildren after the ranks exited */
#define BLAME_MS 500         /* how long an error exit may yield the blame (see blame) */
#define SLOW_START_MS 10000  /* starting takes this long: say so, or it looks hung */

typedef struct {
    int fd;    /* read end of the rank's stdout or stderr; -1 at EOF */
    int out;   /* where its lines go: 1 or 2 */
    char *buf; /* the line being assembled; allocated at the first output */
    size_t len;
} stream_t;

typedef struct {
    pid_t pid; /* 0 once reaped */
    stream_t io[2];
} rank_t;

/* How a process ended, as waitid reported it. */
typedef struct {
    int rank;      /* -1: none */
    bool signaled; /* killed by signal value, else exited with status value */
    bool core;
    int value;
    bool silent; /* a signal the user sent, or SIGPIPE from a closed reader */
} death_t;

static struct {
    int nranks;
    rank_t *ranks;
    int live;       /* ranks not reaped yet */
    int skipped;    /* ranks that exited 77 */
    int first_skip; /* rank of the first 77, -1 if none */
    int exit_code;  /* of a failure of rcomm-run's own; 0 while none */
    int user_sig;   /* last signal forwarded from the user, 0 if none */
    bool stopping;  /* SIGTERM sent to everyone */
    bool killed;    /* SIGKILL sent to the ranks left */
    bool timed_out;
    death_t blame;         /* the first failure of a rank */
    bool blame_reported;   /* said; a later death may no longer take the blame */
    pid_t pgid;            /* the job's process group, led by the watchdog */
    bool watchdog_dead;    /* then its pid may be reused: no killpg at the end */
    int watchdog_fd;       /* its pipe: our exit wakes it */
    int store_fd;          /* rank 0's listener until rank 0 has it; -1: none */
    bool out_broken[3];    /* our stdout / stderr is a closed pipe */
    const char *limit_str; /* -t as given */
    /* Deadlines; 0 = not armed. */
    uint64_t kill_at, skip_at, limit_at, drain_until, blame_until;
    int sig_pipe[2];
} job = {.first_skip = -1,
         .blame.rank = -1,
         .sig_pipe = {-1, -1},
         .watchdog_fd = -1,
         .store_fd = -1};

#define USAGE_LINE                                                                       \
    "usage: rcomm-run -n N [-x VAR=VALUE]... [-x VAR]... [-t SECONDS] [-a HOST:PORT]\n"  \
    "                 [-b auto|none] [--] PROGRAM [ARGS...]\n"

static const char usage_text[] = USAGE_LINE
    "Start N ranks of PROGRAM on this host with RCOMM_RANK, RCOMM_SIZE, RCOMM_ADDR,\n"
    "RCOMM_LOCAL_RANK and RCOMM_LOCAL_SIZE set. Every output line of rank R is\n"
    "printed as \"[R] line\" (stdout to stdout, stderr to stderr).\n"
    "  -n N           number of ranks, 1..4096\n"
    "  -x VAR=VALUE   set VAR in every rank's environment (repeatable)\n"
    "  -x VAR         pass rcomm-run's own VAR (ranks inherit it; warns if unset)\n"
    "  -t SECONDS     time limit for the whole job: stop all ranks, exit 124\n"
    "  -a HOST:PORT   RCOMM_ADDR to use (default: a free port on 127.0.0.1)\n"
    "  -b auto|none   placement: auto (default) gives each rank its share of the\n"
    "                 cores rcomm-run may use, whole cores (one core for several\n"
    "                 ranks when they outnumber the cores); none: anywhere\n"
    "  -h, --help     print this help\n"
    "When a rank fails, the others get SIGTERM, then SIGKILL 2 s later.\n"
    "The ranks run in a process group of their own, killed when rcomm-run ends\n"
    "however it ends (kill -9 included); their stdin is /dev/null when\n"
    "rcomm-run's is a terminal. Unless RCOMM_JOB_KEY or RCOMM_JOB_KEY_FILE is set,\n"
    "each job gets a fresh random RCOMM_JOB_KEY.\n"
    "Exit status: 0 if every rank exits 0; 77 if every rank exits 77 (skipped);\n"
    "124 on the time limit; 128+S if a rank is killed by signal S; 2 on bad usage;\n"
    "1 otherwise.\n";

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void write_all(int fd, const struct iovec *iov, int n)
{
    struct iovec v[4];

    memcpy(v, iov, (size_t)n * sizeof(*v));
    while (n > 0 && !job.out_broken[fd]) {
        ssize_t w = writev(fd, v, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            job.out_broken[fd] = true; /* e.g. `rcomm-run ... | head` */
            return;
        }
        while (n > 0 && (size_t)w >= v[0].iov_len) {
            w -= (ssize_t)v[0].iov_len;
            memmove(v, v + 1, (size_t)--n * sizeof(*v));
        }
        if (n > 0) {
            v[0].iov_base = (char *)v[0].iov_base + w;
            v[0].iov_len -= (size_t)w;
        }
    }
}

/* Our own messages: one write each, so they never split a rank's line. */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(msg, sizeof(msg) - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof(msg) - 2)
        n = (int)sizeof(msg) - 2;
    msg[n++] = '\n';
    write_all(2, &(struct iovec){msg, (size_t)n}, 1);
}

static _Noreturn void usage_error(const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "rcomm-run: %s\n" USAGE_LINE "(rcomm-run --help for more)\n", msg);
    exit(2);
}

/* "SIGSEGV", or "40" for one without a name. */
static const char *signame(int sig)
{
    static char buf[32];
    const char *abbrev = sigabbrev_np(sig); /* glibc 2.32 */

    if (abbrev)
        snprintf(buf, sizeof(buf), "SIG%s", abbrev);
    else
        snprintf(buf, sizeof(buf), "%d", sig);
    return buf;
}

/* ---- Output -------------------------------------------------------------------- */

static void emit_line(int rank, const stream_t *s, size_t off, size_t len)
{
    char prefix[16];
    int n = snprintf(prefix, sizeof(prefix), "[%d] ", rank);
    struct iovec iov[3] = {{prefix, (size_t)n}, {s->buf + off, len}, {"\n", 1}};

    write_all(s->out, iov, 3);
}

/* Print every complete line in the buffer; at EOF (or when a line fills the
 * whole buffer) print the rest as a line of its own. */
static void emit_lines(int rank, stream_t *s, bool flush)
{
    size_t start = 0;
    char *nl;

    while ((nl = memchr(s->buf + start, '\n', s->len - start))) {
        size_t end = (size_t)(nl - s->buf);
        emit_line(rank, s, start, end - start);
        start = end + 1;
    }
    s->len -= start;
    memmove(s->buf, s->buf + start, s->len);
    if (s->len && (flush || s->len == LINE_MAX_BYTES)) {
        emit_line(rank, s, 0, s->len);
        s->len = 0;
    }
}

static void close_stream(int rank, stream_t *s)
{
    if (s->buf)
        emit_lines(rank, s, true);
    close(s->fd);
    s->fd = -1;
}

/* One read; returns false when there is nothing more to read right now. */
static bool read_stream(int rank, stream_t *s)
{
    ssize_t n;

    if (s->fd < 0)
        return false;
    /* Most ranks of a large job say little: 2 x 64 KiB each only if they do. */
    if (!s->buf && !(s->buf = malloc(LINE_MAX_BYTES))) {
        say("rcomm-run: out of memory");
        exit(1);
    }
    do
        n = read(s->fd, s->buf + s->len, LINE_MAX_BYTES - s->len);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return false;
    if (n <= 0) {
        close_stream(rank, s);
        return false;
    }
    s->len += (size_t)n;
    emit_lines(rank, s, false);
    return true;
}

/* ---- Ranks --------------------------------------------------------------------- */

static void signal_live(int sig)
{
    for (int r = 0; r < job.nranks; r++)
        if (job.ranks[r].pid > 0)
            kill(job.ranks[r].pid, sig);
}

/* The whole group, as a terminal would signal it: what the ranks started
 * gets it too. (The watchdog keeps every signal blocked.) */
static void signal_job(int sig)
{
    if (job.pgid > 0)
        killpg(job.pgid, sig);
}

static void stop_ranks(void)
{
    if (job.stopping)
        return;
    job.stopping = true;
    job.kill_at = now_ns() + KILL_GRACE_MS * 1000000ull;
    signal_job(SIGTERM);
}

/* A failure of rcomm-run's own, not of a rank. */
static void fail(int code)
{
    if (!job.exit_code)
        job.exit_code = code;
    stop_ranks();
}

/*
 * Blame goes to the rank that failed first, not to the peers that failed
 * because of it. The kernel does not date deaths, so the order is the one in
 * which we reap them, with one correction: a rank that sees a peer die exits
 * with an error status, and may be reported before the dead peer (a killed
 * process with many threads or much memory takes a while to become a zombie,
 * and deaths reaped in one go come in pid order). So an error exit holds the
 * blame only for BLAME_MS (or until the job ends): a death by a signal that
 * neither we nor the user sent, seen in that time, takes it over. Deaths our
 * stopping caused never count.
 */
static void report_blame(void)
{
    const death_t *d = &job.blame;

    job.blame_reported = true;
    job.blame_until = 0;
    if (d->silent)
        return;
    if (d->signaled)
        say("rcomm-run: rank %d was killed by signal %s%s", d->rank, signame(d->value),
            d->core ? " (core dumped)" : "");
    else
        say("rcomm-run: rank %d exited with status %d", d->rank, d->value);
}

static bool caused_by_us(const death_t *d)
{
    if (!d->signaled)
        return job.stopping; /* e.g. exit(1) in a SIGTERM handler */
    return (d->value == SIGTERM && job.stopping) || (d->value == SIGKILL && job.killed);
}

static void rank_exited(int r, death_t d)
{
    rank_t *rk = &job.ranks[r];

    /* Its output is complete (unless it left children behind, hence the
     * bound): print it before saying how it ended. */
    for (int i = 0; i < 64 && (read_stream(r, &rk->io[0]) | read_stream(r, &rk->io[1]));
         i++)
        ;
    rk->pid = 0;
    job.live--;
    if (!d.signaled && d.value == 0)
        return;
    if (!d.signaled && d.value == 77) {
        /* Automake's "skipped": fine if everyone skips, so let the others
         * reach the same decision before calling it a failure. */
        job.skipped++;
        if (job.first_skip < 0) {
            job.first_skip = r;
            job.skip_at = now_ns() + SKIP_GRACE_MS * 1000000ull;
        }
        return;
    }
    if (caused_by_us(&d))
        return;
    /* Not worth a line: the signal the user sent, or the SIGPIPE of a
     * `rcomm-run ... | head` whose reader left. */
    d.silent = d.signaled &&
               (d.value == job.user_sig || (d.value == SIGPIPE && job.out_broken[1]));
    if (job.blame.rank < 0 && !job.stopping) {
        job.blame = d;
        stop_ranks();
        if (d.signaled)
            report_blame();
        else
            job.blame_until = now_ns() + BLAME_MS * 1000000ull;
    } else if (job.blame.rank >= 0 && !job.blame_reported && d.signaled && !d.silent) {
        job.blame = d;
        report_blame();
    }
}

static void reap_ranks(void)
{
    siginfo_t si;

    for (;;) {
        death_t d = {.rank = -1};

        si.si_pid = 0;
        if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG) != 0 || si.si_pid == 0)
            return;
        d.signaled = si.si_code != CLD_EXITED;
        d.core = si.si_code == CLD_DUMPED;
        d.value = si.si_status;
        if (si.si_pid == job.pgid) {
            job.watchdog_dead = true;
            say("rcomm-run: warning: the job's watchdog (pid %d) died; if rcomm-run is "
                "killed now, what the ranks started may survive it",
                (int)si.si_pid);
            continue;
        }
        for (int r = 0; r < job.nranks; r++) {
            if (job.ranks[r].pid == si.si_pid) {
                d.rank = r;
                rank_exited(r, d);
                break;
            }
        }
    }
}

static void on_signal(int sig)
{
    int saved = errno;
    unsigned char b = (unsigned char)sig;

    if (write(job.sig_pipe[1], &b, 1) < 0) {
        /* Pipe full: enough wake-ups are queued already. */
    }
    errno = saved;
}

static void handle_signals(void)
{
    unsigned char b[64];
    ssize_t n;

    while ((n = read(job.sig_pipe[0], b, sizeof(b))) > 0) {
        for (ssize_t i = 0; i < n; i++) {
            if (b[i] == SIGCHLD)
                continue;
            /* The ranks' group is not the terminal's: a Ctrl-C reached only
             * us, and reaches them through here. */
            job.user_sig = b[i];
            signal_job(b[i]);
        }
    }
    reap_ranks(); /* SIGCHLD or not: cheap, and never misses an exit */
}

static const int our_sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGCHLD, SIGPIPE};
#define NSIGS (sizeof(our_sigs) / sizeof(our_sigs[0]))
static struct sigaction inherited_sa[NSIGS]; /* restored in the ranks */

static void setup_signals(void)
{
    struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART};
    struct sigaction ign = {.sa_handler = SIG_IGN};

    if (pipe2(job.sig_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        perror("rcomm-run: pipe");
        exit(1);
    }
    sigemptyset(&sa.sa_mask);
    sigemptyset(&ign.sa_mask);
    for (size_t i = 0; i < NSIGS; i++) {
        int sig = our_sigs[i];
        sigaction(sig, NULL, &inherited_sa[i]);
        /* Started under nohup, or in the background of a script: the ranks
         * must stay deaf to what we were deaf to. */
        if (sig != SIGCHLD && sig != SIGPIPE && inherited_sa[i].sa_handler == SIG_IGN)
            continue;
        /* A closed stdout must not kill the supervisor. */
        sigaction(sig, sig == SIGPIPE ? &ign : &sa, NULL);
    }
}

/* Returns 0 once the rank's process exists (if its program could not be
 * executed, the job is failing already), -1 with errno if it could not be
 * made. */
static int start_rank(int r, run_env_t *env, char **argv, int in_fd,
                      const cpu_set_t *cpus)
{
    rank_t *rk = &job.ranks[r];
    int out[2], err[2], exec_errno, e;
    sigset_t all, old;
    run_child_t c;

    if (pipe2(out, O_CLOEXEC) != 0)
        return -1;
    if (pipe2(err, O_CLOEXEC) != 0) {
        e = errno;
        close(out[0]);
        close(out[1]);
        errno = e;
        return -1;
    }
    run_env_set_rank(env, r);
    c = (run_child_t){.argv = argv,
                      .env = env,
                      .in_fd = in_fd,
                      .out_fd = out[1],
                      .err_fd = err[1],
                      .pgid = job.pgid,
                      .mask = &old,
                      .sigs = our_sigs,
                      .sig_sa = inherited_sa,
                      .nsigs = (int)NSIGS,
                      .cpus = cpus,
                      .keep_fd = r == 0 ? job.store_fd : -1};
    /* No handler of ours may run in the child before it drops them: it would
     * write to our self-pipe. */
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old);
    rk->pid = run_spawn(&c, &exec_errno);
    e = errno;
    sigprocmask(SIG_SETMASK, &old, NULL);
    close(out[1]);
    close(err[1]);
    if (r == 0 && job.store_fd >= 0) {
        close(job.store_fd); /* rank 0's now, or the job is failing */
        job.store_fd = -1;
    }
    if (rk->pid < 0) {
        rk->pid = 0;
        close(out[0]);
        close(err[0]);
        errno = e;
        return -1;
    }
    job.live++;
    rk->io[0] = (stream_t){.fd = out[0], .out = 1};
    rk->io[1] = (stream_t){.fd = err[0], .out = 2};
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    fcntl(err[0], F_SETFL, O_NONBLOCK);
    if (exec_errno) {
        /* Every rank would fail the same way: say it once, start no more. */
        say("rcomm-run: cannot execute %s: %s", argv[0], strerror(exec_errno));
        fail(1);
    }
    return 0;
}

/* ---- Setup --------------------------------------------------------------------- */

/* Rank 0's store listener on a free port of 127.0.0.1, made here and
 * handed to rank 0 (RCOMM_STORE_FD): a port only probed here, for rank 0 to
 * bind a moment later, was taken in between by another job under a parallel
 * `make check` (CI, stop 38). Writes the address; the descriptor, or -1
 * after saying why. */
static int open_store(char *addr, size_t len)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        listen(fd, SOMAXCONN) != 0 || getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
        perror("rcomm-run: listening on 127.0.0.1 for rank 0's store");
        if (fd >= 0)
            close(fd);
        return -1;
    }
    snprintf(addr, len, "127.0.0.1:%u", (unsigned)ntohs(sa.sin_port));
    return fd;
}

static bool valid_var_name(const char *s, size_t len)
{
    if (len == 0 || isdigit((unsigned char)s[0]))
        return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] != '_' && !isalnum((unsigned char)s[i]))
            return false;
    return true;
}

static void check_xvar(const char *x)
{
    static const char *const ours[] = {"RCOMM_RANK", "RCOMM_SIZE", "RCOMM_ADDR",
                                       "RCOMM_LOCAL_RANK", "RCOMM_LOCAL_SIZE"};
    const char *eq = strchr(x, '=');
    size_t len = eq ? (size_t)(eq - x) : strlen(x);

    if (!valid_var_name(x, len))
        usage_error("-x %s: not a variable name", x);
    for (size_t i = 0; i < sizeof(ours) / sizeof(ours[0]); i++)
        if (strlen(ours[i]) == len && strncmp(x, ours[i], len) == 0)
            usage_error("-x %s: rcomm-run sets %s itself%s", x, ours[i],
                        i == 2 ? " (use -a HOST:PORT)" : "");
    if (!eq && !getenv(x))
        fprintf(stderr, "rcomm-run: warning: -x %s: %s is not set here\n", x, x);
}

static int timeout_ms_until(uint64_t t, uint64_t now, int cur)
{
    int ms;

    if (!t)
        return cur;
    ms = t <= now ? 0 : (int)((t - now + 999999) / 1000000);
    return cur < 0 || ms < cur ? ms : cur;
}

/* Deadlines that came due: time limit, kill grace, skip grace, blame. */
static void check_timers(void)
{
    uint64_t now = now_ns();

    if (job.limit_at && now >= job.limit_at) {
        job.limit_at = 0;
        if (job.live) {
            say("rcomm-run: time limit of %s s reached; stopping ranks", job.limit_str);
            job.timed_out = true;
            stop_ranks();
        }
    }
    if (job.kill_at && now >= job.kill_at) {
        job.kill_at = 0;
        job.killed = true;
        signal_live(SIGKILL);
    }
    if (job.blame_until && now >= job.blame_until)
        report_blame();
    if (job.skip_at && now >= job.skip_at) {
        job.skip_at = 0;
        if (job.live && !job.stopping) {
            say("rcomm-run: rank %d exited with status 77 (skipped) but other ranks "
                "are still running after %d s; stopping them",
                job.first_skip, SKIP_GRACE_MS / 1000);
            fail(1);
        }
    }
}

typedef struct {
    long nranks;
    const char *addr; /* -a, or NULL */
    double limit;     /* -t seconds, 0 if none */
    char **xvars;     /* -x arguments */
    int nx;
    char **prog; /* program and its arguments */
    bool bind;   /* -b auto */
} opts_t;

/* Options, or exit 2 with a usage message (0 for --help). */
static void parse_args(int argc, char **argv, opts_t *o)
{
    static const struct option longopts[] = {{"help", no_argument, NULL, 'h'},
                                             {"bind", required_argument, NULL, 'b'},
                                             {NULL, 0, NULL, 0}};
    char *end;
    int opt;

    *o = (opts_t){.xvars = calloc((size_t)argc + 1, sizeof(char *)), .bind = true};
    if (!o->xvars) {
        perror("rcomm-run");
        exit(1);
    }
    while ((opt = getopt_long(argc, argv, "+hn:x:t:a:b:", longopts, NULL)) != -1) {
        switch (opt) {
        case 'h':
            fputs(usage_text, stdout);
            free(o->xvars);
            exit(0);
        case 'n':
            errno = 0;
            o->nranks = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || o->nranks < 1 || o->nranks > MAX_RANKS)
                usage_error("-n %s: the number of ranks must be 1..%d", optarg,
                            MAX_RANKS);
            break;
        case 'x':
            check_xvar(optarg);
            o->xvars[o->nx++] = optarg;
            break;
        case 't':
            o->limit = strtod(optarg, &end);
            if (end == optarg || *end || !isfinite(o->limit) || o->limit <= 0 ||
                o->limit > 1e9)
                usage_error("-t %s: the time limit must be a positive number of seconds",
                            optarg);
            job.limit_str = optarg;
            break;
        case 'a':
            if (!*optarg || !strchr(optarg, ':'))
                usage_error("-a '%s': expected HOST:PORT", optarg);
            o->addr = optarg;
            break;
        case 'b':
            if (strcmp(optarg, "auto") != 0 && strcmp(optarg, "none") != 0)
                usage_error("-b '%s': expected auto or none", optarg);
            o->bind = strcmp(optarg, "auto") == 0;
            break;
        default: /* getopt said what */
            fputs(USAGE_LINE "(rcomm-run --help for more)\n", stderr);
            free(o->xvars);
            exit(2);
        }
    }
    if (o->nranks == 0)
        usage_error("missing -n N");
    if (optind >= argc)
        usage_error("missing the program to run");
    o->prog = argv + optind;
}

/* -b auto: each rank's share of our cores (a core shared by several when
 * there are more ranks than cores), or NULL when it cannot be told. Open
 * MPI's mpirun binds too; unbound, the scheduler sometimes left 2 ranks on
 * one of 2 idle cores, and an 8-byte allreduce took 41 us instead of 1.5,
 * and 4 ranks on 2 cores moved between them mid-run (docs/PERFORMANCE.md). */
static cpu_set_t *place(int nranks)
{
    cpu_set_t *share = calloc((size_t)nranks, sizeof(*share));

    if (share && base_topo_shares_self(nranks, share) != 0) {
        free(share);
        return NULL;
    }
    return share;
}

/* The poll loop: until every rank has exited and its output is printed. */
static void supervise(struct pollfd *pfds)
{
    for (;;) {
        uint64_t now = now_ns();
        int nfd = 0, wait_ms = -1;
        bool open_streams = false;

        if (job.live == 0 && !job.drain_until)
            job.drain_until = now + DRAIN_MS * 1000000ull;
        pfds[nfd++] = (struct pollfd){.fd = job.sig_pipe[0], .events = POLLIN};
        for (int r = 0; r < job.nranks; r++) {
            for (int k = 0; k < 2; k++) {
                pfds[nfd++] =
                    (struct pollfd){.fd = job.ranks[r].io[k].fd, .events = POLLIN};
                open_streams |= job.ranks[r].io[k].fd >= 0;
            }
        }
        if (job.live == 0 && (!open_streams || now >= job.drain_until))
            return;
        wait_ms = timeout_ms_until(job.limit_at, now, wait_ms);
        wait_ms = timeout_ms_until(job.kill_at, now, wait_ms);
        wait_ms = timeout_ms_until(job.skip_at, now, wait_ms);
        wait_ms = timeout_ms_until(job.drain_until, now, wait_ms);
        wait_ms = timeout_ms_until(job.blame_until, now, wait_ms);
        if (poll(pfds, (nfds_t)nfd, wait_ms) < 0 && errno != EINTR) {
            perror("rcomm-run: poll");
            exit(1); /* the watchdog stops the job */
        }
        if (pfds[0].revents)
            handle_signals();
        for (int r = 0, i = 1; r < job.nranks; r++) {
            for (int k = 0; k < 2; k++, i++) {
                stream_t *s = &job.ranks[r].io[k];
                if (pfds[i].revents && s->fd == pfds[i].fd)
                    read_stream(r, s);
                /* Whoever read our output left: let the ranks' own writes fail
                 * (SIGPIPE), as they would in `program | head`. */
                if (s->fd >= 0 && job.out_broken[s->out]) {
                    close(s->fd);
                    s->fd = -1;
                }
            }
        }
        check_timers();
    }
}

static int exit_status(void)
{
    if (job.timed_out)
        return 124;
    if (job.blame.rank >= 0)
        return job.blame.signaled ? 128 + job.blame.value : 1;
    if (job.exit_code)
        return job.exit_code;
    if (job.skipped == job.nranks)
        return 77;
    if (job.skipped) {
        say("rcomm-run: rank %d exited with status 77 (skipped) while other ranks ran",
            job.first_skip);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct pollfd *pfds;
    char addr[300];
    run_env_t env;
    int in_fd = -1;
    uint64_t start_ns;
    bool slow_said = false;
    cpu_set_t *share;
    opts_t o;

    parse_args(argc, argv, &o);
    run_check_limits((int)o.nranks);
    /* The ranks' group is not the terminal's foreground: reading the
     * terminal would stop them (SIGTTIN) for good. */
    if (isatty(0) && (in_fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
        perror("rcomm-run: /dev/null");
        return 1;
    }
    setup_signals();
    job.pgid = run_watchdog_start(&job.watchdog_fd, argc, argv);
    if (job.pgid < 0) {
        int e = errno;
        say("rcomm-run: cannot start the job's watchdog: %s%s", strerror(e),
            run_limit_hint(e));
        return 1;
    }
    /* After the watchdog's fork: no copy of the key in its memory, and no
     * copy of the listener to keep the port after rank 0 is gone. */
    if (o.addr)
        snprintf(addr, sizeof(addr), "%s", o.addr);
    else if ((job.store_fd = open_store(addr, sizeof(addr))) < 0)
        return 1;
    if (run_env_init(&env, (int)o.nranks, addr, job.store_fd, o.xvars, o.nx) != 0)
        return 1;
    job.nranks = (int)o.nranks;
    job.ranks = calloc((size_t)o.nranks, sizeof(rank_t));
    pfds = calloc(2 * (size_t)o.nranks + 1, sizeof(*pfds));
    if (!job.ranks || !pfds) {
        perror("rcomm-run");
        return 1;
    }
    for (int r = 0; r < job.nranks; r++)
        job.ranks[r].io[0].fd = job.ranks[r].io[1].fd = -1;
    share = o.bind ? place(job.nranks) : NULL;
    /* Stop starting once a rank failed or the user sent a signal: with
     * thousands of ranks, starting the rest would take seconds for nothing. */
    start_ns = now_ns();
    for (int r = 0; r < job.nranks && !job.stopping && !job.user_sig; r++) {
        if (!slow_said && now_ns() - start_ns > SLOW_START_MS * 1000000ull) {
            say("rcomm-run: %d of %d ranks started in %d s: this host makes processes "
                "slowly; still starting",
                r, job.nranks, SLOW_START_MS / 1000);
            slow_said = true;
        }
        if (start_rank(r, &env, o.prog, in_fd, share ? &share[r] : NULL) != 0) {
            int e = errno;
            say("rcomm-run: cannot start rank %d of %d: %s%s", r, job.nranks, strerror(e),
                run_limit_hint(e));
            fail(1);
        }
        handle_signals();
    }
    if (o.limit > 0)
        job.limit_at = now_ns() + (uint64_t)(o.limit * 1e9);

    supervise(pfds);
    if (job.blame.rank >= 0 && !job.blame_reported)
        report_blame();

    /* Grandchildren may still hold a pipe: print what we have, end them (and
     * the watchdog) and leave. */
    for (int r = 0; r < job.nranks; r++) {
        for (int k = 0; k < 2; k++) {
            if (job.ranks[r].io[k].fd >= 0)
                close_stream(r, &job.ranks[r].io[k]);
            free(job.ranks[r].io[k].buf);
        }
    }
    if (!job.watchdog_dead) {
        killpg(job.pgid, SIGKILL);
        waitpid(job.pgid, NULL, 0);
    }
    run_env_free(&env);
    free(share);
    free(job.ranks);
    free(pfds);
    free(o.xvars);
    return exit_status();
}
