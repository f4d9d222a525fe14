#!/usr/bin/env bash
# GGUF reader fuzzing and sanitizer run (npm run fuzz; CI calls it from .ci/run).
#   1. builds gguf_reader_fuzz with clang: libFuzzer + ASan + UBSan, the core instrumented for coverage
#   2. writes a seed corpus of small valid GGUFs (the fuzz binary's PETREL_FUZZ_WRITE_SEEDS mode)
#   3. fuzzes for ${FUZZ_SECONDS:-60} seconds; a crash leaves its input in fuzz-out/ and fails the script
#   4. builds the standalone tests with ASan + UBSan and runs the GGUF ones (round trips, split
#      files, the writer's failure paths, the hostile corpus and every truncation of a valid file)
#      and the offload ones (routing traces cut and corrupted, the expert cache, the simulator)
# Environment: FUZZ_SECONDS (default 60), FUZZ_JOBS (parallel build jobs, default: all cores),
# FUZZ_SKIP_ASAN_TESTS=1 skips step 4.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
seconds="${FUZZ_SECONDS:-60}"
jobs="${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}"

if ! command -v clang++ >/dev/null 2>&1; then
  echo "fuzz: clang++ not found (install clang and libclang-rt-dev for libFuzzer)" >&2
  exit 2
fi
generator=()
if command -v ninja >/dev/null 2>&1; then generator=(-G Ninja); fi

mkdir -p build
echo "== fuzz: building gguf_reader_fuzz (clang, libFuzzer + ASan + UBSan)"
cmake -S native -B build/fuzz "${generator[@]}" \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link -DCMAKE_CXX_FLAGS=-fsanitize=fuzzer-no-link \
  -DPETREL_FUZZ=ON -DPETREL_ASAN=ON -DPETREL_BUILD_TESTS=OFF -DPETREL_CUDA=OFF >build/fuzz-configure.log
cmake --build build/fuzz --target gguf_reader_fuzz -j "$jobs"

corpus="build/fuzz/corpus"
mkdir -p "$corpus" fuzz-out
PETREL_FUZZ_WRITE_SEEDS="$corpus" build/fuzz/gguf_reader_fuzz
echo "== fuzz: $(ls "$corpus" | wc -l) corpus inputs; fuzzing for ${seconds}s"
# Exits non-zero (and writes fuzz-out/crash-*) on any crash, sanitizer report, leak or timeout.
set +e
build/fuzz/gguf_reader_fuzz "$corpus" -max_total_time="$seconds" -max_len=16384 -timeout=30 \
  -rss_limit_mb=2048 -artifact_prefix=fuzz-out/ -print_final_stats=1 >build/fuzz/fuzz.log 2>&1
status=$?
set -e
grep -E "^(#[0-9]+[[:space:]]+(INITED|DONE)|Done [0-9]+ runs|stat::number_of_executed_units|stat::peak_rss_mb)" build/fuzz/fuzz.log || true
if [ "$status" -ne 0 ]; then
  echo "fuzz: gguf_reader_fuzz failed (exit $status); see build/fuzz/fuzz.log and fuzz-out/" >&2
  tail -n 60 build/fuzz/fuzz.log >&2
  exit 1
fi

if [ "${FUZZ_SKIP_ASAN_TESTS:-0}" != "1" ]; then
  echo "== fuzz: standalone GGUF tests under ASan + UBSan"
  cmake -S native -B build/asan-tests "${generator[@]}" \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DPETREL_ASAN=ON -DPETREL_BUILD_TESTS=ON -DPETREL_CUDA=OFF >build/asan-tests-configure.log
  cmake --build build/asan-tests --target petrel_tests -j "$jobs"
  for subset in gguf offload; do
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      build/asan-tests/petrel_tests "$subset"
  done
fi
echo "== fuzz: ok"
