/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests: tunables, status strings, enum names. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/config.h"
#include "base/error.h"
#include "coll/model.h"
#include "rcomm.h"
#include "suite_run.h"

static void clear_env(void)
{
    const char *vars[] = {
        "RCOMM_TIMEOUT",       "RCOMM_SEGMENT_SIZE", "RCOMM_ALLREDUCE_ALGO",
        "RCOMM_TCP_BUFSIZE",   "RCOMM_LOG_LEVEL",    "RCOMM_TRANSPORT",
        "RCOMM_PROGRESS",      "RCOMM_PROGRESS_CPU", "RCOMM_SPIN_US",
        "RCOMM_SCRATCH_CACHE", "RCOMM_TCP_EAGER",    "RCOMM_BIND",
        "RCOMM_BOOTSTRAP"};
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
    ck_assert_int_eq(cfg.bootstrap, BASE_BOOT_AUTO);
    setenv("RCOMM_BOOTSTRAP", "PMIx", 1);
    ck_assert_int_eq(base_config_load(&cfg), RCOMM_OK);
    ck_assert_int_eq(cfg.bootstrap, BASE_BOOT_PMIX);
    setenv("RCOMM_BOOTSTRAP", "store", 1);
    ck_assert_int_eq(base_config_load(&cfg), RCOMM_OK);
    ck_assert_int_eq(cfg.bootstrap, BASE_BOOT_STORE);
    unsetenv("RCOMM_BOOTSTRAP");
    setenv("RCOMM_SEGMENT_SIZE", "1M", 1);
    setenv("RCOMM_TIMEOUT", "2.5", 1);
    setenv("RCOMM_ALLREDUCE_ALGO", "butterfly", 1);
    ck_assert_int_eq(base_config_load(&cfg), RCOMM_OK);
    ck_assert_uint_eq(cfg.segment_size, 1 << 20);
    ck_assert_int_eq(base_config_timeout_ms(&cfg), 2500);
    ck_assert_int_eq(cfg.allreduce_algo, RCOMM_ALGO_BUTTERFLY);
    setenv("RCOMM_TCP_EAGER", "64M", 1); /* the largest */
    ck_assert_int_eq(base_config_load(&cfg), RCOMM_OK);
    ck_assert_uint_eq(cfg.tcp_eager, BASE_TCP_EAGER_MAX);
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

/* The value rcomm-info's table shows for var. */
static int value_shown(const base_config_t *cfg, const char *var, char *val, size_t len)
{
    char *text = NULL, *line, name[64], v[32];
    size_t n = 0;
    FILE *f = open_memstream(&text, &n);
    int rc = -1;

    if (!f)
        return -1;
    base_config_write(cfg, f);
    fclose(f);
    for (line = text; line && *line;
         line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
        if (sscanf(line, "%63s %31s", name, v) == 2 && strcmp(name, var) == 0) {
            snprintf(val, len, "%s", v);
            rc = 0;
            break;
        }
    free(text);
    return rc;
}

/* RCOMM_OVERSUB_SPIN_US: auto (-1, the default) or microseconds. */
START_TEST(oversub_spin_values)
{
    base_config_t cfg;
    char text[16];

    clear_env();
    ck_assert_int_eq(base_config_load(&cfg), RCOMM_OK);
    ck_assert(cfg.oversub_spin_us == -1);
    setenv("RCOMM_OVERSUB_SPIN_US", "AUTO", 1);
    ck_assert_int_eq(base_config_load(&cfg), RCOMM_OK);
    ck_assert(cfg.oversub_spin_us == -1);
    ck_assert_int_eq(value_shown(&cfg, "RCOMM_OVERSUB_SPIN_US", text, sizeof(text)), 0);
    ck_assert_str_eq(text, "auto");
    setenv("RCOMM_OVERSUB_SPIN_US", "0", 1);
    ck_assert_int_eq(base_config_load(&cfg), RCOMM_OK);
    ck_assert(cfg.oversub_spin_us == 0);
    setenv("RCOMM_OVERSUB_SPIN_US", "150.5", 1);
    ck_assert_int_eq(base_config_load(&cfg), RCOMM_OK);
    ck_assert(cfg.oversub_spin_us == 150.5);
    clear_env();
}
END_TEST

/* RCOMM_BIND: none (the default), core or numa, whatever the case. */
START_TEST(bind_values)
{
    base_config_t cfg;
    const struct {
        const char *env;
        int value;
    } ok[] = {{NULL, BASE_BIND_NONE},
              {"none", BASE_BIND_NONE},
              {"core", BASE_BIND_CORE},
              {"NUMA", BASE_BIND_NUMA}};

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        clear_env();
        if (ok[i].env)
            setenv("RCOMM_BIND", ok[i].env, 1);
        ck_assert_int_eq(base_config_load(&cfg), RCOMM_OK);
        ck_assert_int_eq(cfg.bind, ok[i].value);
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
                            {"RCOMM_TCP_EAGER", "65M"},
                            {"RCOMM_ALLREDUCE_ALGO", "x"},
                            {"RCOMM_TRANSPORT", "a-very-long-transport-name"},
                            {"RCOMM_PROGRESS", "threads"},
                            {"RCOMM_PROGRESS_CPU", "-1"},
                            {"RCOMM_PROGRESS_CPU", "1.5"},
                            {"RCOMM_PROGRESS_CPU", "65536"},
                            {"RCOMM_PROGRESS_CPU", "nearest"},
                            {"RCOMM_BIND", "socket"},
                            {"RCOMM_BIND", "cores"},
                            {"RCOMM_BOOTSTRAP", "slurm"},
                            {"RCOMM_OVERSUB_SPIN_US", "-1"},
                            {"RCOMM_OVERSUB_SPIN_US", "autos"},
                            {"RCOMM_OVERSUB_SPIN_US", "nan"}};

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

/* Typos get the closest name; names far from every one get none. */
START_TEST(closest_names)
{
    const char *typo[][2] = {{"RCOMM_TIMOUT", "RCOMM_TIMEOUT"},
                             {"RCOMM_TIMEOUTS", "RCOMM_TIMEOUT"},
                             {"rcomm_timeout", "RCOMM_TIMEOUT"},
                             {"RCOMM_SEGMENT_SZIE", "RCOMM_SEGMENT_SIZE"},
                             {"RCOMM_LOG_LVL", "RCOMM_LOG_LEVEL"},
                             {"RCOMM_SZE", "RCOMM_SIZE"},
                             {"RCOMM_JOB_KEYFILE", "RCOMM_JOB_KEY_FILE"},
                             {"RCOMM_IB_TIMOUT", "RCOMM_IB_TIMEOUT"}};
    const char *far[] = {"RCOMM_FOO", "RCOMM_ALPHA_US", "RCOMM_X",
                         "RCOMM_TCP_UNEXPECTED_MAX"};

    for (size_t i = 0; i < sizeof(typo) / sizeof(typo[0]); i++) {
        const char *got = base_config_closest(typo[i][0], strlen(typo[i][0]));
        ck_assert_msg(got && strcmp(got, typo[i][1]) == 0, "%s: got %s, expected %s",
                      typo[i][0], got ? got : "NULL", typo[i][1]);
    }
    for (size_t i = 0; i < sizeof(far) / sizeof(far[0]); i++)
        ck_assert_msg(!base_config_closest(far[i], strlen(far[i])), "%s: got %s", far[i],
                      base_config_closest(far[i], strlen(far[i])));
    /* The length bounds the name: "RCOMM_TIMEOUTXYZ" cut after TIMEOUT. */
    ck_assert_str_eq(base_config_closest("RCOMM_TIMEOUTXYZ", 13), "RCOMM_TIMEOUT");
}
END_TEST

/* Load the configuration twice in a new process (this program, run again
 * with --load-twice: the warning is once per process) whose stderr goes to
 * a file (set is NAME=VALUE pairs, NULL-terminated); returns what it
 * logged. */
static char *log_of_loads(const char *const *set)
{
    char path[] = "/tmp/unit_config_log.XXXXXX", *text;
    int fd = mkstemp(path), status;
    pid_t pid;
    FILE *f;
    long n;

    ck_assert_int_ge(fd, 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        extern char **environ;
        /* No RCOMM_* variable of the caller's may add lines. */
        for (int again = 1; again;) {
            again = 0;
            for (char **e = environ; *e; e++)
                if (strncasecmp(*e, "RCOMM_", 6) == 0) {
                    char name[256];
                    snprintf(name, sizeof(name), "%.*s", (int)strcspn(*e, "="), *e);
                    unsetenv(name);
                    again = 1;
                    break;
                }
        }
        for (int i = 0; set[i]; i += 2)
            setenv(set[i], set[i + 1], 1);
        dup2(fd, 2);
        execl("/proc/self/exe", "unit_config", "--load-twice", (char *)NULL);
        _exit(127);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    f = fdopen(fd, "r");
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    text = calloc(1, (size_t)n + 1);
    ck_assert_uint_eq(fread(text, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    unlink(path);
    return text;
}

static int count_of(const char *text, const char *needle)
{
    int n = 0;

    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* Unknown RCOMM_* names are logged once per process, with the default log
 * level, naming the closest known variable; never with their values. Known
 * ones, tunables or not, are not. */
START_TEST(unknown_variables_warned_once)
{
    const char *const set[] = {"RCOMM_TIMOUT",
                               "s3cret-42",
                               "RCOMM_ZZQQXXWW",
                               "s3cret-43",
                               "RCOMM_TIMEOUT",
                               "30",
                               "RCOMM_RUN",
                               "x",
                               "RCOMM_JOB_KEY",
                               "s3cret-44",
                               "RCOMM_SIMHOSTS",
                               "y",
                               "rcomm_spin_us",
                               "s3cret-45",
                               NULL};
    const char *const quiet[] = {"RCOMM_TIMOUT", "s3cret-42", "RCOMM_LOG_LEVEL", "none",
                                 NULL};
    char *text = log_of_loads(set);

    ck_assert_int_eq(count_of(text, "RCOMM_TIMOUT is not an rcomm variable; did you "
                                    "mean RCOMM_TIMEOUT?"),
                     1);
    ck_assert_int_eq(count_of(text, "rcomm_spin_us is not an rcomm variable; did you "
                                    "mean RCOMM_SPIN_US?"),
                     1);
    ck_assert_int_eq(count_of(text, "RCOMM_ZZQQXXWW is not an rcomm variable"), 1);
    ck_assert_int_eq(count_of(text, "RCOMM_ZZQQXXWW is not an rcomm variable; did"), 0);
    ck_assert_int_eq(count_of(text, "is not an rcomm variable"), 3);
    ck_assert_int_eq(count_of(text, "\n"), 3); /* once each, though loaded twice */
    ck_assert_int_eq(count_of(text, "s3cret"), 0);
    free(text);
    /* RCOMM_LOG_LEVEL=none silences it like everything else. */
    text = log_of_loads(quiet);
    ck_assert_str_eq(text, "");
    free(text);
}
END_TEST

int main(int argc, char **argv)
{
    base_config_t cfg;
    Suite *s;
    TCase *tc;

    if (argc > 1 && strcmp(argv[1], "--load-twice") == 0)
        return base_config_load(&cfg) != RCOMM_OK || base_config_load(&cfg) != RCOMM_OK;
    s = suite_create("config");
    tc = tcase_create("core");

    tcase_add_test(tc, defaults_and_overrides);
    tcase_add_test(tc, progress_values);
    tcase_add_test(tc, bind_values);
    tcase_add_test(tc, oversub_spin_values);
    tcase_add_test(tc, bad_values_name_the_variable);
    tcase_add_test(tc, names_and_strings);
    tcase_add_test(tc, config_print_lists_every_variable);
    tcase_add_test(tc, closest_names);
    tcase_add_test(tc, unknown_variables_warned_once);
    suite_add_tcase(s, tc);
    return unit_run(s);
}
