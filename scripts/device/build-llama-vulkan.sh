#!/usr/bin/env bash
# Builds llama.cpp's llama-bench with the Vulkan backend, from the llama.cpp source that
# node-llama-cpp ships (its git bundle), as one static, stripped executable to carry to the GPU
# machine (docs/DEVICE-CHECKS.md).
#
#   bash scripts/device/build-llama-vulkan.sh [OUT_DIR]     (default /tmp/llama-vk)
#
# Environment: LLAMA_SRC (a llama.cpp checkout to use instead of cloning the bundle),
# BUILD_DIR (default OUT_DIR-build), TOOLS_DIR (default /tmp/vk-tools), JOBS (default 1),
# NICE (default 19).
#
# Needs cmake, ninja (or make), g++, libvulkan-dev (the loader to link against) and network
# access to Debian's archive once. This llama.cpp's shaders need GL_KHR_cooperative_matrix,
# which Debian 12's glslc (shaderc 2023.2, glslang 12) lacks: its flash-attention decode shader
# does not compile. So the shader compiler, the Vulkan headers and SPIRV-Headers come from
# Debian 13 (trixie: shaderc 2025.2, glslang 15.1, Vulkan headers 1.4.309), downloaded with
# `apt-get download` into TOOLS_DIR and unpacked there, never installed: glslc runs on trixie's
# own glibc and libstdc++ through its dynamic loader. The headers are only compiled against; the
# program links Debian 12's libvulkan.so.1, whose ABI is the same.
#
# Choices:
# - GGML_NATIVE=OFF with AVX, AVX2, FMA, F16C and BMI2 (x86-64-v3): the GPU machine's CPU is
#   not this one; every x86 server CPU an H100 is sold with (Intel since Haswell, AMD since Zen)
#   runs x86-64-v3, while AVX-512 is missing on some (AMD before Zen 4). With -ngl 99 the CPU
#   only feeds the GPU, so its kernels do not matter to the figures.
# - static libraries and no OpenMP: the one file needs nothing on the GPU machine but glibc,
#   libstdc++ and the Vulkan loader (libvulkan.so.1). libstdc++ stays shared: linked statically,
#   Debian 12's pulls in glibc 2.36 symbols (arc4random), which Ubuntu 22.04 lacks; shared, the
#   program needs glibc 2.34 and GLIBCXX_3.4.30 (GCC 12's libstdc++, Ubuntu 22.04 has it).
# - no curl/OpenSSL, no tests, examples, server or app: only llama-bench is built.
set -euo pipefail

OUT_DIR=${1:-/tmp/llama-vk}
BUILD_DIR=${BUILD_DIR:-$OUT_DIR-build}
TOOLS_DIR=${TOOLS_DIR:-/tmp/vk-tools}
JOBS=${JOBS:-1}
NICE=${NICE:-19}
here=$(cd "$(dirname "$0")/../.." && pwd)
bundle=$here/node_modules/node-llama-cpp/llama/gitRelease.bundle

for tool in cmake g++ git apt-get dpkg; do
    command -v $tool >/dev/null || { echo "missing $tool" >&2; exit 1; }
done
[ -e /usr/lib/x86_64-linux-gnu/libvulkan.so ] || { echo "missing libvulkan.so (apt-get install libvulkan-dev)" >&2; exit 1; }

# ---- the shader compiler and headers from Debian 13, unpacked into TOOLS_DIR ----
root=$TOOLS_DIR/root
if [ ! -x "$TOOLS_DIR/bin/glslc" ]; then
    mkdir -p "$TOOLS_DIR/lists/partial" "$TOOLS_DIR/cache/archives/partial" "$TOOLS_DIR/debs" "$root" "$TOOLS_DIR/bin"
    echo "deb http://deb.debian.org/debian trixie main" >"$TOOLS_DIR/sources.list"
    apt_o=(-oDir::Etc::SourceList="$TOOLS_DIR/sources.list" -oDir::Etc::SourceParts=/dev/null
           -oDir::State::Lists="$TOOLS_DIR/lists" -oDir::Cache="$TOOLS_DIR/cache"
           -oAPT::Architecture=amd64 -oAPT::Architectures=amd64)
    apt-get "${apt_o[@]}" update >/dev/null
    (cd "$TOOLS_DIR/debs" && apt-get "${apt_o[@]}" download \
        glslc libshaderc1 libstdc++6 libgcc-s1 libc6 libvulkan-dev spirv-headers)
    for f in "$TOOLS_DIR"/debs/*.deb; do dpkg -x "$f" "$root"; done
    cat >"$TOOLS_DIR/bin/glslc" <<WRAP
#!/bin/sh
# trixie's glslc on trixie's glibc and libstdc++ (scripts/device/build-llama-vulkan.sh)
exec $root/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 --library-path $root/usr/lib/x86_64-linux-gnu $root/usr/bin/glslc "\$@"
WRAP
    chmod +x "$TOOLS_DIR/bin/glslc"
fi
"$TOOLS_DIR/bin/glslc" --version | sed -n 1,3p

# ---- llama.cpp's source ----
if [ -z "${LLAMA_SRC:-}" ]; then
    LLAMA_SRC=$OUT_DIR-src
    if [ ! -d "$LLAMA_SRC/.git" ]; then
        [ -f "$bundle" ] || { echo "no $bundle: run npm install first" >&2; exit 1; }
        git clone -q "$bundle" "$LLAMA_SRC"
    fi
fi

gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
mkdir -p "$BUILD_DIR"
nice -n "$NICE" cmake -S "$LLAMA_SRC" -B "$BUILD_DIR" "${gen[@]}" \
    -DCMAKE_BUILD_TYPE=Release \
    -DBUILD_SHARED_LIBS=OFF \
    -DGGML_VULKAN=ON \
    -DVulkan_GLSLC_EXECUTABLE="$TOOLS_DIR/bin/glslc" \
    -DVulkan_INCLUDE_DIR="$root/usr/include" \
    -DVulkan_LIBRARY=/usr/lib/x86_64-linux-gnu/libvulkan.so \
    -DSPIRV-Headers_DIR="$root/usr/share/cmake/SPIRV-Headers" \
    -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
    -DGGML_AVX512=OFF -DGGML_OPENMP=OFF -DGGML_CCACHE=OFF \
    -DGGML_BACKEND_DL=OFF -DGGML_CPU_ALL_VARIANTS=OFF \
    -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
    -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_TOOLS=ON \
    -DCMAKE_EXE_LINKER_FLAGS="" \
    >"$BUILD_DIR/cmake.log"
grep -E "supported by glslc|Vulkan found|CPU backend variant" "$BUILD_DIR/cmake.log" || true

nice -n "$NICE" cmake --build "$BUILD_DIR" --target llama-bench -j "$JOBS"

mkdir -p "$OUT_DIR"
strip -o "$OUT_DIR/llama-bench" "$BUILD_DIR/bin/llama-bench"
git -C "$LLAMA_SRC" rev-parse HEAD >"$OUT_DIR/llama-bench.commit"
grep "supported by glslc" "$BUILD_DIR/cmake.log" >"$OUT_DIR/llama-bench.features" || true
echo "built $OUT_DIR/llama-bench ($(du -h "$OUT_DIR/llama-bench" | cut -f1)); shared libraries it needs:"
readelf -d "$OUT_DIR/llama-bench" | awk '/NEEDED/ {print "  " $NF}'
