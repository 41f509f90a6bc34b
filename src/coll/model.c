/* SPDX-License-Identifier: BSD-3-Clause */
/* The measured cost model: tuning files in and out, and the two cost
 * functions every algorithm's formula is written in (see model.h). */
#include "coll/model.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/error.h"
#include "coll/sched.h"

/* Built-in profiles: tuning files written by rcomm-tune (src/coll/profiles/,
 * turned into C strings at build time; docs/PERFORMANCE.md has the runs):
 * loopback TCP and shared memory on the 2-core development VM, soft-RoCE
 * (rxe) in the test VM.
 * A real cluster should run rcomm-tune and set RCOMM_TUNING_FILE. */
#include "coll/profiles.inc"

rcomm_status_t coll_model_builtin(const char *transport, int local, coll_model_t *m)
{
    const char *text = strcmp(transport, "verbs") == 0 ? profile_verbs
                       : strcmp(transport, "shm") == 0 ? profile_shm
                                                       : profile_tcp;
    rcomm_status_t st =
        coll_model_parse(text, strlen(text), "built-in", transport, local, m);

    if (st == RCOMM_OK)
        snprintf(m->source, sizeof(m->source), "built-in %s profile", transport);
    return st;
}

rcomm_status_t coll_model_choose(const char *path, const char *transport, int local,
                                 coll_model_t *m)
{
    return path && path[0] ? coll_model_load(path, transport, local, m)
                           : coll_model_builtin(transport, local, m);
}

/* ---- parsing ------------------------------------------------------------- */

typedef struct {
    const char *name;
    int line;
} where_t;

static rcomm_status_t bad(const where_t *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static rcomm_status_t bad(const where_t *w, const char *fmt, ...)
{
    char msg[200];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (w->line > 0)
        return base_err(RCOMM_ERR_CONFIG, "tuning file %s, line %d: %s", w->name, w->line,
                        msg);
    return base_err(RCOMM_ERR_CONFIG, "tuning file %s: %s", w->name, msg);
}

/* A token quoted in a message: printable, at most 24 characters. */
static const char *quote(const char *tok, char *buf, size_t len)
{
    size_t i;

    for (i = 0; tok[i] && i + 4 < len && i < 24; i++)
        buf[i] = isprint((unsigned char)tok[i]) ? tok[i] : '?';
    snprintf(buf + i, len - i, "%s", tok[i] ? "..." : "");
    return buf;
}

/* A number in [min, 1e9]. */
static int parse_num(const char *tok, double min, double *out)
{
    char *end;

    errno = 0;
    *out = strtod(tok, &end);
    return errno || end == tok || *end || !isfinite(*out) || *out < min || *out > 1e9 ? -1
                                                                                      : 0;
}

/* A class's or rule's upper size: bytes (K, M, G suffixes) or "inf". */
static int parse_upto(const char *tok, size_t *upto)
{
    if (strcmp(tok, "inf") == 0) {
        *upto = COLL_MODEL_LAST;
        return 0;
    }
    return base_parse_size(tok, upto) != 0 || *upto == COLL_MODEL_LAST ? -1 : 0;
}

typedef struct {
    coll_model_t *out; /* the section we want */
    int local;         /* ... for this many ranks per host */
    coll_model_t cur;  /* the section being read */
    int in_section, found;
    struct {
        char transport[16];
        int local;
    } seen[16]; /* sections read so far: one twice is an error */
    int nseen;
} parse_t;

/* Is section a better match than b for local ranks per host? The same count
 * is best; then the largest below it; then the smallest above it. */
static int better(int a, int b, int local)
{
    if (a == local || b == local)
        return a == local && b != local;
    if ((a < local) != (b < local))
        return a < local;
    return a < local ? a > b : a < b;
}

static rcomm_status_t end_section(parse_t *ps, const where_t *w)
{
    coll_model_t *m = &ps->cur;

    if (!ps->in_section)
        return RCOMM_OK;
    if (m->nclasses == 0 || m->cls[m->nclasses - 1].upto != COLL_MODEL_LAST)
        return bad(w,
                   "section 'transport %s' must end with a class whose size is "
                   "'inf'",
                   m->transport);
    for (int i = 0; i < ps->nseen - 1; i++)
        if (strcmp(ps->seen[i].transport, m->transport) == 0 &&
            ps->seen[i].local == m->ranks_per_host)
            return bad(w, "a second section for transport %s and %d ranks per host",
                       m->transport, m->ranks_per_host);
    ps->seen[ps->nseen - 1].local = m->ranks_per_host;
    if (strcmp(m->transport, ps->out->transport) == 0 &&
        (!ps->found || better(m->ranks_per_host, ps->out->ranks_per_host, ps->local))) {
        snprintf(m->source, sizeof(m->source), "%s", w->name);
        *ps->out = *m;
        ps->found = 1;
    }
    ps->in_section = 0;
    return RCOMM_OK;
}

const char *coll_model_algo_name(int coll, int algo)
{
    return coll == COLL_BROADCAST ? base_bcast_algo_name(algo)
           : coll == COLL_REDUCE  ? base_reduce_algo_name(algo)
                                  : rcomm_algo_name((rcomm_algo_t)algo);
}

/* The algorithm of coll with this name (not auto), or -1. */
static int algo_of(int coll, const char *name)
{
    const int two = coll == COLL_BROADCAST || coll == COLL_REDUCE; /* 0 and 1 */

    for (int a = two ? 0 : RCOMM_ALGO_AUTO + 1; a < (two ? 2 : RCOMM_ALGO_COUNT); a++)
        if (strcmp(name, coll_model_algo_name(coll, a)) == 0)
            return a;
    return -1;
}

/* rule COLL RANKS UPTO ALGO */
static rcomm_status_t rule(parse_t *ps, const where_t *w, char **tok, int ntok)
{
    coll_model_t *m = &ps->cur;
    coll_model_rule_t r;
    double v;
    char q[32];

    if (!ps->in_section)
        return bad(w, "'rule' before any 'transport' line");
    if (ntok != 5)
        return bad(w, "'rule' takes 4 fields (collective ranks upto algorithm), got %d",
                   ntok - 1);
    if (m->nrules == COLL_MODEL_MAX_RULES)
        return bad(w, "more than %d rules for transport '%s'", COLL_MODEL_MAX_RULES,
                   m->transport);
    if (strcmp(tok[1], "allreduce") == 0)
        r.coll = COLL_ALLREDUCE;
    else if (strcmp(tok[1], "broadcast") == 0)
        r.coll = COLL_BROADCAST;
    else if (strcmp(tok[1], "reduce") == 0)
        r.coll = COLL_REDUCE;
    else
        return bad(w,
                   "rule for '%s': the collectives are allreduce, broadcast and reduce",
                   quote(tok[1], q, sizeof(q)));
    if (parse_num(tok[2], 2, &v) != 0 || v > 1 << 20 || v != (int)v)
        return bad(w, "rule ranks '%s' is not a whole number in [2, %d]",
                   quote(tok[2], q, sizeof(q)), 1 << 20);
    r.ranks = (int)v;
    if (parse_upto(tok[3], &r.upto) != 0)
        return bad(w, "rule size '%s' is not a size in bytes (or 'inf')",
                   quote(tok[3], q, sizeof(q)));
    if ((r.algo = algo_of(r.coll, tok[4])) < 0)
        return bad(
            w, "'%s' is not an algorithm of %s (%s)", quote(tok[4], q, sizeof(q)), tok[1],
            r.coll == COLL_BROADCAST ? "binomial or chain" : "ring, butterfly or rd");
    for (int i = m->nrules - 1; i >= 0; i--)
        if (m->rule[i].coll == r.coll && m->rule[i].ranks == r.ranks) {
            if (r.upto <= m->rule[i].upto)
                return bad(w,
                           "rule size %zu is not larger than the previous one for %s "
                           "on %d ranks (%zu)",
                           r.upto, tok[1], r.ranks, m->rule[i].upto);
            break;
        }
    m->rule[m->nrules++] = r;
    return RCOMM_OK;
}

static rcomm_status_t directive(parse_t *ps, const where_t *w, char **tok, int ntok)
{
    coll_model_t *m = &ps->cur;
    char q[32];

    if (strcmp(tok[0], "transport") == 0) {
        rcomm_status_t st = end_section(ps, w);
        if (st != RCOMM_OK)
            return st;
        if (ntok != 2 || strlen(tok[1]) >= sizeof(m->transport))
            return bad(w, "'transport' takes one name of at most %zu characters",
                       sizeof(m->transport) - 1);
        if (ps->nseen == 16)
            return bad(w, "more than 16 sections");
        strcpy(ps->seen[ps->nseen++].transport, tok[1]);
        memset(m, 0, sizeof(*m));
        strcpy(m->transport, tok[1]);
        ps->in_section = 1;
        return RCOMM_OK;
    }
    if (strcmp(tok[0], "ranks-per-host") == 0) {
        double v;
        if (!ps->in_section || m->nclasses || m->nrules)
            return bad(w, "'ranks-per-host' belongs right after a 'transport' line");
        if (ntok != 2 || parse_num(tok[1], 1, &v) != 0 || v > 65536 || v != (int)v)
            return bad(w, "'ranks-per-host' takes one whole number in [1, 65536]");
        m->ranks_per_host = (int)v;
        return RCOMM_OK;
    }
    if (strcmp(tok[0], "class") == 0) {
        static const char *const field[] = {"alpha_us", "beta_ns", "gamma_ns"};
        coll_model_class_t c;
        double v[3];

        if (!ps->in_section)
            return bad(w, "'class' before any 'transport' line");
        if (ntok != 5)
            return bad(w,
                       "'class' takes 4 fields (upto alpha_us beta_ns gamma_ns), "
                       "got %d",
                       ntok - 1);
        if (m->nclasses == COLL_MODEL_MAX_CLASSES)
            return bad(w, "more than %d classes for transport '%s'",
                       COLL_MODEL_MAX_CLASSES, m->transport);
        if (m->nclasses && m->cls[m->nclasses - 1].upto == COLL_MODEL_LAST)
            return bad(w, "a class after the 'inf' class");
        if (parse_upto(tok[1], &c.upto) != 0)
            return bad(w, "class size '%s' is not a size in bytes (or 'inf')",
                       quote(tok[1], q, sizeof(q)));
        if (m->nclasses && c.upto <= m->cls[m->nclasses - 1].upto)
            return bad(w, "class size %zu is not larger than the previous one (%zu)",
                       c.upto, m->cls[m->nclasses - 1].upto);
        for (int i = 0; i < 3; i++)
            if (parse_num(tok[2 + i], i == 0 ? -1e9 : 0, &v[i]) != 0)
                return bad(w, "%s '%s' is not a number in [%s, 1e9]", field[i],
                           quote(tok[2 + i], q, sizeof(q)), i == 0 ? "-1e9" : "0");
        c.alpha_us = v[0];
        c.beta_ns = v[1];
        c.gamma_ns = v[2];
        m->cls[m->nclasses++] = c;
        return RCOMM_OK;
    }
    if (strcmp(tok[0], "rule") == 0)
        return rule(ps, w, tok, ntok);
    return bad(w,
               "unknown directive '%s' (expected transport, ranks-per-host, class or "
               "rule)",
               quote(tok[0], q, sizeof(q)));
}

/* coll_model_parse; a file without the section is an error unless found is
 * given (then *found says whether there was one). */
static rcomm_status_t parse(const char *text, size_t len, const char *name,
                            const char *transport, int local, coll_model_t *m, int *found)
{
    parse_t *ps;
    where_t w = {name, 0};
    rcomm_status_t st = RCOMM_OK;
    size_t off = 0;
    int versioned = 0;

    if (!(ps = calloc(1, sizeof(*ps))))
        return base_err(RCOMM_ERR_NO_MEMORY, "no memory to read tuning file %s", name);
    snprintf(m->transport, sizeof(m->transport), "%s", transport);
    ps->out = m;
    ps->local = local;
    while (off < len && st == RCOMM_OK) {
        const char *nl = memchr(text + off, '\n', len - off);
        size_t l = nl ? (size_t)(nl - (text + off)) : len - off;
        char line[256], *tok[8], *save, *t;
        int ntok = 0;

        w.line++;
        if (l >= sizeof(line)) {
            st = bad(&w, "longer than %zu characters", sizeof(line) - 1);
            break;
        }
        memcpy(line, text + off, l);
        line[l] = '\0';
        off += l + 1;
        if (memchr(line, '\0', l)) {
            st = bad(&w, "a NUL byte: not a text file");
            break;
        }
        if ((t = strchr(line, '#')))
            *t = '\0';
        for (t = strtok_r(line, " \t\r", &save); t && ntok < 8;
             t = strtok_r(NULL, " \t\r", &save))
            tok[ntok++] = t;
        if (ntok == 0)
            continue;
        if (!versioned) {
            if (strcmp(tok[0], "rcomm-tuning") != 0 || ntok != 2 ||
                strcmp(tok[1], "1") != 0)
                st = bad(&w, "the first directive must be 'rcomm-tuning 1'");
            versioned = 1;
            continue;
        }
        st = directive(ps, &w, tok, ntok);
    }
    if (st == RCOMM_OK && !versioned)
        st = bad(&w, "empty: the first directive must be 'rcomm-tuning 1'");
    if (st == RCOMM_OK)
        st = end_section(ps, &w);
    if (found)
        *found = ps->found;
    if (st == RCOMM_OK && !ps->found && !found) {
        w.line = 0;
        st = bad(&w, "no section 'transport %s' (this communicator's transport)",
                 transport);
    }
    free(ps);
    return st;
}

rcomm_status_t coll_model_parse(const char *text, size_t len, const char *name,
                                const char *transport, int local, coll_model_t *m)
{
    return parse(text, len, name, transport, local, m, NULL);
}

static rcomm_status_t load(const char *path, const char *transport, int local,
                           coll_model_t *m, int *found)
{
    FILE *f = fopen(path, "r");
    char *buf;
    size_t n;
    rcomm_status_t st;

    if (!f)
        return base_err(RCOMM_ERR_CONFIG, "RCOMM_TUNING_FILE=%s: cannot open it: %s",
                        path, strerror(errno));
    if (!(buf = malloc(COLL_MODEL_MAX_FILE + 1))) {
        fclose(f);
        return base_err(RCOMM_ERR_NO_MEMORY, "no memory to read tuning file %s", path);
    }
    n = fread(buf, 1, COLL_MODEL_MAX_FILE + 1, f);
    if (ferror(f))
        st = base_err(RCOMM_ERR_CONFIG, "RCOMM_TUNING_FILE=%s: read error", path);
    else if (n > COLL_MODEL_MAX_FILE)
        st = base_err(RCOMM_ERR_CONFIG,
                      "RCOMM_TUNING_FILE=%s: larger than %d bytes: not a tuning file",
                      path, COLL_MODEL_MAX_FILE);
    else
        st = parse(buf, n, path, transport, local, m, found);
    free(buf);
    fclose(f);
    return st;
}

rcomm_status_t coll_model_load(const char *path, const char *transport, int local,
                               coll_model_t *m)
{
    return load(path, transport, local, m, NULL);
}

rcomm_status_t coll_model_load_if(const char *path, const char *transport, int local,
                                  coll_model_t *m, int *found)
{
    return load(path, transport, local, m, found);
}

/* A class's or rule's upper size as the file writes it. */
static const char *upto_text(size_t upto, char buf[24])
{
    if (upto == COLL_MODEL_LAST)
        return "inf";
    snprintf(buf, 24, "%zu", upto);
    return buf;
}

void coll_model_write(const coll_model_t *m, FILE *out)
{
    fprintf(out, "transport %s\n", m->transport);
    if (m->ranks_per_host)
        fprintf(out, "ranks-per-host %d\n", m->ranks_per_host);
    fprintf(out, "#     %-12s %12s %12s %12s\n", "upto", "alpha_us", "beta_ns",
            "gamma_ns");
    for (int i = 0; i < m->nclasses; i++) {
        const coll_model_class_t *c = &m->cls[i];
        char upto[24];

        fprintf(out, "class %-12s %12.6g %12.6g %12.6g\n", upto_text(c->upto, upto),
                c->alpha_us, c->beta_ns, c->gamma_ns);
    }
    if (m->nrules)
        fprintf(out, "#    %-10s %5s %12s algorithm\n", "collective", "ranks", "upto");
    for (int i = 0; i < m->nrules; i++) {
        const coll_model_rule_t *r = &m->rule[i];
        char upto[24];

        fprintf(out, "rule %-10s %5d %12s %s\n",
                r->coll == COLL_BROADCAST ? "broadcast"
                : r->coll == COLL_REDUCE  ? "reduce"
                                          : "allreduce",
                r->ranks, upto_text(r->upto, upto),
                coll_model_algo_name(r->coll, r->algo));
    }
}

/* ---- costs --------------------------------------------------------------- */

static const coll_model_class_t *class_of(const coll_model_t *m, size_t bytes)
{
    int lo = 0, hi = m->nclasses - 1;

    while (lo < hi) { /* the first class whose upto >= bytes */
        int mid = (lo + hi) / 2;
        if (m->cls[mid].upto >= bytes)
            hi = mid;
        else
            lo = mid + 1;
    }
    return &m->cls[lo];
}

double coll_model_msg(const coll_model_t *m, size_t bytes)
{
    const coll_model_class_t *c = class_of(m, bytes);
    double t = c->alpha_us * 1e-6 + c->beta_ns * 1e-9 * (double)bytes;

    return t > 0 ? t : 0; /* a negative intercept is not a negative cost */
}

double coll_model_reduce(const coll_model_t *m, size_t bytes)
{
    return class_of(m, bytes)->gamma_ns * 1e-9 * (double)bytes;
}

int coll_model_rule(const coll_model_t *m, int coll, int p, size_t bytes)
{
    /* Each (coll, ranks) list is increasing, so the first that holds bytes. */
    for (int i = 0; i < m->nrules; i++)
        if (m->rule[i].coll == coll && m->rule[i].ranks == p && m->rule[i].upto >= bytes)
            return m->rule[i].algo;
    return -1;
}
