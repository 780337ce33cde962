#!/bin/bash
# Runs one libFuzzer harness and prints a one-line summary:
#   fuzz_<name>: <executions> executions in <s> s (<exec/s> exec/s), coverage <cov>, corpus <n> (+<new>), findings: <k>
# Usage: run_fuzzer.sh EXE NAME SRC_DIR WORK_DIR MODE [VALUE] [libFuzzer flags...]
#   MODE time SECONDS   fuzz for SECONDS (-max_total_time)
#   MODE runs N         fuzz for N executions (-runs)
#   MODE replay         run every seed and regression input once, no fuzzing
# SRC_DIR is tests/fuzz in the source tree (seed corpus, dictionaries,
# regressions); WORK_DIR gets the growing corpus, the log and the artifacts
# (crash-*, leak-*, timeout-*, oom-*), which are reported as findings.
# Exits 1 when there are findings.
set -u
exe=$1 name=$2 src=$3 work=$4 mode=$5
shift 5
seeds="$src/corpus/$name"
regressions="$src/regressions/$name"
corpus="$work/corpus/$name"
artifacts="$work/artifacts/$name"
log="$work/fuzz_$name.log"
mkdir -p "$corpus" "$artifacts"

case "$name" in
  responder) max_len=2048 ;;
  zone) max_len=16384 ;;
  config) max_len=8192 ;;
  *) max_len=4096 ;;
esac
flags=(-timeout=10 -rss_limit_mb=2048 -max_len=$max_len -print_final_stats=1
       -artifact_prefix="$artifacts/")
[ -f "$src/dicts/$name.dict" ] && flags+=(-dict="$src/dicts/$name.dict")
case "$mode" in
  time) flags+=(-max_total_time="$1"); shift; dirs=("$corpus" "$seeds") ;;
  runs) flags+=(-runs="$1"); shift; dirs=("$corpus" "$seeds") ;;
  replay)
    flags+=(-runs=0)
    dirs=("$seeds")
    [ -d "$regressions" ] && dirs+=("$regressions") ;;
  *) echo "run_fuzzer.sh: unknown mode '$mode'" >&2; exit 2 ;;
esac

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1}"
before=$(find "$artifacts" -type f | wc -l)
start=$(date +%s)
"$exe" "${flags[@]}" "$@" "${dirs[@]}" >"$log" 2>&1
status=$?
elapsed=$(( $(date +%s) - start ))
after=$(find "$artifacts" -type f | wc -l)
findings=$((after - before))
# A non-zero exit without an artifact (e.g. the harness failed to start) is
# a finding too.
if [ $status -ne 0 ] && [ $findings -eq 0 ]; then findings=1; fi

stat() { grep -o "stat::$1: *[0-9]*" "$log" | tail -1 | grep -o '[0-9]*$'; }
execs=$(stat number_of_executed_units)
rate=$(stat average_exec_per_sec)
added=$(stat new_units_added)
if [ -z "$execs" ]; then  # no final stats (a crash): take the last status line
  execs=$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#')
  rate=$(grep -o 'exec/s: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
fi
cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
size=$(grep -o 'corp: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
echo "fuzz_$name: ${execs:-?} executions in ${elapsed} s (${rate:-?} exec/s), coverage ${cov:-?}," \
     "corpus ${size:-?} (+${added:-0}), findings: $findings"
if [ $findings -ne 0 ]; then
  echo "--- fuzz_$name: log $log (last 60 lines) ---"
  tail -60 "$log"
  ls -t "$artifacts" | head -$((findings > 20 ? 20 : findings)) | sed "s|^|artifact: $artifacts/|"
  exit 1
fi
exit 0
