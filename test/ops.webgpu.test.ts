import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { OpName } from "../src/ir/ops/registry.js";
import { releaseGpu, requireSharedGpu, type GpuContext } from "../src/runtime/device.js";
import { PipelineCache } from "../src/runtime/pipelines.js";
import { caseInputs, OP_CASES } from "./op-cases.js";
import { differential } from "./util/gpu-differential.js";

// Every registry op, alone, on WebGPU against the CPU reference (f32), on the odd shapes of
// test/op-cases.ts: the WGSL of each op (expression, reduction, view, template or window loop)
// against the semantics its entry defines. One device and one pipeline cache for the file.
// NOTE: llvmpipe compiles each new kernel at its first dispatch (about a second), so each op is
// one small graph and the file runs in well under a minute.

let gpu: GpuContext;
let cache: PipelineCache;
beforeAll(async () => {
  gpu = await requireSharedGpu();
  cache = new PipelineCache(gpu.device);
});
afterAll(() => {
  const errors = [...gpu.errors];
  releaseGpu(gpu);
  expect(errors).toEqual([]);
});

describe("every registry op on WebGPU vs the CPU reference", () => {
  for (const [name, c] of Object.entries(OP_CASES) as [OpName, (typeof OP_CASES)[OpName]][]) {
    it(`${name} on ${JSON.stringify(c.shapes)}`, async () => {
      const fused = await differential(gpu, cache, c.shapes, (b, xs) => [b.op(name, xs, c.attrs ?? {})], { inputs: caseInputs(c, 17 + name.length) });
      // The op itself ran in a kernel (or, for a view that only aliases, needed none).
      const ops = fused.kernels!.flatMap((k) => k.nodes.map((n) => n.op));
      if (name !== "reshape") expect(ops).toContain(name);
    });
  }
});
