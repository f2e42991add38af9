import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { compile, type CompileOptions } from "../src/compile.js";
import { resolvePath } from "../src/frontend/modules.js";
import { printGraph } from "../src/ir/print.js";

// Blocks, `repeat` and imports: what they lower to (param names, shapes after infer-shapes) and
// the errors that need more than one file. The single-file error cases are in test/diagnostics/.

/** An in-memory file system for imports: `compile` reads through `readFile`. */
function files(map: Record<string, string>): CompileOptions["readFile"] {
  return (path) => map[path];
}

/** Compiles through infer-shapes; the source must be free of errors. */
function typed(text: string, opts: CompileOptions = {}, path = "main.net") {
  const c = compile(text, path, { after: "infer-shapes", ...opts });
  expect(c.diagnostics.render()).toBe("");
  return c.graph!;
}

/** `name: type` of every param, in declaration order. */
function params(text: string, opts: CompileOptions = {}): string[] {
  const g = typed(text, opts);
  return g.params.map((p) => `${p.arg!.name}: ${p.type.dtype}[${p.type.shape.join(",")}]`);
}

/** `path:line:col CODE message` of every diagnostic. */
function errors(text: string, opts: CompileOptions = {}, path = "main.net"): string[] {
  const c = compile(text, path, opts);
  return c.diagnostics.items.map((d) => {
    const { line, col } = d.span!.file.position(d.span!.start);
    return `${d.span!.file.path}:${line}:${col} ${d.code} ${d.message}`;
  });
}

const RESIDUAL = `
block Residual(c: int, act: fn = relu) {
  input x: f32[B, c]
  param w: f32[c, c] = xavier
  h = x |> dense1: dense(c, activation = act)
  output y = x + h @ w
}
`;

describe("blocks", () => {
  it("names params and layers after the instance, in a pipe or a plain call", () => {
    const text = `${RESIDUAL}
network n {
  input x: f32[B, 4]
  h = x |> r1: Residual(4)
  output y = r2: Residual(h, 4, act = tanh)
}
`;
    expect(params(text)).toEqual([
      "r1.w: f32[4,4]",
      "r1.dense1.weight: f32[4,4]",
      "r1.dense1.bias: f32[4]",
      "r2.w: f32[4,4]",
      "r2.dense1.weight: f32[4,4]",
      "r2.dense1.bias: f32[4]",
    ]);
    const ir = printGraph(typed(text));
    expect(ir).toContain("tanh");
    expect(ir).toContain("max"); // r1's default activation, relu
  });

  it("numbers unnamed instances by block name, and layers inside them under the instance", () => {
    const text = `
block Pair(n: int) {
  input x: f32[B, F]
  output y = x |> dense(n) |> dense(n)
}
network n {
  input x: f32[B, 2]
  output y = x |> Pair(3) |> Pair(3)
}
`;
    expect(params(text)).toEqual([
      "Pair1.dense1.weight: f32[2,3]",
      "Pair1.dense1.bias: f32[3]",
      "Pair1.dense2.weight: f32[3,3]",
      "Pair1.dense2.bias: f32[3]",
      "Pair2.dense1.weight: f32[3,3]",
      "Pair2.dense1.bias: f32[3]",
      "Pair2.dense2.weight: f32[3,3]",
      "Pair2.dense2.bias: f32[3]",
    ]);
  });

  it("nests prefixes for blocks inside blocks", () => {
    const text = `
block Attn(n: int) {
  input x: f32[B, n]
  param q: f32[n, n] = xavier
  output y = x @ q |> softmax
}
block Layer(n: int) {
  input x: f32[B, n]
  output y = x + (x |> attn: Attn(n))
}
block Encoder(n: int) {
  input x: f32[B, n]
  output y = x |> layer1: Layer(n) |> layer2: Layer(n)
}
network n {
  input x: f32[B, 5]
  output y = x |> enc: Encoder(5)
}
`;
    expect(params(text)).toEqual(["enc.layer1.attn.q: f32[5,5]", "enc.layer2.attn.q: f32[5,5]"]);
  });

  it("binds a block's own symbolic dims per instance from the arguments", () => {
    // D is 3 for the first instance and 6 for the second; B follows the network's N.
    const text = `
block Proj(n: int) {
  input x: f32[B, D]
  param w: f32[D, n] = xavier
  output y = x @ w
}
network n {
  input x: f32[N, 3]
  output y = x |> a: Proj(6) |> b: Proj(2)
}
`;
    expect(params(text)).toEqual(["a.w: f32[3,6]", "b.w: f32[6,2]"]);
    const g = typed(text);
    expect(g.outputs[0]!.value.type.shape).toEqual(["N", 2]);
  });

  it("substitutes int, float, bool and fn params, with defaults and keywords", () => {
    const text = `
block Tune(n: int, k: float = 0.5, bias: bool = true, act: fn = sigmoid) {
  input x: f32[B, n]
  output y = x |> d: dense(n, use_bias = bias, activation = act) |> act |> s: Scale(k)
}
block Scale(k: float) {
  input x: f32[B, F]
  output y = x * k
}
network n {
  input x: f32[B, 2]
  output y = x |> t: Tune(2, bias = false, k = 3)
}
`;
    expect(params(text)).toEqual(["t.d.weight: f32[2,2]"]);
    const ir = printGraph(typed(text));
    expect(ir.match(/sigmoid/g)).toHaveLength(2);
    expect(ir).toContain("const {value=3}");
  });

  it("unpacks several outputs and checks declared output types", () => {
    const text = `
block Split {
  input x: f32[B, D]
  output lo: f32[B, D] = x * 0.5
  output hi = x * 2
}
network n {
  input x: f32[B, 3]
  lo, hi = x |> s: Split
  output y = lo + hi
}
`;
    const g = typed(text);
    expect(g.outputs[0]!.value.type.shape).toEqual(["B", 3]);
    const bad = text.replace("output lo: f32[B, D]", "output lo: f32[B, 7]");
    expect(errors(bad)).toEqual(["main.net:4:26 NC3009 declared type f32[B,7] of `lo` does not match its value f32[B,3]"]);
  });

  it("lowers a block that is used twice the same way each time (no state leaks between instances)", () => {
    const one = typed(`${RESIDUAL}\nnetwork n {\n  input x: f32[B, 4]\n  output y = x |> r: Residual(4)\n}\n`);
    const two = typed(`${RESIDUAL}\nnetwork n {\n  input x: f32[B, 4]\n  output y = x |> r: Residual(4) |> s: Residual(4)\n}\n`);
    expect(two.nodes.length).toBe(2 * one.nodes.length);
  });

  it("reports a mismatched input once, without cascading errors from the skipped body", () => {
    const text = `
block Pair(n: int) {
  input x: f32[B, n]
  output y = x |> dense(n) |> dense(n)
}
network n {
  input x: f32[B, 2]
  output y = x |> p: Pair(3)
}
`;
    expect(errors(text)).toEqual(["main.net:8:22 NC3020 input \`x\` of \`Pair\` must be f32[B,3], got f32[B,2]"]);
  });
});

describe("repeat", () => {
  it("chains instances with stable numbered names", () => {
    const text = `${RESIDUAL}
network n {
  input x: f32[B, 4]
  output y = x |> blocks: repeat(3, Residual(4))
}
`;
    expect(params(text)).toEqual([0, 1, 2].flatMap((i) => [`blocks.${i}.w: f32[4,4]`, `blocks.${i}.dense1.weight: f32[4,4]`, `blocks.${i}.dense1.bias: f32[4]`]));
    // Each instance reads the previous one's output: the adds chain.
    const ir = printGraph(typed(text));
    const adds = [...ir.matchAll(/^ {2}(%\d+) = add (%\w+), %\d+ : f32\[B,4\]$/gm)].filter((m) => !/bias/.test(m[0]));
    expect(adds).toHaveLength(3);
    expect(adds[1]![2]).toBe(adds[0]![1]);
    expect(adds[2]![2]).toBe(adds[1]![1]);
  });

  it("numbers unnamed repeats, repeats layers and plain functions, and works inside blocks", () => {
    const text = `
block Stack(n: int, depth: int) {
  input x: f32[B, n]
  output y = x |> repeat(depth, dense(n, activation = relu))
}
network n {
  input x: f32[B, 2]
  h = x |> repeat(2, dense(2))
  g = h |> repeat(2, tanh)
  output y = g |> s: Stack(2, 2)
}
`;
    expect(params(text)).toEqual([
      "repeat1.0.weight: f32[2,2]",
      "repeat1.0.bias: f32[2]",
      "repeat1.1.weight: f32[2,2]",
      "repeat1.1.bias: f32[2]",
      "s.repeat1.0.weight: f32[2,2]",
      "s.repeat1.0.bias: f32[2]",
      "s.repeat1.1.weight: f32[2,2]",
      "s.repeat1.1.bias: f32[2]",
    ]);
    expect(printGraph(typed(text)).match(/ tanh /g)).toHaveLength(2);
  });

  it("reports a block that cannot chain into itself at the repeated call", () => {
    const text = `
block Widen(n: int) {
  input x: f32[B, n]
  param w: f32[n, 8] = xavier
  output y = x @ w
}
network n {
  input x: f32[B, 4]
  output y = x |> r: repeat(2, Widen(4))
}
`;
    expect(errors(text)).toEqual(["main.net:9:32 NC3020 input `x` of `Widen` must be f32[B,4], got f32[B,8]"]);
  });
});

describe("imports", () => {
  const lib = {
    "lib/scale.net": `
block Scale(c: int, k: float = 2) {
  input x: f32[B, c]
  param w: f32[c] = ones
  output y = x * w * k
}
block Affine(c: int) {
  input x: f32[B, c]
  output y = x |> lin: dense(c) |> s: Scale(c)
}
`,
    "lib/outer.net": `import "scale.net"
block Outer(c: int) {
  input x: f32[B, c]
  output y = x |> a: Affine(c)
}
`,
  };

  it("brings an imported file's blocks into scope; their bodies see their own file's blocks", () => {
    const text = `import "lib/outer.net"\nnetwork n {\n  input x: f32[B, 3]\n  output y = x |> o: Outer(3)\n}\n`;
    expect(params(text, { readFile: files(lib) })).toEqual(["o.a.lin.weight: f32[3,3]", "o.a.lin.bias: f32[3]", "o.a.s.w: f32[3]"]);
  });

  it("does not re-export: a file sees only the blocks of the files it imports itself", () => {
    const text = `import "lib/outer.net"\nnetwork n {\n  input x: f32[B, 3]\n  output y = x |> Scale(3)\n}\n`;
    expect(errors(text, { readFile: files(lib) })).toEqual(["main.net:4:19 NC2015 unknown function or block `Scale`"]);
  });

  it("resolves paths against the importing file and loads a file imported twice once", () => {
    const read: string[] = [];
    const readFile = (p: string) => (read.push(p), lib[p as keyof typeof lib]);
    const text = `import "../lib/outer.net"\nimport "../lib/./scale.net"\nnetwork n {\n  input x: f32[B, 3]\n  output y = x |> Scale(3) |> o: Outer(3)\n}\n`;
    const c = compile(text, "app/main.net", { after: "infer-shapes", readFile });
    expect(c.diagnostics.render()).toBe("");
    expect(read.sort()).toEqual(["lib/outer.net", "lib/scale.net"]);
    expect(resolvePath("a/b/main.net", "../c/./d.net")).toBe("a/c/d.net");
    expect(resolvePath("main.net", "x.net")).toBe("x.net");
    expect(resolvePath("/abs/main.net", "../x.net")).toBe("/x.net");
  });

  it("reports errors inside an imported file in that file", () => {
    const broken = { "lib/broken.net": "block Bad(c: int) {\n  input x: f32[B, c]\n  output y = x * nope\n}\n" };
    const text = `import "lib/broken.net"\nnetwork n {\n  input x: f32[B, 3]\n  output y = x |> Bad(3)\n}\n`;
    expect(errors(text, { readFile: files(broken) })).toEqual(["lib/broken.net:3:18 NC2001 unknown name `nope`"]);
    const syntax = { "lib/broken.net": "block Bad(c int) {}\n" };
    expect(errors(text, { readFile: files(syntax) })).toEqual(["lib/broken.net:1:13 NC1002 syntax error: expected `:` but found `int`"]);
  });

  it("reports a longer cycle at the import that enters it, naming every file", () => {
    const cyc = {
      "a.net": 'import "b.net"\nblock A {\n  input x: f32[B, 1]\n  output y = x\n}\n',
      "b.net": 'import "c.net"\n',
      "c.net": 'import "a.net"\n',
    };
    const text = `import "a.net"\nnetwork n {\n  input x: f32[B, 1]\n  output y = x |> A\n}\n`;
    expect(errors(text, { readFile: files(cyc) })).toEqual(["a.net:1:1 NC2024 import cycle: a.net -> b.net -> c.net -> a.net"]);
    expect(errors('import "main.net"\nnetwork n {\n  input x: f32[B, 1]\n  output y = x\n}\n', { readFile: files({}) })).toEqual([
      "main.net:1:1 NC2024 import cycle: main.net -> main.net",
    ]);
  });

  it("reads imports from disk by default, next to the importing file", () => {
    const path = "test/diagnostics/import-clash.net";
    const c = compile(readFileSync(path, "utf8").replace(/block Scale[^}]*}/, ""), path, { after: "infer-shapes" });
    expect(c.diagnostics.render()).toBe("");
    expect(c.graph!.params.map((p) => p.arg!.name)).toEqual(["Scale1.w"]);
  });
});
