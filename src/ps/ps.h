/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The parameter server's internals (rcomm.h has the contract, docs/PS.md the
 * design). Its files:
 *   layout.c  which server owns which keys; blocks and their checksums
 *   ps.c      life cycle: checks, memory, keys, serve, destroy
 *   rma.c     one-sided operations on servers, the local one included
 *   worker.c  the worker's state, scratch and argument checks
 *   pull.c    pull (self-checking reads of a list of slices)
 *   push.c    push (ranges and key lists), clock (the push step)
 *   sparse.c  pushes of some keys: which, their block images, applying them
 *   server.c  update threads
 *   fetch.c   blocks a worker failed to read twice, sent by their server
 *   final.c   the final model, delivered after training
 *
 * Memory of server s (each a region with its own rights):
 *   params  its range of every tensor, one after the other, as
 *           records of blocks: a header (version, odd while
 *           being written; clock; checksum: ps_block_hdr_t),
 *           then the block's data (ps_rec)                      remote read
 *   pub     applied[W] (the clock applied per worker)           remote read
 *   slot w  two halves, each records laid out as params, of
 *           worker w's gradient: in a record's header the
 *           clock word is the block's stamp (the clock of the
 *           push that wrote it, and how many keys when it
 *           wrote only some: PS_STAMP); the pushes alternate
 *           between the halves (ps_half); then a probe the
 *           server never reads (ps_slot_probe)                  remote write,
 *                                                                key to w only
 * plus clock[W] (worker w's pushed clock), private: a push is one write per
 * server, its last with a notification (put_notify) that the server's
 * progress checks and turns into the clock (ps_server_notified).
 * Memory of worker w: mbox[S], applied[w] as server s last told it, by a
 * write from its progress (ps_server_tell), remote write: a push waits
 * there for its half of the slot without a read of its own.
 * W is the number of workers; workers are numbered 0..W-1 in rank order.
 * Two-sided messages are used only around the work: each worker's slot key
 * is sent to it alone, and a worker says it is done with a message that a
 * serving rank has posted a receive for, so that a worker that fails while
 * servers wait for it fails their receive instead of leaving them waiting.
 */
#ifndef RCOMM_PS_H
#define RCOMM_PS_H

#include <pthread.h>
#include <stdint.h>

#include "core/comm.h"
#include "rcomm.h"
#include "transports/transport.h"

/* ---- layout.c: pure arithmetic, shared by servers and workers ---------- */

typedef struct {
    char name[64];
    size_t count;
    rcomm_dtype_t dtype;
    size_t esize; /* bytes per element */
    size_t blk;   /* elements per block */
    size_t rec;   /* bytes of a block's record in params: header, data */
} ps_tensor_t;

/* Tensor t's keys on server s: [lo, lo + n), blocks [block, block +
 * ceil(n / blk)) of s. In s's params region the range's blocks are records
 * from byte poff on (ps_rec); in the layouts without headers (a slot's
 * halves, a worker's staged images, the momentum) its keys are at byte
 * off, one after the other. */
typedef struct {
    size_t lo, n;
    size_t off, poff;
    size_t block;
} ps_range_t;

typedef struct {
    int nservers, ntensors;
    ps_tensor_t *t;
    ps_range_t *r;   /* [s * ntensors + t] */
    size_t *bytes;   /* bytes of server s's keys without headers (off) */
    size_t *pbytes;  /* bytes of server s's params region (poff) */
    size_t *nblocks; /* blocks of server s */
} ps_layout_t;

/* Split every tensor over nservers; block_bytes is the block size. */
rcomm_status_t ps_layout_init(ps_layout_t *l, int nservers, const ps_tensor_t *t,
                              int ntensors, size_t block_bytes);
void ps_layout_free(ps_layout_t *l);
static inline const ps_range_t *ps_range(const ps_layout_t *l, int s, int t)
{
    return &l->r[(size_t)s * l->ntensors + t];
}
/* The server that owns key k of tensor t. */
int ps_layout_owner(const ps_layout_t *l, int t, size_t k);

/* A block's header, in the server's pub region. Its thread writes the block
 * with the version odd, then the clock (every worker's pushes up to it are
 * in the block) and the checksum of version, clock and data, then the
 * version even: a reader that finds the version even and the checksum right
 * holds one whole state of the block, whatever order its reads ran in. */
typedef struct {
    uint64_t version, clock, sum;
} ps_block_hdr_t;

/* Block i of tensor t's range on server s is a record in s's params: its
 * header, then its data. A pull reads a run of blocks, headers included, in
 * one read. */
static inline size_t ps_rec(const ps_layout_t *l, int s, int t, size_t i)
{
    return ps_range(l, s, t)->poff + i * l->t[t].rec;
}
#define PS_REC_DATA sizeof(ps_block_hdr_t) /* the data's offset in a record */
/* The keys of block i of tensor t's range on server s: blk, fewer in the
 * range's last block. */
static inline size_t ps_block_keys(const ps_layout_t *l, int s, int t, size_t i)
{
    const size_t left = ps_range(l, s, t)->n - i * l->t[t].blk;

    return left < l->t[t].blk ? left : l->t[t].blk;
}
/* Key k (an offset in the range) of tensor t on server s, in records. */
static inline size_t ps_rec_key(const ps_layout_t *l, int s, int t, size_t k)
{
    return ps_rec(l, s, t, k / l->t[t].blk) + PS_REC_DATA +
           k % l->t[t].blk * l->t[t].esize;
}

/* The checksum of a block's bytes under its version and clock (XXH64). */
uint64_t ps_block_sum(uint64_t version, uint64_t clock, const void *data, size_t bytes);
/* Whether a header and the bytes read with it are one whole state. */
int ps_block_whole(const ps_block_hdr_t *h, const void *data, size_t bytes);
/* Keys [a, b) of tensor t on server s between records laid out as s's
 * params region (the server's own, or a worker's copy of it) and buf, where
 * they follow each other: from the records when out, else into them. */
void ps_rec_copy(const ps_layout_t *l, int s, int t, size_t a, size_t b, char *records,
                 char *buf, int out);
/* Keys [*a, *b) of tensor t on server s widened to whole blocks. */
void ps_layout_whole_blocks(const ps_layout_t *l, int s, int t, size_t *a, size_t *b);

/* ---- the parameter server ---------------------------------------------- */

typedef struct ps_op ps_op_t;

/* Keys [a, b) of tensor t, all on server s. */
typedef struct {
    int s, t;
    size_t a, b;
} ps_piece_t;
typedef struct {
    ps_piece_t *v;
    size_t n, cap;
} ps_pieces_t;

/* What a worker knows of one server: its keys and its clocks as last read. */
typedef struct {
    tp_rkey_t params, pub, slot;
    char *local;          /* the local copy of its params: records, as there */
    uint64_t *applied;    /* [W] read buffer */
    uint64_t known;       /* the smallest applied[] of a read that completed
                           * before this round's: a floor for its data */
    unsigned char *dirty; /* [B] blocks with gradient since the last push */
    unsigned char *full;  /* [B] ... of which a push named every key */
    uint64_t *fetched;    /* [B] clock of the local copy of each block, or ~0 */
    unsigned char *sent;  /* [B] in this push: PS_SENT_* */
    uint32_t *staged;     /* [B] ... and its bytes in the stage */
    char *stage;          /* what a push writes: records as in a half of
                           * our slot there, each block's (whole, image or
                           * encoding) and its stamp */
} ps_remote_t;

enum { PS_SENT_NONE, PS_SENT_DENSE, PS_SENT_SPARSE, PS_SENT_ENCODED };
/* A pull's first round (pull.c): data alone, clocks and data, clocks alone. */
enum { PS_PULL_DATA, PS_PULL_CLOCKS, PS_PULL_WAIT };

/* A fetch being copied (fetch.c): keys [a, b) of tensor t for worker w,
 * [a, k) done, into dst; rep is the reply (NULL: our own worker's). */
typedef struct {
    int w, t;
    size_t a, b, k;
    char *dst;
    struct ps_reply *rep;
} ps_fetch_job_t;

/* A server's own memory. */
typedef struct {
    char *params;   /* records of blocks (ps_rec) */
    uint64_t *pub;  /* applied[W] */
    uint64_t *clk;  /* clock[W]: the notifications' (ps_server_notified) */
    char **slots;   /* [W]: two halves of records of gradient, then a probe */
    char *momentum; /* private */
    tp_mr_t *mr_params, *mr_pub, **mr_slots;
    pthread_t *threads;
    int nthreads, started;
    int stop;          /* atomic: threads leave */
    unsigned *pending; /* [2W] atomic: threads still applying worker w's
                        * push from half h, at [2w + h] (BSP: [h] for the
                        * round) */
    uint64_t updates;  /* atomic: pushes (BSP: rounds) applied */
    uint64_t rejected; /* atomic: keys of sparse pushes ignored */
    ps_op_t *done;     /* [W] receives of the workers' done messages */
    int done_posted;
    /* The bell (server.c): threads with nothing to apply sleep until the
     * rank's progress sees a clock word move and rings it. */
    int bad_peer; /* a notification that was not a push's: its rank + 1 */
    uint32_t bad_value;
    pthread_mutex_t bell_mu;
    pthread_cond_t bell_cv;
    int bell_ready;   /* bell_mu and bell_cv are initialised */
    uint64_t bell;    /* atomic: rings so far */
    int sleepers;     /* under bell_mu: threads in pthread_cond_wait */
    uint64_t spin_ns; /* threads poll this long before sleeping */
    /* Pushes handed out by the progress (server.c, dispatch): */
    uint64_t *rel;         /* [W] the last clock applied by the progress or
                            * released to the threads (atomic; BSP: [0]) */
    unsigned char *small;  /* [2W] worker w's push into half h is small */
    uint64_t rung;         /* BSP: the clock words' sum at the last ring */
    struct ps_thread *own; /* the progress's own applier; NULL with a user
                            * rule, which only the threads run */
    /* Telling workers what is applied (ps_server_tell): */
    tp_rkey_t *mbox; /* [W] their mailboxes (remote workers') */
    uint64_t *told;  /* [W] the value last written there: the write's source */
    ps_op_t *tell;   /* [W] that write */
    int mbox_known;  /* every mailbox key has arrived */
    /* Fetches (fetch.c): blocks a worker failed to read twice. */
    size_t hold;              /* atomic: block + 1 the progress copies, or 0 */
    ps_fetch_job_t job;       /* the request being copied (job.w -1: none) */
    int turn;                 /* the worker whose request went last */
    int self_done;            /* our own worker's request was copied */
    int closing;              /* every worker is done: post nothing more */
    ps_op_t *fetch_in;        /* [W] receives of requests */
    uint64_t (*fetch_buf)[3]; /* [W] their buffers */
    unsigned char *fetch_st;  /* [W] FETCH_* (fetch.c) */
    unsigned *fetch_out;      /* [W] replies in flight */
    struct ps_reply *replies; /* in flight */
} ps_server_t;

struct rcomm_ps {
    uint64_t magic; /* HANDLE_MAGIC_PS until destroyed (core/handle.h) */
    rcomm_comm_t *comm;
    rcomm_ps_config_t cfg;
    ps_layout_t lay;
    int nworkers;
    int worker;       /* our worker number, -1 if not a worker */
    int *worker_rank; /* [W] */
    int is_server;
    int failed;      /* rcomm_status_t of the first failure, 0 while fine */
    ps_server_t srv; /* when is_server */
    /* Worker side. */
    ps_remote_t *rem;          /* [nservers] */
    char **accum;              /* [ntensors] the gradient accumulated since the push */
    uint64_t clock, pushed;    /* steps finished; clock of the last push */
    ps_pieces_t pieces, again; /* pull's scratch: ranges to read, to read again */
    char *inbox;               /* fetch's: the blocks sent, before they go home */
    size_t cap_inbox;
    int pull_mode; /* what the last pull needed: PS_PULL_* */
    ps_op_t *ops;  /* scratch: one batch */
    size_t cap_ops;
    void *fetch_msg; /* scratch: fetch requests (fetch.c) */
    size_t cap_fetch;
    uint32_t *pick;             /* sparse pushes: the keys picked in one range */
    float *pick_val, *pick_scr; /* and top-k's scratch; each the longest range */
    uint64_t *mbox;             /* [S] applied[worker] as each server last told us */
    tp_mr_t *mr_mbox;
    int done_sent;
    int finalized; /* rcomm_ps_final was called */
    rcomm_ps_stats_t stats;
    uint32_t space; /* our tag space (core/service.h), 0 before we have one */
};

/* The worker number of rank r (workers are the ranks after the servers,
 * or every rank when they work too), or -1 for a rank that only serves or
 * is not in the job. */
static inline int ps_worker_of(const rcomm_ps_t *ps, int r)
{
    const int w = ps->cfg.servers_work ? r : r - ps->cfg.num_servers;

    return w >= 0 && w < ps->nworkers ? w : -1;
}

/* The checks of every public call: ps is a parameter server not destroyed,
 * on a communicator not destroyed (INVALID_ARG naming fn otherwise). */
rcomm_status_t ps_check_handle(const rcomm_ps_t *ps, const char *fn);
/* The communicator to lock for a call on ps: NULL when ps is not usable
 * (the call then fails its check without the lock). */
rcomm_comm_t *ps_lock_comm(const rcomm_ps_t *ps);

/* ---- rma.c: one-sided operations on servers ---------------------------- */

/* PS_PUTN: a put whose landing notifies the server (put_notify) with the
 * value in add (below COMM_NOTIFY_LIMIT); on our own rank, the notification
 * is handed to our server at once. */
typedef enum { PS_GET, PS_PUT, PS_PUTN, PS_SEND, PS_RECV } ps_op_kind_t;

/* One operation on rank `server` (for SEND and RECV, setup messages in our
 * tag space, any peer). A one-sided one on our own rank is done at once
 * with loads and stores; the others go through the transport. */
struct ps_op {
    ps_op_kind_t kind;
    int server;
    void *buf; /* get: destination; put: source */
    size_t len;
    const tp_rkey_t *rkey;
    uint64_t raddr;
    uint64_t add; /* PUTN: the notification's value; SEND, RECV: PS_MSG_* */
    int words;    /* local get: copy as atomic 64-bit words (clocks,
                   * versions: a word must never be seen torn) */
    tp_req_t req;
};

/* Tags in our space; a block reply's carries its request's id above 4 bits. */
enum {
    PS_MSG_KEY = 1,
    PS_MSG_DONE = 2,
    PS_MSG_FINAL = 3,
    PS_MSG_FETCH = 5,
    PS_MSG_BLOCK = 6,
    PS_MSG_MBOX = 7 /* a worker's mailbox key, to a server */
};

/* Post one operation (one on our own rank completes at once). An error
 * names the peer and fails ps. */
rcomm_status_t ps_post(rcomm_ps_t *ps, ps_op_t *op, const char *what);
/* An operation that completed with an error: the message names the peer;
 * fails ps. */
rcomm_status_t ps_op_error(rcomm_ps_t *ps, const ps_op_t *op, const char *what);

/* Post ops[0..n) and wait for all of them, progressing the communicator
 * (a rank that serves keeps serving while it waits). An error names the
 * server and the operation, as `what` ("pull", "push"...), and fails ps. */
rcomm_status_t ps_rma_run(rcomm_ps_t *ps, ps_op_t *ops, size_t n, const char *what);

/* The address of region rkey's byte off on the server (for raddr). */
static inline uint64_t ps_raddr(const tp_rkey_t *rkey, size_t off)
{
    return rkey->addr + off;
}

/* Record a failure of the PS (and of its communicator, so that peers learn
 * of it); returns st. */
rcomm_status_t ps_fail(rcomm_ps_t *ps, rcomm_status_t st);

/* ---- server.c ---------------------------------------------------------- */

rcomm_status_t ps_server_start(rcomm_ps_t *ps);
/* Every worker is done: withdraw the receives of block requests and let
 * replies in flight complete (the hook posts no more). */
void ps_server_quiesce(rcomm_ps_t *ps);
/* Stop and join the threads (quiescing first). */
void ps_server_stop(rcomm_ps_t *ps);
/* No push is waiting to be applied. */
int ps_server_idle(const rcomm_ps_t *ps);
/* From the rank's progress (the service hook): serve fetches, ring the
 * threads if a clock word moved, fail on a bad notification. */
void ps_server_progress(rcomm_ps_t *ps);
/* From the progress, after a push is published: write applied[w] into
 * worker w's mailbox (one write in flight per worker); and whether such a
 * write is still in flight (quiesce waits for them). */
void ps_server_tell(rcomm_ps_t *ps);
int ps_server_telling(const rcomm_ps_t *ps);
/* Rank peer's notification with value (untrusted): its push of the next
 * clock, push_interval past the last, is in its slot here. Records a bad
 * one for ps_server_progress, which fails ps. No posting. */
void ps_server_notified(rcomm_ps_t *ps, int peer, uint32_t value);
/* A push's notification: its clock (mod 2^27), and whether it wrote at most
 * PS_SMALL_BYTES to that server, which the server's progress then applies
 * itself rather than wake its threads (a hint: wrong, it costs time only). */
#define PS_SMALL_BYTES 16384
#define PS_NOTIFY_CLOCKS (COMM_NOTIFY_LIMIT >> 1)
static inline uint32_t ps_notify_value(uint64_t clock, int small)
{
    return (uint32_t)(clock & (PS_NOTIFY_CLOCKS - 1)) << 1 | (small != 0);
}
/* Tests (hook_ps_pause): every update thread of the process waits us
 * microseconds between its two reads of what is released and applied. */
void ps_server_pause(unsigned us);
/* A warning with each worker's pushed and applied clock: why a serve failed. */
void ps_server_log_state(const rcomm_ps_t *ps, const char *fn);

/* Block i of tensor t's range in our own params region (servers are ranks
 * 0..S-1): its header, then its data. */
static inline ps_block_hdr_t *ps_server_hdr(const rcomm_ps_t *ps, int t, size_t i)
{
    return (ps_block_hdr_t *)(ps->srv.params + ps_rec(&ps->lay, ps->comm->rank, t, i));
}
static inline char *ps_server_data(const rcomm_ps_t *ps, int t, size_t i)
{
    return (char *)ps_server_hdr(ps, t, i) + PS_REC_DATA;
}
/* A slot has two halves so that a push need not wait for the server to
 * apply the previous one: the push of clock c goes into half ps_half(c).
 * Every push advances a worker's clock by push_interval, so consecutive
 * pushes alternate, and a push waits only for the one before the previous
 * (the last to use its half). */
static inline int ps_half(const rcomm_ps_t *ps, uint64_t c)
{
    return (int)(c / (uint64_t)ps->cfg.push_interval & 1);
}
/* Byte off of half h of a slot on server s (off: as in params). */
static inline size_t ps_slot_at(const rcomm_ps_t *ps, int s, int h, size_t off)
{
    return (size_t)h * ps->lay.pbytes[s] + off;
}
/* After the halves, PS_PROBE_BYTES the server never reads: rcomm-ps-perf
 * times bare writes there, next to pushes, on the same connection. */
#define PS_PROBE_BYTES 256
static inline size_t ps_slot_probe(const rcomm_ps_t *ps, int s)
{
    return 2 * ps->lay.pbytes[s];
}
static inline size_t ps_slot_bytes(const rcomm_ps_t *ps, int s)
{
    return ps_slot_probe(ps, s) + PS_PROBE_BYTES;
}

/* ---- fetch.c ----------------------------------------------------------- */

/* A block request: keys [a, b) of tensor t, answered with the tag
 * PS_MSG_BLOCK | id << 4. */
typedef struct {
    uint32_t t, id;
    uint64_t a, b;
} ps_fetch_msg_t;
#define PS_FETCH_ID_MAX (1u << 27)
/* Whether m (len bytes, from the network) names keys of server s's range
 * of a tensor of l. */
int ps_fetch_valid(const ps_layout_t *l, int s, const ps_fetch_msg_t *m, size_t len);

/* Server thread: make the version of block i of tensor t's range odd to
 * write it, waiting while the progress holds the block; returns the even
 * version v it had. */
uint64_t ps_server_begin_write(rcomm_ps_t *ps, int t, size_t i);
/* ... and after writing its data: its clock, its checksum, and the version
 * v + 2. */
void ps_server_end_write(rcomm_ps_t *ps, int t, size_t i, uint64_t v, uint64_t clock);
/* Server progress: answer the requests that arrived, repost receives. */
void ps_fetch_serve(rcomm_ps_t *ps);
/* Server stop: withdraw the receives; whether anything is in flight; free
 * what is left. */
void ps_fetch_cancel(rcomm_ps_t *ps);
int ps_fetch_busy(const rcomm_ps_t *ps);
void ps_fetch_release(rcomm_ps_t *ps);
/* Worker: fetch the pieces of v from their servers into the local copy. */
rcomm_status_t ps_fetch(rcomm_ps_t *ps, const ps_pieces_t *v, const char *fn);

/* ---- sparse.c ---------------------------------------------------------- */

/* A stamp: the clock of the push (bits 0-39); when it wrote only some keys
 * of the block, how many (bits 40-62; 0: the whole block); bit 63 when the
 * whole block went in the compressor's dense encoding (bf16, f16, sign). */
#define PS_STAMP(clock, keys) ((uint64_t)(clock) | (uint64_t)(keys) << 40)
#define PS_STAMP_ENCODED (1ull << 63)
#define PS_STAMP_CLOCK(s) ((s) & ((1ull << 40) - 1))
#define PS_STAMP_KEYS(s) ((s) >> 40 & ((1ull << 23) - 1))
#define PS_STAMP_KEYS_MAX ((1u << 23) - 1)

/* A block image of m keys: m u32 offsets in the block, padded to esize, then
 * their m values. */
static inline size_t ps_sparse_bytes(size_t m, size_t esize)
{
    return (4 * m + esize - 1) / esize * esize + m * esize;
}

/* Worker: whether pushes of tensor t pick keys (a filter, top-k, random-k),
 * or encode whole blocks (bf16, f16, sign); the scratch they need. */
int ps_picks(const rcomm_ps_t *ps, int t);
int ps_encodes(const rcomm_ps_t *ps, int t);
/* Worker: whether the keys a push of tensor t leaves out are dropped (a
 * compressor without error feedback) rather than kept accumulated. */
int ps_drops(const rcomm_ps_t *ps, int t);
rcomm_status_t ps_sparse_init(rcomm_ps_t *ps);
/* Worker: the keys of tensor t's range on server s to push now (offsets in
 * the range, ascending, each with a nonzero gradient) into ps->pick. */
size_t ps_pick(rcomm_ps_t *ps, int s, int t);
/* Worker: the keys of block i of tensor t's range on server s with a
 * nonzero gradient (offsets in the range) into ps->pick; how many, or
 * (size_t)-1 when out of memory (the pick list is made here on first
 * use). */
size_t ps_pick_block(rcomm_ps_t *ps, int s, int t, size_t i);
/* Worker: block i of that range with its m picked keys (offsets in the
 * range): staged sparse (the image in its record of the stage, those keys
 * zeroed in the accumulator; returns the image's bytes) when that is
 * smaller than the block, else 0 (the caller stages the whole block). */
size_t ps_sparse_image(rcomm_ps_t *ps, int s, int t, size_t i, const uint32_t *keys,
                       size_t m);
/* Worker: block i of tensor t's range on server s in the compressor's dense
 * encoding, into its record of the stage; the accumulator keeps what the
 * encoding lost. Returns the image's bytes, or 0 when it would not be
 * smaller than the block (the caller stages the block). */
size_t ps_encoded_image(rcomm_ps_t *ps, int s, int t, size_t i);
/* Server: sum += the decoded image of a block of n f32 keys. */
void ps_encoded_add(const rcomm_ps_t *ps, const char *img, size_t n, float *sum);
/* Server: add the image of m keys (from a worker's slot: untrusted) into
 * sum (n elements), marking in mark the keys it holds. Returns the keys
 * ignored: out of the block, or all of them when m cannot fit. */
size_t ps_sparse_add(const char *img, size_t m, size_t n, rcomm_dtype_t dtype, char *sum,
                     unsigned char *mark);

/* ps.c: a server serves until every worker has said it is done and every
 * push is applied (fn names the caller in errors). */
rcomm_status_t ps_serve(rcomm_ps_t *ps, const char *fn);

/* ---- worker.c ---------------------------------------------------------- */

rcomm_status_t ps_worker_init(rcomm_ps_t *ps);
void ps_worker_free(rcomm_ps_t *ps);
/* Tell every server this worker is done. */
rcomm_status_t ps_worker_finish(rcomm_ps_t *ps);

/* A zeroed operation appended to ps->ops (*n of them so far); NULL when out
 * of memory. */
ps_op_t *ps_op_add(rcomm_ps_t *ps, size_t *n);
/* A get of len bytes at byte off of region key on server s into buf
 * (words: as atomic 64-bit words when local). */
void ps_op_get(ps_op_t *o, int s, void *buf, size_t len, const tp_rkey_t *key, size_t off,
               int words);
/* Append keys [a, b) of tensor t on server s, merged into the last piece
 * when they continue it; -1 when out of memory. */
int ps_piece_add(ps_pieces_t *v, int s, int t, size_t a, size_t b);
/* The piece of keys [k, end) of tensor t that k's server owns. */
ps_piece_t ps_piece_at(const rcomm_ps_t *ps, int t, size_t k, size_t end);
/* Blocks [*b0, *b1] of p's server that hold p's keys. */
void ps_piece_blocks(const rcomm_ps_t *ps, const ps_piece_t *p, size_t *b0, size_t *b1);

rcomm_status_t ps_nomem(const rcomm_ps_t *ps, const char *fn);

/* Any worker call: ps usable, and this rank works. */
rcomm_status_t ps_check_worker(rcomm_ps_t *ps, const char *fn);
/* A worker call on a list of n slices: ps_check_worker, the list, and
 * ps_check_keys of every slice (an error names the slice). */
rcomm_status_t ps_check_slices(rcomm_ps_t *ps, const char *fn, const rcomm_ps_slice_t *v,
                               int n, const char *bufname);
/* Also keys [off, off + count) of tensor, and their buffer (bufname NULL:
 * it may be NULL). */
rcomm_status_t ps_check_keys(rcomm_ps_t *ps, const char *fn, int tensor, size_t off,
                             size_t count, const void *buf, const char *bufname);

/* Waiting on remote memory (a clock, a published push): start it with
 * wait = {0}, then after each read that shows it is not there yet call
 * ps_wait_step, which returns 1 once RCOMM_TIMEOUT has passed (the caller
 * says what it waited for) and otherwise progresses the communicator. */
typedef struct {
    uint64_t start;
    comm_waiter_t waiter;
    uint32_t nap_us; /* the next nap between reads (worker.c) */
} ps_wait_t;
int ps_wait_step(rcomm_ps_t *ps, ps_wait_t *wait);

#endif
