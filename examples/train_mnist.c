/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * train_mnist: a 784-100-10 MLP (ReLU, softmax cross-entropy, plain SGD) on
 * Fashion-MNIST, trained through rcomm. OpenBLAS does the matrix products,
 * in f64 so that the runs below can be compared exactly.
 *
 *   train_mnist --mode single                     one process
 *   rcomm-run -n 4 train_mnist --mode allreduce   data parallel, blocking allreduce
 *   rcomm-run -n 4 train_mnist --mode buckets --progress thread
 *                                                 data parallel, gradient buckets:
 *                                                 layer 2 reduced by the progress
 *                                                 thread while layer 1 computes
 *   rcomm-run -n 4 train_mnist --mode ps --sync ssp --staleness 2 --push-every 2
 *                                                 parameter server, rank 0 serves
 *   rcomm-run -n 4 train_mnist --mode mapreduce [--driver-idle]
 *                                                 iterative MapReduce: rank 0 drives
 *                                                 (and maps too, unless idle)
 *   rcomm-run -n 4 train_mnist --mode allreduce --compress topk --ratio 0.01
 *                                                 data parallel, compressed gradients
 *   rcomm-run -n 8 train_mnist --mode dpsgd --graph exp2
 *                                                 decentralized: neighbour averaging
 *   rcomm-run -n 8 train_mnist --mode gossip --graph exp2
 *                                                 asynchronous push-sum gossip
 *
 * Every step takes the next global batch of --batch images (in file order,
 * wrapping); with W workers, worker w computes the gradient of its slice
 * [batch*w/W, batch*(w+1)/W), scaled by 1/batch, so that the slices sum to
 * the batch's mean gradient:
 *  - allreduce: the slices are summed by rcomm_allreduce (the slices' loss
 *    rides along as one more element) and every rank applies p -= lr * g;
 *    the gradient lives in rcomm_mem_alloc's memory, so that ranks on one
 *    host reduce it straight from each other's (the mapped path);
 *  - ps: each worker pushes its slice's own mean gradient (scaled by
 *    1/slice, as a training loop that knows nothing of the others would),
 *    and the servers average the W pushes (RCOMM_PS_MEAN_WORKERS): they
 *    apply p -= (lr / W) * sum, under BSP summing in rank order once per
 *    step. With equal slices that is the batch's mean gradient again;
 *    the final model is read with rcomm_ps_final;
 *  - buckets: the same sums through rcomm_buckets_* (--bucket-kb), each piece
 *    marked ready as backprop finishes it;
 *  - mapreduce: rank 0, the driver, alone holds and updates the model; each
 *    step it broadcasts it (rcomm_broadcast), the mappers compute their slices
 *    as in allreduce mode and rcomm_reduce sums them (and the loss) on the
 *    driver, which applies p -= lr * g. The driver maps slice 0 of W = size;
 *    with --driver-idle it only drives and ranks 1.. map W = size - 1 slices;
 *  - ps with --push-threshold T: the significance filter (rcomm.h): a push
 *    sends only the keys whose accumulated gradient exceeds T in magnitude
 *    (with --push-relative, T times the key's parameter), the rest wait;
 *  - allreduce with --compress KIND: the weight matrices W1 and W2 go in f32
 *    through rcomm_allreduce_compressed (KIND: bf16, f16, randk, topk, sign,
 *    powersgd; --ratio for randk and topk, --lowrank for powersgd; error
 *    feedback on), the biases and the loss (111 values, too few to gain) in
 *    one plain f64 allreduce; --compress none sends W1 and W2 in plain f32,
 *    the baseline the compressed runs are compared with;
 *  - dpsgd: every rank keeps its own model, steps on its slice's mean
 *    gradient and averages with its neighbours (rcomm_neighbor_allreduce on
 *    --graph, default exp2); rank 0 logs and evaluates its own model;
 *  - gossip: the same steps, mixed by asynchronous push-sum over one-sided
 *    writes (rcomm_gossip_win_*): no rank waits for another until the final
 *    flush;
 *  - single: the whole batch at once, or with --slices W as the mean of W
 *    slice means (each slice's gradient scaled by 1/slice, summed in order,
 *    applied with lr / W), which is what a BSP parameter server with W
 *    workers computes, bit for bit.
 *
 * --progress caller|thread sets RCOMM_PROGRESS for the run (default: as the
 * environment says, else caller).
 *
 * Data: the four IDX files of Debian's dataset-fashion-mnist, gzipped, in
 * /usr/share/datasets/fashion-mnist (--data DIR for another place). Output: a
 * CSV (--csv FILE, written by the first worker, or the driver) of
 *   step,time_s,loss,test_accuracy
 * where time_s is training time since the start (evaluation excluded),
 * loss is the mean cross-entropy of the step's batch (ps: of the first
 * worker's slice) and test_accuracy is measured every --eval-every steps on
 * the --test-limit first test images (empty between). --dump FILE writes the
 * final parameters (raw f64); --check FILE --tol T compares them with a dump
 * in max-norm relative to the reference's largest value and fails above T.
 *
 * Exit status: 0; 1 on an rcomm error, a failed check or missing data (77
 * with --skip-missing, for the tests); 2 on a bad command line.
 */
#include <cblas.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "rcomm.h"

#define IN 784
#define HID 100
#define OUT 10
/* One flat vector: W1 (HID x IN), b1, W2 (OUT x HID), b2. */
#define O_W1 0
#define O_B1 (O_W1 + HID * IN)
#define O_W2 (O_B1 + HID)
#define O_B2 (O_W2 + OUT * HID)
#define NPARAM (O_B2 + OUT)

typedef struct {
    const char *mode, *data, *csv, *dump, *check, *sync, *compress, *graph;
    int steps, batch, eval_every, slices, staleness, push_every, pull_every, servers;
    int train_limit, test_limit, skip_missing, bucket_kb, driver_idle, lowrank;
    int push_relative, final_rounds, max_lead;
    double lr, tol, ratio, push_threshold;
} opts_t;

typedef struct {
    int n;
    double *x; /* n x IN, in [0, 1] */
    uint8_t *y;
} set_t;

static int rank, size;

static void die(const char *what, rcomm_status_t st)
{
    fprintf(stderr, "train_mnist: rank %d: %s: %s (%s)\n", rank, what, rcomm_strerror(st),
            rcomm_last_error());
    exit(1);
}

/* ---- data ------------------------------------------------------------------ */

static int read_be32(gzFile f, uint32_t *v)
{
    unsigned char b[4];

    if (gzread(f, b, 4) != 4)
        return -1;
    *v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    return 0;
}

/* An IDX file: images (magic 0x803, n x 28 x 28) or labels (0x801, n). At
 * most limit items are read. Returns the count, -1 on error (with why). */
static int read_idx(const char *path, int images, int limit, void **out, char *why,
                    size_t len)
{
    gzFile f = gzopen(path, "rb");
    uint32_t magic, n, r = 28, c = 28;
    size_t item, bytes;
    unsigned char *buf = NULL;

    if (!f) {
        snprintf(why, len, "cannot open %s", path);
        return -1;
    }
    if (read_be32(f, &magic) || magic != (images ? 0x803u : 0x801u) || read_be32(f, &n) ||
        (images && (read_be32(f, &r) || read_be32(f, &c) || r != 28 || c != 28)) ||
        n > 1000000) {
        snprintf(why, len, "%s is not an IDX %s file of 28x28 images", path,
                 images ? "image" : "label");
        gzclose(f);
        return -1;
    }
    if (limit > 0 && n > (uint32_t)limit)
        n = (uint32_t)limit;
    item = images ? IN : 1;
    bytes = (size_t)n * item;
    if (!(buf = malloc(bytes ? bytes : 1)) ||
        gzread(f, buf, (unsigned)bytes) != (int)bytes) {
        snprintf(why, len, "%s: short file", path);
        free(buf);
        gzclose(f);
        return -1;
    }
    gzclose(f);
    *out = buf;
    return (int)n;
}

static int load(const char *dir, const char *which, int limit, set_t *s, char *why,
                size_t len)
{
    char ip[512], lp[512];
    unsigned char *img, *lab;
    int n, m;

    snprintf(ip, sizeof(ip), "%s/%s-images-idx3-ubyte.gz", dir, which);
    snprintf(lp, sizeof(lp), "%s/%s-labels-idx1-ubyte.gz", dir, which);
    if ((n = read_idx(ip, 1, limit, (void **)&img, why, len)) < 0)
        return -1;
    if ((m = read_idx(lp, 0, limit, (void **)&lab, why, len)) < 0 || m != n) {
        if (m >= 0)
            snprintf(why, len, "%.250s and %.250s differ in length", ip, lp);
        free(img);
        return -1;
    }
    s->n = n;
    s->y = lab;
    if (!(s->x = malloc((size_t)n * IN * sizeof(double)))) {
        snprintf(why, len, "no memory for %d images", n);
        return -1;
    }
    for (size_t i = 0; i < (size_t)n * IN; i++)
        s->x[i] = img[i] / 255.0;
    free(img);
    return 0;
}

/* ---- the model ------------------------------------------------------------- */

static void init_params(double *p)
{
    uint64_t z = 0x9e3779b97f4a7c15ull; /* the same everywhere */

    for (size_t i = 0; i < NPARAM; i++) {
        z ^= z << 13, z ^= z >> 7, z ^= z << 17;
        double u = (double)(z >> 11) / 9007199254740992.0 * 2 - 1; /* [-1, 1) */
        p[i] = i < O_B1                ? u * sqrt(6.0 / IN)
               : i >= O_W2 && i < O_B2 ? u * sqrt(6.0 / HID)
                                       : 0;
    }
}

typedef struct {
    double *h, *z, *dh; /* n x HID, n x OUT, n x HID */
    int cap;
} work_t;

static void work_fit(work_t *w, int n)
{
    if (n <= w->cap)
        return;
    free(w->h), free(w->z), free(w->dh);
    w->h = malloc((size_t)n * HID * sizeof(double));
    w->z = malloc((size_t)n * OUT * sizeof(double));
    w->dh = malloc((size_t)n * HID * sizeof(double));
    if (!w->h || !w->z || !w->dh) {
        fprintf(stderr, "train_mnist: no memory for a batch of %d\n", n);
        exit(1);
    }
    w->cap = n;
}

/* Forward n images from x: logits into w->z, hidden activations in w->h. */
static void forward(const double *p, const double *x, int n, work_t *w)
{
    work_fit(w, n);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, HID, IN, 1, x, IN, p + O_W1,
                IN, 0, w->h, HID);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < HID; j++) {
            double v = w->h[i * HID + j] + p[O_B1 + j];
            w->h[i * HID + j] = v > 0 ? v : 0;
        }
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, OUT, HID, 1, w->h, HID,
                p + O_W2, HID, 0, w->z, OUT);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < OUT; k++)
            w->z[i * OUT + k] += p[O_B2 + k];
}

/* The gradient's pieces in the order backprop finishes them (buckets mode:
 * the loss, then layer 2, then layer 1). */
enum { T_LOSS, T_B2, T_W2, T_B1, T_W1, NTENSORS };

static void ready(rcomm_buckets_t *bk, int t)
{
    rcomm_status_t st;

    if (bk && (st = rcomm_buckets_ready(bk, t)) != RCOMM_OK)
        die("rcomm_buckets_ready", st);
}

/* g = scale * (gradient of the summed loss over images [lo, hi) of s); adds
 * nothing to g: it is overwritten. The summed loss goes to *lossp.
 * With bk, each piece is marked ready as soon as it is final, so that its
 * bucket is reduced while the rest is computed. */
static void gradient(const double *p, const set_t *s, int lo, int hi, double scale,
                     double *g, work_t *w, double *lossp, rcomm_buckets_t *bk)
{
    const int n = hi - lo;
    const double *x = s->x + (size_t)lo * IN;
    double loss = 0;

    memset(g, 0, NPARAM * sizeof(double));
    if (n <= 0) {
        *lossp = 0;
        for (int t = 0; t < NTENSORS; t++)
            ready(bk, t);
        return;
    }
    forward(p, x, n, w);
    for (int i = 0; i < n; i++) { /* dz = scale * (softmax - onehot), in place */
        double *z = w->z + i * OUT, mx = z[0], sum = 0;
        for (int k = 1; k < OUT; k++)
            mx = z[k] > mx ? z[k] : mx;
        for (int k = 0; k < OUT; k++)
            sum += exp(z[k] - mx);
        loss += log(sum) + mx - z[s->y[lo + i]];
        for (int k = 0; k < OUT; k++)
            z[k] = scale * (exp(z[k] - mx) / sum - (k == s->y[lo + i]));
    }
    *lossp = loss;
    ready(bk, T_LOSS);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < OUT; k++)
            g[O_B2 + k] += w->z[i * OUT + k];
    ready(bk, T_B2);
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OUT, HID, n, 1, w->z, OUT, w->h,
                HID, 0, g + O_W2, HID);
    ready(bk, T_W2);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, HID, OUT, 1, w->z, OUT,
                p + O_W2, HID, 0, w->dh, HID);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < HID; j++) {
            double d = w->h[i * HID + j] > 0 ? w->dh[i * HID + j] : 0;
            w->dh[i * HID + j] = d;
            g[O_B1 + j] += d;
        }
    ready(bk, T_B1);
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, HID, IN, n, 1, w->dh, HID, x, IN,
                0, g + O_W1, IN);
    ready(bk, T_W1);
}

static double accuracy(const double *p, const set_t *t, int limit, work_t *w)
{
    const int n = limit > 0 && limit < t->n ? limit : t->n;
    int right = 0;

    for (int lo = 0; lo < n; lo += 1000) {
        const int m = n - lo < 1000 ? n - lo : 1000;
        forward(p, t->x + (size_t)lo * IN, m, w);
        for (int i = 0; i < m; i++) {
            int best = 0;
            for (int k = 1; k < OUT; k++)
                best = w->z[i * OUT + k] > w->z[i * OUT + best] ? k : best;
            right += best == t->y[lo + i];
        }
    }
    return n ? (double)right / n : 0;
}

/* ---- the run --------------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Batch t's slice w of W: [lo, hi) in training-set order (wrapping by
 * whole batches; the set must hold one batch). */
static void slice(const opts_t *o, int n, int t, int w, int W, int *lo, int *hi)
{
    const int per = n / o->batch, base = (t % per) * o->batch;

    *lo = base + (int)((long)o->batch * w / W);
    *hi = base + (int)((long)o->batch * (w + 1) / W);
}

typedef struct {
    const opts_t *o;
    FILE *csv;
    double t0;
    const set_t *test;
    work_t *w;
} log_t;

static void log_step(log_t *l, int t, double loss, const double *p)
{
    if (!l->csv)
        return;
    fprintf(l->csv, "%d,%.6f,%.9g,", t + 1, now_s() - l->t0, loss);
    if ((t + 1) % l->o->eval_every == 0 || t + 1 == l->o->steps) {
        const double e0 = now_s();

        fprintf(l->csv, "%.4f", accuracy(p, l->test, l->o->test_limit, l->w));
        l->t0 += now_s() - e0; /* time_s counts training only */
    }
    fprintf(l->csv, "\n");
}

static void sgd(double *p, const double *g, double lr)
{
    for (size_t i = 0; i < NPARAM; i++)
        p[i] -= lr * g[i];
}

static void run_single(const opts_t *o, const set_t *tr, double *p, log_t *l, work_t *w)
{
    double *g = malloc(NPARAM * sizeof(double)), *sum = malloc(NPARAM * sizeof(double));

    if (!g || !sum)
        exit(1);
    for (int t = 0; t < o->steps; t++) {
        int lo, hi;
        double loss = 0;

        if (o->slices <= 1) {
            slice(o, tr->n, t, 0, 1, &lo, &hi);
            gradient(p, tr, lo, hi, 1.0 / o->batch, sum, w, &loss, NULL);
        } else { /* as a BSP server sums its workers' pushes: in order, from 0 */
            memset(sum, 0, NPARAM * sizeof(double));
            for (int k = 0; k < o->slices; k++) {
                slice(o, tr->n, t, k, o->slices, &lo, &hi);
                double part;
                gradient(p, tr, lo, hi, 1.0 / (hi - lo > 0 ? hi - lo : 1), g, w, &part,
                         NULL);
                loss += part;
                for (size_t i = 0; i < NPARAM; i++)
                    sum[i] += g[i];
            }
        }
        /* The servers' rate under RCOMM_PS_MEAN_WORKERS (ps.c): lr / W. */
        sgd(p, sum, o->slices <= 1 ? o->lr : o->lr / o->slices);
        log_step(l, t, loss / o->batch, p);
    }
    free(g);
    free(sum);
}

/* Worker me of W's share of step t (allreduce and mapreduce modes): into
 * g[0, NPARAM) the gradient of its slice scaled by 1/batch, into g[NPARAM]
 * the slice's summed loss, so that the one vector sums to the batch's. A rank
 * without a slice (me < 0: an idle driver) contributes zeros. */
static void slice_gradient(const opts_t *o, const set_t *tr, int t, int me, int W,
                           const double *p, double *g, work_t *w)
{
    int lo = 0, hi = 0;

    if (me >= 0)
        slice(o, tr->n, t, me, W, &lo, &hi);
    gradient(p, tr, lo, hi, 1.0 / o->batch, g, w, &g[NPARAM], NULL);
}

static void run_allreduce(const opts_t *o, rcomm_comm_t *comm, const set_t *tr, double *p,
                          log_t *l, work_t *w)
{
    double *g = NULL;
    rcomm_status_t st;

    if ((st = rcomm_mem_alloc(comm, (NPARAM + 1) * sizeof(double), (void **)&g)) !=
        RCOMM_OK)
        die("rcomm_mem_alloc", st);
    for (int t = 0; t < o->steps; t++) {
        slice_gradient(o, tr, t, rank, size, p, g, w);
        if ((st = rcomm_allreduce(comm, RCOMM_IN_PLACE, g, NPARAM + 1, RCOMM_F64,
                                  RCOMM_SUM)) != RCOMM_OK)
            die("rcomm_allreduce", st);
        sgd(p, g, o->lr);
        log_step(l, t, g[NPARAM] / o->batch, p);
    }
    if ((st = rcomm_mem_free(comm, g)) != RCOMM_OK)
        die("rcomm_mem_free", st);
}

/* The compressor of --compress, or NULL for none; W1 and W2 are tensors 0
 * and 1, shaped so that PowerSGD sees matrices. */
static rcomm_compressor_t *compressor(const opts_t *o, rcomm_comm_t *comm)
{
    rcomm_compress_config_t cfg;
    rcomm_compressor_t *c = NULL;
    rcomm_status_t st;
    int k = 0;

    if (strcmp(o->compress, "none") == 0)
        return NULL;
    while (k < RCOMM_COMPRESS_COUNT && strcmp(rcomm_compress_kind_name(k), o->compress))
        k++; /* parse() checked the name */
    rcomm_compress_config_init(&cfg, (rcomm_compress_kind_t)k);
    cfg.ratio = o->ratio;
    cfg.lowrank = o->lowrank;
    cfg.seed = 42;
    if ((st = rcomm_compressor_create(comm, &cfg, &c)) != RCOMM_OK ||
        (st = rcomm_compress_shape(c, 0, HID, IN)) != RCOMM_OK ||
        (st = rcomm_compress_shape(c, 1, OUT, HID)) != RCOMM_OK)
        die("rcomm_compressor_create", st);
    return c;
}

/* Data parallel with compressed gradients (--compress): as allreduce mode,
 * but W1 and W2 go in f32, compressed unless the kind is none. */
static void run_compressed(const opts_t *o, rcomm_comm_t *comm, const set_t *tr,
                           double *p, log_t *l, work_t *w)
{
    enum { NW1 = HID * IN, NW2 = OUT * HID, NSMALL = HID + OUT + 1 };
    double *g = malloc((NPARAM + 1) * sizeof(double)), small[NSMALL];
    float *f = malloc((NW1 + NW2) * sizeof(float));
    rcomm_compressor_t *c = compressor(o, comm);
    rcomm_status_t st;

    if (!g || !f)
        exit(1);
    for (int t = 0; t < o->steps; t++) {
        slice_gradient(o, tr, t, rank, size, p, g, w);
        for (int i = 0; i < NW1; i++)
            f[i] = (float)g[O_W1 + i];
        for (int i = 0; i < NW2; i++)
            f[NW1 + i] = (float)g[O_W2 + i];
        memcpy(small, g + O_B1, HID * sizeof(double));
        memcpy(small + HID, g + O_B2, (OUT + 1) * sizeof(double)); /* b2, loss */
        if (c)
            st = rcomm_allreduce_compressed(c, 0, f, NW1, RCOMM_SUM);
        if (c && st == RCOMM_OK)
            st = rcomm_allreduce_compressed(c, 1, f + NW1, NW2, RCOMM_SUM);
        if (!c)
            st =
                rcomm_allreduce(comm, RCOMM_IN_PLACE, f, NW1 + NW2, RCOMM_F32, RCOMM_SUM);
        if (st != RCOMM_OK)
            die(c ? "rcomm_allreduce_compressed" : "rcomm_allreduce", st);
        if ((st = rcomm_allreduce(comm, RCOMM_IN_PLACE, small, NSMALL, RCOMM_F64,
                                  RCOMM_SUM)) != RCOMM_OK)
            die("rcomm_allreduce", st);
        for (int i = 0; i < NW1; i++)
            g[O_W1 + i] = f[i];
        for (int i = 0; i < NW2; i++)
            g[O_W2 + i] = f[NW1 + i];
        memcpy(g + O_B1, small, HID * sizeof(double));
        memcpy(g + O_B2, small + HID, (OUT + 1) * sizeof(double));
        sgd(p, g, o->lr);
        log_step(l, t, g[NPARAM] / o->batch, p);
    }
    if (c && (st = rcomm_compressor_destroy(c)) != RCOMM_OK)
        die("rcomm_compressor_destroy", st);
    free(f);
    free(g);
}

/* Iterative MapReduce: the driver (rank 0) holds the model and broadcasts it,
 * the mappers compute their slices' gradients (the map), rcomm_reduce sums
 * them on the driver (the reduce, the loss riding along as in allreduce mode)
 * and only the driver updates. By default the driver maps too, unlike Spark's
 * driver: on a few ranks an idle one wastes a worker, and with it working the
 * mappers are the allreduce mode's (W = size, the same slices), so the two
 * modes compare on the same ranks doing the same work. --driver-idle makes
 * it a driver only (W = size - 1, rank r maps slice r - 1: the parameter
 * server's layout with one server), contributing zeros to the reduce. */
static void run_mapreduce(const opts_t *o, rcomm_comm_t *comm, const set_t *tr, double *p,
                          log_t *l, work_t *w)
{
    const int idle = o->driver_idle, W = size - idle, me = rank - idle;
    double *g = malloc((NPARAM + 1) * sizeof(double));
    rcomm_status_t st;

    if (!g)
        exit(1);
    if (rank != 0) /* the model lives on the driver: a worker uses only what it got */
        for (size_t i = 0; i < NPARAM; i++)
            p[i] = NAN;
    for (int t = 0; t <= o->steps; t++) {
        if ((st = rcomm_broadcast(comm, p, NPARAM, RCOMM_F64, 0)) != RCOMM_OK)
            die("rcomm_broadcast", st);
        if (t == o->steps) /* the final model, broadcast so every rank holds it */
            break;
        slice_gradient(o, tr, t, me, W, p, g, w);
        if ((st = rcomm_reduce(comm, rank == 0 ? RCOMM_IN_PLACE : g, g, NPARAM + 1,
                               RCOMM_F64, RCOMM_SUM, 0)) != RCOMM_OK)
            die("rcomm_reduce", st);
        if (rank == 0) {
            sgd(p, g, o->lr);
            log_step(l, t, g[NPARAM] / o->batch, p);
        }
    }
    free(g);
}

/* The graph of --graph, created on every rank. */
static rcomm_graph_t *graph(const opts_t *o, rcomm_comm_t *comm)
{
    static const char *const names[RCOMM_GRAPH_KIND_COUNT] = {"ring", "torus", "exp2",
                                                              "full", "one-peer"};
    rcomm_graph_t *g;
    rcomm_status_t st;
    int k = 0;

    while (k < RCOMM_GRAPH_KIND_COUNT && strcmp(names[k], o->graph))
        k++; /* parse() checked the name */
    if ((st = rcomm_graph_create(comm, (rcomm_graph_kind_t)k, &g)) != RCOMM_OK)
        die("rcomm_graph_create", st);
    return g;
}

/* This rank's slice's mean gradient at p (scaled by 1/slice: a training
 * loop that knows nothing of the others), and the slice's mean loss. */
static double local_gradient(const opts_t *o, const set_t *tr, int t, const double *p,
                             double *g, work_t *w)
{
    int lo, hi;
    double loss;

    slice(o, tr->n, t, rank, size, &lo, &hi);
    gradient(p, tr, lo, hi, 1.0 / (hi - lo > 0 ? hi - lo : 1), g, w, &loss, NULL);
    return loss / (hi - lo > 0 ? hi - lo : 1);
}

/* Decentralized SGD (D-PSGD, adapt then combine): every rank keeps its own
 * model, steps on its own slice's gradient and averages with its neighbours
 * on --graph, p_i <- sum_j w_ij (p_j - lr g_j). No rank holds a global
 * model; rank 0 logs and evaluates its own. On the full graph (weights 1/p)
 * every rank gets p - (lr / p) sum_j g_j: the BSP parameter server's model
 * (--slices W), to rounding. */
static void run_dpsgd(const opts_t *o, rcomm_comm_t *comm, const set_t *tr, double *p,
                      log_t *l, work_t *w)
{
    double *g = malloc(NPARAM * sizeof(double));
    rcomm_graph_t *gr = graph(o, comm);
    rcomm_status_t st;

    if (!g)
        exit(1);
    for (int t = 0; t < o->steps; t++) {
        double loss = local_gradient(o, tr, t, p, g, w);
        sgd(p, g, o->lr);
        if ((st = rcomm_neighbor_allreduce(gr, RCOMM_IN_PLACE, p, NPARAM, RCOMM_F64)) !=
            RCOMM_OK)
            die("rcomm_neighbor_allreduce", st);
        log_step(l, t, loss, p);
    }
    rcomm_graph_destroy(gr);
    free(g);
}

/* Asynchronous gossip (stochastic gradient push): push-sum over one-sided
 * writes (rcomm_gossip_win_*). Each step a rank folds what arrived into its
 * estimate z = s / w, steps its numerator on its slice's gradient at z,
 * s -= lr g, and pushes shares to its out-neighbours on --graph without
 * waiting for them: ranks run at their own pace, nobody synchronises. A
 * flush at the end lands every write; rank 0 evaluates its estimate. */
static void run_gossip(const opts_t *o, rcomm_comm_t *comm, const set_t *tr, double *p,
                       log_t *l, work_t *w)
{
    double *g = malloc(NPARAM * sizeof(double));
    rcomm_graph_t *gr = graph(o, comm);
    rcomm_gossip_win_t *win;
    rcomm_request_t **lead =
        o->max_lead ? calloc((size_t)o->max_lead, sizeof(*lead)) : NULL;
    rcomm_status_t st;

    if (!g || (o->max_lead && !lead))
        exit(1);
    if ((st = rcomm_gossip_win_create(gr, p, NPARAM, RCOMM_F64, &win)) != RCOMM_OK)
        die("rcomm_gossip_win_create", st);
    for (int t = 0; t < o->steps; t++) {
        double loss;
        rcomm_request_t **slot = lead ? &lead[t % o->max_lead] : NULL;
        if (slot && *slot && (st = rcomm_wait(*slot)) != RCOMM_OK) /* step t - lead */
            die("rcomm_wait", st);
        if (slot && (st = rcomm_ibarrier(comm, slot)) != RCOMM_OK)
            die("rcomm_ibarrier", st);
        if ((st = rcomm_gossip_win_update(win, p)) != RCOMM_OK)
            die("rcomm_gossip_win_update", st);
        loss = local_gradient(o, tr, t, p, g, w);
        for (size_t i = 0; i < NPARAM; i++)
            g[i] *= -o->lr;
        if ((st = rcomm_gossip_win_add(win, g)) != RCOMM_OK ||
            (st = rcomm_gossip_win_push(win)) != RCOMM_OK)
            die("rcomm_gossip_win_push", st);
        log_step(l, t, loss, p);
    }
    for (int k = 0; k < o->max_lead; k++)
        if (lead[k] && (st = rcomm_wait(lead[k])) != RCOMM_OK)
            die("rcomm_wait", st);
    free(lead);
    if ((st = rcomm_gossip_win_flush(win, p)) != RCOMM_OK)
        die("rcomm_gossip_win_flush", st);
    if (rank == 0 && o->final_rounds)
        printf("train_mnist: rank 0's own model before the final rounds: test accuracy "
               "%.4f\n",
               accuracy(p, l->test, o->test_limit, w));
    for (int k = 0; k < o->final_rounds; k++) /* synchronous: every write lands */
        if ((st = rcomm_gossip_win_push(win)) != RCOMM_OK ||
            (st = rcomm_gossip_win_flush(win, p)) != RCOMM_OK)
            die("rcomm_gossip_win_flush", st);
    if (rank == 0) {
        rcomm_gossip_stats_t gs;
        rcomm_gossip_win_stats(win, &gs);
        printf("train_mnist: rank 0 pushed %llu times (%llu held back at low weight), "
               "folded %llu writes, refused %llu torn halves\n",
               (unsigned long long)gs.pushes, (unsigned long long)gs.held,
               (unsigned long long)gs.folded, (unsigned long long)gs.torn);
    }
    if ((st = rcomm_gossip_win_destroy(win)) != RCOMM_OK)
        die("rcomm_gossip_win_destroy", st);
    rcomm_graph_destroy(gr);
    free(g);
}

/* Data parallel with gradient buckets: each piece is marked ready as backprop
 * finishes it, so the allreduce of layer 2 runs while layer 1 is computed. */
static void run_buckets(const opts_t *o, rcomm_comm_t *comm, const set_t *tr, double *p,
                        log_t *l, work_t *w)
{
    double *g = malloc(NPARAM * sizeof(double)), loss = 0;
    const rcomm_grad_t grads[NTENSORS] = {{"loss", &loss, 1, RCOMM_F64},
                                          {"b2", g + O_B2, OUT, RCOMM_F64},
                                          {"W2", g + O_W2, OUT * HID, RCOMM_F64},
                                          {"b1", g + O_B1, HID, RCOMM_F64},
                                          {"W1", g + O_W1, HID * IN, RCOMM_F64}};
    rcomm_buckets_config_t cfg;
    rcomm_buckets_t *bk;
    rcomm_status_t st;

    if (!g)
        exit(1);
    rcomm_buckets_config_init(&cfg);
    cfg.op = RCOMM_SUM;
    cfg.bucket_bytes = (size_t)o->bucket_kb << 10;
    cfg.first_bucket_bytes = cfg.bucket_bytes / 4 ? cfg.bucket_bytes / 4 : 1;
    if ((st = rcomm_buckets_create(comm, &cfg, grads, NTENSORS, &bk)) != RCOMM_OK)
        die("rcomm_buckets_create", st);
    for (int t = 0; t < o->steps; t++) {
        int lo, hi;

        slice(o, tr->n, t, rank, size, &lo, &hi);
        gradient(p, tr, lo, hi, 1.0 / o->batch, g, w, &loss, bk);
        if ((st = rcomm_buckets_wait(bk)) != RCOMM_OK)
            die("rcomm_buckets_wait", st);
        sgd(p, g, o->lr);
        log_step(l, t, loss / o->batch, p);
    }
    rcomm_buckets_destroy(bk);
    free(g);
}

static void run_ps(const opts_t *o, rcomm_comm_t *comm, const set_t *tr, double *p,
                   log_t *l, work_t *w)
{
    rcomm_ps_config_t cfg;
    rcomm_ps_tensor_t tensor = {"mlp", NPARAM, RCOMM_F64, p};
    rcomm_ps_t *ps;
    rcomm_status_t st;
    int nw, me; /* worker count, and our index (-1: a server) */
    double *g = malloc(NPARAM * sizeof(double));

    rcomm_ps_config_init(&cfg);
    cfg.num_servers = o->servers;
    cfg.staleness = strcmp(o->sync, "asp") == 0   ? RCOMM_PS_ASP
                    : strcmp(o->sync, "bsp") == 0 ? 0
                                                  : o->staleness;
    cfg.push_interval = o->push_every;
    cfg.pull_interval = o->pull_every;
    cfg.lr = o->lr;
    cfg.average = RCOMM_PS_MEAN_WORKERS; /* each worker pushes its slice's mean */
    cfg.push_threshold = o->push_threshold;
    cfg.push_relative = o->push_relative;
    if (!g)
        exit(1);
    if ((st = rcomm_ps_create(comm, &cfg, &tensor, 1, &ps)) != RCOMM_OK)
        die("rcomm_ps_create", st);
    if ((st = rcomm_ps_worker(ps, &me, &nw)) != RCOMM_OK)
        die("rcomm_ps_worker", st);
    /* A server goes straight to rcomm_ps_final, which serves until every
     * worker is done. */
    if (me >= 0) {
        for (int t = 0; t < o->steps; t++) {
            int lo, hi;
            double loss;

            if ((st = rcomm_ps_pull(ps, 0, 0, NPARAM, p, NULL)) != RCOMM_OK)
                die("rcomm_ps_pull", st);
            slice(o, tr->n, t, me, nw, &lo, &hi);
            gradient(p, tr, lo, hi, 1.0 / (hi - lo > 0 ? hi - lo : 1), g, w, &loss, NULL);
            if ((st = rcomm_ps_push(ps, 0, 0, NPARAM, g)) != RCOMM_OK ||
                (st = rcomm_ps_clock(ps)) != RCOMM_OK)
                die("rcomm_ps_push/clock", st);
            log_step(l, t, loss / (hi - lo > 0 ? hi - lo : 1), p);
        }
    }
    /* The model after every push, on every rank (a worker's last pull may
     * be behind under SSP and ASP). */
    if ((st = rcomm_ps_final(ps, RCOMM_PS_EVERY_RANK, (void *const[]){p})) != RCOMM_OK)
        die("rcomm_ps_final", st);
    if (me == 0) {
        rcomm_ps_stats_t s;
        rcomm_ps_stats(ps, &s);
        printf("train_mnist: worker 0 pushed %llu bytes, %.0f per step (%llu keys "
               "in sparse images); read %llu blocks again, %llu of them fetched\n",
               (unsigned long long)s.bytes_pushed, (double)s.bytes_pushed / o->steps,
               (unsigned long long)s.keys_pushed, (unsigned long long)s.retries,
               (unsigned long long)s.fetched);
    }
    if ((st = rcomm_ps_destroy(ps)) != RCOMM_OK)
        die("rcomm_ps_destroy", st);
    free(g);
}

static int check(const opts_t *o, const double *p)
{
    double *ref = malloc(NPARAM * sizeof(double)), top = 0, diff = 0;
    FILE *f = fopen(o->check, "rb");
    size_t at = 0;

    if (!ref || !f || fread(ref, sizeof(double), NPARAM, f) != NPARAM) {
        fprintf(stderr, "train_mnist: cannot read %zu parameters from %s\n",
                (size_t)NPARAM, o->check);
        return 1;
    }
    fclose(f);
    for (size_t i = 0; i < NPARAM && !isnan(diff); i++) { /* a NaN is the answer */
        top = fabs(ref[i]) > top ? fabs(ref[i]) : top;
        if (!(fabs(p[i] - ref[i]) <= diff))
            diff = fabs(p[i] - ref[i]), at = i;
    }
    free(ref);
    printf(
        "train_mnist: rank %d: max |p - ref| / max |ref| = %.3g (at %zu), tolerance %g\n",
        rank, top ? diff / top : diff, at, o->tol);
    return !((top ? diff / top : diff) <= o->tol);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: train_mnist [--mode single|allreduce|buckets|ps|mapreduce|dpsgd|"
            "gossip]\n"
            "  [--graph ring|torus|exp2|full|one-peer] (dpsgd, gossip; one-peer: dpsgd)\n"
            "  [--steps N] [--batch B] [--bucket-kb N] [--driver-idle]\n"
            "  [--lr X] [--data DIR] [--csv FILE] [--eval-every N] [--test-limit N]\n"
            "  [--train-limit N] [--slices W] [--servers S] [--sync bsp|ssp|asp]\n"
            "  [--staleness S] [--push-every N] [--pull-every N] [--dump FILE]\n"
            "  [--check FILE --tol T] [--skip-missing] [--progress caller|thread]\n"
            "  [--compress none|bf16|f16|randk|topk|sign|powersgd] [--ratio R]\n"
            "  [--lowrank R] [--push-threshold T [--push-relative]]\n");
}

static void parse(int argc, char **argv, opts_t *o)
{
    static const struct option lo[] = {
        {"mode", 1, 0, 'm'},          {"steps", 1, 0, 'n'},
        {"batch", 1, 0, 'b'},         {"lr", 1, 0, 'l'},
        {"data", 1, 0, 'd'},          {"csv", 1, 0, 'c'},
        {"eval-every", 1, 0, 'e'},    {"test-limit", 1, 0, 'T'},
        {"train-limit", 1, 0, 'L'},   {"slices", 1, 0, 'w'},
        {"servers", 1, 0, 's'},       {"sync", 1, 0, 'y'},
        {"staleness", 1, 0, 'S'},     {"push-every", 1, 0, 'P'},
        {"pull-every", 1, 0, 'Q'},    {"dump", 1, 0, 'D'},
        {"check", 1, 0, 'C'},         {"tol", 1, 0, 't'},
        {"skip-missing", 0, 0, 'k'},  {"bucket-kb", 1, 0, 'K'},
        {"progress", 1, 0, 'p'},      {"driver-idle", 0, 0, 'I'},
        {"compress", 1, 0, 'z'},      {"ratio", 1, 0, 'r'},
        {"lowrank", 1, 0, 'R'},       {"push-threshold", 1, 0, 'H'},
        {"push-relative", 0, 0, 'E'}, {"graph", 1, 0, 'G'},
        {"final-rounds", 1, 0, 'F'},  {"max-lead", 1, 0, 'A'},
        {"help", 0, 0, 'h'},          {0, 0, 0, 0}};
    int known = 0;
    int c;

    *o = (opts_t){.mode = "single",
                  .data = "/usr/share/datasets/fashion-mnist",
                  .sync = "bsp",
                  .steps = 300,
                  .batch = 120,
                  .eval_every = 50,
                  .slices = 1,
                  .staleness = 2,
                  .push_every = 1,
                  .pull_every = 1,
                  .servers = 1,
                  .test_limit = 10000,
                  .lr = 0.1,
                  .tol = 0,
                  .compress = NULL,
                  .ratio = 0.01,
                  .lowrank = 2,
                  .bucket_kb = 64,
                  .graph = "exp2"};
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'm': o->mode = optarg; break;
        case 'n': o->steps = atoi(optarg); break;
        case 'b': o->batch = atoi(optarg); break;
        case 'l': o->lr = atof(optarg); break;
        case 'd': o->data = optarg; break;
        case 'c': o->csv = optarg; break;
        case 'e': o->eval_every = atoi(optarg); break;
        case 'T': o->test_limit = atoi(optarg); break;
        case 'L': o->train_limit = atoi(optarg); break;
        case 'w': o->slices = atoi(optarg); break;
        case 's': o->servers = atoi(optarg); break;
        case 'y': o->sync = optarg; break;
        case 'S': o->staleness = atoi(optarg); break;
        case 'P': o->push_every = atoi(optarg); break;
        case 'Q': o->pull_every = atoi(optarg); break;
        case 'D': o->dump = optarg; break;
        case 'C': o->check = optarg; break;
        case 't': o->tol = atof(optarg); break;
        case 'k': o->skip_missing = 1; break;
        case 'K': o->bucket_kb = atoi(optarg); break;
        case 'I': o->driver_idle = 1; break;
        case 'z': o->compress = optarg; break;
        case 'r': o->ratio = atof(optarg); break;
        case 'R': o->lowrank = atoi(optarg); break;
        case 'H': o->push_threshold = atof(optarg); break;
        case 'E': o->push_relative = 1; break;
        case 'G': o->graph = optarg; break;
        case 'F': o->final_rounds = atoi(optarg); break;
        case 'A': o->max_lead = atoi(optarg); break;
        case 'p':
            if (strcmp(optarg, "caller") && strcmp(optarg, "thread")) {
                usage(stderr);
                exit(2);
            }
            setenv("RCOMM_PROGRESS", optarg, 1); /* read by the communicator */
            break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
    }
    for (int k = 0; o->compress && k < RCOMM_COMPRESS_COUNT; k++)
        known |= strcmp(o->compress, rcomm_compress_kind_name(k)) == 0;
    known |= o->compress && strcmp(o->compress, "none") == 0;
    if ((o->compress && (!known || strcmp(o->mode, "allreduce"))) ||
        ((o->push_threshold != 0 || o->push_relative) && strcmp(o->mode, "ps")) ||
        optind < argc || o->steps < 1 || o->batch < 1 || o->eval_every < 1 ||
        o->slices < 1 || o->servers < 1 || o->push_every < 1 || o->pull_every < 1 ||
        (strcmp(o->mode, "single") && strcmp(o->mode, "allreduce") &&
         strcmp(o->mode, "ps") && strcmp(o->mode, "buckets") &&
         strcmp(o->mode, "mapreduce") && strcmp(o->mode, "dpsgd") &&
         strcmp(o->mode, "gossip")) ||
        (strcmp(o->graph, "ring") && strcmp(o->graph, "torus") &&
         strcmp(o->graph, "exp2") && strcmp(o->graph, "full") &&
         (strcmp(o->graph, "one-peer") || strcmp(o->mode, "dpsgd"))) ||
        o->bucket_kb < 1 || (o->driver_idle && strcmp(o->mode, "mapreduce")) ||
        (strcmp(o->sync, "bsp") && strcmp(o->sync, "ssp") && strcmp(o->sync, "asp"))) {
        usage(stderr);
        exit(2);
    }
}

int main(int argc, char **argv)
{
    opts_t o;
    set_t tr = {0}, te = {0};
    work_t w = {0};
    double *p = malloc(NPARAM * sizeof(double));
    rcomm_comm_t *comm = NULL;
    rcomm_status_t st;
    char why[600];
    log_t l = {0};
    int bad = 0, first;

    parse(argc, argv, &o);
    openblas_set_num_threads(1); /* ranks share the cores; and repeatable sums */
    if (strcmp(o.mode, "single") != 0) {
        if ((st = rcomm_comm_create_from_env(&comm)) != RCOMM_OK)
            die("rcomm_comm_create_from_env", st);
        rcomm_comm_rank(comm, &rank);
        rcomm_comm_size(comm, &size);
    } else {
        size = 1;
    }
    if (strcmp(o.mode, "ps") == 0 && size <= o.servers) {
        fprintf(stderr, "train_mnist: --mode ps needs more ranks than --servers %d\n",
                o.servers);
        return 2;
    }
    if (o.driver_idle && size < 2) {
        fprintf(stderr, "train_mnist: --driver-idle needs a second rank to map\n");
        return 2;
    }
    if (load(o.data, "train", o.train_limit, &tr, why, sizeof(why)) ||
        load(o.data, "t10k", o.test_limit, &te, why, sizeof(why))) {
        fprintf(stderr,
                "train_mnist: %s (apt-get install dataset-fashion-mnist, or "
                "--data DIR)\n",
                why);
        return o.skip_missing ? 77 : 1;
    }
    if (tr.n < o.batch) {
        fprintf(stderr, "train_mnist: a batch of %d needs that many images (have %d)\n",
                o.batch, tr.n);
        return 2;
    }
    init_params(p);
    first = strcmp(o.mode, "ps") == 0 ? o.servers : 0; /* the first worker logs */
    l = (log_t){&o, NULL, now_s(), &te, &w};
    if (o.csv && rank == first) {
        if (!(l.csv = fopen(o.csv, "w"))) {
            perror(o.csv);
            return 1;
        }
        fprintf(l.csv, "step,time_s,loss,test_accuracy\n");
    }
    if (strcmp(o.mode, "single") == 0)
        run_single(&o, &tr, p, &l, &w);
    else if (strcmp(o.mode, "allreduce") == 0 && o.compress)
        run_compressed(&o, comm, &tr, p, &l, &w);
    else if (strcmp(o.mode, "allreduce") == 0)
        run_allreduce(&o, comm, &tr, p, &l, &w);
    else if (strcmp(o.mode, "buckets") == 0)
        run_buckets(&o, comm, &tr, p, &l, &w);
    else if (strcmp(o.mode, "mapreduce") == 0)
        run_mapreduce(&o, comm, &tr, p, &l, &w);
    else if (strcmp(o.mode, "dpsgd") == 0)
        run_dpsgd(&o, comm, &tr, p, &l, &w);
    else if (strcmp(o.mode, "gossip") == 0)
        run_gossip(&o, comm, &tr, p, &l, &w);
    else
        run_ps(&o, comm, &tr, p, &l, &w);
    if (comm && rank == first) { /* what went on the wire, so savings are visible */
        rcomm_stats_t s;
        if ((st = rcomm_comm_stats(comm, &s)) != RCOMM_OK)
            die("rcomm_comm_stats", st);
        printf("train_mnist: rank %d sent %llu bytes, %.0f per step\n", rank,
               (unsigned long long)s.bytes_sent, (double)s.bytes_sent / o.steps);
    }
    if (rank == first) {
        printf(
            "train_mnist: %s%s%s, %d rank(s), %d steps of %d: test accuracy %.4f in %.2f "
            "s\n",
            o.mode, o.compress ? " --compress " : "", o.compress ? o.compress : "", size,
            o.steps, o.batch, accuracy(p, &te, o.test_limit, &w), now_s() - l.t0);
        if (o.dump) {
            FILE *f = fopen(o.dump, "wb");
            if (!f || fwrite(p, sizeof(double), NPARAM, f) != NPARAM || fclose(f)) {
                perror(o.dump);
                bad = 1;
            }
        }
    }
    if (o.check && (rank >= first))
        bad |= check(&o, p);
    if (l.csv)
        fclose(l.csv);
    if (comm && (st = rcomm_comm_destroy(comm)) != RCOMM_OK)
        die("rcomm_comm_destroy", st);
    free(p), free(tr.x), free(tr.y), free(te.x), free(te.y);
    free(w.h), free(w.z), free(w.dh);
    return bad;
}
