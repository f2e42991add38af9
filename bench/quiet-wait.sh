#!/bin/bash
# What waiting quietly gives (src/runtime/quiet-wait.ts): the runtime workloads of `netc bench`
# with Dawn's own spinning wait (NETC_QUIET_WAIT=0) and with netc's quiet one, alternated ROUNDS
# times in one run so both see the same machine. Prints each round's JSON lines, tagged.
#   bash bench/quiet-wait.sh [ROUNDS] [WORKLOADS]      (3, mlp-step,cnn-infer,train-mnist-cnn)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
workloads=${2:-mlp-step,cnn-infer,train-mnist-cnn}
for r in $(seq "$rounds"); do
  for quiet in 0 1; do
    NETC_QUIET_WAIT=$quiet ./bin/netc.js bench --workload "$workloads" --json --no-tune |
      sed "s/^{/{\"quiet_wait\":$quiet,\"round\":$r,/"
  done
done
