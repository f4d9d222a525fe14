#!/usr/bin/env bash
# Assembles .device-carry/ (ignored by git), everything scripts/device/h100-check.sh needs on the
# GPU machine, which has no network and no Node (docs/DEVICE-CHECKS.md):
#   payload.tar.xz   bin/        petrel_bench, petrel_synth, petrel_vulkan_tests, libpetrel_vulkan.so
#                                (Release, built from this working tree)
#                    recipes/    the 35b-a3b and 0.8b synth recipes (`petrel synth --recipe`), and
#                                tiny-moe and tiny for the dry run
#                    llama-nlc/  llama-bench built against node-llama-cpp's prebuilt Vulkan
#                                libraries (llama.cpp's Vulkan build as node-llama-cpp ships it)
#                    llama-own/  llama-bench from scripts/device/build-llama-vulkan.sh
#                    MANIFEST.txt
#   debs/            Debian's Vulkan loader (libvulkan1) and validation layer
#                    (vulkan-validationlayers), for a machine without them
# and prints the sizes: the carry, the working tree and both together must stay under 60 MiB
# (the device tool's limit is 64 MiB for everything that travels).
#
#   bash scripts/device/pack.sh
#
# Environment: BUILD_DIR (petrel's build, default /tmp/petrel-device-build), JOBS (default 2),
# LLAMA_OWN (default /tmp/llama-vk/llama-bench; missing: left out, with a warning),
# LLAMA_SRC (llama.cpp's source for the headers; default: a clone of node-llama-cpp's bundle in
# /tmp/llama-vk-src).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
CARRY=$ROOT/.device-carry
BUILD_DIR=${BUILD_DIR:-/tmp/petrel-device-build}
JOBS=${JOBS:-2}
LLAMA_OWN=${LLAMA_OWN:-/tmp/llama-vk/llama-bench}
LLAMA_SRC=${LLAMA_SRC:-/tmp/llama-vk-src}
NLC_BINS=$ROOT/node_modules/@node-llama-cpp/linux-x64-vulkan/bins/linux-x64-vulkan
BUNDLE=$ROOT/node_modules/node-llama-cpp/llama/gitRelease.bundle
t0=$(date +%s)
say() { echo "[pack $(($(date +%s) - t0))s] $*"; }

# Ignored by git, so that it travels only as a carried path.
exclude=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$exclude")"
grep -qx '/.device-carry/' "$exclude" 2>/dev/null || echo '/.device-carry/' >>"$exclude"

stage=$(mktemp -d /tmp/petrel-device-stage.XXXXXX)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$CARRY/debs" "$stage/bin" "$stage/recipes" "$stage/llama-nlc" "$stage/llama-own"

# ---- petrel -------------------------------------------------------------------------------------
say "building petrel in $BUILD_DIR"
gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
cmake -S native -B "$BUILD_DIR" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DPETREL_BUILD_TESTS=ON \
  -DPETREL_CUDA=OFF -DPETREL_VULKAN=ON >"$BUILD_DIR.configure.log"
cmake --build "$BUILD_DIR" -j "$JOBS" --target petrel_bench petrel_synth petrel_vulkan petrel_vulkan_tests
for f in petrel_bench petrel_synth backend/vulkan/petrel_vulkan_tests backend/vulkan/libpetrel_vulkan.so; do
  strip -o "$stage/bin/$(basename "$f")" "$BUILD_DIR/$f"
done

# ---- the synthetic models' recipes --------------------------------------------------------------
say "recipes"
node bin/petrel.js synth 35b-a3b "$stage/recipes/35b-a3b.recipe.gguf" --recipe --force >/dev/null
node bin/petrel.js synth 0.8b "$stage/recipes/0.8b.recipe.gguf" --recipe --force >/dev/null
# For h100-check.sh --dry-run: small enough for a software Vulkan device.
node bin/petrel.js synth tiny-moe "$stage/recipes/tiny-moe.recipe.gguf" --recipe --force >/dev/null
node bin/petrel.js synth tiny "$stage/recipes/tiny.recipe.gguf" --recipe --force >/dev/null

# ---- llama.cpp ----------------------------------------------------------------------------------
if [ ! -d "$LLAMA_SRC/.git" ]; then git clone -q "$BUNDLE" "$LLAMA_SRC"; fi
# node-llama-cpp's prebuilt Vulkan libraries (built by its CI with the Vulkan SDK: cooperative
# matrices, NVIDIA's coopmat2, integer dot products), with a llama-bench compiled from the same
# release's source beside them and loading them from its own directory.
say "llama-bench on node-llama-cpp's prebuilt Vulkan libraries"
[ -f "$NLC_BINS/libggml-vulkan.so" ] || { echo "no $NLC_BINS: npm install first" >&2; exit 1; }
cp "$NLC_BINS"/*.so "$stage/llama-nlc/"
inc=(-I"$LLAMA_SRC/include" -I"$LLAMA_SRC/common" -I"$LLAMA_SRC/ggml/include" -I"$LLAMA_SRC/vendor")
g++ -O2 -DNDEBUG -std=c++17 "${inc[@]}" -c "$LLAMA_SRC/tools/llama-bench/llama-bench.cpp" -o "$stage/lb.o"
g++ -O2 -DNDEBUG -std=c++17 -c "$LLAMA_SRC/tools/llama-bench/main.cpp" -o "$stage/main.o"
libs=(); for l in libllama-common.so libllama.*.so libggml.*.so libggml-base.so; do
  for f in "$stage"/llama-nlc/$l; do libs+=("-l:$(basename "$f")"); done
done
g++ -o "$stage/llama-nlc/llama-bench" "$stage/main.o" "$stage/lb.o" -L"$stage/llama-nlc" "${libs[@]}" \
  -Wl,-rpath,'$ORIGIN' -pthread
strip "$stage/llama-nlc/llama-bench"
rm -f "$stage/lb.o" "$stage/main.o"
if [ -x "$LLAMA_OWN" ]; then
  cp "$LLAMA_OWN" "$stage/llama-own/llama-bench"
  cp "$(dirname "$LLAMA_OWN")"/llama-bench.features "$stage/llama-own/" 2>/dev/null || true
else
  echo "warning: no $LLAMA_OWN (scripts/device/build-llama-vulkan.sh builds it): left out" >&2
fi

# ---- the Vulkan loader and validation layer, as Debian packages ---------------------------------
if ! ls "$CARRY"/debs/libvulkan1_*.deb "$CARRY"/debs/vulkan-validationlayers_*.deb >/dev/null 2>&1; then
  say "downloading libvulkan1 and vulkan-validationlayers"
  lists=/tmp/petrel-device-apt/lists
  mkdir -p "$lists/partial"
  o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=$lists)
  apt-get "${o[@]}" update >/dev/null
  (cd "$CARRY/debs" && apt-get "${o[@]}" download libvulkan1 vulkan-validationlayers)
fi

# ---- manifest and payload -----------------------------------------------------------------------
{
  echo "packed $(date -u '+%Y-%m-%d %H:%M UTC') from $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- native || echo ' + uncommitted native changes')"
  echo "llama.cpp source: $(git -C "$LLAMA_SRC" rev-parse --short HEAD) (node-llama-cpp $(sed -n 's/^ *"version": "\(.*\)",/\1/p' node_modules/node-llama-cpp/package.json | head -1))"
  echo "llama-nlc: node-llama-cpp's prebuilt Vulkan libraries, $(cat "$NLC_BINS/_nlcBuildMetadata.json" 2>/dev/null | tr -d '\n')"
  if [ -f "$stage/llama-own/llama-bench" ]; then
    echo "llama-own: scripts/device/build-llama-vulkan.sh; glslc features: $(grep -o 'GL_[A-Za-z0-9_]* supported' "$stage/llama-own/llama-bench.features" 2>/dev/null | cut -d' ' -f1 | tr '\n' ' ')"
  fi
  syms=$(for f in "$stage"/bin/* "$stage"/llama-*/*; do objdump -T "$f" 2>/dev/null || true; done)
  echo "newest symbol versions needed: $(grep -o 'GLIBC_[0-9.]*' <<<"$syms" | sort -uV | tail -1)," \
    "$(grep -o 'GLIBCXX_[0-9.]*' <<<"$syms" | sort -uV | tail -1)"
  (cd "$stage" && find . -type f ! -name MANIFEST.txt -printf '%P %s\n' | sort)
} >"$stage/MANIFEST.txt"
say "compressing the payload"
tar -C "$stage" -cf - bin recipes llama-nlc llama-own MANIFEST.txt | xz -T"$JOBS" -6 >"$CARRY/payload.tar.xz.tmp"
mv "$CARRY/payload.tar.xz.tmp" "$CARRY/payload.tar.xz"
cp "$stage/MANIFEST.txt" "$CARRY/MANIFEST.txt"

# ---- sizes --------------------------------------------------------------------------------------
mib() { awk -v b="$1" 'BEGIN {printf "%.1f MiB", b / 1048576}'; }
carry=$(du -sb "$CARRY" | cut -f1)
tracked=$(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
untracked=$( (git ls-files -z --others --exclude-standard | xargs -0 -r du -cb 2>/dev/null || true) | tail -1 | cut -f1)
untracked=${untracked:-0}
[ -d shared ] && shared=$(du -sb shared | cut -f1) || shared=0
total=$((carry + tracked + untracked + shared))
echo "payload: $(mib "$(stat -c %s "$CARRY/payload.tar.xz")") ($(mib "$(du -sb "$stage" | cut -f1)") unpacked)"
ls -l "$CARRY/debs" | awk 'NR > 1 {print "  debs/" $NF ": " $5 " bytes"}'
echo "carry $(mib "$carry"), tracked files $(mib "$tracked"), untracked files $(mib "$untracked"), shared/ $(mib "$shared"): $(mib "$total") travel"
if [ "$total" -gt $((60 * 1048576)) ]; then
  echo "over 60 MiB: the device tool takes at most 64 MiB" >&2
  exit 1
fi
say "done"
