# SPDX-License-Identifier: BSD-3-Clause
# Sourced by the tools' tests (perf_tools.sh, perf_p2p.sh, perf_ps.sh) after
# they set `name`: where the tools are, pass/fail counting, a scratch
# directory removed on exit, whether python3 can parse JSON, the summary.
run=${RCOMM_RUN:-./rcomm-run}
# The tools are built beside tests/ (automake's TESTS_BUILDDIR), as rcomm-run.
if [ -n "${TESTS_BUILDDIR:-}" ]; then top=$TESTS_BUILDDIR/..; else top=$(dirname "$run"); fi
pass=0 fail=0
ok() { pass=$((pass + 1)); }
ko() { fail=$((fail + 1)); echo "FAIL: $*"; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if command -v python3 >/dev/null 2>&1; then
    have_py=1
else
    have_py=0
    echo "$name: no python3, JSON files are only checked for records"
fi
# The last line and the exit status of a test.
summary() {
    echo "$name: $pass passed, $fail failed"
    [ "$fail" -eq 0 ]
}
