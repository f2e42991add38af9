import type { Attrs, Graph, Value } from "../src/ir/graph.js";
import { fuse } from "../src/ir/passes/fuse.js";
import { ctx, graphWith, TEST_SPAN } from "../test/util/build.js";

/** A conv layer of a benchmark: input and weight shapes (NCHW, OIHW) and conv attributes. */
export interface ConvLayer {
  name: string;
  x: number[];
  w: number[];
  attrs: Attrs;
}

/**
 * conv of `layer` and its gradients with respect to x and w (from an upstream gradient shaped
 * like y, an input), as outputs o0..o2 of one graph, fused: each op is a kernel of its own.
 */
export function convAndGradients(layer: ConvLayer): { fused: Graph; y: Value } {
  const { g, b, args } = graphWith([layer.x, layer.w], "input");
  const y = b.op("conv", args, layer.attrs);
  const up = g.addArg({ role: "input", name: "up", init: { kind: "zeros", options: {} } }, y.type, TEST_SPAN);
  const base = { ...layer.attrs, groups: 1 };
  const gi = b.op("conv_grad_input", [up, args[1]!], { ...base, input: layer.x.slice(2) });
  const gw = b.op("conv_grad_weight", [args[0]!, up], { ...base, kernel: layer.w.slice(2) });
  g.outputs = [y, gi, gw].map((value, i) => ({ name: `o${i}`, value }));
  return { fused: fuse(g, ctx()), y };
}
