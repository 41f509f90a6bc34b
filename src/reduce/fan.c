/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Many inputs to many outputs in one pass: the mapped AllReduce's kernel
 * out of place (coll/allreduce_mapped.c), where one rank reduces its block
 * from every rank's send buffer into every rank's receive buffer.
 *
 * It goes a 64-byte line at a time: the line is loaded from every source
 * into registers and reduced there, then stored to every destination with
 * non-temporal stores, so no destination line is read from memory first.
 * That read is what the chain of reduce_apply() and memcpy() pays on every
 * store out of place; the chain also passes over the partial sums p-1
 * times. It takes 1.2x (4 ranks) to 1.5x (2 ranks) as long at 64 MiB
 * (docs/PERFORMANCE.md, "One pass with streaming stores"). Half-way
 * designs lost to the chain or barely beat it: a 1 KiB chunk reduced in L1
 * and then copied or streamed out, and the line in registers with
 * ordinary stores.
 *
 * The sources are reduced in the order given, and AVG divided last, as
 * reduce_apply() and reduce_finish() do, so the bits are those of the
 * chain. A line is four 16-byte vectors of the compiler's generic kind,
 * with SSE2's streaming store (baseline on x86-64; the AVX2 tier encodes
 * them with VEX), or, in the AVX-512 tier, one 64-byte vector: one load per
 * source and one store per destination, 1.18x as fast on 4 ranks and 1.16x
 * on 2 at 64 MiB, 1.16-1.46x on 4 ranks from 4 MiB (docs/PERFORMANCE.md,
 * "A line in one vector"). Off x86-64, and for what does not fit (below),
 * the caller runs the chain (reduce_chain, here too).
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>
#if defined(__x86_64__) && defined(__SSE2__)
#include <immintrin.h>
#define HAVE_FAN 1
#endif

#include "reduce/kernels.h"
#include "reduce/reduce.h"

#ifdef HAVE_FAN
#define LINE 64

typedef struct {
    void *const *dst;
    const void *const *src;
    size_t off;          /* bytes into every buffer, at a line boundary */
    int ndst, nsrc, div; /* div: AVG's divisor, 0 for none */
} fan_t;

typedef void fan_fn(const fan_t *f, size_t lines);

/*
 * X(..., enum, name, storage, mask, wrap): the datatypes whose values are
 * their own compute type (reduce/kernels.h), so a vector of them is reduced
 * as is; the halves are converted element by element and go by the chain.
 *   ...   FAN_DTYPES' own arguments after X: a tier, its attribute, and
 *         the bytes of a vector
 *   mask  the integer a comparison of two elements gives, for MIN/MAX
 *   wrap  as in DTYPES: SUM and PROD of integers wrap
 */
#define FAN_DTYPES(X, ...)                                                               \
    X(__VA_ARGS__, RCOMM_F32, f32, float, int32_t, float)                                \
    X(__VA_ARGS__, RCOMM_F64, f64, double, int64_t, double)                              \
    X(__VA_ARGS__, RCOMM_I32, i32, int32_t, int32_t, uint32_t)                           \
    X(__VA_ARGS__, RCOMM_I64, i64, int64_t, int64_t, uint64_t)                           \
    X(__VA_ARGS__, RCOMM_U8, u8, uint8_t, int8_t, uint8_t)

/* The ops of kernels.h on vectors: MIN/MAX blend by the same test, a NaN x
 * (x != x) winning, else the smaller (larger), else y. */
#define VOP_SUM(vs, vw, vi, x, y) ((vs)((vw)(x) + (vw)(y)))
#define VOP_PROD(vs, vw, vi, x, y) ((vs)((vw)(x) * (vw)(y)))
#define VBLEND(vs, vi, m, x, y) ((vs)(((vi)(x) & (m)) | ((vi)(y) & ~(m))))
#define VOP_MIN(vs, vw, vi, x, y) VBLEND(vs, vi, (vi)((x) < (y)) | (vi)((x) != (x)), x, y)
#define VOP_MAX(vs, vw, vi, x, y) VBLEND(vs, vi, (vi)((x) > (y)) | (vi)((x) != (x)), x, y)

/* A line is four named vectors, not an array: gcc keeps those in
 * registers, where an array of them went through the stack. */
#define FAN_LOAD(v, p) memcpy(&(v), (p), sizeof(v))
#define FAN_STEP(OP, x, y, p)                                                            \
    do {                                                                                 \
        FAN_LOAD(y, p);                                                                  \
        x = VOP_##OP(vs, vw, vi, x, y);                                                  \
    } while (0)

/* A kernel's vectors of `bytes` bytes: of the element (vs), of its wrap
 * type (vw) and of its comparison mask (vi). */
#define FAN_VECTORS(S, I, W, bytes)                                                      \
    typedef S vs __attribute__((vector_size(bytes)));                                    \
    typedef W vw __attribute__((vector_size(bytes), unused));                            \
    typedef I vi __attribute__((vector_size(bytes), unused))

/* T, A: the tier's name and attribute (kernels.h); then FAN_DTYPES' row
 * and the op. */
#define DEFINE_FAN16(T, A, E, name, S, I, W, OP)                                         \
    A static void fan_##T##_##name##_##OP(const fan_t *f, size_t lines)                  \
    {                                                                                    \
        FAN_VECTORS(S, I, W, 16);                                                        \
                                                                                         \
        for (size_t l = 0; l < lines; l++) {                                             \
            const size_t at = f->off + l * LINE;                                         \
            const char *s = (const char *)f->src[0] + at;                                \
            vs x0, x1, x2, x3, y;                                                        \
                                                                                         \
            FAN_LOAD(x0, s);                                                             \
            FAN_LOAD(x1, s + 16);                                                        \
            FAN_LOAD(x2, s + 32);                                                        \
            FAN_LOAD(x3, s + 48);                                                        \
            for (int k = 1; k < f->nsrc; k++) {                                          \
                s = (const char *)f->src[k] + at;                                        \
                FAN_STEP(OP, x0, y, s);                                                  \
                FAN_STEP(OP, x1, y, s + 16);                                             \
                FAN_STEP(OP, x2, y, s + 32);                                             \
                FAN_STEP(OP, x3, y, s + 48);                                             \
            }                                                                            \
            if (f->div > 1) {                                                            \
                x0 = x0 / (S)f->div;                                                     \
                x1 = x1 / (S)f->div;                                                     \
                x2 = x2 / (S)f->div;                                                     \
                x3 = x3 / (S)f->div;                                                     \
            }                                                                            \
            for (int j = 0; j < f->ndst; j++) {                                          \
                __m128i *o = (__m128i *)((char *)f->dst[j] + at);                        \
                                                                                         \
                _mm_stream_si128(o, (__m128i)x0);                                        \
                _mm_stream_si128(o + 1, (__m128i)x1);                                    \
                _mm_stream_si128(o + 2, (__m128i)x2);                                    \
                _mm_stream_si128(o + 3, (__m128i)x3);                                    \
            }                                                                            \
        }                                                                                \
    }

/* The same line as one 64-byte vector: one load per source and one
 * streaming store per destination. */
#define DEFINE_FAN64(T, A, E, name, S, I, W, OP)                                         \
    A static void fan_##T##_##name##_##OP(const fan_t *f, size_t lines)                  \
    {                                                                                    \
        FAN_VECTORS(S, I, W, 64);                                                        \
                                                                                         \
        for (size_t l = 0; l < lines; l++) {                                             \
            const size_t at = f->off + l * LINE;                                         \
            vs x, y;                                                                     \
                                                                                         \
            FAN_LOAD(x, (const char *)f->src[0] + at);                                   \
            for (int k = 1; k < f->nsrc; k++)                                            \
                FAN_STEP(OP, x, y, (const char *)f->src[k] + at);                        \
            if (f->div > 1)                                                              \
                x = x / (S)f->div;                                                       \
            for (int j = 0; j < f->ndst; j++)                                            \
                _mm512_stream_si512((void *)((char *)f->dst[j] + at), (__m512i)x);       \
        }                                                                                \
    }

/* clang-format off */
#define DEFINE_FANS(T, A, V, ...)                                                        \
    DEFINE_FAN##V(T, A, __VA_ARGS__, SUM)                                                \
    DEFINE_FAN##V(T, A, __VA_ARGS__, PROD)                                               \
    DEFINE_FAN##V(T, A, __VA_ARGS__, MIN)                                                \
    DEFINE_FAN##V(T, A, __VA_ARGS__, MAX)
/* clang-format on */

/* A line in one vector where the tier has 64-byte ones. */
FAN_DTYPES(DEFINE_FANS, base, , 16)
FAN_DTYPES(DEFINE_FANS, avx2, TIER_AVX2, 16)
FAN_DTYPES(DEFINE_FANS, avx512, TIER_AVX512, 64)

#define FAN_ROW(T, A, E, name, ...) [E] = OPS_ROW(fan_##T##_##name),
#define FAN_TABLE(ISA, T, A) [ISA] = {FAN_DTYPES(FAN_ROW, T, A)},

static fan_fn *const fans[REDUCE_ISA_COUNT][RCOMM_DTYPE_COUNT][RCOMM_OP_COUNT] = {
    REDUCE_TIERS(FAN_TABLE)};

#endif

void reduce_chain(void *const *dst, int ndst, const void *const *src, int nsrc,
                  size_t off, size_t count, rcomm_dtype_t dtype, rcomm_op_t op,
                  int nranks)
{
    const size_t es = rcomm_dtype_size(dtype);
    char *out = (char *)dst[0] + off;

    if (count == 0)
        return;
    if (nsrc == 1)
        memmove(out, (const char *)src[0] + off, count * es);
    for (int k = 1; k < nsrc; k++)
        reduce_apply(out, k == 1 ? (const char *)src[0] + off : out,
                     (const char *)src[k] + off, count, dtype, op);
    reduce_finish(out, count, dtype, op, nranks);
    for (int j = 1; j < ndst; j++)
        memmove((char *)dst[j] + off, out, count * es);
}

bool reduce_fan(void *const *dst, int ndst, const void *const *src, int nsrc, size_t off,
                size_t count, rcomm_dtype_t dtype, rcomm_op_t op, int nranks)
{
#ifdef HAVE_FAN
    const size_t es = rcomm_dtype_size(dtype);
    const uintptr_t mis = ((uintptr_t)dst[0] + off) & (LINE - 1);
    const bool avg = op == RCOMM_AVG && nranks > 1;
    size_t head, lines;
    fan_fn *fn;

    assert((unsigned)dtype < RCOMM_DTYPE_COUNT && (unsigned)op < RCOMM_OP_COUNT);
    assert(ndst >= 1 && nsrc >= 1 && nranks >= 1);
    fn = fans[reduce_isa()][dtype][op];
    /* Integer AVG divides in int (DTYPES' divisor), wider than a u8. */
    if (!fn || (avg && dtype != RCOMM_F32 && dtype != RCOMM_F64) || mis % es)
        return false;
    for (int j = 1; j < ndst; j++)
        if ((((uintptr_t)dst[j] + off) & (LINE - 1)) != mis)
            return false;
    head = ((LINE - mis) & (LINE - 1)) / es;
    if (head >= count)
        head = count;
    lines = (count - head) * es / LINE;
    reduce_chain(dst, ndst, src, nsrc, off, head, dtype, op, nranks);
    if (lines) {
        const fan_t f = {dst, src, off + head * es, ndst, nsrc, avg ? nranks : 0};

        fn(&f, lines);
        /* Streaming stores are weakly ordered: the caller's release store
         * that tells the peers must come after them. */
        _mm_sfence();
    }
    head += lines * LINE / es;
    reduce_chain(dst, ndst, src, nsrc, off + head * es, count - head, dtype, op, nranks);
    return true;
#else
    (void)dst, (void)ndst, (void)src, (void)nsrc, (void)off, (void)count;
    (void)dtype, (void)op, (void)nranks;
    return false;
#endif
}
