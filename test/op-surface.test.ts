import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { compile } from "../src/compile.js";
import type { FunctionDef, KwKind, KwValue, LayerCtx } from "../src/frontend/function-def.js";
import { FUNCTIONS } from "../src/frontend/functions.js";
import { Graph, type Value } from "../src/ir/graph.js";
import { OPS, opDef } from "../src/ir/ops/registry.js";
import type { Dim } from "../src/ir/types.js";
import { TEST_SPAN } from "./util/build.js";

// Every registry op is either reachable from `.net` (a function of src/frontend/functions.ts, an
// operator, a layer or a training statement lowers to it) or marked `internal` in its entry with
// the reason (built by autodiff, ...), and no op marked internal is reachable. So a new primitive
// that nothing in `.net` can name fails here, pointing at FUNCTIONS.

/** A sample static argument of each kind, for lowering a function with made-up arguments. */
const SAMPLE: Record<KwKind, KwValue> = {
  int: 1,
  size: 4,
  ints: [1],
  bool: true,
  number: 0.5,
  function: "relu",
  padding: "same",
  shape: [2, 3],
};

/**
 * The ops FUNCTIONS[name] emits, lowered with sample arguments of each rank from 1 to 5, without
 * and with every keyword argument (a made-up LayerCtx).
 */
function opsOfFunction(name: string): Set<string> {
  const seen = new Set<string>();
  for (let rank = 1; rank <= 5; rank++) for (const withKwargs of [false, true]) lowerWithSamples(FUNCTIONS[name]!, rank, withKwargs, seen);
  return seen;
}

/** Lowers `def` once on inputs of rank `rank`, adding the ops it emits to `seen`. */
function lowerWithSamples(def: FunctionDef, rank: number, withKwargs: boolean, seen: Set<string>): void {
  // NOTE: the third dim is the sample `size` (4), so attention with 4 heads fits a rank-3 input.
  const shapeOf: Dim[] = [2, 3, 4, 5, 6].slice(0, rank);
  const g = new Graph("surface");
  const known = new Map<Value, Dim[]>();
  const arg = (n: string, shape: Dim[]) => {
    const v = g.addArg({ role: "param", name: `${n}${g.args.length}`, init: { kind: "zeros", options: {} } }, { dtype: "f32", shape }, TEST_SPAN);
    known.set(v, shape);
    return v;
  };
  const emit = (op: string, inputs: Value[], attrs = {}) => {
    seen.add(op);
    return g.addNode(op, inputs, attrs, { dtype: "f32", shape: [] }, TEST_SPAN, "forward");
  };
  const layer: LayerCtx = {
    instance: "l",
    param: (n, shape) => arg(n, shape),
    apply: (fn, x) => FUNCTIONS[fn]?.lower(emit, [x], {}, TEST_SPAN, layer),
    shape: (v) => known.get(v),
    dtype: () => undefined,
    error: () => undefined,
    training: true,
    state: (n, shape) => arg(n, shape),
    update: () => undefined,
    seed: () => arg("seed", []),
    symbol: (s) => s,
  };
  const kw: Record<string, KwValue> = {};
  for (const s of def.statics ?? []) kw[s.name] = SAMPLE[s.kind];
  if (withKwargs) for (const [k, kind] of Object.entries(def.kwargs)) kw[k] = SAMPLE[kind];
  try {
    def.lower(emit, def.params.map((p) => arg(p, shapeOf)), kw, TEST_SPAN, layer);
  } catch {
    // NOTE: made-up arguments may not fit (a rank a layer rejects); what was emitted still counts.
  }
}

/** The ops of every example's lowered graph: operators, layers, losses and metrics as users write them. */
function opsOfExamples(): Set<string> {
  const seen = new Set<string>();
  const dir = join(import.meta.dirname, "..", "examples");
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".net"))) {
    const path = join(dir, file);
    const c = compile(readFileSync(path, "utf8"), path, { after: "lower" });
    expect(c.diagnostics.render(), file).toBe("");
    for (const n of c.graph!.nodes) seen.add(n.op);
  }
  return seen;
}

describe("the registry and the .net surface", () => {
  const reachable = new Set<string>([...opsOfExamples(), ...Object.keys(FUNCTIONS).flatMap((f) => [...opsOfFunction(f)])]);

  it("every op is reachable from .net or marked internal, never both", () => {
    const problems = Object.keys(OPS).flatMap((op) => {
      const internal = opDef(op).internal;
      if (!reachable.has(op) && internal === undefined)
        return [`${op}: no .net function, operator or layer lowers to it; add its name to FUNCTIONS (src/frontend/functions.ts) or mark it internal in its registry entry`];
      if (reachable.has(op) && internal !== undefined) return [`${op}: marked internal (${internal}) but .net reaches it`];
      return [];
    });
    expect(problems).toEqual([]);
  });

  it("the sampling above is real: it reaches the primitives FUNCTIONS names and the operators' ops", () => {
    for (const op of ["exp", "erf", "pow", "select", "matmul", "conv", "pool", "gather", "rand", "pad", "concat", "add", "neg"]) expect(reachable).toContain(op);
  });
});
