#!/bin/bash
# netc beside its WebGPU peers (TensorFlow.js, jax-js, ONNX Runtime Web; their harness in
# ../shared/bench-peers: same data, same timing, readback included) in one run, interleaved so
# that a change in the machine's load falls on every system alike:
#   bash bench/peers.sh [--rounds R] [--n N] [--no-cold]
# Each round runs, per workload (matmul 1024^3 and 2048^3, the MLP training step, the CNN's
# inference), the peers' scripts with --quick (at most 5 timed calls) and `netc bench --n N`
# (default 5), the systems' order rotated each round; then the cold start (empty Mesa shader
# cache) of the MLP and the CNN in fresh processes. The peers are installed outside the repository
# (NETC_PEERS_DIR, /tmp/netc-bench-peers by default); their code is never committed. Writes the raw
# lines to bench/results/DATE-peers.jsonl and netc/peer ratios (bench/peer-ratios.mjs) beside it.
# The peers' stderr goes to $NETC_PEERS_DIR/peers-run.log. Run it on an otherwise idle machine;
# `npm run build` first.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SRC=${NETC_PEERS_SRC:-$ROOT/../shared/bench-peers}
DIR=${NETC_PEERS_DIR:-/tmp/netc-bench-peers}
ROUNDS=1 N=5 COLD=1
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) ROUNDS=$2; shift 2 ;;
    --n) N=$2; shift 2 ;;
    --no-cold) COLD=0; shift ;;
    *) echo "usage: bash bench/peers.sh [--rounds R] [--n N] [--no-cold]" >&2; exit 1 ;;
  esac
done
[ -f "$SRC/harness.mjs" ] || { echo "peers.sh: no peers' harness in $SRC (set NETC_PEERS_SRC)" >&2; exit 1; }
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/netc-xdg-$(id -u)}
mkdir -p "$XDG_RUNTIME_DIR" "$DIR"

# The peers' scripts, copied fresh; their packages installed once per lock file.
for f in "$SRC"/*.mjs "$SRC"/package.json "$SRC"/package-lock.json; do install -m 644 "$f" "$DIR/"; done
if [ ! -d "$DIR/node_modules/@jax-js/jax" ] || ! cmp -s "$DIR/package-lock.json" "$DIR/.installed-lock"; then
  echo "== installing the peers in $DIR" >&2
  # NOTE: onnxruntime-node's postinstall fetches CUDA files from nuget; the CPU binaries ship in the package.
  (cd "$DIR" && ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund >&2)
  cp "$DIR/package-lock.json" "$DIR/.installed-lock"
fi

mkdir -p bench/results
OUT=bench/results/$(date -u +%Y-%m-%d)-peers.jsonl
[ -e "$OUT" ] && OUT=bench/results/$(date -u +%Y-%m-%dT%H%M)-peers.jsonl
LOG=$DIR/peers-run.log
: >"$OUT"
: >"$LOG"
echo "{\"system\":\"machine\",\"info\":{\"loadavg\":\"$(cut -d' ' -f1-3 /proc/loadavg)\",\"netc\":\"$(git rev-parse --short HEAD)\",\"date\":\"$(date -u +%FT%TZ)\"}}" >>"$OUT"

run() { # label, folder, command...
  local label=$1 dir=$2
  shift 2
  echo "== $label: $*" | tee -a "$LOG" >&2
  (cd "$dir" && timeout 1800 "$@" 2>>"$LOG" | grep '^{' | tee -a "$ROOT/$OUT") || echo "== $label failed (see $LOG)" >&2
}
netc_run() { run "netc $1" "$ROOT" ./bin/netc.js bench --workload "$1" --n "$N" --json; }

SYSTEMS=(tfjs jax ort netc)
for round in $(seq 1 "$ROUNDS"); do
  for w in matmul mlp cnn; do
    for i in 0 1 2 3; do
      s=${SYSTEMS[$(((i + round - 1) % 4))]}
      case $s:$w in
        tfjs:*) run "tfjs $w" "$DIR" node tfjs_bench.mjs webgpu --quick --only=$w ;;
        jax:*) run "jax $w" "$DIR" node jax_bench.mjs webgpu --quick --only=$w ;;
        # NOTE: ort_bench.mjs has no --only: it runs both matmuls and the CNN, in the CNN's slot.
        ort:cnn) run "ort" "$DIR" node ort_bench.mjs web-webgpu --quick ;;
        netc:matmul) netc_run matmul-1024,matmul-2048 ;;
        netc:mlp) netc_run mlp-step ;;
        netc:cnn) netc_run cnn-infer ;;
      esac
    done
  done
done

if [ "$COLD" = 1 ]; then
  run "netc cold" "$ROOT" ./bin/netc.js bench --workload mlp-step,cnn-infer --cold --n 1 --json
  # NOTE: coldstart.mjs writes its records to results/ beside itself; the newest file is this run's.
  echo "== peers cold: coldstart.mjs" | tee -a "$LOG" >&2
  (cd "$DIR" && timeout 1800 node coldstart.mjs --reps=1 --cache=cold --loop=plain --no-prime \
    --only=tfjs-webgpu:mlp,jax-js-webgpu:mlp,tfjs-webgpu:cnn,jax-js-webgpu:cnn >>"$LOG" 2>&1) || echo "== peers cold failed (see $LOG)" >&2
  grep '"coldstart":1' "$(ls -t "$DIR"/results/coldstart-*.jsonl | head -1)" >>"$OUT" || true
fi

node bench/peer-ratios.mjs "$OUT" | tee "${OUT%.jsonl}.txt"
echo "raw lines: $OUT" >&2
