#!/bin/bash
# Training throughput of the examples on WebGPU and on the CPU backend, side by side in one run:
# each example trains two epochs on the same subset (`--limit`) on both backends; the second
# epoch's samples/s (pipelines compiled, buffers warm) gives the WebGPU/CPU ratio and the wall
# time of a full epoch those rates imply. Run it on an otherwise idle machine:
#   bash bench/train-throughput.sh [EXAMPLE...]      (all of them by default)
set -euo pipefail
cd "$(dirname "$0")/.."

# example, --limit (rows; characters for char-lstm), rows of a full epoch. The limits keep each
# CPU run within a minute or two (the CPU backend is the reference interpreter, not a fast path)
# while giving WebGPU several full batches per epoch.
RUNS=(
  "iris 120 120"
  "mnist-mlp 1000 8000"
  "mnist-cnn 400 60000"
  "mnist-digits-cnn 1000 8000"
  "fashion-cnn2 256 60000"
  "char-lstm 20000 200000"
)

rate() { # backend example limit -> samples/s of the second epoch (last column of its summary row)
  ./bin/netc.js train "examples/$2.net" --backend "$1" --limit "$3" --epochs 2 --log-every 1 2>/dev/null |
    awk '/^epoch  train loss/ { table = 1; next } table && $1 == "2" { print $NF; exit }'
}

printf '%-18s %7s %14s %14s %8s %13s %13s\n' example limit "webgpu samp/s" "cpu samp/s" ratio "webgpu epoch" "cpu epoch"
for run in "${RUNS[@]}"; do
  read -r name limit full <<<"$run"
  if [ $# -gt 0 ] && [[ " $* " != *" $name "* ]]; then continue; fi
  gpu=$(rate webgpu "$name" "$limit")
  cpu=$(rate cpu "$name" "$limit")
  node -e '
    const [name, limit, full, gpu, cpu] = process.argv.slice(1);
    // NOTE: char-lstm counts characters; its rows are sequences of 32 (the input length).
    const rows = Number(full) / (name === "char-lstm" ? 32 : 1);
    const t = (r) => { const s = rows / Number(r); return s >= 5400 ? (s / 3600).toFixed(1) + " h" : s >= 120 ? (s / 60).toFixed(1) + " min" : s >= 1 ? s.toFixed(1) + " s" : (s * 1000).toFixed(0) + " ms"; };
    console.log(`${name.padEnd(18)} ${limit.padStart(7)} ${gpu.padStart(14)} ${cpu.padStart(14)} ${(Number(gpu) / Number(cpu)).toFixed(1).padStart(7)}x ${t(gpu).padStart(13)} ${t(cpu).padStart(13)}`);
  ' "$name" "$limit" "$full" "$gpu" "$cpu"
done
