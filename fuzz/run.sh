#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Run every harness fuzz/build.sh built for SECONDS each, one after the
# other, on its kept corpus (fuzz/corpus/<harness>/), which stays as it is:
# the inputs the fuzzer adds go to a directory of their own (FUZZ_NEW, a
# temporary one by default). Fails on any crash, sanitizer report, leak,
# timeout or out-of-memory, and then leaves the input that did it in
# BUILDDIR/fuzz/artifacts/ (its base64 is in the log printed). Prints the
# executions each harness reached; the whole logs are in BUILDDIR/fuzz/logs/.
#
#   fuzz/run.sh SECONDS [BUILDDIR]      (default: build-fuzz, next to fuzz/)
#
# Extra libFuzzer flags can come from FUZZ_FLAGS (e.g. -runs=10000000: stop
# there if SECONDS have not passed). FUZZ_NEW=DIR keeps the new inputs in
# DIR/<harness>/, to merge into the kept corpus afterwards (README.md).
# FUZZ_HARNESSES picks some of them (default: all three).
set -eu

secs=${1:?usage: fuzz/run.sh SECONDS [BUILDDIR]}
src=$(cd "$(dirname "$0")/.." && pwd)
bld=$(cd "${2:-$src/build-fuzz}" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
new=${FUZZ_NEW:-$work}
art=$bld/fuzz/artifacts
logs=$bld/fuzz/logs
status=0

for h in ${FUZZ_HARNESSES:-fuzz_store fuzz_tcp fuzz_verbs_cm}; do
    bin=$bld/fuzz/$h
    if [ ! -x "$bin" ]; then
        if [ "$h" = fuzz_verbs_cm ]; then
            echo "$h: not built (no verbs), skipped"
            continue
        fi
        echo "$h: $bin missing: run fuzz/build.sh first" >&2
        exit 2
    fi
    mkdir -p "$new/$h" "$art" "$logs"
    # The first corpus directory is where libFuzzer writes: not the kept one.
    # -timeout: an input that takes seconds is a hang (the harnesses never
    # wait); -max_len: room for handshakes plus a few dozen steps.
    start=$(date +%s)
    # shellcheck disable=SC2086 # FUZZ_FLAGS is a list of flags
    if "$bin" -max_total_time="$secs" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$art/$h-" ${FUZZ_FLAGS:-} \
        "$new/$h" "$src/fuzz/corpus/$h" >"$logs/$h.log" 2>&1; then
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$h.log")
        rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$logs/$h.log")
        cov=$(grep -o 'cov: [0-9]*' "$logs/$h.log" | tail -n 1)
        echo "$h: $execs executions in $(($(date +%s) - start)) s ($rate/s), $cov," \
            "no crash"
    else
        echo "$h: FAILED; the end of its log:"
        grep -v '^#[0-9]' "$logs/$h.log" | tail -n 60
        status=1
    fi
done
exit $status
