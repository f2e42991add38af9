#!/usr/bin/env node
// A training step's memory on WebGPU, from the Plan alone (no device): every example's training
// plan at its section's batch size (or --batch N), with temporaries sharing buffers by the arena
// (src/ir/arena.ts) and without reuse (a buffer per value, as before the arena), and the largest
// sum of temporaries live at one kernel (what offsets in one buffer could reach at best).
//
//   node bench/memory.mjs [--batch N] [--only fashion-cnn2,mnist-cnn]
//
// Prints one JSON line per example, then a table. Needs `npm run build` first.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { compileFile } from "../dist/src/cli/io.js";
import { planOf } from "../dist/src/codegen/plan.js";
import { formatBytes, stepMemory } from "../dist/src/ir/arena.js";
import { dimsFor } from "../dist/src/runtime/backend.js";

const ROOT = join(import.meta.dirname, "..");
const args = process.argv.slice(2);
const opt = (name) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const only = opt("only")?.split(",");
const files = readdirSync(join(ROOT, "examples"))
  .filter((f) => f.endsWith(".net") && (!only || only.includes(f.replace(/\.net$/, ""))))
  .sort();
const rows = [];
for (const f of files) {
  const c = compileFile(join(ROOT, "examples", f));
  if (!c.train || !c.graph.loss) continue;
  const batch = Number(opt("batch") ?? c.train.batch);
  const plan = planOf(c.graph, { train: c.train });
  const variant = plan.specialise(dimsFor(plan, batch));
  const m = stepMemory(plan, variant);
  const row = { example: f, batch, kernels: variant.kernels.length, slots: variant.arena.slots.length, ...m, ratio: Number((m.total / m.totalUnshared).toFixed(3)) };
  console.log(JSON.stringify(row));
  rows.push(row);
}
console.log("");
console.log("example                    batch  kernels  without reuse  arena      ratio  params+state  temporaries  live at peak");
for (const r of rows)
  console.log(
    `${r.example.padEnd(26)} ${String(r.batch).padStart(5)}  ${String(r.kernels).padStart(7)}  ${formatBytes(r.totalUnshared).padStart(13)}  ${formatBytes(r.total).padStart(9)}  ${r.ratio.toFixed(3).padStart(5)}  ${formatBytes(r.params + r.state).padStart(12)}  ${formatBytes(r.temporaries).padStart(11)}  ${formatBytes(r.liveAtPeak).padStart(12)}`,
  );
