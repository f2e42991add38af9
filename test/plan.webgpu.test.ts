import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { NetcError } from "../src/base/errors.js";
import { planOf } from "../src/codegen/plan.js";
import { compile } from "../src/compile.js";
import type { Graph } from "../src/ir/graph.js";
import { interpret, type Tensor } from "../src/ir/interp.js";
import { planFromJson, planToJson, type Plan } from "../src/ir/plan.js";
import { concreteShape, numel } from "../src/ir/types.js";
import { RunnerPool, webgpuBackend } from "../src/runtime/backend.js";
import { cpuBackend } from "../src/runtime/cpu-backend.js";
import { requireSharedGpu } from "../src/runtime/device.js";
import { PipelineCache } from "../src/runtime/pipelines.js";
import { planInitialValues } from "../src/runtime/train.js";
import { rng } from "./util/build.js";
import { compileOk, tinySource } from "./util/tiny-net.js";

// The Plan is the compiler's whole output: serialised to JSON and loaded back, it must run every
// example (in inference mode) to the outputs the compiler path gives, on the CPU reference and on
// WebGPU, with nothing but the runtime.

const DIR = join(import.meta.dirname, "..", "examples");
const files = readdirSync(DIR).filter((f) => f.endsWith(".net")).sort();
const ROWS = 3;

/** Inputs for `rows` rows: ids for integer inputs, values in [-1, 1) otherwise. */
function inputsFor(plan: Plan, rows: number, seed: number): Record<string, Float32Array> {
  const rand = rng(seed);
  const out: Record<string, Float32Array> = {};
  for (const t of plan.inputs) {
    const n = numel(concreteShape(t.shape, { [plan.batchDims[0]!]: rows }));
    out[t.name] = Float32Array.from({ length: n }, () => (t.dtype === "i32" ? Math.floor(rand() * 5) : 2 * rand() - 1));
  }
  return out;
}

/** The outputs the compiler path gives: the fused graph interpreted directly. */
function reference(g: Graph, plan: Plan, init: Record<string, Float32Array>, feed: Record<string, Float32Array>): Record<string, Float32Array> {
  const dims = { [plan.batchDims[0]!]: ROWS };
  const args = new Map<(typeof g.args)[number], Tensor>();
  for (const a of g.args) args.set(a, { shape: concreteShape(a.type.shape, dims), data: (init[a.arg!.name] ?? feed[a.arg!.name])! });
  const env = interpret(g, args, { dims, precision: "f32" });
  return Object.fromEntries(g.outputs.map((o) => [o.name, Float32Array.from(env.get(o.value)!.data)]));
}

function expectClose(got: Float32Array, want: Float32Array, what: string): void {
  expect(got.length, what).toBe(want.length);
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / Math.max(1, Math.abs(want[i]!)));
  expect(worst, what).toBeLessThan(2e-4);
}

describe("a Plan serialised and loaded back runs every example like the compiler path", () => {
  const cache = requireSharedGpu().then((gpu) => ({ gpu, cache: new PipelineCache(gpu.device) }));
  for (const file of files) {
    it(file, async () => {
      const path = join(DIR, file);
      const c = compile(readFileSync(path, "utf8"), path, { mode: "infer" });
      expect(c.diagnostics.render()).toBe("");
      const g = c.graph!;
      expect(g.loss).toBeUndefined();
      expect(g.args.some((a) => a.arg!.role === "label" || a.arg!.role === "hyper")).toBe(false);
      const live = planOf(g, { batches: [ROWS] });
      const json = planToJson(live);
      const loaded = planFromJson(json);
      expect(loaded.specialise).toBeUndefined();
      expect(JSON.parse(planToJson(loaded))).toEqual(JSON.parse(json));
      const init = planInitialValues(loaded, 5);
      const feed = inputsFor(loaded, ROWS, 9);
      const want = reference(g, live, init, feed);
      const names = loaded.outputs.map((o) => o.name);
      const { gpu, cache: pipelines } = await cache;
      for (const backend of [cpuBackend(), webgpuBackend(gpu, pipelines)]) {
        const pool = new RunnerPool(backend, loaded, init);
        try {
          const got = await (await pool.get(ROWS)).run(feed, names);
          for (const name of names) expectClose(got[name]!, want[name]!, `${file} ${backend.kind} ${name}`);
        } finally {
          pool.dispose();
        }
      }
    });
  }
});

describe("runners of a plan report the caller's mistakes as NetcErrors", () => {
  it("a wrong input length, a missing input, an unknown name to read; the hyper scalars come from the schedule", async () => {
    const { graph, spec } = compileOk(tinySource({ plain: true }));
    const plan = planFromJson(planToJson(planOf(graph, { train: spec, batches: [4] })));
    for (const backend of [cpuBackend(), webgpuBackend(await requireSharedGpu())]) {
      const pool = new RunnerPool(backend, plan, planInitialValues(plan, 1));
      const r = await pool.get(4);
      const x = new Float32Array(12);
      const labels = new Float32Array(8);
      await expect(r.run({ x: new Float32Array(10), labels }, [])).rejects.toThrow(new NetcError('tiny: input "x" is f32[B, 3] with B = 4: 12 values, got 10'));
      await expect(r.run({ labels }, [])).rejects.toThrow(/^tiny: the batch has no input "x" \(f32\[B, 3\] with B = 4\); it feeds x, labels$/);
      await expect(r.run({ x, labels }, ["grad.h.weight"])).rejects.toThrow(/^tiny has no value "grad.h.weight" to read \(readable: loss, probs, metric.accuracy, step.stats\)$/);
      await expect(r.load({ "h.wieght": new Float32Array(18) })).rejects.toThrow(/tiny has no param or state called "h.wieght"/);
      await expect(pool.get(0)).rejects.toThrow(NetcError);
      // No lr given: the runner takes it from the training schedule (step 0, 1, ...).
      const first = await r.run({ x, labels }, ["loss"]);
      expect(Number.isFinite(first["loss"]![0])).toBe(true);
      pool.dispose();
    }
  });

  it("a plan of another format is refused with what it is", () => {
    expect(() => planFromJson("{")).toThrow(/not a netc plan: not JSON/);
    expect(() => planFromJson({ format: "netc-plan-0" })).toThrow(/not a netc plan: format "netc-plan-0", expected "netc-plan-1"/);
  });
});
