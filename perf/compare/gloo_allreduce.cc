// SPDX-License-Identifier: BSD-3-Clause
//
// gloo_allreduce: Gloo AllReduce (float sum) over its TCP transport on
// 127.0.0.1, in rcomm-allreduce-perf's table format. One process per rank:
//   GLOO_STORE_DIR=$(mktemp -d) rcomm-run -n 4 ./gloo_allreduce -a ring -b 8 -e 256M -f 2
// The sizes are -b times -f^k up to and including -e, as in
// rcomm-allreduce-perf: the line above runs every power of two, 8 B to 256 MiB.
// Rank and size come from RCOMM_RANK / RCOMM_SIZE (as set by rcomm-run) or
// --rank / --size; the ranks meet through a gloo::rendezvous::FileStore in
// --store DIR or $GLOO_STORE_DIR, which must be fresh for every job (stale
// keys of an earlier job would be read as this job's addresses).
//
// Timing is rcomm-allreduce-perf's: per repetition a barrier, then -n calls
// timed together; the mean per call, maxed over ranks; the median over -r
// repetitions. The columns are those of rcomm-allreduce-perf's out-of-place
// half, root and algo included, so one awk script parses all the tables.
//
// The algorithm classes of this Gloo (AllreduceRing, AllreduceRingChunked,
// AllreduceHalvingDoubling, AllreduceBcube) only work in place; the newer
// gloo::allreduce(AllreduceOptions) does both (ring and bcube).
#include <getopt.h>
#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <gloo/allreduce.h>
#include <gloo/allreduce_bcube.h>
#include <gloo/allreduce_halving_doubling.h>
#include <gloo/allreduce_ring.h>
#include <gloo/allreduce_ring_chunked.h>
#include <gloo/barrier.h>
#include <gloo/config.h>
#include <gloo/math.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/file_store.h>
#include <gloo/transport/tcp/device.h>

namespace {

enum class Algo { Ring, RingChunked, HalvingDoubling, Bcube, NewRing, NewBcube };

struct AlgoInfo {
    Algo algo;
    const char *name;
    bool legacy; // an in-place-only gloo::Algorithm subclass
};

const AlgoInfo kAlgos[] = {
    {Algo::Ring, "ring", true},
    {Algo::RingChunked, "ring_chunked", true},
    {Algo::HalvingDoubling, "halving_doubling", true},
    {Algo::Bcube, "bcube", true},
    {Algo::NewRing, "new_ring", false},
    {Algo::NewBcube, "new_bcube", false},
};

struct Opts {
    size_t minb = 8, maxb = 256u << 20, factor = 2;
    int iters = 20, warmup = 5, check = 1, reps = 1, in_place = 0;
    const AlgoInfo *algo = &kAlgos[4];
    int rank = -1, size = -1, timeout_s = 300;
    std::string store, host = "127.0.0.1";
};

int g_rank = 0, g_size = 1;

// The reduction functions as the std::function type AllreduceOptions wants;
// gloo::sum etc. are overloaded, hence the cast.
using ReduceFn = void (*)(void *, const void *, const void *, size_t);
const ReduceFn kSumF32 = &gloo::sum<float>;
const ReduceFn kMaxF64 = &gloo::max<double>;
const ReduceFn kSumU64 = &gloo::sum<uint64_t>;

void usage(FILE *f)
{
    std::fprintf(f,
                 "usage: gloo_allreduce [options]   (one process per rank, e.g. under "
                 "rcomm-run)\n"
                 "  -b SIZE        smallest message in bytes (default 8; K, M, G suffixes)\n"
                 "  -e SIZE        largest message in bytes (default 256M)\n"
                 "  -f N           multiply the size by N each step (default 2)\n"
                 "  -n N           timed iterations per size (default 20)\n"
                 "  -w N           warm-up iterations per size (default 5)\n"
                 "  -r N           repetitions; the median time is reported (default 1)\n"
                 "  -c 0|1         check results element by element (default 1)\n"
                 "  -a ALGO        ring ring_chunked halving_doubling bcube (Gloo's "
                 "algorithm\n"
                 "                 classes, in place only) new_ring new_bcube\n"
                 "                 (gloo::allreduce with AllreduceOptions; default new_ring)\n"
                 "  -i             in place (the algorithm classes always are)\n"
                 "  --rank R       this process's rank (default $RCOMM_RANK)\n"
                 "  --size N       number of ranks (default $RCOMM_SIZE)\n"
                 "  --store DIR    FileStore directory, fresh per job (default "
                 "$GLOO_STORE_DIR)\n"
                 "  --host ADDR    address of the TCP device (default 127.0.0.1)\n"
                 "  --timeout S    Gloo operation timeout in seconds (default 300)\n");
}

[[noreturn]] void bad(const char *what, const char *s)
{
    std::fprintf(stderr, "gloo_allreduce: bad %s '%s'\n", what, s ? s : "(unset)");
    usage(stderr);
    std::exit(2);
}

size_t parse_size(const char *s)
{
    char *end;
    double v = std::strtod(s, &end);
    switch (*end) {
    case 'K': case 'k': v *= 1024; end++; break;
    case 'M': case 'm': v *= 1024 * 1024; end++; break;
    case 'G': case 'g': v *= 1024.0 * 1024 * 1024; end++; break;
    }
    if (end == s || *end || v < 0)
        bad("size", s);
    return (size_t)v;
}

int parse_int(const char *s, int min)
{
    char *end;
    long v = s ? std::strtol(s, &end, 10) : 0;
    if (!s || end == s || *end || v < min || v > 1000000000)
        bad("number", s);
    return (int)v;
}

void parse(int argc, char **argv, Opts *o)
{
    static const struct option longopts[] = {
        {"rank", required_argument, nullptr, 'R'}, {"size", required_argument, nullptr, 'S'},
        {"store", required_argument, nullptr, 's'}, {"host", required_argument, nullptr, 'H'},
        {"timeout", required_argument, nullptr, 'T'}, {"help", no_argument, nullptr, 'h'},
        {nullptr, 0, nullptr, 0}};
    const char *env;
    int c;

    if ((env = std::getenv("RCOMM_RANK")) != nullptr)
        o->rank = parse_int(env, 0);
    if ((env = std::getenv("RCOMM_SIZE")) != nullptr)
        o->size = parse_int(env, 1);
    if ((env = std::getenv("GLOO_STORE_DIR")) != nullptr)
        o->store = env;
    while ((c = getopt_long(argc, argv, "b:e:f:n:w:c:r:a:ih", longopts, nullptr)) != -1) {
        switch (c) {
        case 'b': o->minb = parse_size(optarg); break;
        case 'e': o->maxb = parse_size(optarg); break;
        case 'f': o->factor = (size_t)parse_int(optarg, 2); break;
        case 'n': o->iters = parse_int(optarg, 1); break;
        case 'w': o->warmup = parse_int(optarg, 0); break;
        case 'c': o->check = parse_int(optarg, 0); break;
        case 'r': o->reps = parse_int(optarg, 1); break;
        case 'i': o->in_place = 1; break;
        case 'a':
            o->algo = nullptr;
            for (const auto &a : kAlgos)
                if (std::strcmp(optarg, a.name) == 0)
                    o->algo = &a;
            if (!o->algo)
                bad("algorithm", optarg);
            break;
        case 'R': o->rank = parse_int(optarg, 0); break;
        case 'S': o->size = parse_int(optarg, 1); break;
        case 's': o->store = optarg; break;
        case 'H': o->host = optarg; break;
        case 'T': o->timeout_s = parse_int(optarg, 1); break;
        case 'h': usage(stdout); std::exit(0);
        default: usage(stderr); std::exit(2);
        }
    }
    if (optind < argc)
        bad("argument", argv[optind]);
    if (o->minb > o->maxb)
        bad("range (-b > -e)", argv[0]);
    if (o->size < 1 || o->rank < 0 || o->rank >= o->size)
        bad("rank/size (set RCOMM_RANK and RCOMM_SIZE, or --rank and --size)",
            o->rank < 0 ? "unset" : std::to_string(o->rank).c_str());
    if (o->store.empty())
        bad("store directory (set GLOO_STORE_DIR or --store)", nullptr);
    if (o->algo->legacy)
        o->in_place = 1;
    // Bytes go into an int element count in the algorithm classes.
    if (o->maxb / sizeof(float) > 0x7fffffff)
        bad("size (at most 8G)", argv[0]);
}

double now_s()
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// The same exact small integers as rcomm-allreduce-perf's sum inputs: every
// partial sum is exact in float, whatever the reduction order.
float input(int r, size_t i)
{
    return (float)((i * 5 + (size_t)r * 3) % 9);
}

double median(double *v, int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Small helper collectives for the timing and the check, always with the
// newer API (independent of the algorithm under test).
void barrier(const std::shared_ptr<gloo::Context> &ctx)
{
    gloo::BarrierOptions b(ctx);
    gloo::barrier(b);
}

template <typename T>
void allreduce_one(const std::shared_ptr<gloo::Context> &ctx, T *v, ReduceFn fn)
{
    gloo::AllreduceOptions a(ctx);
    a.setOutput(v, 1);
    a.setReduceFunction(fn);
    gloo::allreduce(a);
}

// One AllReduce of n floats, set up once per size: the algorithm classes
// register their buffers with the pairs in the constructor and
// AllreduceOptions creates its unbound buffers in setInput/setOutput, so the
// timed loop only runs the collective (as Gloo's own benchmark does).
class Runner {
  public:
    Runner(const std::shared_ptr<gloo::Context> &ctx, const Opts &o, float *sbuf, float *rbuf,
           size_t n)
    {
        std::vector<float *> ptrs{rbuf};
        int count = (int)n;

        switch (o.algo->algo) {
        case Algo::Ring:
            legacy_.reset(new gloo::AllreduceRing<float>(ctx, ptrs, count));
            break;
        case Algo::RingChunked:
            legacy_.reset(new gloo::AllreduceRingChunked<float>(ctx, ptrs, count));
            break;
        case Algo::HalvingDoubling:
            legacy_.reset(new gloo::AllreduceHalvingDoubling<float>(ctx, ptrs, count));
            break;
        case Algo::Bcube:
            legacy_.reset(new gloo::AllreduceBcube<float>(ctx, ptrs, count));
            break;
        case Algo::NewRing:
        case Algo::NewBcube:
            opts_.reset(new gloo::AllreduceOptions(ctx));
            if (!o.in_place)
                opts_->setInput(sbuf, n);
            opts_->setOutput(rbuf, n);
            opts_->setReduceFunction(kSumF32);
            opts_->setAlgorithm(o.algo->algo == Algo::NewRing
                                    ? gloo::AllreduceOptions::Algorithm::RING
                                    : gloo::AllreduceOptions::Algorithm::BCUBE);
            opts_->setTimeout(std::chrono::seconds(o.timeout_s));
            break;
        }
    }

    void run()
    {
        if (legacy_)
            legacy_->run();
        else
            gloo::allreduce(*opts_);
    }

  private:
    std::unique_ptr<gloo::Algorithm> legacy_;
    std::unique_ptr<gloo::AllreduceOptions> opts_;
};

// Mean seconds per call on the slowest rank, median over repetitions.
double time_it(const std::shared_ptr<gloo::Context> &ctx, const Opts &o, Runner &run)
{
    double t[64];
    int reps = o.reps < 64 ? o.reps : 64;

    for (int i = 0; i < o.warmup; i++)
        run.run();
    for (int r = 0; r < reps; r++) {
        barrier(ctx);
        double t0 = now_s();
        for (int i = 0; i < o.iters; i++)
            run.run();
        t[r] = (now_s() - t0) / o.iters;
        allreduce_one(ctx, &t[r], kMaxF64);
    }
    return median(t, reps);
}

// In place, the timed loop keeps summing the result into itself (x * size
// per call, inf after a hundred calls); the x86 SSE adds take the same time
// on inf, and the check runs before the timing on fresh inputs.
size_t check(const std::shared_ptr<gloo::Context> &ctx, const Opts &o, Runner &run,
             float *sbuf, float *rbuf, size_t n)
{
    uint64_t wrong = 0;
    float *in = o.in_place ? rbuf : sbuf;

    if (!o.check)
        return 0;
    for (size_t i = 0; i < n; i++)
        in[i] = input(g_rank, i);
    run.run();
    for (size_t i = 0; i < n; i++) {
        float want = 0;
        for (int r = 0; r < g_size; r++)
            want += input(r, i);
        if (std::memcmp(&rbuf[i], &want, sizeof(want)) != 0)
            wrong++;
    }
    allreduce_one(ctx, &wrong, kSumU64);
    return (size_t)wrong;
}

int bench(const Opts &o)
{
    size_t wrong_total = 0;
    double bw_sum = 0;
    int nsizes = 0;

    if (mkdir(o.store.c_str(), 0700) != 0 && errno != EEXIST) {
        std::fprintf(stderr, "gloo_allreduce: rank %d: mkdir %s: %s\n", g_rank,
                     o.store.c_str(), std::strerror(errno));
        return 1;
    }
    gloo::transport::tcp::attr attr(o.host.c_str());
    auto dev = gloo::transport::tcp::CreateDevice(attr);
    gloo::rendezvous::FileStore store(o.store);
    auto rctx = std::make_shared<gloo::rendezvous::Context>(g_rank, g_size);
    rctx->setTimeout(std::chrono::seconds(o.timeout_s));
    rctx->connectFullMesh(store, dev);
    std::shared_ptr<gloo::Context> ctx = rctx;

    if (o.algo->algo == Algo::Bcube && g_size % ctx->base != 0) {
        // AllreduceBcube: "the number of nodes must be divisible by base".
        if (g_rank == 0)
            std::printf("# gloo_allreduce: bcube needs a rank count divisible by %d; "
                        "skipped\n",
                        ctx->base);
        return 77;
    }

    std::unique_ptr<float[]> sbuf(new float[o.maxb / sizeof(float) + 1]());
    std::unique_ptr<float[]> rbuf(new float[o.maxb / sizeof(float) + 1]());
    if (g_rank == 0) {
        const char *mode = o.in_place ? "in-place" : "out-of-place";
        std::printf("# gloo_allreduce: library Gloo %d.%d.%d, %d ranks, transport tcp %s, "
                    "algo %s (%s), %s only, iters %d, warmup %d, reps %d\n#\n",
                    GLOO_VERSION_MAJOR, GLOO_VERSION_MINOR, GLOO_VERSION_PATCH, g_size,
                    o.host.c_str(), o.algo->name,
                    o.algo->legacy ? "algorithm class" : "gloo::allreduce", mode, o.iters,
                    o.warmup, o.reps);
        std::printf("# %10s %12s %6s %6s %5s %9s   %9s %7s %7s %6s\n", "", "", "", "", "", "",
                    mode, "", "", "");
        std::printf("# %10s %12s %6s %6s %5s %9s   %9s %7s %7s %6s\n", "size", "count", "type",
                    "redop", "root", "algo", "time", "algbw", "busbw", "#wrong");
        std::printf("# %10s %12s %6s %6s %5s %9s   %9s %7s %7s %6s\n", "(B)", "(elements)", "",
                    "", "", "", "(us)", "(GB/s)", "(GB/s)", "");
        std::fflush(stdout);
    }
    for (size_t bytes = o.minb; bytes <= o.maxb; bytes *= o.factor) {
        size_t n = bytes / sizeof(float), wrong;
        double t, algbw, busbw;

        if (n == 0) {
            if (bytes == 0)
                bytes = 1; // keep multiplying
            continue;
        }
        Runner run(ctx, o, sbuf.get(), rbuf.get(), n);
        wrong = check(ctx, o, run, sbuf.get(), rbuf.get(), n);
        t = time_it(ctx, o, run);
        algbw = (double)(n * sizeof(float)) / t / 1e9;
        busbw = algbw * 2.0 * (g_size - 1) / g_size;
        wrong_total += wrong;
        bw_sum += busbw;
        nsizes++;
        if (g_rank == 0)
            std::printf("  %10zu %12zu %6s %6s %5d %9s   %9.2f %7.3f %7.3f %6zu\n",
                        n * sizeof(float), n, "f32", "sum", -1, o.algo->name, t * 1e6, algbw,
                        busbw, wrong);
        std::fflush(stdout);
    }
    if (g_rank == 0) {
        std::printf("# Out of bounds values : %zu %s\n", wrong_total,
                    wrong_total ? "FAILED" : "OK");
        std::printf("# Avg bus bandwidth    : %g\n#\n", nsizes ? bw_sum / nsizes : 0.0);
    }
    // Nobody leaves while a peer may still read from it.
    barrier(ctx);
    return wrong_total ? 1 : 0;
}

} // namespace

int main(int argc, char **argv)
{
    Opts o;

    parse(argc, argv, &o);
    g_rank = o.rank;
    g_size = o.size;
    try {
        return bench(o);
    } catch (const std::exception &e) {
        // gloo::IoException, EnforceNotMet, ...: name the rank, fail the job.
        std::fprintf(stderr, "gloo_allreduce: rank %d: %s\n", g_rank, e.what());
        return 1;
    }
}
