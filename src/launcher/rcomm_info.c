/* SPDX-License-Identifier: BSD-3-Clause */
/* rcomm-info: version, transports in this build, and every tunable with its
 * current value. */
#include <stdio.h>
#include <string.h>

#include "rcomm.h"

int main(int argc, char **argv)
{
    rcomm_status_t st;

    if (argc > 1) {
        fprintf(stderr, "usage: rcomm-info\n  prints rcomm's version, transports and "
                        "tunables (RCOMM_* environment variables)\n");
        return strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ? 0 : 2;
    }
    printf("rcomm %d.%d\n", RCOMM_VERSION_MAJOR, RCOMM_VERSION_MINOR);
    st = rcomm_config_print(NULL, stdout);
    if (st != RCOMM_OK) {
        fprintf(stderr, "rcomm-info: %s\n", rcomm_last_error());
        return 1;
    }
    return 0;
}
