#!/usr/bin/env bash
# The native test suite once per CPU kernel table this machine runs (CI calls it from .ci/run).
# The kernel tests compare every runnable variant with the generic one in-process whatever is
# chosen; the engine, backend and offload tests run on the chosen table, so each table gets a
# whole run of its own (PETREL_CPU_KERNELS forces it). A table the CPU cannot run is not tried:
# the run says so, and which ones it ran; PETREL_REQUIRE_KERNELS="avx512 ..." fails the run when
# one of the tables named is not runnable here (for a machine that is meant to test them).
# Environment: TESTS_JOBS (parallel build jobs, default: all cores).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
jobs="${TESTS_JOBS:-$(nproc 2>/dev/null || echo 2)}"
generator=()
if command -v ninja >/dev/null 2>&1; then generator=(-G Ninja); fi

mkdir -p build
echo "== native tests: building petrel_tests (Release)"
cmake -S native -B build/tests ${generator[@]+"${generator[@]}"} -DCMAKE_BUILD_TYPE=Release -DPETREL_BUILD_TESTS=ON \
  -DPETREL_CUDA=OFF >build/tests-configure.log
cmake --build build/tests --target petrel_tests -j "$jobs"
bin=build/tests/petrel_tests

# formats_dispatch prints "cpu kernels: <chosen> (runnable: generic avx2 ...)".
runnable="$("$bin" formats_dispatch | sed -n 's/.*(runnable: \(.*\))/\1/p')"
if [ -z "$runnable" ]; then
  echo "native tests: could not read the runnable kernel tables from $bin" >&2
  exit 1
fi
echo "$runnable" >build/tests/runnable-kernels.txt  # .ci/run runs the engine tests once per table
for table in ${PETREL_REQUIRE_KERNELS:-}; do
  case " $runnable " in *" $table "*) ;; *) echo "native tests: kernel table $table is required but not runnable on this CPU (runnable: $runnable)" >&2; exit 1 ;; esac
done
for table in $runnable; do
  echo "== native tests: PETREL_CPU_KERNELS=$table"
  log="build/tests/petrel_tests-$table.log"
  if ! PETREL_CPU_KERNELS="$table" "$bin" >"$log" 2>&1; then
    cat "$log"
    echo "native tests failed with PETREL_CPU_KERNELS=$table" >&2
    exit 1
  fi
  if ! grep -q "cpu kernels: $table " "$log"; then
    cat "$log"
    echo "native tests: PETREL_CPU_KERNELS=$table did not take effect" >&2
    exit 1
  fi
  tail -n 1 "$log"
done
not_run=""
for table in generic avx2 avx512 neon; do
  case " $runnable " in *" $table "*) ;; *) not_run="$not_run $table" ;; esac
done
echo "== native tests ran with the kernel tables: $runnable; not runnable on this CPU, so not run:${not_run:- none}"
