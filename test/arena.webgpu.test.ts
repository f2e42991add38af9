import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { planOf } from "../src/codegen/plan.js";
import { compile } from "../src/compile.js";
import { stepMemory } from "../src/ir/arena.js";
import { planFromJson, planToJson, type Plan } from "../src/ir/plan.js";
import { concreteShape, numel } from "../src/ir/types.js";
import { dimsFor } from "../src/runtime/backend.js";
import { releaseGpu, requireSharedGpu, sharedGpu } from "../src/runtime/device.js";
import { PipelineCache } from "../src/runtime/pipelines.js";
import { planInitialValues } from "../src/runtime/train.js";
import { WebGpuRunner } from "../src/runtime/webgpu.js";
import { rng } from "./util/build.js";

// Temporaries sharing buffers must not change a single bit of training: the same kernels run in
// the same order, only into other memory. Each example trains a few steps on WebGPU with the
// arena, without it, and from its plan saved without an arena (as built before it existed).

const DIR = join(import.meta.dirname, "..", "examples");
const EXAMPLES = ["iris.net", "fashion-cnn2.net", "transformer-encoder.net", "char-lstm.net"];
const ROWS = 4;
const STEPS = 3;

/** A batch of inputs and labels: ids below 2 for integer tensors, values in [0, 1) otherwise. */
function batchFor(plan: Plan, seed: number): Record<string, Float32Array> {
  const rand = rng(seed);
  const dims = dimsFor(plan, ROWS);
  const out: Record<string, Float32Array> = {};
  for (const t of [...plan.inputs, ...plan.labels])
    out[t.name] = Float32Array.from({ length: numel(concreteShape(t.shape, dims)) }, () => (t.dtype === "i32" ? Math.floor(rand() * 2) : rand()));
  return out;
}

describe("training with the arena on WebGPU", () => {
  afterAll(async () => {
    const gpu = await sharedGpu();
    if (gpu) releaseGpu(gpu);
  });
  const setup = requireSharedGpu().then((gpu) => ({ gpu, cache: new PipelineCache(gpu.device) }));
  for (const file of EXAMPLES)
    it(`${file}: losses and every param and state bit for bit as without it, and from a plan without one`, async () => {
      const path = join(DIR, file);
      const c = compile(readFileSync(path, "utf8"), path);
      expect(c.diagnostics.render()).toBe("");
      const plan = planOf(c.graph!, { train: c.train, batches: [ROWS] });
      const old = JSON.parse(planToJson(plan)) as Plan;
      for (const v of old.variants) delete v.arena;
      const loaded = planFromJson(old);
      const m = stepMemory(plan, plan.variants[0]!);
      expect(m.total, "the arena saves memory").toBeLessThan(m.totalUnshared);
      const { gpu, cache } = await setup;
      const dims = dimsFor(plan, ROWS);
      const init = planInitialValues(plan, 3);
      const runners = [
        await WebGpuRunner.create(gpu, plan, dims, init, cache),
        await WebGpuRunner.create(gpu, plan, dims, init, cache, { arena: false }),
        await WebGpuRunner.create(gpu, loaded, dims, init, cache),
      ];
      try {
        const losses: number[][] = runners.map(() => []);
        for (let step = 0; step < STEPS; step++) {
          const batch = batchFor(plan, 100 + step);
          for (const [i, r] of runners.entries()) losses[i]!.push((await r.run(batch, ["loss"]))["loss"]![0]!);
        }
        expect(losses[0]!.every(Number.isFinite)).toBe(true);
        expect(losses[1]).toEqual(losses[0]);
        expect(losses[2]).toEqual(losses[0]);
        const [a, b, o] = await Promise.all(runners.map((r) => r.state()));
        for (const name of Object.keys(b!)) {
          expect(a![name], `${name} with and without the arena`).toEqual(b![name]);
          expect(o![name], `${name} of the plan without an arena`).toEqual(b![name]);
        }
        expect(gpu.errors).toEqual([]);
      } finally {
        for (const r of runners) r.dispose();
      }
    });

  for (const file of ["iris.net", "transformer-encoder.net"])
    it(`${file}: a runner for the last partial batch borrows the owner's arena; steps of both interleaved train bit for bit as without it`, async () => {
      const path = join(DIR, file);
      const c = compile(readFileSync(path, "utf8"), path);
      const plan = planOf(c.graph!, { train: c.train });
      const { gpu, cache } = await setup;
      const init = planInitialValues(plan, 5);
      const losses: number[][] = [];
      const states: Record<string, Float32Array>[] = [];
      for (const arena of [true, false]) {
        const owner = await WebGpuRunner.create(gpu, plan, dimsFor(plan, ROWS), init, cache, { arena });
        const part = await WebGpuRunner.create(gpu, plan, dimsFor(plan, 2), {}, cache, { arena, sharePersistentWith: owner });
        const got: number[] = [];
        try {
          if (arena) {
            // The owner allocates what `train` prints; the borrower only its batch's inputs.
            expect(owner.allocatedBytes).toBe(stepMemory(plan, owner.variant).total);
            expect(part.allocatedBytes).toBe(stepMemory(plan, part.variant).data);
          }
          for (let step = 0; step < STEPS; step++) {
            const full = batchFor(plan, 200 + step);
            got.push((await owner.run(full, ["loss"]))["loss"]![0]!);
            const half = Object.fromEntries(Object.entries(full).map(([k, v]) => [k, v.subarray(0, v.length / 2)]));
            got.push((await part.run(half, ["loss"]))["loss"]![0]!);
          }
          losses.push(got);
          states.push(await owner.state());
        } finally {
          part.dispose();
          owner.dispose();
        }
      }
      expect(losses[0]!.every(Number.isFinite)).toBe(true);
      expect(losses[0]).toEqual(losses[1]);
      for (const name of Object.keys(states[1]!)) expect(states[0]![name], name).toEqual(states[1]![name]);
      expect(gpu.errors).toEqual([]);
    });
});
