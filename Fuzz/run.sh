#!/usr/bin/env bash
# Builds the libFuzzer harness (statelab-fuzz) with the fuzzer and address
# sanitizers, then fuzzes each target for a fixed time. See Fuzz/README.md.
#
#   Fuzz/run.sh [--seconds N] [--no-merge | --merge-only] [--build-only] [TARGET...]
#
# TARGET is head, chunked, response or scenario (default: all four, one after
# the other). Each target starts from Fuzz/corpus/TARGET, writing what it finds
# to a scratch corpus under the scratch path; then Fuzz/corpus/TARGET is
# rewritten as its seed-* files plus a minimized set of everything found
# (libFuzzer -set_cover_merge=1 on edges), unless --no-merge or CI=true.
# --merge-only does just that last step. Exits non-zero if the build fails or
# a target crashes, leaks, hangs or runs out of memory; the input that did it
# is kept under SCRATCH/artifacts/TARGET/ and its path printed. No network
# once the packages are resolved, no terminal needed (CI=true is fine).
#
# Environment: STATELAB_FUZZ_SCRATCH (default .build-fuzz), STATELAB_FUZZ_RSS_MB
# (default 2048).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=60
merge=1
build_only=0
merge_only=0
targets=()
all_targets=(head chunked response scenario)

usage() {
  sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
  exit "${1:-2}"
}

while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) [ $# -ge 2 ] || usage; seconds="$2"; shift 2 ;;
    --seconds=*) seconds="${1#--seconds=}"; shift ;;
    --no-merge) merge=0; shift ;;
    --merge-only) merge_only=1; shift ;;
    --build-only) build_only=1; shift ;;
    -h|--help) usage 0 ;;
    head|chunked|response|scenario) targets+=("$1"); shift ;;
    *) echo "fuzz: unknown argument '$1'" >&2; usage ;;
  esac
done
case "$seconds" in ''|*[!0-9]*) echo "fuzz: --seconds takes a whole number" >&2; exit 2 ;; esac
[ "$seconds" -ge 1 ] || { echo "fuzz: --seconds must be at least 1" >&2; exit 2; }
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")
if [ "${CI:-}" = "true" ]; then merge=0; fi

scratch="${STATELAB_FUZZ_SCRATCH:-.build-fuzz}"
rss_mb="${STATELAB_FUZZ_RSS_MB:-2048}"

# SwiftPM's --sanitize=fuzzer instruments C targets fully, but for Swift it
# only hands -sanitize=fuzzer to the swiftc driver, which (for a module of
# several files, compiled in batch mode) passes just -sanitize=address on to
# the frontend jobs: the objects get no coverage counters and libFuzzer runs
# blind ("no interesting inputs"). -Xfrontend -sanitize=fuzzer puts it back,
# which gives inline 8-bit counters, a PC table and comparison tracing.
build=(swift build --scratch-path "$scratch" --product statelab-fuzz -c debug
       --sanitize=fuzzer --sanitize=address
       -Xswiftc -DSTATELAB_FUZZ
       -Xswiftc -Xfrontend -Xswiftc -sanitize=fuzzer)
echo "fuzz: building: ${build[*]}"
mkdir -p "$scratch"
build_start=$(date +%s)
if ! "${build[@]}" > "$scratch/build.log" 2>&1; then
  grep -E 'error:' "$scratch/build.log" | head -n 40 >&2 || true
  tail -n 20 "$scratch/build.log" >&2
  echo "fuzz: build failed (log: $scratch/build.log)" >&2
  exit 1
fi
echo "fuzz: built in $(( $(date +%s) - build_start )) s (log: $scratch/build.log)"
bin="$scratch/debug/statelab-fuzz"
[ -x "$bin" ] || { echo "fuzz: no binary at $bin" >&2; exit 1; }
[ "$build_only" = 1 ] && exit 0

max_len_for() {
  case "$1" in
    scenario) echo 262144 ;;
    *) echo 65536 ;;
  esac
}

# Rewrites CORPUS as its seed-* files plus a minimized set of everything in
# CORPUS and WORK/new: libFuzzer's -set_cover_merge=1 into an empty directory
# keeps a small set of inputs that together reach every edge. -use_counters=0
# makes an edge one feature however often it runs; with hit counts the
# scenario corpus kept 1045 files instead of 316, with the same edges. So the
# committed corpus keeps only inputs that add coverage, and stays small.
minimize() {
  local target="$1" corpus="$2" work="$3" max_len="$4"
  local fresh="$work/minimized" before after seed sum file
  before=$(find "$corpus" -type f | wc -l)
  rm -rf "$fresh"
  mkdir -p "$fresh"
  if ! STATELAB_FUZZ_TARGET="$target" timeout -k 10 900 "$bin" -set_cover_merge=1 -use_counters=0 -max_len="$max_len" \
      -rss_limit_mb="$rss_mb" -timeout=20 "$fresh" "$corpus" "$work/new" > "$work/merge.log" 2>&1; then
    echo "fuzz: $target: merge failed (log: $work/merge.log)" >&2
    return 1
  fi
  # Merged files are named by their SHA-1: drop those that are a seed already.
  for seed in "$corpus"/seed-*; do
    [ -f "$seed" ] || continue
    sum=$(sha1sum "$seed" | cut -d' ' -f1)
    rm -f "$fresh/$sum"
  done
  find "$corpus" -type f ! -name 'seed-*' -delete
  for file in "$fresh"/*; do
    [ -f "$file" ] && cp "$file" "$corpus/"
  done
  after=$(find "$corpus" -type f | wc -l)
  bytes=$(find "$corpus" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
  echo "fuzz: $target: corpus minimized: $before files before, $after after ($bytes bytes, seeds kept)"
  if [ "$bytes" -gt 1048576 ]; then
    echo "fuzz: $target: warning: the corpus is over 1 MiB; look at its largest files before committing" >&2
  fi
}

# Swift's own crash backtracer, run inside an ASan process, reports a false
# heap-use-after-free over the real failure: let the precondition message and
# libFuzzer's report stand alone.
export SWIFT_BACKTRACE=enable=no

failed=()
summary=()
for target in "${targets[@]}"; do
  corpus="Fuzz/corpus/$target"
  work="$scratch/fuzz/$target"
  artifacts="$scratch/artifacts/$target"
  max_len=$(max_len_for "$target")
  mkdir -p "$corpus" "$work/new" "$artifacts"
  log="$work/fuzz.log"
  if [ "$merge_only" = 1 ]; then
    minimize "$target" "$corpus" "$work" "$max_len" || failed+=("$target")
    continue
  fi
  echo "fuzz: $target for $seconds s (max_len $max_len, rss limit $rss_mb MB), log $log"
  # New inputs go to the first directory; the committed corpus is only read.
  # timeout is a backstop in case libFuzzer itself hangs past -max_total_time.
  status=0
  started=$(date +%s)
  STATELAB_FUZZ_TARGET="$target" timeout -k 10 $(( seconds + 300 )) "$bin" \
    -max_total_time="$seconds" -max_len="$max_len" -rss_limit_mb="$rss_mb" -timeout=20 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" \
    "$work/new" "$corpus" > "$log" 2>&1 || status=$?
  elapsed=$(( $(date +%s) - started ))

  execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -n 1 || true)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1 | grep -oE '[0-9]+' || true)
  ft=$(grep -oE 'ft: [0-9]+' "$log" | tail -n 1 | grep -oE '[0-9]+' || true)
  if [ "$status" -ne 0 ]; then
    echo "fuzz: $target FAILED (exit $status); the end of its log:" >&2
    grep -v -E '^#[0-9]+' "$log" | tail -n 40 >&2
    found=$(find "$artifacts" -type f -newer "$scratch/build.log" 2>/dev/null | head -n 5)
    for file in $found; do
      echo "fuzz: $target: input kept at $file; replay: SWIFT_BACKTRACE=enable=no STATELAB_FUZZ_TARGET=$target $bin $file" >&2
    done
    failed+=("$target")
  elif [ "$merge" = 1 ]; then
    minimize "$target" "$corpus" "$work" "$max_len" || failed+=("$target")
  fi
  files=$(find "$corpus" -type f | wc -l)
  bytes=$(find "$corpus" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
  line="$target: ${execs:-?} execs in $elapsed s, cov ${cov:-?}, ft ${ft:-?}, corpus $files files $bytes bytes, exit $status"
  echo "fuzz: $line"
  summary+=("$line")
done

echo "fuzz: summary"
for line in "${summary[@]}"; do echo "fuzz:   $line"; done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: crashed or failed: ${failed[*]}" >&2
  exit 1
fi
