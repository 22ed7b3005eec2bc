#!/bin/sh
# Build the Modbus server fuzz target and run it for a bounded time on a copy of the seed corpus.
# usage: firmware/fuzz/run.sh [SECONDS]   (default 60). Exits non-zero if libFuzzer finds a crash.
# New corpus entries and crash inputs stay under firmware/build/fuzz/run/, out of git.
set -eu
seconds=${1:-60}
cd "$(dirname "$0")/.."
make -s fuzz
work=build/fuzz/run
mkdir -p "$work/corpus" "$work/artifacts"
cp fuzz/corpus/* "$work/corpus/"
log="$work/fuzz.log"
status=0
build/fuzz/fuzz_mb_server -max_total_time="$seconds" -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/" "$work/corpus" >"$log" 2>&1 || status=$?
final=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
echo "libFuzzer: ${final:-no status line}"
echo "executions: ${execs:-?}  coverage: $(echo "$final" | sed -n 's/.*cov: \([0-9]*\).*ft: \([0-9]*\).*/\1 edges, \2 features/p')"
echo "corpus: $(ls "$work/corpus" | wc -l) inputs in $work/corpus; log $log"
if [ "$status" -ne 0 ]; then
    grep -E 'ERROR|invariant|port_fault|runtime error|Test unit written' "$log" | head -n 5
    echo "FUZZ FAILED (libFuzzer exit $status); crash input under $work/artifacts/"
    exit 1
fi
