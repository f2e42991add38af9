import { describe, expect, it } from "vitest";
import { EagerTypes } from "../src/frontend/eager-types.js";
import { SourceFile, type Span } from "../src/base/source.js";
import { Graph, type Node } from "../src/ir/graph.js";

// Lowering asks for a value's type after each layer it emits (a recurrent layer unrolls over the
// sequence length, a conv needs its input's channels); each question must type only the nodes
// emitted since the last one. Rescanning from the first node made lowering quadratic: a repeat of
// 2,000 conv blocks (20,000 nodes) took over 60 s in check (found by the fuzzer).

describe("eager types", () => {
  it("type each node once however often they are asked, and give the shape rules' types", () => {
    const span: Span = { file: new SourceFile("eager.net", ""), start: 0, end: 0 };
    const g = new Graph("eager");
    let reads = 0;
    // NOTE: counts every read of a node by index, whoever makes it.
    g.nodes = new Proxy<Node[]>([], {
      get: (target, key, receiver) => {
        if (typeof key === "string" && /^\d+$/.test(key)) reads++;
        return Reflect.get(target, key, receiver) as unknown;
      },
    });
    const eager = new EagerTypes(g);
    let v = g.addArg({ role: "input", name: "x" }, { dtype: "f32", shape: ["B", 4] }, span);
    const w = g.addArg({ role: "param", name: "w" }, { dtype: "f32", shape: [4, 4] }, span);
    const placeholder = { dtype: "f32" as const, shape: [] };
    const n = 3000;
    for (let i = 0; i < n; i++) {
      v = g.addNode(i % 2 ? "tanh" : "matmul", i % 2 ? [v] : [v, w], {}, placeholder, span, "forward");
      expect(eager.typeOf(v)).toEqual({ dtype: "f32", shape: ["B", 4] });
    }
    // Asked again, nothing is typed again.
    expect(eager.typeOf(g.nodes[10]!.out)).toEqual({ dtype: "f32", shape: ["B", 4] });
    expect(reads).toBeLessThanOrEqual(2 * n);
  });
});
