/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests: tunables, status strings, enum names. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/error.h"
#include "coll/model.h"
#include "rcomm.h"
#include "suite_run.h"

static void clear_env(void)
{
    const char *vars[] = {"RCOMM_TIMEOUT",        "RCOMM_SEGMENT_SIZE",
                          "RCOMM_ALLREDUCE_ALGO", "RCOMM_TCP_BUFSIZE",
                          "RCOMM_LOG_LEVEL",      "RCOMM_TRANSPORT",
                          "RCOMM_PROGRESS",       "RCOMM_PROGRESS_CPU",
                          "RCOMM_SPIN_US",        "RCOMM_SCRATCH_CACHE"};
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        unsetenv(vars[i]);
    setenv("RCOMM_LOG_LEVEL", "none", 1);
}

START_TEST(defaults_and_overrides)
{
    base_config_t cfg;

    clear_env();
    ck_assert_int_eq(base_config_load(&cfg), RCOMM_OK);
    ck_assert_str_eq(cfg.transport, "tcp");
    ck_assert_uint_eq(cfg.segment_size, 256 * 1024);
    ck_assert_int_eq(cfg.allreduce_algo, RCOMM_ALGO_AUTO);
    setenv("RCOMM_SEGMENT_SIZE", "1M", 1);
    setenv("RCOMM_TIMEOUT", "2.5", 1);
    setenv("RCOMM_ALLREDUCE_ALGO", "butterfly", 1);
    ck_assert_int_eq(base_config_load(&cfg), RCOMM_OK);
    ck_assert_uint_eq(cfg.segment_size, 1 << 20);
    ck_assert_int_eq(base_config_timeout_ms(&cfg), 2500);
    ck_assert_int_eq(cfg.allreduce_algo, RCOMM_ALGO_BUTTERFLY);
    clear_env();
}
END_TEST

/* RCOMM_PROGRESS: caller (0) or thread (1); RCOMM_PROGRESS_CPU: auto (-1),
 * none (-2) or a CPU number, whatever the case of the words. */
START_TEST(progress_values)
{
    base_config_t cfg;
    const struct {
        const char *progress, *cpu;
        int thread, cpu_value;
    } ok[] = {{NULL, NULL, 0, -1},          {"caller", "auto", 0, -1},
              {"thread", "none", 1, -2},    {"THREAD", "None", 1, -2},
              {"Caller", "0", 0, 0},        {"thread", "7", 1, 7},
              {"thread", "65535", 1, 65535}};

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        clear_env();
        if (ok[i].progress)
            setenv("RCOMM_PROGRESS", ok[i].progress, 1);
        if (ok[i].cpu)
            setenv("RCOMM_PROGRESS_CPU", ok[i].cpu, 1);
        ck_assert_int_eq(base_config_load(&cfg), RCOMM_OK);
        ck_assert_int_eq(cfg.progress_thread, ok[i].thread);
        ck_assert_int_eq(cfg.progress_cpu, ok[i].cpu_value);
    }
    clear_env();
}
END_TEST

START_TEST(bad_values_name_the_variable)
{
    base_config_t cfg;
    const char *bad[][2] = {{"RCOMM_TIMEOUT", "-1"},
                            {"RCOMM_TIMEOUT", "1s"},
                            {"RCOMM_TIMEOUT", "nan"},
                            {"RCOMM_TIMEOUT", "inf"},
                            {"RCOMM_TIMEOUT", "0"},
                            {"RCOMM_SPIN_US", "nan"},
                            {"RCOMM_SEGMENT_SIZE", "17179869185G"},
                            {"RCOMM_SCRATCH_CACHE", "18446744073709551615K"},
                            {"RCOMM_SEGMENT_SIZE", "12Q"},
                            {"RCOMM_SEGMENT_SIZE", "-5"},
                            {"RCOMM_SEGMENT_SIZE", "8"},
                            {"RCOMM_ALLREDUCE_ALGO", "x"},
                            {"RCOMM_TRANSPORT", "a-very-long-transport-name"},
                            {"RCOMM_PROGRESS", "threads"},
                            {"RCOMM_PROGRESS_CPU", "-1"},
                            {"RCOMM_PROGRESS_CPU", "1.5"},
                            {"RCOMM_PROGRESS_CPU", "65536"},
                            {"RCOMM_PROGRESS_CPU", "nearest"}};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        clear_env();
        setenv(bad[i][0], bad[i][1], 1);
        ck_assert_int_eq(base_config_load(&cfg), RCOMM_ERR_CONFIG);
        ck_assert_ptr_nonnull(strstr(rcomm_last_error(), bad[i][0]));
    }
    clear_env();
}
END_TEST

START_TEST(names_and_strings)
{
    ck_assert_str_eq(rcomm_strerror(RCOMM_OK), "success");
    ck_assert_str_eq(rcomm_strerror((rcomm_status_t)-99), "unknown status");
    for (int s = -40; s <= 1; s++)
        ck_assert_ptr_nonnull(rcomm_strerror((rcomm_status_t)s));
    ck_assert_str_eq(rcomm_dtype_name(RCOMM_BF16), "bf16");
    ck_assert_str_eq(rcomm_dtype_name((rcomm_dtype_t)42), "invalid");
    ck_assert_uint_eq(rcomm_dtype_size(RCOMM_F16), 2);
    ck_assert_uint_eq(rcomm_dtype_size((rcomm_dtype_t)-1), 0);
    ck_assert_str_eq(rcomm_op_name(RCOMM_AVG), "avg");
    for (int a = 0; a < RCOMM_ALGO_COUNT; a++) {
        rcomm_algo_t back;
        ck_assert_int_eq(rcomm_algo_parse(rcomm_algo_name((rcomm_algo_t)a), &back),
                         RCOMM_OK);
        ck_assert_int_eq(back, a);
    }
}
END_TEST

START_TEST(config_print_lists_every_variable)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    clear_env();
    ck_assert_int_eq(rcomm_config_print(NULL, f), RCOMM_OK);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(text, "RCOMM_TIMEOUT"));
    ck_assert_ptr_nonnull(strstr(text, "RCOMM_SEGMENT_SIZE"));
    ck_assert_ptr_nonnull(strstr(text, "RCOMM_TCP_BUFSIZE"));
    free(text);
    ck_assert_int_eq(rcomm_config_print(NULL, NULL), RCOMM_ERR_INVALID_ARG);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, defaults_and_overrides);
    tcase_add_test(tc, progress_values);
    tcase_add_test(tc, bad_values_name_the_variable);
    tcase_add_test(tc, names_and_strings);
    tcase_add_test(tc, config_print_lists_every_variable);
    suite_add_tcase(s, tc);
    return unit_run(s);
}
