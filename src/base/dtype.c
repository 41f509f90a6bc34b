/* SPDX-License-Identifier: BSD-3-Clause */
/* Names and sizes of the public enums. */
#include <string.h>

#include "base/error.h"
#include "rcomm.h"

static const struct {
    const char *name;
    size_t size;
} dtypes[RCOMM_DTYPE_COUNT] = {
    [RCOMM_F32] = {"f32", 4},   [RCOMM_F64] = {"f64", 8}, [RCOMM_F16] = {"f16", 2},
    [RCOMM_BF16] = {"bf16", 2}, [RCOMM_I32] = {"i32", 4}, [RCOMM_I64] = {"i64", 8},
    [RCOMM_U8] = {"u8", 1},
};

static const char *const ops[RCOMM_OP_COUNT] = {
    [RCOMM_SUM] = "sum", [RCOMM_PROD] = "prod", [RCOMM_MIN] = "min",
    [RCOMM_MAX] = "max", [RCOMM_AVG] = "avg",
};

static const char *const algos[RCOMM_ALGO_COUNT] = {
    [RCOMM_ALGO_AUTO] = "auto",           [RCOMM_ALGO_RING] = "ring",
    [RCOMM_ALGO_BUTTERFLY] = "butterfly", [RCOMM_ALGO_RD] = "rd",
    [RCOMM_ALGO_HIER] = "hier",           [RCOMM_ALGO_DIRECT] = "direct",
};

size_t rcomm_dtype_size(rcomm_dtype_t dtype)
{
    return (unsigned)dtype < RCOMM_DTYPE_COUNT ? dtypes[dtype].size : 0;
}

const char *rcomm_dtype_name(rcomm_dtype_t dtype)
{
    return (unsigned)dtype < RCOMM_DTYPE_COUNT ? dtypes[dtype].name : "invalid";
}

const char *rcomm_op_name(rcomm_op_t op)
{
    return (unsigned)op < RCOMM_OP_COUNT ? ops[op] : "invalid";
}

const char *rcomm_algo_name(rcomm_algo_t algo)
{
    return (unsigned)algo < RCOMM_ALGO_COUNT ? algos[algo] : "invalid";
}

rcomm_status_t rcomm_algo_parse(const char *name, rcomm_algo_t *algo)
{
    if (!name || !algo)
        return base_err(RCOMM_ERR_INVALID_ARG, "rcomm_algo_parse: %s is NULL",
                        !name ? "name" : "algo");
    for (int i = 0; i < RCOMM_ALGO_COUNT; i++) {
        if (strcmp(name, algos[i]) == 0) {
            *algo = (rcomm_algo_t)i;
            return RCOMM_OK;
        }
    }
    return base_err(RCOMM_ERR_INVALID_ARG,
                    "unknown algorithm '%s' (use auto, ring, butterfly or rd)", name);
}
