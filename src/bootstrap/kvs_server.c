/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Rank 0's bootstrap store server: one thread, one poll() loop over a wake-up
 * pipe, the listening sockets and one connection per rank. Keys live in a
 * small chained hash table; a GET of a missing key is parked on its
 * connection and answered by the PUT that creates the key, so waiting ranks
 * cost nothing. The thread shares only the wake-up pipe with its creator.
 *
 * Clients are not trusted: every header is checked (kvs_hdr_problem) before a
 * length is used, and a connection that sends garbage is dropped with a
 * warning, never taking the server down. Until a connection has proved the
 * job key (kvs_proto.h) it costs a fixed small struct: its messages land in
 * a buffer inside it, it gets no answer but the challenge, it is dropped at
 * its handshake deadline or when too many are pending (oldest first), and
 * it does not count as a rank still busy when rank 0 wants to leave.
 *
 * When rank 0 destroys its bootstrap, the server lingers until the other
 * ranks have hung up, so that a rank still fetching the last keys of an
 * allgather is not cut off just because rank 0 finished first.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/error.h"
#include "bootstrap/kvs_listen.h"
#include "bootstrap/kvs_proto.h"

typedef struct kvs_entry {
    struct kvs_entry *next;
    uint32_t hash;
    uint32_t val_len;
    int owner;          /* rank that put it, for the write-once error */
    unsigned char *val; /* points into this allocation, after the key */
    char key[];         /* NUL-terminated */
} kvs_entry_t;

typedef struct {
    int fd;
    int rank;  /* -1 until it proved the job key */
    bool dead; /* remove after this poll round */
    bool close_after_flush;
    char peer[INET6_ADDRSTRLEN + 8];

    /* The handshake: what it claims, both nonces, when it must be done. */
    uint32_t claimed_rank, claimed_size;
    bool challenged; /* CHALLENGE sent: AUTH next */
    uint64_t join_by_ns;
    unsigned char nonce_c[AUTH_NONCE_LEN], nonce_s[AUTH_NONCE_LEN];
    unsigned char small[KVS_HELLO_LEN]; /* its HELLO or AUTH value */

    /* The request being received: header, then key + value into body. */
    unsigned char hdr_buf[KVS_HDR_SIZE];
    kvs_hdr_t hdr;
    size_t got;          /* bytes of the current request received so far */
    unsigned char *body; /* grown to the largest request so far */
    size_t body_cap;

    /* Replies not yet accepted by the socket. */
    unsigned char *out;
    size_t out_len, out_off, out_cap;

    /* A GET or MGET waiting for its (first) key. An MGET's prefix is the
     * first run_plen bytes of parked_key. */
    bool parked, parked_run;
    uint32_t parked_seq, run_plen, run_first, run_count;
    char parked_key[KVS_MAX_KEY + 1];
} kvs_client_t;

struct kvs_server {
    int size;
    auth_key_t key;
    uint64_t handshake_ns;
    uint64_t refused; /* connections dropped before they proved the key */
    char addr[300];
    int listen_fd;
    bool accept_paused; /* out of fds: wait for a client to leave */
    int wake_rd, wake_wr;
    pthread_t thread;

    kvs_client_t **clients;
    size_t nclients, clients_cap;
    size_t nparked;
    struct pollfd *pfds; /* wake-up, listener, clients_cap clients */

    kvs_entry_t **buckets;
    size_t nbuckets, nentries;
};

/* ---- The store ----------------------------------------------------------------- */

static uint32_t key_hash(const char *key, size_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)key[i]) * 16777619u;
    return h;
}

static kvs_entry_t *store_find(const kvs_server_t *srv, const char *key, size_t len)
{
    uint32_t h = key_hash(key, len);
    kvs_entry_t *e = srv->buckets[h & (srv->nbuckets - 1)];

    for (; e; e = e->next)
        if (e->hash == h && strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

/* Keep the load factor at or below one so lookups stay O(1) even for the
 * size^2 keys of a large job's allgathers. */
static int store_grow(kvs_server_t *srv)
{
    size_t n = srv->nbuckets * 2;
    kvs_entry_t **b = calloc(n, sizeof(*b));

    if (!b)
        return -1;
    for (size_t i = 0; i < srv->nbuckets; i++) {
        kvs_entry_t *e = srv->buckets[i], *next;
        for (; e; e = next) {
            next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
        }
    }
    free(srv->buckets);
    srv->buckets = b;
    srv->nbuckets = n;
    return 0;
}

static kvs_entry_t *store_insert(kvs_server_t *srv, const char *key, size_t klen,
                                 const void *val, uint32_t vlen, int owner)
{
    kvs_entry_t *e;
    size_t slot;

    if (srv->nentries >= srv->nbuckets && store_grow(srv) != 0)
        return NULL;
    if (!(e = malloc(sizeof(*e) + klen + 1 + vlen)))
        return NULL;
    memcpy(e->key, key, klen + 1);
    e->val = (unsigned char *)e->key + klen + 1;
    if (vlen)
        memcpy(e->val, val, vlen);
    e->val_len = vlen;
    e->owner = owner;
    e->hash = key_hash(key, klen);
    slot = e->hash & (srv->nbuckets - 1);
    e->next = srv->buckets[slot];
    srv->buckets[slot] = e;
    srv->nentries++;
    return e;
}

/* ---- Connections --------------------------------------------------------------- */

static void client_drop(kvs_client_t *c, const char *why)
{
    if (c->dead)
        return;
    if (why && c->rank >= 0)
        base_log(BASE_LOG_WARN, "bootstrap server: dropping rank %d (%s): %s", c->rank,
                 c->peer, why);
    else if (why)
        base_log(BASE_LOG_WARN, "bootstrap server: dropping connection from %s: %s",
                 c->peer, why);
    c->dead = true;
}

/* A connection that did not prove the job key: dropped without an answer.
 * Only the first few are logged (a flood must not flood the log), and never
 * with anything the stranger sent. */
static void client_refuse(kvs_server_t *srv, kvs_client_t *c, const char *why)
{
    if (c->dead)
        return;
    if (++srv->refused <= 3)
        base_log(BASE_LOG_WARN,
                 "bootstrap server on %s: dropped a connection from %s: %s%s", srv->addr,
                 c->peer, why,
                 srv->refused == 3 ? " (further ones are counted, not logged)" : "");
    c->dead = true;
}

/* Push queued replies into the socket; what does not fit waits for POLLOUT. */
static void client_flush(kvs_client_t *c)
{
    while (c->out_off < c->out_len && !c->dead) {
        ssize_t n =
            send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n < 0) {
            client_drop(c, NULL); /* it went away; nothing to tell anyone */
            return;
        }
        c->out_off += (size_t)n;
    }
    c->out_off = c->out_len = 0;
    if (c->close_after_flush)
        client_drop(c, NULL);
}

/* Queue a reply header and return where its len bytes of value go; the
 * caller fills them and calls client_flush. NULL: connection dropped. */
static unsigned char *reply_reserve(kvs_client_t *c, uint16_t type, uint32_t seq,
                                    uint32_t a0, size_t len)
{
    kvs_hdr_t h = {.magic = KVS_MAGIC,
                   .version = KVS_VERSION,
                   .type = type,
                   .seq = seq,
                   .a0 = a0,
                   .val_len = (uint32_t)len};
    size_t need = c->out_len + KVS_HDR_SIZE + len;
    unsigned char *p;

    if (need > c->out_cap) {
        if (!(p = realloc(c->out, need))) {
            client_drop(c, "out of memory queueing a reply");
            return NULL;
        }
        c->out = p;
        c->out_cap = need;
    }
    p = c->out + c->out_len;
    kvs_hdr_encode(&h, p);
    c->out_len = need;
    return p + KVS_HDR_SIZE;
}

static void reply(kvs_client_t *c, uint16_t type, uint32_t seq, uint32_t a0,
                  const void *val, size_t len)
{
    unsigned char *p = reply_reserve(c, type, seq, a0, len);

    if (p && len)
        memcpy(p, val, len);
    if (p)
        client_flush(c);
}

/* "<prefix>/<rank>" into key (KVS_MAX_KEY + 1 bytes); false if too long. */
static bool run_key(char *key, const char *prefix, uint32_t plen, uint32_t rank)
{
    int n = snprintf(key, KVS_MAX_KEY + 1, "%.*s/%u", (int)plen, prefix, rank);
    return n > 0 && n <= KVS_MAX_KEY;
}

/* Answer an MGET whose first key exists: the keys from first on, as far as
 * they exist, count allows and one reply holds. */
static void reply_run(kvs_server_t *srv, kvs_client_t *c, uint32_t seq,
                      const char *prefix, uint32_t plen, uint32_t first, uint32_t count)
{
    char key[KVS_MAX_KEY + 1];
    const kvs_entry_t *e;
    unsigned char *p;
    size_t bytes = 0;
    uint32_t n;

    for (n = 0; n < count && run_key(key, prefix, plen, first + n); n++) {
        if (!(e = store_find(srv, key, strlen(key))) ||
            bytes + 4 + e->val_len > KVS_MAX_REPLY)
            break;
        bytes += 4 + e->val_len;
    }
    if (!(p = reply_reserve(c, KVS_VALUE, seq, n, bytes)))
        return;
    for (uint32_t i = 0; i < n; i++) {
        run_key(key, prefix, plen, first + i);
        e = store_find(srv, key, strlen(key));
        kvs_put32(p, e->val_len);
        memcpy(p + 4, e->val, e->val_len);
        p += 4 + e->val_len;
    }
    client_flush(c);
}

/* An error the client should report (its status and message), after which
 * the connection may stay open (PUT conflict) or close (bad HELLO). */
static __attribute__((format(printf, 5, 6))) void
reply_error(kvs_client_t *c, uint32_t seq, rcomm_status_t st, bool close, const char *fmt,
            ...)
{
    char msg[KVS_MAX_ERRMSG];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(msg))
        n = sizeof(msg) - 1;
    c->close_after_flush = close;
    reply(c, KVS_ERROR, seq, (uint32_t)(-(int)st), msg, (size_t)n);
}

/* HELLO: answer with our nonce and tag. */
static void handle_hello(kvs_server_t *srv, kvs_client_t *c)
{
    unsigned char claims[8], *p;

    c->claimed_rank = c->hdr.a0;
    c->claimed_size = c->hdr.a1;
    memcpy(c->nonce_c, c->small + 1, AUTH_NONCE_LEN);
    auth_nonce(c->nonce_s);
    kvs_claims(claims, c->claimed_rank, c->claimed_size);
    if (!(p = reply_reserve(c, KVS_CHALLENGE, c->hdr.seq, 0, KVS_CHALLENGE_LEN)))
        return;
    p[0] = srv->key.keyed ? KVS_F_KEYED : 0;
    memcpy(p + 1, c->nonce_s, AUTH_NONCE_LEN);
    auth_tag(&srv->key, KVS_LABEL_SERVER, claims, sizeof(claims), c->nonce_c, c->nonce_s,
             p + 1 + AUTH_NONCE_LEN);
    c->challenged = true;
    client_flush(c);
}

/* AUTH: the client holds the key; now its claims may be believed (and
 * answered in words when they are wrong). */
static void handle_auth(kvs_server_t *srv, kvs_client_t *c)
{
    const kvs_hdr_t *h = &c->hdr;
    uint32_t rank = c->claimed_rank, size = c->claimed_size;
    unsigned char claims[8];

    kvs_claims(claims, rank, size);
    if (!auth_check(&srv->key, KVS_LABEL_CLIENT, claims, sizeof(claims), c->nonce_c,
                    c->nonce_s, c->small)) {
        client_refuse(srv, c, "it did not prove the job key");
        return;
    }
    if (size != (uint32_t)srv->size) {
        reply_error(c, h->seq, RCOMM_ERR_BOOTSTRAP, true,
                    "rank %u says size %u, rank 0 says %d (is RCOMM_SIZE the same "
                    "on every rank?)",
                    rank, size, srv->size);
        return;
    }
    if (rank >= (uint32_t)srv->size) {
        reply_error(c, h->seq, RCOMM_ERR_BOOTSTRAP, true,
                    "rank %u is out of range for size %d", rank, srv->size);
        return;
    }
    for (size_t i = 0; i < srv->nclients; i++) {
        kvs_client_t *o = srv->clients[i];
        if (o != c && !o->dead && o->rank == (int)rank) {
            reply_error(c, h->seq, RCOMM_ERR_BOOTSTRAP, true,
                        "rank %u is already connected from %s (two processes with "
                        "the same RCOMM_RANK?)",
                        rank, o->peer);
            return;
        }
    }
    c->rank = (int)rank;
    reply(c, KVS_OK, h->seq, 0, NULL, 0);
}

static void handle_put(kvs_server_t *srv, kvs_client_t *c)
{
    const kvs_hdr_t *h = &c->hdr;
    const char *key = (const char *)c->body;
    const unsigned char *val = c->body + h->key_len + 1;
    kvs_entry_t *e = store_find(srv, key, h->key_len);

    if (e) {
        if (e->val_len == h->val_len && memcmp(e->val, val, h->val_len) == 0)
            reply(c, KVS_OK, h->seq, 0, NULL, 0); /* idempotent */
        else
            reply_error(c, h->seq, RCOMM_ERR_INVALID_ARG, false,
                        "key '%s' was already published by rank %d with a different "
                        "value (%u bytes, now %u); keys are write-once",
                        key, e->owner, e->val_len, h->val_len);
        return;
    }
    if (!(e = store_insert(srv, key, h->key_len, val, h->val_len, c->rank))) {
        reply_error(c, h->seq, RCOMM_ERR_NO_MEMORY, false,
                    "rank 0's store is out of memory storing key '%s'", key);
        return;
    }
    reply(c, KVS_OK, h->seq, 0, NULL, 0);

    /* Answer the GETs that were waiting for this key. */
    for (size_t i = 0; i < srv->nclients && srv->nparked; i++) {
        kvs_client_t *w = srv->clients[i];
        if (!w->parked || w->dead || strcmp(w->parked_key, key) != 0)
            continue;
        w->parked = false;
        srv->nparked--;
        if (w->parked_run)
            reply_run(srv, w, w->parked_seq, w->parked_key, w->run_plen, w->run_first,
                      w->run_count);
        else
            reply(w, KVS_VALUE, w->parked_seq, 0, e->val, e->val_len);
    }
}

/* GET and MGET: answer now if the (first) key exists, else park. */
static void handle_get(kvs_server_t *srv, kvs_client_t *c)
{
    const kvs_hdr_t *h = &c->hdr;
    const char *key = (const char *)c->body;
    bool run = h->type == KVS_MGET;
    const kvs_entry_t *e;

    if (run && !run_key(c->parked_key, key, h->key_len, h->a0)) {
        reply_error(c, h->seq, RCOMM_ERR_INVALID_ARG, false,
                    "MGET prefix '%s' is too long for a key", key);
        return;
    }
    if (!run)
        memcpy(c->parked_key, key, h->key_len + 1);
    if (!(e = store_find(srv, c->parked_key, strlen(c->parked_key)))) {
        c->parked = true;
        c->parked_run = run;
        c->parked_seq = h->seq;
        c->run_plen = h->key_len;
        c->run_first = h->a0;
        c->run_count = h->a1;
        srv->nparked++;
    } else if (run) {
        reply_run(srv, c, h->seq, key, h->key_len, h->a0, h->a1);
    } else {
        reply(c, KVS_VALUE, h->seq, 0, e->val, e->val_len);
    }
}

/* MISSING: the ranks that have not published under the prefix yet. */
static void handle_missing(kvs_server_t *srv, kvs_client_t *c)
{
    unsigned char list[4 * KVS_MISSING_MAX];
    char key[KVS_MAX_KEY + 1];
    uint32_t n = 0;

    for (int r = 0; r < srv->size; r++) {
        if (!run_key(key, (const char *)c->body, c->hdr.key_len, (uint32_t)r) ||
            store_find(srv, key, strlen(key)))
            continue;
        if (n < KVS_MISSING_MAX)
            kvs_put32(list + 4 * n, (uint32_t)r);
        n++;
    }
    reply(c, KVS_VALUE, c->hdr.seq, n, list,
          4 * (n < KVS_MISSING_MAX ? n : KVS_MISSING_MAX));
}

/* One complete request is in c->hdr / c->body: check what the header could
 * not, then dispatch. */
static void handle_request(kvs_server_t *srv, kvs_client_t *c)
{
    const kvs_hdr_t *h = &c->hdr;

    /* A new request means the client gave up on its parked GET (timeout). */
    if (c->parked) {
        c->parked = false;
        srv->nparked--;
    }
    if (c->rank < 0) {
        if (h->type == KVS_HELLO && !c->challenged)
            handle_hello(srv, c);
        else if (h->type == KVS_AUTH && c->challenged)
            handle_auth(srv, c);
        else
            client_refuse(srv, c, "handshake out of order");
        return;
    }
    switch (h->type) {
    case KVS_HELLO:
    case KVS_AUTH: client_drop(c, "a second handshake"); break;
    case KVS_PUT: handle_put(srv, c); break;
    case KVS_GET:
    case KVS_MGET: handle_get(srv, c); break;
    case KVS_MISSING: handle_missing(srv, c); break;
    default: client_drop(c, "reply type sent as a request"); break;
    }
}

/* Read what the socket has, one request at a time. A request is handled only
 * once the previous reply left (back-pressure: a client that does not read
 * cannot make us queue without bound). */
static void client_read(kvs_server_t *srv, kvs_client_t *c)
{
    while (!c->dead && c->out_len == 0) {
        bool in_hdr = c->got < KVS_HDR_SIZE;
        size_t body_len = in_hdr ? 0 : c->hdr.key_len + c->hdr.val_len;
        size_t want = in_hdr ? KVS_HDR_SIZE - c->got : KVS_HDR_SIZE + body_len - c->got;
        unsigned char *dst;
        ssize_t n;

        if (in_hdr) {
            dst = c->hdr_buf + c->got;
        } else if (c->rank < 0) {
            dst = c->small + (c->got - KVS_HDR_SIZE); /* sizes checked below */
        } else {
            /* The key gets a NUL of its own: the value starts one byte later. */
            size_t off = c->got - KVS_HDR_SIZE;
            dst = c->body + off + (off >= c->hdr.key_len ? 1 : 0);
            if (off < c->hdr.key_len && want > c->hdr.key_len - off)
                want = c->hdr.key_len - off;
        }
        n = recv(c->fd, dst, want, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            /* A rank leaving between requests is the normal end. */
            client_drop(c,
                        c->got ? "connection closed in the middle of a request" : NULL);
            return;
        }
        c->got += (size_t)n;
        if (in_hdr && c->got == KVS_HDR_SIZE) {
            const char *problem;
            kvs_hdr_decode(c->hdr_buf, &c->hdr);
            if ((problem = kvs_hdr_problem(&c->hdr))) {
                if (c->rank < 0)
                    client_refuse(srv, c, "it does not speak the store's protocol");
                else
                    client_drop(c, problem);
                return;
            }
            body_len = c->hdr.key_len + c->hdr.val_len;
            if (c->rank < 0) {
                /* Nothing but the handshake, which fits in c->small. */
                if ((c->hdr.type != KVS_HELLO && c->hdr.type != KVS_AUTH) ||
                    body_len > sizeof(c->small)) {
                    client_refuse(srv, c, "it did not prove the job key");
                    return;
                }
            } else if (body_len + 1 > c->body_cap) {
                /* Sized to the request: thousands of ranks, mostly tiny values. */
                unsigned char *p = realloc(c->body, body_len + 1);
                if (!p) {
                    client_drop(c, "out of memory");
                    return;
                }
                c->body = p;
                c->body_cap = body_len + 1;
            }
        }
        if (c->got >= KVS_HDR_SIZE && c->got == KVS_HDR_SIZE + body_len) {
            c->got = 0;
            if (c->rank < 0) {
                handle_request(srv, c);
                continue;
            }
            c->body[c->hdr.key_len] = '\0';
            if (memchr(c->body, '\0', c->hdr.key_len)) {
                client_drop(c, "key contains a NUL byte");
                return;
            }
            handle_request(srv, c);
        }
    }
}

/* Room for twice as many connections, and for polling all of them. */
static int grow_clients(kvs_server_t *srv)
{
    size_t cap = srv->clients_cap ? 2 * srv->clients_cap : 16;
    kvs_client_t **c = realloc(srv->clients, cap * sizeof(*c));
    struct pollfd *p;

    if (!c)
        return -1;
    srv->clients = c;
    if (!(p = realloc(srv->pfds, (2 + cap) * sizeof(*p))))
        return -1;
    srv->pfds = p;
    srv->clients_cap = cap;
    return 0;
}

/* Connections still proving the key, and the one to give up first. */
static size_t pending(const kvs_server_t *srv, kvs_client_t **oldest)
{
    size_t n = 0;

    *oldest = NULL;
    for (size_t i = 0; i < srv->nclients; i++) {
        kvs_client_t *c = srv->clients[i];
        if (c->rank >= 0 || c->dead)
            continue;
        n++;
        if (!*oldest || c->join_by_ns < (*oldest)->join_by_ns)
            *oldest = c;
    }
    return n;
}

/* A new connection, still to prove the key; NULL when out of memory (fd
 * stays open). */
static kvs_client_t *client_add(kvs_server_t *srv, int fd)
{
    kvs_client_t *c;

    if ((srv->nclients == srv->clients_cap && grow_clients(srv) != 0) ||
        !(c = calloc(1, sizeof(*c))))
        return NULL;
    c->fd = fd;
    c->rank = -1;
    c->join_by_ns = base_now_ns() + srv->handshake_ns;
    srv->clients[srv->nclients++] = c;
    return c;
}

static void accept_clients(kvs_server_t *srv)
{
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        char host[INET6_ADDRSTRLEN], port[8];
        kvs_client_t *c;
        int one = 1;
        int fd = accept4(srv->listen_fd, (struct sockaddr *)&ss, &sl,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
                errno == ENOMEM) {
                base_log(BASE_LOG_WARN,
                         "bootstrap server: accept on %s: %s; "
                         "waiting for a connection to close",
                         srv->addr, strerror(errno));
                srv->accept_paused = true;
            }
            return; /* EAGAIN, or an aborted connection: nothing to do */
        }
        if (!(c = client_add(srv, fd))) {
            close(fd);
            return;
        }
        if (getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), port,
                        sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV) == 0)
            snprintf(c->peer, sizeof(c->peer), "%s:%s", host, port);
        else
            snprintf(c->peer, sizeof(c->peer), "?");
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        /* Strangers must not crowd out ranks: every rank could be joining
         * at once, and beyond that the oldest attempt goes first (a real
         * rank answers in microseconds, and dials again if dropped). */
        if (pending(srv, &c) > (size_t)srv->size + KVS_MAX_PENDING)
            client_refuse(srv, c, "too many connections were authenticating at once");
    }
}

static void client_free(kvs_client_t *c)
{
    close(c->fd);
    free(c->body);
    free(c->out);
    free(c);
}

static void remove_dead(kvs_server_t *srv)
{
    for (size_t i = 0; i < srv->nclients;) {
        kvs_client_t *c = srv->clients[i];
        if (!c->dead) {
            i++;
            continue;
        }
        if (c->parked)
            srv->nparked--;
        client_free(c);
        srv->clients[i] = srv->clients[--srv->nclients];
        srv->accept_paused = false;
    }
}

/* Once rank 0 has left, the store only matters to ranks that can still make
 * progress: a rank parked on a GET waits for a PUT that only a rank not
 * parked could send. When every remaining rank is parked (or gone), nothing
 * can change any more and they are better told now than at their timeout. */
static bool drained(const kvs_server_t *srv)
{
    size_t joined = 0;

    for (size_t i = 0; i < srv->nclients; i++)
        joined += srv->clients[i]->rank >= 0;
    return srv->nparked == joined;
}

/* Drop the connections past their handshake deadline; returns the next
 * deadline (0: none). */
static uint64_t expire_pending(kvs_server_t *srv, uint64_t now)
{
    uint64_t next = 0;

    for (size_t i = 0; i < srv->nclients; i++) {
        kvs_client_t *c = srv->clients[i];
        if (c->rank >= 0 || c->dead)
            continue;
        if (c->join_by_ns <= now)
            client_refuse(srv, c, "it did not prove the job key in time");
        else if (!next || c->join_by_ns < next)
            next = c->join_by_ns;
    }
    return next;
}

/* What poll() reported for a connection (re: its revents). */
static void client_event(kvs_server_t *srv, kvs_client_t *c, short re)
{
    if (re & POLLOUT)
        client_flush(c);
    if (c->out_len && (re & (POLLERR | POLLHUP)))
        client_drop(c, NULL); /* a reply nobody will read */
    client_read(srv, c);      /* also sees EOF and requests behind a reply */
}

static void *server_main(void *arg)
{
    kvs_server_t *srv = arg;
    uint64_t drain_deadline = 0; /* set when rank 0 asks us to stop */

    base_log_set_rank(0);
    for (;;) {
        uint64_t now = base_now_ns(), join_by;
        size_t nfd;
        int wait_ms = -1;

        join_by = expire_pending(srv, now);
        remove_dead(srv);
        nfd = 2 + srv->nclients;
        if (join_by)
            wait_ms = (int)((join_by - now + 999999) / 1000000);
        if (drain_deadline) {
            if (drained(srv))
                break;
            if (now >= drain_deadline) {
                base_log(BASE_LOG_WARN,
                         "bootstrap server on %s: stopping while %zu "
                         "connection(s) are still busy",
                         srv->addr, srv->nclients - srv->nparked);
                break;
            }
            int left = (int)((drain_deadline - now + 999999) / 1000000);
            wait_ms = wait_ms < 0 || left < wait_ms ? left : wait_ms;
        }
        srv->pfds[0] =
            (struct pollfd){.fd = drain_deadline ? -1 : srv->wake_rd, .events = POLLIN};
        srv->pfds[1] = (struct pollfd){.fd = srv->accept_paused ? -1 : srv->listen_fd,
                                       .events = POLLIN};
        for (size_t i = 0; i < srv->nclients; i++) {
            kvs_client_t *c = srv->clients[i];
            srv->pfds[2 + i] =
                (struct pollfd){.fd = c->fd, .events = c->out_len ? POLLOUT : POLLIN};
        }
        if (poll(srv->pfds, nfd, wait_ms) < 0) {
            if (errno == EINTR)
                continue;
            base_log(BASE_LOG_ERROR, "bootstrap server on %s: poll: %s; stopping",
                     srv->addr, strerror(errno));
            break;
        }
        if (srv->pfds[0].revents) {
            /* bootstrap_destroy on rank 0 sent how long to linger. */
            uint64_t linger_ns = 0;
            if (read(srv->wake_rd, &linger_ns, sizeof(linger_ns)) != sizeof(linger_ns))
                linger_ns = 0;
            drain_deadline = base_now_ns() + linger_ns;
        }
        if (srv->pfds[1].revents & POLLIN)
            accept_clients(srv);
        /* Clients accepted just now are beyond the polled range. */
        for (size_t i = 0; 2 + i < nfd; i++) {
            kvs_client_t *c = srv->clients[i];
            short re = srv->pfds[2 + i].revents;
            if (re && !c->dead)
                client_event(srv, c, re);
        }
        remove_dead(srv);
    }
    return NULL;
}

/* ---- Start and stop ------------------------------------------------------------ */

static void server_free(kvs_server_t *srv)
{
    for (size_t i = 0; i < srv->nclients; i++)
        client_free(srv->clients[i]);
    for (size_t i = 0; i < srv->nbuckets; i++) {
        kvs_entry_t *e = srv->buckets[i], *next;
        for (; e; e = next) {
            next = e->next;
            free(e);
        }
    }
    kvs_listen_close(srv->listen_fd);
    if (srv->wake_rd >= 0) {
        close(srv->wake_rd);
        close(srv->wake_wr);
    }
    auth_key_wipe(&srv->key);
    free(srv->buckets);
    free(srv->clients);
    free(srv->pfds);
    free(srv);
}

/* An empty store with no listener, thread or connection yet; NULL when out
 * of memory. */
static kvs_server_t *server_new(int size, const char *addr, const auth_key_t *key,
                                int handshake_ms)
{
    kvs_server_t *srv = calloc(1, sizeof(*srv));

    if (!srv)
        return NULL;
    srv->size = size;
    srv->key = *key;
    srv->handshake_ns = (uint64_t)(handshake_ms > 0 ? handshake_ms : 1) * 1000000ull;
    srv->wake_rd = srv->wake_wr = srv->listen_fd = -1;
    snprintf(srv->addr, sizeof(srv->addr), "%s", addr);
    srv->nbuckets = 64;
    srv->buckets = calloc(srv->nbuckets, sizeof(*srv->buckets));
    srv->pfds = calloc(2, sizeof(*srv->pfds));
    if (!srv->buckets || !srv->pfds) {
        server_free(srv);
        return NULL;
    }
    return srv;
}

rcomm_status_t kvs_server_start(int size, const struct addrinfo *res, const char *addr,
                                const auth_key_t *key, int handshake_ms,
                                kvs_server_t **out)
{
    kvs_server_t *srv = server_new(size, addr, key, handshake_ms);
    int pfd[2], err;
    sigset_t all, old;
    rcomm_status_t st;

    if (!srv)
        return base_err(RCOMM_ERR_NO_MEMORY, "bootstrap server for %s", addr);
    if ((st = kvs_listen_open(addr, res, &srv->listen_fd)) != RCOMM_OK) {
        server_free(srv);
        return st;
    }
    if (pipe2(pfd, O_CLOEXEC | O_NONBLOCK) != 0) {
        st = base_err_sys("bootstrap server for %s: pipe", addr);
        server_free(srv);
        return st;
    }
    srv->wake_rd = pfd[0];
    srv->wake_wr = pfd[1];

    /* Signals are the application's business: keep them off this thread. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    err = pthread_create(&srv->thread, NULL, server_main, srv);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err) {
        errno = err;
        st = base_err_sys("bootstrap server for %s: pthread_create", addr);
        server_free(srv);
        return st;
    }
    *out = srv;
    return RCOMM_OK;
}

void kvs_server_stop(kvs_server_t *srv, int linger_ms)
{
    uint64_t linger_ns = linger_ms > 0 ? (uint64_t)linger_ms * 1000000ull : 0;
    ssize_t n;

    if (!srv)
        return;
    /* One write of 8 bytes is atomic on a pipe: the thread reads all or none. */
    do
        n = write(srv->wake_wr, &linger_ns, sizeof(linger_ns));
    while (n < 0 && errno == EINTR);
    pthread_join(srv->thread, NULL);
    if (srv->refused > 3)
        base_log(BASE_LOG_WARN,
                 "bootstrap server on %s: dropped %llu connections in all that did not "
                 "prove the job key",
                 srv->addr, (unsigned long long)srv->refused);
    server_free(srv);
}

#ifdef RCOMM_FUZZING
/* ---- Fuzzing (fuzz/fuzz_store.c) ----------------------------------------------- */

kvs_server_t *kvs_fuzz_server(int size, const auth_key_t *key)
{
    return server_new(size, "fuzz", key, 1000);
}

int kvs_fuzz_connect(kvs_server_t *srv, int fd)
{
    kvs_client_t *c = client_add(srv, fd);

    if (!c)
        return -1;
    snprintf(c->peer, sizeof(c->peer), "fuzz fd %d", fd);
    return 0;
}

/* server_main's round without the wait: the deadlines are left out, so that
 * an input always takes the same path. */
void kvs_fuzz_serve(kvs_server_t *srv)
{
    size_t n = srv->nclients;

    for (size_t i = 0; i < n; i++) {
        kvs_client_t *c = srv->clients[i];
        srv->pfds[2 + i] =
            (struct pollfd){.fd = c->fd, .events = c->out_len ? POLLOUT : POLLIN};
    }
    if (poll(srv->pfds + 2, n, 0) > 0)
        for (size_t i = 0; i < n; i++) {
            kvs_client_t *c = srv->clients[i];
            short re = srv->pfds[2 + i].revents;
            if (re && !c->dead)
                client_event(srv, c, re);
        }
    remove_dead(srv);
}

void kvs_fuzz_free(kvs_server_t *srv)
{
    server_free(srv);
}
#endif
