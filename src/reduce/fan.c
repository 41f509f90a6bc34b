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
 * "A line in one vector"). f16 and bf16 have kernels of their own in the
 * AVX2 and AVX-512 tiers (below): 1.2-1.6x the chain out of place at 16
 * and 64 MiB on 2 and 4 ranks (docs/PERFORMANCE.md, "Halves in one
 * pass"). Off x86-64, and for what does not fit, the caller runs the chain
 * (reduce_chain, here too).
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
 * as is; the halves have kernels of their own (below).
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

/*
 * The halves, in the tiers with AVX2 and F16C: a line is 32 elements, four
 * vectors of 8 widened to f32 and reduced there, each step rounded back to
 * the half as the chain's stores round it, so the bits are the chain's
 * (reduce.c's F16C kernels; kernels.h's conversions for bf16, here on 8
 * lanes). The baseline tier leaves them to the chain.
 */
#define F16_LOAD(p) F16C_LOAD(p)
#define F16_NARROW(v) F16C_NARROW(v)
#define F16_ROUND(v) _mm256_cvtph_ps(F16C_NARROW(v))

/* bfloat16 is binary32's top half: widened by a shift, narrowed as
 * rc_f32_to_bf16 does (round to nearest even; a NaN truncated and quieted),
 * into the low half of each 32-bit lane. */
TIER_AVX2 static inline __m256i bf16_round_lanes(__m256 v)
{
    const __m256i u = _mm256_castps_si256(v), hi = _mm256_srli_epi32(u, 16);
    const __m256i even = _mm256_and_si256(hi, _mm256_set1_epi32(1));
    const __m256i rounded = _mm256_srli_epi32(
        _mm256_add_epi32(_mm256_add_epi32(u, _mm256_set1_epi32(0x7fff)), even), 16);
    const __m256i nan =
        _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff)),
                           _mm256_set1_epi32(0x7f800000));

    return _mm256_blendv_epi8(rounded, _mm256_or_si256(hi, _mm256_set1_epi32(0x40)), nan);
}
#define BF16_LOAD(p)                                                                     \
    _mm256_castsi256_ps(_mm256_slli_epi32(                                               \
        _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(p))), 16))
#define BF16_ROUND(v) _mm256_castsi256_ps(_mm256_slli_epi32(bf16_round_lanes(v), 16))
/* The 8 rounded halves packed into 16 bytes (packus works per 128-bit lane:
 * the permute brings the two lanes' halves together). */
TIER_AVX2 static inline __m128i bf16_narrow(__m256 v)
{
    const __m256i r = bf16_round_lanes(v);

    return _mm256_castsi256_si128(
        _mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), 0x08));
}
#define BF16_NARROW(v) bf16_narrow(v)

#define FAN_HALF_STEP(H, OP, x, p) x = H##_ROUND(F32X8_##OP(x, H##_LOAD(p)))
#define DEFINE_FAN_HALF(T, A, H, name, OP)                                               \
    A static void fan_##T##_##name##_##OP(const fan_t *f, size_t lines)                  \
    {                                                                                    \
        const __m256 d = _mm256_set1_ps((float)f->div);                                  \
                                                                                         \
        for (size_t l = 0; l < lines; l++) {                                             \
            const size_t at = f->off + l * LINE;                                         \
            const char *s = (const char *)f->src[0] + at;                                \
            __m256 x0 = H##_LOAD(s), x1 = H##_LOAD(s + 16), x2 = H##_LOAD(s + 32),       \
                   x3 = H##_LOAD(s + 48);                                                \
                                                                                         \
            for (int k = 1; k < f->nsrc; k++) {                                          \
                s = (const char *)f->src[k] + at;                                        \
                FAN_HALF_STEP(H, OP, x0, s);                                             \
                FAN_HALF_STEP(H, OP, x1, s + 16);                                        \
                FAN_HALF_STEP(H, OP, x2, s + 32);                                        \
                FAN_HALF_STEP(H, OP, x3, s + 48);                                        \
            }                                                                            \
            if (f->div > 1) {                                                            \
                x0 = _mm256_div_ps(x0, d);                                               \
                x1 = _mm256_div_ps(x1, d);                                               \
                x2 = _mm256_div_ps(x2, d);                                               \
                x3 = _mm256_div_ps(x3, d);                                               \
            }                                                                            \
            for (int j = 0; j < f->ndst; j++) {                                          \
                __m128i *o = (__m128i *)((char *)f->dst[j] + at);                        \
                                                                                         \
                _mm_stream_si128(o, H##_NARROW(x0));                                     \
                _mm_stream_si128(o + 1, H##_NARROW(x1));                                 \
                _mm_stream_si128(o + 2, H##_NARROW(x2));                                 \
                _mm_stream_si128(o + 3, H##_NARROW(x3));                                 \
            }                                                                            \
        }                                                                                \
    }

/* The same in the AVX-512 tier with 16 lanes a vector, two a line: bf16's
 * rounding takes a dozen instructions a vector, and with 8 lanes the
 * kernel was slower than the chain (docs/PERFORMANCE.md, "Halves in one
 * pass"). */
#define F32X16_SUM(x, y) _mm512_add_ps(x, y)
#define F32X16_PROD(x, y) _mm512_mul_ps(x, y)
#define F32X16_PICK(x, y, cmp)                                                           \
    _mm512_mask_blend_ps(                                                                \
        _mm512_cmp_ps_mask(x, y, cmp) | _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), y, x)
#define F32X16_MIN(x, y) F32X16_PICK(x, y, _CMP_LT_OQ)
#define F32X16_MAX(x, y) F32X16_PICK(x, y, _CMP_GT_OQ)

#define F16_LOAD16(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p)))
#define F16_NARROW16(v) _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT)
#define F16_ROUND16(v) _mm512_cvtph_ps(F16_NARROW16(v))

TIER_AVX512 static inline __m512i bf16_round_lanes16(__m512 v)
{
    const __m512i u = _mm512_castps_si512(v), hi = _mm512_srli_epi32(u, 16);
    const __m512i even = _mm512_and_si512(hi, _mm512_set1_epi32(1));
    const __m512i rounded = _mm512_srli_epi32(
        _mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7fff)), even), 16);
    const __mmask16 nan =
        _mm512_cmpgt_epi32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)),
                                _mm512_set1_epi32(0x7f800000));

    return _mm512_mask_blend_epi32(nan, rounded,
                                   _mm512_or_si512(hi, _mm512_set1_epi32(0x40)));
}
#define BF16_LOAD16(p)                                                                   \
    _mm512_castsi512_ps(_mm512_slli_epi32(                                               \
        _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(p))), 16))
#define BF16_ROUND16(v) _mm512_castsi512_ps(_mm512_slli_epi32(bf16_round_lanes16(v), 16))
#define BF16_NARROW16(v) _mm512_cvtepi32_epi16(bf16_round_lanes16(v))

#define FAN_HALF_STEP16(H, OP, x, p) x = H##_ROUND16(F32X16_##OP(x, H##_LOAD16(p)))
#define DEFINE_FAN_HALF16(T, A, H, name, OP)                                             \
    A static void fan_##T##_##name##_##OP(const fan_t *f, size_t lines)                  \
    {                                                                                    \
        const __m512 d = _mm512_set1_ps((float)f->div);                                  \
                                                                                         \
        for (size_t l = 0; l < lines; l++) {                                             \
            const size_t at = f->off + l * LINE;                                         \
            const char *s = (const char *)f->src[0] + at;                                \
            __m512 x0 = H##_LOAD16(s), x1 = H##_LOAD16(s + 32);                          \
            __m512i line;                                                                \
                                                                                         \
            for (int k = 1; k < f->nsrc; k++) {                                          \
                s = (const char *)f->src[k] + at;                                        \
                FAN_HALF_STEP16(H, OP, x0, s);                                           \
                FAN_HALF_STEP16(H, OP, x1, s + 32);                                      \
            }                                                                            \
            if (f->div > 1) {                                                            \
                x0 = _mm512_div_ps(x0, d);                                               \
                x1 = _mm512_div_ps(x1, d);                                               \
            }                                                                            \
            line = _mm512_inserti64x4(_mm512_castsi256_si512(H##_NARROW16(x0)),          \
                                      H##_NARROW16(x1), 1);                              \
            for (int j = 0; j < f->ndst; j++)                                            \
                _mm512_stream_si512((void *)((char *)f->dst[j] + at), line);             \
        }                                                                                \
    }

/* clang-format off */
#define DEFINE_HALF_FANS(V, T, A, H, name)                                               \
    DEFINE_FAN_HALF##V(T, A, H, name, SUM)                                               \
    DEFINE_FAN_HALF##V(T, A, H, name, PROD)                                              \
    DEFINE_FAN_HALF##V(T, A, H, name, MIN)                                               \
    DEFINE_FAN_HALF##V(T, A, H, name, MAX)
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
DEFINE_HALF_FANS(, avx2, TIER_AVX2, F16, f16)
DEFINE_HALF_FANS(, avx2, TIER_AVX2, BF16, bf16)
DEFINE_HALF_FANS(16, avx512, TIER_AVX512, F16, f16)
DEFINE_HALF_FANS(16, avx512, TIER_AVX512, BF16, bf16)

/* The halves' rows, where the tier has them. */
#define HALF_ROWS_base
#define HALF_ROWS(T)                                                                     \
    [RCOMM_F16] = OPS_ROW(fan_##T##_f16), [RCOMM_BF16] = OPS_ROW(fan_##T##_bf16),
#define HALF_ROWS_avx2 HALF_ROWS(avx2)
#define HALF_ROWS_avx512 HALF_ROWS(avx512)
#define FAN_ROW(T, A, E, name, ...) [E] = OPS_ROW(fan_##T##_##name),
#define FAN_TABLE(ISA, T, A) [ISA] = {FAN_DTYPES(FAN_ROW, T, A) HALF_ROWS_##T},

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
    if (!fn || (avg && (dtype == RCOMM_I32 || dtype == RCOMM_I64 || dtype == RCOMM_U8)) ||
        mis % es)
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
