#!/usr/bin/env node
// netc beside its peers: reads the JSON lines of one `bench/peers.sh` run (the peers' harness lines,
// their coldstart.mjs records and `netc bench --json` lines, in any order and any number of rounds)
// and prints, per workload, each system's median (best) time and netc's time over each peer's.
//
//   node bench/peer-ratios.mjs bench/results/DATE-peers.jsonl
//
// A ratio under 1 means netc is faster. Several rounds: the median of each system's medians, the best of its bests.
import { readFileSync } from "node:fs";

const PEERS = ["tfjs-webgpu", "jax-js-webgpu", "ort-web-webgpu"];
const SYSTEMS = ["netc", ...PEERS];
const ORDER = ["matmul-1024", "matmul-2048", "mlp-step", "cnn-infer", "mlp-step cold", "cnn-infer cold"];

/** netc's workload name for a peer's line, or undefined for a variant netc does not run (pipelined, dispatch-only). */
function keyOf(r) {
  if (r.coldstart) return r.cond === "cold" && !r.error ? `${r.workload === "mlp" ? "mlp-step" : "cnn-infer"} cold` : undefined;
  if (r.system === "netc") return r.workload;
  if (/pipelined|dispatch-only/.test(r.workload ?? "")) return undefined;
  const m = /^matmul (\d+)\^3/.exec(r.workload ?? "");
  if (m) return `matmul-${m[1]}`;
  if (/^MLP 784-256-256-10 train step b128 .*loss readback every step/.test(r.workload ?? "")) return "mlp-step";
  if (/^CNN infer b64/.test(r.workload ?? "")) return "cnn-infer";
  return undefined;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const lines = readFileSync(process.argv[2], "utf8").split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
/** key -> system -> { med: [], min: [], notes: Set } */
const cells = new Map();
const failures = [];
for (const r of lines) {
  if (r.info || r.coldstart_info) continue;
  const key = keyOf(r);
  if (!key) continue;
  if (r.error) {
    failures.push(`${r.system} ${r.workload}: ${String(r.error).slice(0, 200)}`);
    continue;
  }
  const sys = r.system;
  if (!cells.has(key)) cells.set(key, new Map());
  const row = cells.get(key);
  if (!row.has(sys)) row.set(sys, { med: [], min: [], notes: new Set() });
  const c = row.get(sys);
  if (r.coldstart) {
    // NOTE: spawn -> first result, as netc's --cold lines time it; init_ms is the library-ready time.
    const t = r.t_setup_ms + r.first_ms;
    c.med.push(t);
    c.min.push(t);
    c.notes.add(`ready ${Math.round(r.init_ms)} ms`);
    continue;
  }
  c.med.push(r.median_ms);
  c.min.push(r.min_ms);
  if (r.gflops_median != null) c.notes.add(`${r.gflops_median} GFLOP/s`);
  const d = r.dispatches ?? r.dispatchesPerStep ?? r.dispatchesPerBatch ?? r.dispatchesPerRun;
  const passes = r.passes ?? r.computePassesPerStep;
  if (d != null) c.notes.add(passes != null ? `${d}/${passes}/${r.submits ?? r.submitsPerStep} disp/pass/sub` : `${d} disp`);
  if (r.lossStart != null) c.notes.add(`loss ${r.lossStart}->${r.lossEnd}`);
  if (r.ready_ms != null) c.notes.add(`ready ${Math.round(r.ready_ms)} ms`);
  if (r.checksum != null) c.notes.add(`sum of abs logits ${r.checksum}`);
}

const fmt = (v) => (v >= 100 ? String(Math.round(v)) : v.toFixed(1));
const out = ["| workload | " + SYSTEMS.join(" | ") + " | netc / best peer | " + PEERS.map((p) => `netc / ${p}`).join(" | ") + " |", "|" + "---|".repeat(2 + SYSTEMS.length + PEERS.length)];
const keys = [...cells.keys()].sort((a, b) => (ORDER.indexOf(a) + 1 || 99) - (ORDER.indexOf(b) + 1 || 99));
for (const key of keys) {
  const row = cells.get(key);
  const med = (sys) => (row.has(sys) ? median(row.get(sys).med) : undefined);
  const cell = (sys) => {
    const c = row.get(sys);
    if (!c) return "–";
    return `${fmt(median(c.med))} (${fmt(Math.min(...c.min))})${c.notes.size ? "<br>" + [...c.notes].join(", ") : ""}`;
  };
  const netc = med("netc");
  const peerMeds = PEERS.map(med).filter((v) => v !== undefined);
  const ratio = (v) => (netc !== undefined && v !== undefined ? (netc / v).toFixed(2) : "–");
  out.push(`| ${key} | ${SYSTEMS.map(cell).join(" | ")} | ${peerMeds.length ? ratio(Math.min(...peerMeds)) : "–"} | ${PEERS.map((p) => ratio(med(p))).join(" | ")} |`);
}
console.log("Times in ms: median (best); cold = process start to first result with an empty Mesa shader cache.\n");
console.log(out.join("\n"));
if (failures.length) console.log("\nFailed:\n" + failures.map((f) => "- " + f).join("\n"));
