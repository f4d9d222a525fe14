#!/usr/bin/env bash
# The one script the GPU machine runs for issue 18's item 5 (docs/DEVICE-CHECKS.md): petrel's
# Vulkan tests on the real GPU, two synthetic Qwen3.5 models written there (35B-A3B, all 40
# layers, and 0.8B, Q4_K_M with llama-quantize's tensor types), and petrel_bench --device vulkan
# against llama.cpp's Vulkan llama-bench on the same files in the same run: pp512, tg128 and both
# at depth 16384. Everything it runs comes from .device-carry/ (scripts/device/pack.sh made it):
# the machine has no network and no Node.
#
#   bash scripts/device/h100-check.sh              the real run, within BUDGET_S (510 s)
#   bash scripts/device/h100-check.sh --dry-run    a small run of every step on any Vulkan device
#                                                  (lavapipe here), to catch the script's bugs: the
#                                                  two shapes with 4 blocks each, and the benches
#                                                  on the tiny presets
#
# Results go to $OUT (the device tool sets it; else /tmp/petrel-device-out), seven files:
#   summary.md        petrel against llama.cpp, test by test, the ratios and issue 18's targets,
#                     and every step's status and time
#   facts.txt         the machine: GPU, driver, CPU, Vulkan loader and devices as each tool sees them
#   log.txt           the step log (seconds since start, status, time used of time allowed)
#   synth.txt         the model writes
#   vulkan-tests.txt  petrel_vulkan_tests (and, with time left, the run under the validation layer)
#   bench-petrel.txt  petrel_bench's output
#   bench-llama.txt   llama-bench's output (both llama.cpp builds)
# A step that fails or runs out of time is recorded and the script goes on; each step runs under
# `timeout` with the smaller of its own cap and the time left, so no step eats the whole lease.
# The exit status is 0 when every step that ran passed.
#
# Environment (defaults in brackets; --dry-run's after the slash): BUDGET_S [510/900], REPS [3/1],
# P [512/32], N [128/8], DEPTH [16384/64], LAYERS_35B and LAYERS_08B [all/4; a multiple of 4], TESTS_FILTER
# [none/none], LLAMA_NGL [99/0: llama.cpp's shaders take minutes to compile on lavapipe],
# WORK [/tmp/petrel-device, where the models go], CARRY [.device-carry], SYNTH_THREADS [all],
# SKIP [none: step names to leave out, e.g. "vulkan-tests llama-own-0.8b", for a short rerun].
set -uo pipefail

set -a  # every variable below is exported: the steps run in child shells (see step)
DRY=0
if [ "${1:-}" = "--dry-run" ]; then DRY=1; shift; fi
if [ $# -gt 0 ]; then echo "usage: $0 [--dry-run]" >&2; exit 2; fi

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CARRY=${CARRY:-$ROOT/.device-carry}
OUT=${OUT:-/tmp/petrel-device-out}
if [ $DRY = 1 ]; then
  BUDGET_S=${BUDGET_S:-900} REPS=${REPS:-1} P=${P:-32} N=${N:-8} DEPTH=${DEPTH:-64}
  LAYERS_35B=${LAYERS_35B:-4} LAYERS_08B=${LAYERS_08B:-4} LLAMA_NGL=${LLAMA_NGL:-0}
  WORK=${WORK:-/tmp/petrel-device-dry}
else
  BUDGET_S=${BUDGET_S:-510} REPS=${REPS:-3} P=${P:-512} N=${N:-128} DEPTH=${DEPTH:-16384}
  LAYERS_35B=${LAYERS_35B:-} LAYERS_08B=${LAYERS_08B:-} LLAMA_NGL=${LLAMA_NGL:-99}
  WORK=${WORK:-/tmp/petrel-device}
fi
TESTS_FILTER=${TESTS_FILTER:-}
SKIP=${SKIP:-}
SYNTH_THREADS=${SYNTH_THREADS:-0}
RESERVE_S=15  # kept back for the summary

mkdir -p "$OUT" "$WORK/models"
: >"$OUT/log.txt"
for f in facts synth vulkan-tests bench-petrel bench-llama; do : >"$OUT/$f.txt"; done
STEPS=$WORK/steps.tsv
: >"$STEPS"
T0=$(date +%s)
now() { date +%s; }
export -f now
left() { echo $((T0 + BUDGET_S - $(now))); }
log() { printf '[%4ss] %s\n' "$(($(now) - T0))" "$*" | tee -a "$OUT/log.txt" >&2; }

# step NAME CAP FILE CMD...: CMD under timeout (CAP, or the time left if less), its output appended
# to $OUT/FILE.txt under a header; the outcome goes to the log and to steps.tsv.
step() {
  local name=$1 cap=$2 file=$OUT/$3.txt
  shift 3
  local avail=$(($(left) - RESERVE_S))
  local t=$((cap < avail ? cap : avail))
  if [[ " $SKIP " == *" $name "* ]]; then
    log "$name: skipped (SKIP)"
    printf '%s\tskipped\t-\t0\t0\n' "$name" >>"$STEPS"
    return 125
  fi
  if [ "$t" -lt 5 ]; then
    log "$name: skipped (no time left)"
    printf '%s\tskipped\t-\t0\t0\n' "$name" >>"$STEPS"
    return 125
  fi
  printf '\n===== %s: %s (timeout %ss)\n' "$name" "$*" "$t" >>"$file"
  local s rc st
  s=$(now)
  # timeout runs programs, not shell functions: the functions below are exported for bash -c.
  timeout -k 5 "$t" bash -c '"$@"' "$name" "$@" >>"$file" 2>&1
  rc=$?
  case $rc in
    0) st=ok ;;
    124 | 137) st=timeout ;;
    *) st=failed ;;
  esac
  printf '===== %s: %s (exit %s, %ss)\n' "$name" "$st" "$rc" "$(($(now) - s))" >>"$file"
  log "$name: $st (exit $rc, $(($(now) - s)) s of $t s)"
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$st" "$rc" "$(($(now) - s))" "$t" >>"$STEPS"
  return $rc
}

log "h100-check $([ $DRY = 1 ] && echo '(dry run) ')in $ROOT; budget ${BUDGET_S}s; results in $OUT"

# ---- the carried programs ------------------------------------------------------------------------
if [ ! -f "$CARRY/payload.tar.xz" ]; then
  log "no $CARRY/payload.tar.xz: run scripts/device/pack.sh first, and carry .device-carry"
  exit 1
fi
PAY=$WORK/payload
unpack() {
  rm -rf "$PAY" && mkdir -p "$PAY" || return 1
  if command -v xz >/dev/null; then
    tar -xJf "$CARRY/payload.tar.xz" -C "$PAY"
  else
    python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$CARRY/payload.tar.xz" "$PAY"
  fi
}
export -f unpack
step unpack 60 log unpack || { log "cannot unpack the payload"; exit 1; }
BIN=$PAY/bin
LLAMA_NLC=$PAY/llama-nlc/llama-bench   # llama.cpp's Vulkan build as node-llama-cpp ships it
LLAMA_OWN=$PAY/llama-own/llama-bench   # the one scripts/device/build-llama-vulkan.sh builds
RECIPES=$PAY/recipes

# ---- the Vulkan loader and driver ----------------------------------------------------------------
# As the device README says: the loader from Debian's libvulkan1, unpacked into / when the
# machine has none; NVIDIA's driver manifest from /usr/local/nvidia when the loader finds none.
if ! ldconfig -p | grep -q 'libvulkan\.so\.1 '; then
  if [ $DRY = 1 ]; then
    log "no Vulkan loader here; a dry run does not unpack one into /"
  else
    for f in "$CARRY"/debs/libvulkan1_*.deb; do dpkg -x "$f" /; done
    ldconfig
    log "Vulkan loader unpacked from $(ls "$CARRY"/debs/libvulkan1_*.deb | xargs -n1 basename)"
  fi
fi
nv_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -f "$nv_icd" ] && ! ls /usr/share/vulkan/icd.d/*nvidia* /etc/vulkan/icd.d/*nvidia* >/dev/null 2>&1; then
  export VK_DRIVER_FILES=$nv_icd VK_ICD_FILENAMES=$nv_icd
  log "VK_DRIVER_FILES=$nv_icd"
fi
if [ -d /usr/local/nvidia/lib64 ] && ! ldconfig -p | grep -q libGLX_nvidia; then
  export LD_LIBRARY_PATH=/usr/local/nvidia/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi
if [ $DRY = 1 ] && [ "$LLAMA_NGL" != 0 ]; then
  export GGML_VK_VISIBLE_DEVICES=${GGML_VK_VISIBLE_DEVICES:-0}  # llama.cpp skips CPU devices otherwise
fi

facts() {
  echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "kernel: $(uname -srm)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores"
  echo "memory: $(free -g | awk '/^Mem:/ {print $2 " GiB, " $7 " GiB available"}')"
  echo "disk for the models: $(df -h "$WORK" | awk 'NR == 2 {print $4 " free of " $2 " on " $1}')"
  echo "os: $(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME"), glibc $(ldd --version 2>/dev/null | head -1 | awk '{print $NF}')"
  if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem,power.limit,pstate \
      --format=csv 2>&1
  fi
  echo "Vulkan loader: $(ldconfig -p | grep 'libvulkan\.so\.1 ' | awk '{print $NF}' | head -1)"
  echo "driver manifests: $(ls /usr/share/vulkan/icd.d /etc/vulkan/icd.d 2>/dev/null | grep json | tr '\n' ' ')${VK_DRIVER_FILES:+ VK_DRIVER_FILES=$VK_DRIVER_FILES}"
  echo "validation layer carried: $(ls "$CARRY"/debs/vulkan-validationlayers_*.deb 2>/dev/null | xargs -r -n1 basename)"
  echo "--- petrel_bench --list-devices"
  "$BIN/petrel_bench" --list-devices
  echo "--- llama-bench (node-llama-cpp's build) --list-devices"
  "$LLAMA_NLC" --list-devices 2>&1 | grep -v '^load_backend'
  echo "--- llama-bench (built here) --list-devices"
  if [ -x "$LLAMA_OWN" ]; then "$LLAMA_OWN" --list-devices 2>&1; else echo "(not carried)"; fi
  echo "--- carried builds"
  cat "$PAY/MANIFEST.txt" 2>/dev/null
  true
}
export -f facts
step facts 30 facts facts

# ---- the models: 0.8B first, 35B-A3B in the background while the tests run -----------------------
m08=$WORK/models/synth-qwen3.5-0.8b-q4_k_m.gguf
m35=$WORK/models/synth-qwen3.5-35b-a3b-q4_k_m.gguf
# A model left by an earlier run on this machine is used again (the writer renames a file into
# place only when it is whole, and writes the same bytes every time).
synth() {  # recipe out layers
  local layers=()
  [ -n "$3" ] && layers=(--layers "$3")
  local key
  key="$(cksum <"$1") $(cksum <"$BIN/petrel_synth") ${layers[*]}"
  if [ -f "$2" ] && [ -f "$2.key" ] && [ "$(cat "$2.key")" = "$key" ]; then
    echo "reusing $2"
  else
    rm -f "$2" "$2.key"
    "$BIN/petrel_synth" "$1" "$2" --type q4_k_m --threads "$SYNTH_THREADS" "${layers[@]}" || return 1
    echo "$key" >"$2.key"
  fi
  ls -l "$2"
}
export -f synth
[ "$SYNTH_THREADS" = 0 ] && SYNTH_THREADS=$(nproc)
step synth-0.8b 60 synth synth "$RECIPES/0.8b.recipe.gguf" "$m08" "$LAYERS_08B"
step synth-35b-a3b 240 synth synth "$RECIPES/35b-a3b.recipe.gguf" "$m35" "$LAYERS_35B" &
synth35_pid=$!

# ---- petrel's Vulkan tests on this device --------------------------------------------------------
# Without the validation layer first (speed, and every shader against its reference); under the
# layer at the end, if time is left.
tests() {
  (cd "$WORK" && env -u PETREL_VULKAN_VALIDATE "$BIN/petrel_vulkan_tests" ${TESTS_FILTER:+"$TESTS_FILTER"})
}
export -f tests
step vulkan-tests 150 vulkan-tests tests
wait $synth35_pid

# ---- the benches: petrel, then llama.cpp, on each file; the larger model first ------------------
# A dry run benches the tiny presets instead: lavapipe takes minutes per token of a model with
# Qwen3.5's 248320-token vocabulary. It still writes the two real shapes above (with 4 blocks).
b35=$m35 l35=35b-a3b b08=$m08 l08=0.8b
if [ $DRY = 1 ]; then
  # The real shapes on the CPU instead: they load, and their logits are finite.
  load_shape() { "$BIN/petrel_bench" "$1" --device cpu -p 8 -n 2 -r 1; }
  export -f load_shape
  step load-35b-a3b 60 bench-petrel load_shape "$m35"
  step load-0.8b 60 bench-petrel load_shape "$m08"
  b35=$WORK/models/synth-tiny-moe-q4_k_m.gguf l35=tiny-moe b08=$WORK/models/synth-tiny-q4_k_m.gguf l08=tiny
  step synth-tiny-moe 30 synth synth "$RECIPES/tiny-moe.recipe.gguf" "$b35" ""
  step synth-tiny 30 synth synth "$RECIPES/tiny.recipe.gguf" "$b08" ""
fi
bench_petrel() { "$BIN/petrel_bench" "$1" --device vulkan -ngl 99 -p "$P" -n "$N" -d "0,$DEPTH" -r "$REPS"; }
export -f bench_petrel
bench_llama() { "$1" -m "$2" -ngl "$LLAMA_NGL" -p "$P" -n "$N" -d "0,$DEPTH" -r "$REPS"; }
export -f bench_llama
if [ -f "$b35" ]; then
  step "petrel-$l35" 150 bench-petrel bench_petrel "$b35"
  step "llama-$l35" 120 bench-llama bench_llama "$LLAMA_NLC" "$b35"
fi
if [ -f "$b08" ]; then
  step "petrel-$l08" 80 bench-petrel bench_petrel "$b08"
  step "llama-$l08" 60 bench-llama bench_llama "$LLAMA_NLC" "$b08"
fi
# llama.cpp as built here, depth 0 only, with the time that is left.
bench_llama_own() { "$LLAMA_OWN" -m "$1" -ngl "$LLAMA_NGL" -p "$P" -n "$N" -r "$REPS"; }
export -f bench_llama_own
if [ ! -x "$LLAMA_OWN" ]; then
  log "llama-own: not carried (pack.sh found no build of scripts/device/build-llama-vulkan.sh)"
else
  [ -f "$b35" ] && step "llama-own-$l35" 60 bench-llama bench_llama_own "$b35"
  [ -f "$b08" ] && step "llama-own-$l08" 40 bench-llama bench_llama_own "$b08"
fi

# ---- the tests again under the validation layer, with the time that is left ----------------------
vvl=$WORK/vvl
tests_validated() {
  local deb
  deb=$(ls "$CARRY"/debs/vulkan-validationlayers_*.deb 2>/dev/null | head -1)
  [ -n "$deb" ] || { echo "no validation layer carried"; return 1; }
  rm -rf "$vvl" && dpkg -x "$deb" "$vvl" || return 1
  (cd "$WORK" && VK_LAYER_PATH=$vvl/usr/share/vulkan/explicit_layer.d \
    LD_LIBRARY_PATH=$vvl/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} PETREL_VULKAN_VALIDATE=1 \
    VK_LAYER_ENABLES=VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT \
    "$BIN/petrel_vulkan_tests" ${TESTS_FILTER:+"$TESTS_FILTER"})
}
export -f tests_validated
[ $(($(left) - RESERVE_S)) -ge 60 ] && step vulkan-tests-validated 240 vulkan-tests tests_validated

# The GPU after the work: clocks, temperature, power and why it slowed down, if it did.
facts_after() {
  command -v nvidia-smi >/dev/null || { echo "no nvidia-smi"; return 0; }
  nvidia-smi --query-gpu=clocks.sm,clocks.mem,temperature.gpu,power.draw,clocks_throttle_reasons.active \
    --format=csv
}
export -f facts_after
RESERVE_S=5 step facts-after 10 facts facts_after

# ---- the summary ---------------------------------------------------------------------------------
[ $DRY = 1 ] && rm -f "$m35" "$m08" "$m35.key" "$m08.key" "$b35" "$b08" "$b35.key" "$b08.key"  # a dry run here should not keep 3 GB; the GPU machine keeps them for a rerun
python3 - "$OUT" "$STEPS" "$DEPTH" "$P" "$N" "$l35" "$l08" >"$OUT/summary.md" <<'PY' || log "summary failed"
import re, sys
out, steps, depth, p, n, *models = sys.argv[1:]
def rows(path):
    """{section: {test: t/s}} from llama-bench-style Markdown tables under '===== name:' headers."""
    res, sec = {}, None
    for line in open(path, errors="replace"):
        m = re.match(r"===== (\S+): (?!ok|failed|timeout)", line)
        if m:
            sec = m.group(1)
            res.setdefault(sec, {})
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if sec and len(cells) >= 3 and re.match(r"^(pp|tg)\d+", cells[-2]):
            v = re.match(r"^([0-9.]+)", cells[-1])
            if v:
                res[sec][cells[-2]] = float(v.group(1))
    return res
petrel = rows(f"{out}/bench-petrel.txt")
llama = rows(f"{out}/bench-llama.txt")
targets = {f"pp{p}": 2.0, f"tg{n}": 1.5, f"tg{n} @ d{depth}": 1.5}
print("# Issue 18 item 5: petrel (Vulkan) against llama.cpp (Vulkan)\n")
print("llama.cpp A: node-llama-cpp's prebuilt Vulkan libraries; B: scripts/device/build-llama-vulkan.sh.")
print("Ratio: petrel over the faster of A and B. Target: issue 18's minimum ratio.\n")
print("| model | test | petrel t/s | llama.cpp A t/s | llama.cpp B t/s | ratio | target | |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |")
for model in models:
    pt = petrel.get(f"petrel-{model}", {})
    la = llama.get(f"llama-{model}", {})
    lb = llama.get(f"llama-own-{model}", {})
    for test in sorted(set(pt) | set(la) | set(lb), key=lambda t: ("@" in t, t[:2] != "pp", t)):
        a, b, q = la.get(test), lb.get(test), pt.get(test)
        best = max([x for x in (a, b) if x], default=None)
        ratio = q / best if q and best else None
        tgt = targets.get(test)
        verdict = "" if ratio is None or tgt is None else ("met" if ratio >= tgt else "not met")
        f = lambda x: f"{x:.2f}" if x else "-"
        print(f"| {model} | {test} | {f(q)} | {f(a)} | {f(b)} | {f'{ratio:.2f}x' if ratio else '-'} | "
              f"{f'{tgt}x' if tgt else ''} | {verdict} |")
print("\n## Steps\n\n| step | status | exit | seconds | allowed |\n| --- | --- | ---: | ---: | ---: |")
for line in open(steps):
    print("| " + " | ".join(line.rstrip("\n").split("\t")) + " |")
PY
cat "$OUT/summary.md"
log "done in $(($(now) - T0)) s"
! cut -f2 "$STEPS" | grep -qE 'failed|timeout'
