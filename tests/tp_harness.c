/* SPDX-License-Identifier: BSD-3-Clause */
/* The fork-based transport test harness: see tp_harness.h. */
#include "tp_harness.h"

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/error.h"

/* Per process, like errno: which rank this child plays. */
const char *tp_transport = "tcp";

static _Thread_local int my_rank = -1;

int tp_rank(void)
{
    return my_rank;
}

double tp_slow(void)
{
    const char *m = getenv("CK_TIMEOUT_MULTIPLIER");
    return m && atof(m) >= 1 ? atof(m) : 1;
}

void tp_die(int line, const char *cond, const char *msg)
{
    fprintf(stderr, "unit test line %d: rank %d: check failed: %s %s\n  last error: %s\n",
            line, my_rank, cond, msg, rcomm_last_error());
    _exit(1);
}

static void on_unexpected(void *arg, int peer, uint64_t tag, const tp_env_t *env,
                          size_t len)
{
    tp_ctx_t *c = arg;
    if (c->nux < 64)
        c->ux[c->nux++] = (tp_ux_t){peer, tag, *env, len};
}

static void on_notify(void *arg, int peer, uint32_t imm)
{
    tp_ctx_t *c = arg;

    REQUIREF(c->on_note, "on_notify(rank %d, imm 0x%x), but no put_notify was posted",
             peer, imm);
    if (c->nnote < TP_NOTES_MAX)
        c->note[c->nnote] = (tp_note_t){peer, imm};
    c->nnote++;
    c->on_note(c, peer, imm);
}

static void write_all(int fd, const void *buf, size_t len)
{
    for (size_t off = 0; off < len;) {
        ssize_t n = write(fd, (const char *)buf + off, len - off);
        REQUIRE(n > 0 || errno == EINTR);
        off += n > 0 ? (size_t)n : 0;
    }
}

static int read_all(int fd, void *buf, size_t len)
{
    for (size_t off = 0; off < len;) {
        ssize_t n = read(fd, (char *)buf + off, len - off);
        if (n == 0 || (n < 0 && errno != EINTR))
            return -1;
        off += n > 0 ? (size_t)n : 0;
    }
    return 0;
}

static void child_real(const tp_group_t *g, int up, int down)
{
    tp_ctx_t *c = calloc(1, sizeof(*c));
    tp_blob_t mine = {0}, *all = calloc(TP_MAXP, sizeof(*all));
    uint8_t serves[2][TP_MAXP] = {{0}};
    const void *addrs2[TP_MAXP] = {0};
    size_t lens2[TP_MAXP] = {0};
    tp_params_t params;

    REQUIRE(c && all);
    *c = (tp_ctx_t){.g = g,
                    .rank = my_rank,
                    .size = g->size,
                    .variant = g->variant,
                    .ops = tp_find(g->transport)};
    REQUIRE(c->ops && c->ops->size == sizeof(tp_ops_t));
    OK(base_config_load(&c->cfg));
    c->cfg.tcp_eager = 64 << 10; /* scenarios rely on what is sent eagerly */
    params = (tp_params_t){.rank = my_rank,
                           .size = g->size,
                           .cfg = &c->cfg,
                           .timeout_ms =
                               g->timeout_ms ? g->timeout_ms : (int)(20000 * tp_slow()),
                           .host = "",
                           .on_unexpected = on_unexpected,
                           .unexpected_arg = c,
                           .on_notify = g->no_notify ? NULL : on_notify,
                           .notify_arg = c,
                           .key = g->key,
                           .handshake_ms = g->handshake_ms};
    for (int inst = 0; g->serves && inst < 2; inst++)
        for (int q = 0; q < g->size; q++)
            serves[inst][q] = q != my_rank && g->serves(inst, my_rank, q);
    params.serves = g->serves ? serves[0] : NULL;
    if (g->multi) {
        const tp_ops_t *both[2] = {tp_find("tcp"), tp_find("shm")};
        uint8_t which[TP_MAXP];
        for (int q = 0; q < g->size; q++)
            which[q] = q != my_rank && g->multi(my_rank, q);
        OK(tp_multi_create(&params, both, 2, which, &c->tp));
        c->ops = c->tp->ops;
    } else {
        OK(c->ops->create(&params, &c->tp));
    }
    mine.len = sizeof(mine.data);
    OK(c->ops->local_addr(c->tp, mine.data, &mine.len));
    if (g->serves) {
        params.serves = serves[1];
        OK(c->ops->create(&params, &c->tp2));
        mine.len2 = sizeof(mine.data2);
        OK(c->ops->local_addr(c->tp2, mine.data2, &mine.len2));
    }
    write_all(up, &mine, sizeof(mine));
    REQUIRE(read_all(down, all, (size_t)g->size * sizeof(*all)) == 0);
    for (int r = 0; r < g->size; r++) {
        bool mine0 = !g->serves || r == my_rank || serves[0][r];
        c->addrs[r] = mine0 ? all[r].data : NULL;
        c->lens[r] = mine0 ? all[r].len : 0;
        addrs2[r] = r == my_rank || serves[1][r] ? all[r].data2 : NULL;
        lens2[r] = r == my_rank || serves[1][r] ? all[r].len2 : 0;
    }
    if (g->timeout_ms == 0)
        OK(c->ops->connect(c->tp, c->addrs, c->lens));
    if (g->serves)
        OK(c->ops->connect(c->tp2, addrs2, lens2));
    g->fn(c);
    if (c->tp)
        c->ops->destroy(c->tp, c->reason, NULL);
    if (c->tp2)
        c->ops->destroy(c->tp2, c->reason, NULL);
    free(all);
    free(c);
}

static void child_fake(const tp_group_t *g, int up, int down)
{
    tp_blob_t mine = {0}, all[TP_MAXP];

    g->absent_addr(&mine);
    for (int r = g->fake_from; r < g->size; r++)
        write_all(up, &mine, sizeof(mine));
    REQUIRE(read_all(down, all, (size_t)g->size * sizeof(*all)) == 0);
    REQUIRE(g->fake(all, g->fake_from, g->size, g->variant) == 0);
}

void tp_run_group(const tp_group_t *g)
{
    int up[TP_MAXP][2], down[TP_MAXP][2], status;
    int nproc = g->fake_from ? g->fake_from + 1 : g->size;
    pid_t pid[TP_MAXP] = {0};
    tp_blob_t all[TP_MAXP] = {0};

    ck_assert_int_le(g->size, TP_MAXP);
    for (int i = 0; i < nproc; i++) {
        if (i == g->absent)
            continue;
        ck_assert(pipe(up[i]) == 0 && pipe(down[i]) == 0);
        if ((pid[i] = fork()) == 0) {
            my_rank = i;
            base_log_set_rank(i);
            alarm((unsigned)(60 * tp_slow()));
            close(up[i][0]);
            close(down[i][1]);
            if (g->fake_from && i == g->fake_from)
                child_fake(g, up[i][1], down[i][0]);
            else
                child_real(g, up[i][1], down[i][0]);
            _exit(0);
        }
        ck_assert(pid[i] > 0);
        close(up[i][1]);
        close(down[i][0]);
    }
    for (int i = 0; i < nproc; i++) {
        int n = g->fake_from && i == g->fake_from ? g->size - i : 1;
        if (i == g->absent)
            g->absent_addr(&all[i]);
        else if (read_all(up[i][0], &all[i], (size_t)n * sizeof(all[i])) != 0)
            memset(&all[i], 0, (size_t)n * sizeof(all[i])); /* died: the rest fail */
    }
    for (int i = 0; i < nproc; i++) {
        if (i == g->absent)
            continue;
        /* A child that died early makes this fail: its exit status says why. */
        (void)!write(down[i][1], all, (size_t)g->size * sizeof(all[0]));
        close(up[i][0]);
        close(down[i][1]);
    }
    for (int i = 0; i < nproc; i++) {
        if (i == g->absent)
            continue;
        ck_assert(waitpid(pid[i], &status, 0) == pid[i]);
        if (i == g->killed - 1) {
            ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                          "rank %d should have been killed", i);
            continue;
        }
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "rank %d of %d (variant %d) failed: %s %d", i, g->size, g->variant,
                      WIFEXITED(status) ? "exit status" : "signal",
                      WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    }
}

/* ---- helpers ------------------------------------------------------------ */

void *tp_xmalloc(size_t len)
{
    void *p = malloc(len ? len : 1);
    REQUIRE(p);
    return p;
}

uint64_t tp_seed(int src, int dst, uint64_t tag)
{
    return (uint64_t)src * 1000003u + (uint64_t)dst * 7919u + tag * 31u;
}

/* Changes with every byte, and with each 256-byte block, so shifted or
 * misplaced data never passes. */
static unsigned char pat(uint64_t seed, size_t i)
{
    return (unsigned char)(seed * 131u + i * 7u + (i >> 8) * 3u);
}

void tp_fill(void *buf, size_t len, uint64_t seed)
{
    for (size_t i = 0; i < len; i++)
        ((unsigned char *)buf)[i] = pat(seed, i);
}

void tp_check(const void *buf, size_t len, uint64_t seed)
{
    for (size_t i = 0; i < len; i++)
        REQUIREF(((const unsigned char *)buf)[i] == pat(seed, i),
                 "byte %zu of %zu is 0x%02x, expected 0x%02x", i, len,
                 ((const unsigned char *)buf)[i], pat(seed, i));
}

tp_env_t tp_env(int src, int dst, uint64_t tag)
{
    return (tp_env_t){{(uint64_t)src << 32 | (uint64_t)dst, tag, ~tag}};
}

rcomm_status_t tp_wait(tp_ctx_t *c, tp_req_t *req, int ms)
{
    uint64_t end = base_now_ns() + (uint64_t)(ms * tp_slow()) * 1000000u;
    int i = 0;

    /* Mix polling and sleeping calls: both paths of progress() run. */
    while (req->status == RCOMM_INPROGRESS && base_now_ns() < end)
        OK(c->ops->progress(c->tp, (i++ % 3) ? 0 : 5));
    return req->status;
}

void tp_wait_ok(tp_ctx_t *c, tp_req_t *req, int n)
{
    for (int i = 0; i < n; i++)
        REQUIREF(tp_wait(c, &req[i], 20000) == RCOMM_OK, "request %d: %s", i,
                 rcomm_strerror(req[i].status));
}

void tp_progress_for(tp_ctx_t *c, int ms)
{
    uint64_t end = base_now_ns() + (uint64_t)ms * 1000000u;
    while (base_now_ns() < end)
        OK(c->ops->progress(c->tp, 1));
}

void tp_expect_fail(tp_ctx_t *c, rcomm_status_t posted, tp_req_t *req,
                    rcomm_status_t want, const char *needle)
{
    rcomm_status_t st = posted == RCOMM_OK ? tp_wait(c, req, 10000) : posted;
    REQUIREF(st == want, "got %s, want %s", rcomm_strerror(st), rcomm_strerror(want));
    REQUIREF(strstr(rcomm_last_error(), needle), "'%s' is not in the error", needle);
}

void tp_barrier(tp_ctx_t *c, uint64_t tag)
{
    tp_req_t s[TP_MAXP] = {0}, r[TP_MAXP] = {0};
    int n = 0;

    for (int q = 0; q < c->size; q++) {
        if (q == c->rank)
            continue;
        OK(c->ops->irecv(c->tp, q, tag, NULL, 0, &r[n]));
        OK(c->ops->isend(c->tp, q, tag, NULL, NULL, 0, &s[n]));
        n++;
    }
    tp_wait_ok(c, r, n);
    tp_wait_ok(c, s, n);
}

void tp_ping(tp_ctx_t *c, int q, uint64_t tag, size_t len)
{
    tp_req_t rq[2] = {0};
    void *out = tp_xmalloc(len), *in = tp_xmalloc(len);

    tp_fill(out, len, tp_seed(c->rank, q, tag));
    OK(c->ops->irecv(c->tp, q, tag, in, len, &rq[0]));
    OK(c->ops->isend(c->tp, q, tag, NULL, out, len, &rq[1]));
    tp_wait_ok(c, rq, 2);
    REQUIRE(rq[0].len == len);
    tp_check(in, len, tp_seed(q, c->rank, tag));
    free(out);
    free(in);
}
