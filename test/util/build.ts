import { Diagnostics } from "../../src/base/diagnostics.js";
import { SourceFile, type Span } from "../../src/base/source.js";
import { Graph, type Attrs, type Value } from "../../src/ir/graph.js";
import type { Tensor } from "../../src/ir/interp.js";
import { Builder } from "../../src/ir/ops/builder.js";
import type { Dim } from "../../src/ir/types.js";

/** A span for graphs built by tests. */
export const TEST_SPAN: Span = { file: new SourceFile("<test>", "test"), start: 0, end: 4 };

/** A deterministic pseudo-random generator for test data (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A random f64 tensor with values in [lo, hi). */
export function randomTensor(shape: number[], rand: () => number, lo = -1, hi = 1): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return { shape, data: Float64Array.from({ length: n }, () => lo + (hi - lo) * rand()) };
}

/** A graph with params of the given shapes, one op applied to them, and a builder for more. */
export function graphWith(shapes: Dim[][], role: "param" | "input" = "param"): { g: Graph; b: Builder; args: Value[] } {
  const g = new Graph("test");
  g.typed = true;
  const args = shapes.map((shape, i) =>
    g.addArg({ role, name: `p${i}`, init: { kind: "zeros", options: {} } }, { dtype: "f32", shape }, TEST_SPAN),
  );
  return { g, b: new Builder(g, TEST_SPAN, "forward"), args };
}

/** Applies `op` with attrs through the builder. */
export function apply(b: Builder, op: string, ins: Value[], attrs: Attrs = {}): Value {
  return b.op(op, ins, attrs);
}

/** A fresh diagnostics sink for passes. */
export function ctx(): { d: Diagnostics } {
  return { d: new Diagnostics() };
}
