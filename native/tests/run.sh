#!/usr/bin/env bash
# The native test suite once per CPU kernel table, in one of three builds (CI calls all three
# from .ci/run; docs/TESTING.md says how to run each):
#   run.sh          Release, this machine (build/tests)
#   run.sh --asan   ASan + UBSan, this machine (build/tests-asan): any report fails the run
#   run.sh --arm64  cross-built for arm64 with aarch64-linux-gnu-g++, run under qemu-aarch64
#                   (build/tests-arm64): the NEON kernels against the generic ones
# The kernel tests compare every runnable variant with the generic one in-process whatever is
# chosen; the engine, backend and offload tests run on the chosen table, so each table gets a
# whole run of its own (PETREL_CPU_KERNELS forces it). A table the CPU cannot run is not tried:
# the run says so, and which ones it ran; PETREL_REQUIRE_KERNELS="avx512 ..." fails the run when
# one of the tables named is not runnable here (for a machine that is meant to test them). The
# arm64 run requires neon: qemu emulates dotprod, so a run without it would test nothing new.
# Environment: TESTS_JOBS (parallel build jobs, default: all cores).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
jobs="${TESTS_JOBS:-$(nproc 2>/dev/null || echo 2)}"
generator=()
if command -v ninja >/dev/null 2>&1; then generator=(-G Ninja); fi

mode="${1:-native}"
runner=()
required="${PETREL_REQUIRE_KERNELS:-}"
case "$mode" in
  native)
    label="native tests"
    build=build/tests
    config=(-DCMAKE_BUILD_TYPE=Release)
    ;;
  --asan)
    label="native tests (ASan + UBSan)"
    build=build/tests-asan
    # -O2 -g: sanitizer reports with line numbers, at a speed the engine tests can bear.
    config=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DPETREL_ASAN=ON)
    # Leaks count as errors too; UBSan already stops at its first report (-fno-sanitize-recover).
    export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
    export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
    ;;
  --arm64)
    label="native tests (arm64, qemu)"
    build=build/tests-arm64
    for tool in aarch64-linux-gnu-g++ qemu-aarch64; do
      if ! command -v "$tool" >/dev/null 2>&1; then
        echo "native tests: $tool not found (apt-get install g++-aarch64-linux-gnu qemu-user)" >&2
        exit 2
      fi
    done
    config=(-DCMAKE_BUILD_TYPE=Release -DCMAKE_TOOLCHAIN_FILE="$root/native/cmake/aarch64-linux-gnu.cmake")
    # -cpu max: an arm64 core with dotprod and fp16, which the NEON table needs.
    runner=(qemu-aarch64 -cpu max -L /usr/aarch64-linux-gnu)
    required="neon $required"
    ;;
  *)
    echo "usage: native/tests/run.sh [--asan | --arm64]" >&2
    exit 2
    ;;
esac

mkdir -p build
echo "== $label: building petrel_tests ($build)"
cmake -S native -B "$build" ${generator[@]+"${generator[@]}"} "${config[@]}" -DPETREL_BUILD_TESTS=ON \
  -DPETREL_CUDA=OFF >"$build-configure.log"
cmake --build "$build" --target petrel_tests -j "$jobs"
bin=("${runner[@]}" "$build/petrel_tests")

# formats_dispatch prints "cpu kernels: <chosen> (runnable: generic avx2 ...)".
runnable="$("${bin[@]}" formats_dispatch | sed -n 's/.*(runnable: \(.*\))/\1/p')"
if [ -z "$runnable" ]; then
  echo "$label: could not read the runnable kernel tables from $build/petrel_tests" >&2
  exit 1
fi
echo "$runnable" >"$build/runnable-kernels.txt"  # .ci/run runs the engine tests once per table
for table in $required; do
  case " $runnable " in *" $table "*) ;; *) echo "$label: kernel table $table is required but not runnable on this CPU (runnable: $runnable)" >&2; exit 1 ;; esac
done
for table in $runnable; do
  echo "== $label: PETREL_CPU_KERNELS=$table"
  log="$build/petrel_tests-$table.log"
  if ! PETREL_CPU_KERNELS="$table" "${bin[@]}" >"$log" 2>&1; then
    cat "$log"
    echo "$label failed with PETREL_CPU_KERNELS=$table" >&2
    exit 1
  fi
  if ! grep -q "cpu kernels: $table " "$log"; then
    cat "$log"
    echo "$label: PETREL_CPU_KERNELS=$table did not take effect" >&2
    exit 1
  fi
  # The harness ends with "N passed, 0 failed, N skipped"; anything else means it did not run to
  # the end.
  if ! tail -n 1 "$log" | grep -Eq '^[1-9][0-9]* passed, 0 failed, [0-9]+ skipped$'; then
    cat "$log"
    echo "$label: no test summary with PETREL_CPU_KERNELS=$table" >&2
    exit 1
  fi
  grep '^SKIP ' "$log" || true
  # As for vitest: in CI a skip must be one test/expected-skips.json lists, with the same reason.
  if [ "${CI:-}" = "true" ]; then
    while IFS= read -r line; do
      name="${line#SKIP }"; name="${name%%:*}"; reason="${line#*: }"
      if ! node -e 'const [name, reason] = process.argv.slice(1);
          const ok = require("./test/expected-skips.json").skips.some((s) => s.test === name && s.reason === reason);
          process.exit(ok ? 0 : 1)' "$name" "$reason"; then
        echo "$label: $name was skipped ($reason), which test/expected-skips.json does not allow" >&2
        exit 1
      fi
    done < <(grep '^SKIP ' "$log")
  fi
  tail -n 1 "$log"
done
not_run=""
for table in generic avx2 avx512 neon; do
  case " $runnable " in *" $table "*) ;; *) not_run="$not_run $table" ;; esac
done
echo "== $label ran with the kernel tables: $runnable; not runnable here, so not run:${not_run:- none}"
