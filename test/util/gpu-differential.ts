import { expect } from "vitest";
import { planOf } from "../../src/codegen/plan.js";
import { DEFAULT_CODEGEN, type CodegenOptions } from "../../src/codegen/wgsl.js";
import type { Graph, Value } from "../../src/ir/graph.js";
import { interpret, type Tensor } from "../../src/ir/interp.js";
import type { Builder } from "../../src/ir/ops/builder.js";
import { fuse } from "../../src/ir/passes/fuse.js";
import { concreteShape, type Dim, type DimBindings } from "../../src/ir/types.js";
import type { GpuContext } from "../../src/runtime/device.js";
import type { PipelineCache } from "../../src/runtime/pipelines.js";
import { WebGpuRunner } from "../../src/runtime/webgpu.js";
import { ctx, graphWith, randomTensor, rng } from "./build.js";

/** Options of a WebGPU-versus-CPU comparison. */
export interface DifferentialOptions {
  /** Seed of the random inputs, drawn uniformly from [lo, hi). */
  seed?: number;
  lo?: number;
  hi?: number;
  /** The inputs themselves (replacing the random ones), by position. */
  inputs?: Tensor[];
  /** Fixed values for some inputs (indices, seeds), by position; the others are random. */
  data?: Record<number, number[]>;
  /** Largest allowed |got - want| / max(1, |want|); 0 asks for exact equality. */
  tol?: number;
  /** Values of the symbolic dims in the shapes. */
  dims?: DimBindings;
  codegen?: CodegenOptions;
}

/**
 * Builds a graph over inputs of `shapes`, fuses it, runs it on WebGPU and on the CPU reference
 * (f32), and compares every output within `tol` (relative to max(1, |expected|)). Returns the
 * fused graph, for checks of its kernels.
 */
export async function differential(
  gpu: GpuContext,
  cache: PipelineCache,
  shapes: Dim[][],
  build: (b: Builder, xs: Value[]) => Value[],
  opts: DifferentialOptions = {},
): Promise<Graph> {
  const { seed = 1, lo = -1, hi = 1, tol = 1e-5, data: fixed = {}, dims = {}, codegen = DEFAULT_CODEGEN } = opts;
  const { g, b, args } = graphWith(shapes, "input");
  const outs = build(b, args);
  g.outputs = outs.map((value, i) => ({ name: `o${i}`, value }));
  const fused: Graph = fuse(g, ctx());
  const rand = rng(seed);
  const data =
    opts.inputs ??
    shapes.map((s, i) => {
      const shape = concreteShape(s, dims);
      return fixed[i] ? { shape, data: Float64Array.from(fixed[i]!) } : randomTensor(shape, rand, lo, hi);
    });
  const batch = Object.fromEntries(data.map((t, i) => [`p${i}`, Float32Array.from(t.data)]));
  const runner = await WebGpuRunner.create(gpu, planOf(fused, { codegen }), dims, {}, cache);
  try {
    await runner.step(batch, false);
    const env = interpret(
      fused,
      new Map<Value, Tensor>(fused.args.map((a, i) => [a, { shape: data[i]!.shape, data: Float32Array.from(data[i]!.data) }])),
      { dims, precision: "f32" },
    );
    for (const o of fused.outputs) {
      const got = await runner.readValue(o.value.id);
      const want = env.get(o.value)!.data;
      expect(got.length).toBe(want.length);
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / Math.max(1, Math.abs(want[i]!)));
      expect(worst, `${o.name} worst relative error`).toBeLessThanOrEqual(tol);
    }
  } finally {
    runner.dispose();
  }
  return fused;
}
