/* SPDX-License-Identifier: BSD-3-Clause */
/* Transport lookup by name: the one place that lists the transports built.
 * The verbs transport joins the table, under HAVE_VERBS (config.h), once it
 * exists: the configure check alone already defines HAVE_VERBS on hosts with
 * the ibverbs headers. */
#include <string.h>

#include "transports/transport.h"

static const rcomm_tp_ops_t *const transports[] = {
    &rcomm_tcp_ops,
};

const rcomm_tp_ops_t *rcomm_tp_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < sizeof(transports) / sizeof(transports[0]); i++)
        if (strcmp(transports[i]->name, name) == 0)
            return transports[i];
    return NULL;
}
