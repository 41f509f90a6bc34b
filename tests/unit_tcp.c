/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * TCP transport tests: the conformance cases every transport runs
 * (tp_twosided.c, tp_onesided.c), then TCP's own faults, where fake ranks
 * speak the wire format (tcp_frame.h) over raw sockets to send bad
 * handshakes and malformed frames (unit_tcp_faults.c).
 */
#include <check.h>
#include <stdlib.h>

#include "suite_run.h"
#include "tp_harness.h"

void tcp_add_fault_tests(Suite *s);

int main(void)
{
    Suite *s = suite_create("tcp");

    tp_transport = "tcp";
    tp_add_twosided_tests(s);
    tp_add_onesided_tests(s);
    tcp_add_fault_tests(s);
    return unit_run(s);
}
