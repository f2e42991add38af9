import type { Graph } from "../../src/ir/graph.js";
import { concreteShape, numel, type DimBindings } from "../../src/ir/types.js";
import { uniform01 } from "../../src/runtime/random.js";
import { initialParams } from "../../src/runtime/train.js";

// Values shared by the ONNX export and import tests.

/** Seeded initial values, every tensor nudged so zero biases and unit batchnorm statistics are tested too. */
export function testValues(g: Graph, seed: number): Record<string, Float32Array> {
  const values = initialParams(g, {}, seed);
  let stream = 0;
  for (const [name, v] of Object.entries(values)) {
    stream++;
    const positive = /var/.test(name);
    for (let i = 0; i < v.length; i++) {
      const u = uniform01(seed, stream, i) - 0.5;
      v[i] = positive ? 0.5 + Math.abs(v[i]! + u) : v[i]! + 0.2 * u;
    }
  }
  return values;
}

/** Random rows for each input: ids below the smallest table a gather reads with them, else uniform in [-1, 1). */
export function testInputs(g: Graph, dims: DimBindings, seed: number): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  g.args.forEach((a, k) => {
    if (a.arg!.role !== "input") return;
    const n = numel(concreteShape(a.type.shape, dims));
    const data = new Float32Array(n);
    if (a.type.dtype === "i32") {
      const tables = g.nodes.filter((x) => x.op === "gather" && x.inputs[1] === a).map((x) => x.inputs[0]!.type.shape[(x.attrs["axis"] as number) ?? 0] as number);
      const vocab = Math.min(...tables, 1 << 20);
      for (let i = 0; i < n; i++) data[i] = Math.floor(uniform01(seed, k, i) * vocab);
    } else for (let i = 0; i < n; i++) data[i] = 2 * uniform01(seed, k, i) - 1;
    out[a.arg!.name] = data;
  });
  return out;
}
