#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The shared-memory conformance cases without cross-memory attach: what
# runs where ptrace rules forbid process_vm_readv/writev (unit_shm.c).
exec "${TESTS_BUILDDIR:-tests}/unit_shm" nocma
