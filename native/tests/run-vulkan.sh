#!/usr/bin/env bash
# The Vulkan backend's tests (petrel_vulkan_tests) on whatever Vulkan device the loader finds:
# lavapipe, Mesa's software device, in CI (Debian: mesa-vulkan-drivers libvulkan-dev glslc
# vulkan-validationlayers). Every shader against its reference, with the Khronos validation layer
# on: a validation message fails the test that caused it. A machine without a Vulkan device fails
# here rather than skipping: CI installs one.
# Environment: TESTS_JOBS (parallel build jobs, default: all cores).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
jobs="${TESTS_JOBS:-$(nproc 2>/dev/null || echo 2)}"
generator=()
if command -v ninja >/dev/null 2>&1; then generator=(-G Ninja); fi

mkdir -p build
echo "== vulkan tests: building petrel_vulkan_tests (Release)"
cmake -S native -B build/tests-vulkan ${generator[@]+"${generator[@]}"} -DCMAKE_BUILD_TYPE=Release \
  -DPETREL_BUILD_TESTS=ON -DPETREL_CUDA=OFF -DPETREL_VULKAN=ON >build/tests-vulkan-configure.log
cmake --build build/tests-vulkan --target petrel_vulkan_tests -j "$jobs"
log=build/tests-vulkan/petrel_vulkan_tests.log
# Synchronization validation too: the recordings' barriers are what it checks.
if ! PETREL_VULKAN_VALIDATE=1 VK_LAYER_ENABLES=VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT \
  build/tests-vulkan/backend/vulkan/petrel_vulkan_tests >"$log" 2>&1; then
  cat "$log"
  echo "vulkan tests failed" >&2
  exit 1
fi
# A message outside any test (device creation, teardown) fails the run as one inside a test does.
if grep -q '^vulkan validation:' "$log"; then
  grep '^vulkan validation:' "$log"
  echo "vulkan tests: the validation layer reported the messages above" >&2
  exit 1
fi
summary="$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$log" | tail -n 1)"
case "$summary" in
  "0 passed, "* | "") cat "$log"; echo "vulkan tests: no tests ran: '$summary'" >&2; exit 1 ;;
esac
# A case may skip only where test/expected-skips.json lists it with the same reason (the
# cooperative-matrix cases on lavapipe); any other skip fails the run, in CI or not. Checked with
# node, or python3 where there is no node (the GPU machine).
grep '^SKIP ' "$log" || true
while IFS= read -r line; do
  name="${line#SKIP }"; name="${name%%:*}"; reason="${line#*: }"
  if command -v node >/dev/null 2>&1; then
    check=(node -e 'const [name, reason] = process.argv.slice(1);
        const ok = require("./test/expected-skips.json").skips.some((s) => s.test === name && s.reason === reason);
        process.exit(ok ? 0 : 1)' "$name" "$reason")
  else
    check=(python3 -c 'import json, sys
ok = any(s.get("test") == sys.argv[1] and s.get("reason") == sys.argv[2]
         for s in json.load(open("test/expected-skips.json"))["skips"])
sys.exit(0 if ok else 1)' "$name" "$reason")
  fi
  if ! "${check[@]}"; then
    echo "vulkan tests: $name was skipped ($reason), which test/expected-skips.json does not allow" >&2
    exit 1
  fi
done < <(grep '^SKIP ' "$log" || true)
grep '^vulkan device: ' "$log" || true
echo "$summary"
