import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { irCommand } from "../src/cli/ir.js";
import { bindBatch, compile } from "../src/compile.js";
import { formatLocation } from "../src/base/source.js";
import type { Graph, Value } from "../src/ir/graph.js";
import { interpret, type Tensor } from "../src/ir/interp.js";
import { parseGraph } from "../src/ir/parse.js";
import { STAGE_NAMES } from "../src/ir/passes/pipeline.js";
import { printGraph } from "../src/ir/print.js";
import { concreteShape } from "../src/ir/types.js";
import { verifyGraph } from "../src/ir/verify.js";
import { randomTensor, rng } from "./util/build.js";

const ROOT = join(import.meta.dirname, "..");
const GOLDEN = join(ROOT, "test", "golden");
const goldens = readdirSync(GOLDEN).flatMap((stage) =>
  readdirSync(join(GOLDEN, stage))
    .filter((f) => f.endsWith(".ir"))
    .map((f) => ({ stage, name: f, path: join(GOLDEN, stage, f) })),
);

/** Parses text that must be valid IR. */
function parseOk(text: string, file?: string): Graph {
  const r = parseGraph(text, file);
  expect(r.errors).toEqual([]);
  expect(r.graph).toBeDefined();
  return r.graph!;
}

describe("IR text form round-trips", () => {
  it("finds the golden dumps", () => {
    expect(goldens.length).toBeGreaterThanOrEqual(20);
  });

  for (const { stage, name, path } of goldens)
    it(`${stage}/${name}: print(parse(text)) === text, and the graph verifies`, () => {
      const text = readFileSync(path, "utf8");
      const g = parseOk(text, name);
      expect(printGraph(g)).toBe(text);
      expect(() => verifyGraph(g)).not.toThrow();
      expect(g.typed).toBe(!text.includes(": ?"));
    });

  it("fused kernels come back with the fuse pass's inputs, outputs and kinds", () => {
    const c = compile(readFileSync(join(ROOT, "examples", "xor.net"), "utf8"), "xor.net", { after: "fuse" });
    const orig = c.graph!;
    const g = parseOk(printGraph(orig));
    const names = (gr: Graph) => {
      const m = new Map<Value, string>();
      gr.args.forEach((a) => m.set(a, a.arg!.name));
      gr.nodes.forEach((n, i) => m.set(n.out, String(i)));
      return (v: Value) => m.get(v)!;
    };
    const [no, np] = [names(orig), names(g)];
    const shape = (gr: Graph, n: (v: Value) => string) =>
      gr.kernels!.map((k) => ({ name: k.name, kind: k.kind, nodes: k.nodes.map((x) => n(x.out)), inputs: k.inputs.map(n), output: n(k.output) }));
    expect(shape(g, np)).toEqual(shape(orig, no));
    expect(g.args.map((a) => a.arg)).toEqual(orig.args.map((a) => a.arg));
  });

  it("a kernel's extra outputs (momentum written with its param's update) come back from the text", () => {
    const source = readFileSync(join(ROOT, "examples", "xor.net"), "utf8").replace(/optimizer = \w+\([^)]*\)/, "optimizer = sgd(lr = 0.1, momentum = 0.9)");
    const orig = compile(source, "xor.net", { after: "fuse" }).graph!;
    // NOTE: by place in the kernel, not by id: printing numbers values in node order, which merged kernels reorder.
    const extras = (gr: Graph) => gr.kernels!.flatMap((k) => (k.extraOutputs ?? []).map((v) => `${k.name} node ${k.nodes.findIndex((n) => n.out === v)}`));
    // The four params' velocities, and the two results of a multi kernel (the loss beside a bias's update).
    expect(extras(orig).length).toBe(6);
    expect(extras(parseOk(printGraph(orig)))).toEqual(extras(orig));
  });

  it("reads --debug-info output (loc suffixes are ignored)", () => {
    const c = compile(readFileSync(join(ROOT, "examples", "xor.net"), "utf8"), "xor.net", { after: "fuse" });
    const withLoc = printGraph(c.graph!, { debugInfo: true });
    expect(withLoc).toContain('loc("xor.net":');
    expect(printGraph(parseOk(withLoc))).toBe(printGraph(c.graph!));
  });

  it("gives nodes and args spans at their lines of the IR text", () => {
    const text = readFileSync(join(GOLDEN, "infer-shapes", "xor.ir"), "utf8");
    const g = parseOk(text, "xor.ir");
    expect(formatLocation(g.args[0]!.span)).toBe("xor.ir:2:5");
    expect(formatLocation(g.nodes[0]!.span)).toBe("xor.ir:9:3");
    expect(g.nodes[0]!.span.file.lineText(9)).toBe("  %0 = matmul %x, %w1 : f32[B,3]");
    // With --debug-info the locations point into the IR file.
    expect(printGraph(g, { debugInfo: true }).split("\n")[8]).toBe('  %0 = matmul %x, %w1 : f32[B,3]  loc("xor.ir":9:3)');
  });

  it("restores origins from the comment lines; a kernel takes its last node's origin", () => {
    const g = parseOk(readFileSync(join(GOLDEN, "fuse", "xor.ir"), "utf8"));
    expect(g.nodes[0]!.origin).toBe("forward");
    expect(g.nodes.find((n) => n.op === "const")!.origin).toBe("grad");
    // The kernel of w1's update fuses its gradient matmul into it: printed (and parsed) as update.
    const w1 = g.updates.find((u) => u.param.arg!.name === "w1")!.value;
    const k = g.kernels!.find((kk) => kk.output === w1)!;
    expect(k.nodes.map((n) => [n.op, n.origin])).toEqual([["matmul", "update"], ["mul", "update"], ["sub", "update"]]);
  });
});

describe("a parsed graph computes what the compiled one does", () => {
  const source = readFileSync(join(ROOT, "examples", "xor.net"), "utf8");
  // NOTE: `lower` is left out: the printer prints an untyped graph's argument types as `?`, so
  // the parsed graph has no shapes to run on.
  for (const stage of STAGE_NAMES.filter((s) => s !== "lower"))
    it(`xor after ${stage}`, () => {
      const c = compile(source, "xor.net", { after: stage });
      expect(c.diagnostics.render()).toBe("");
      const orig = c.graph!;
      const parsed = parseOk(printGraph(orig));
      const { dims } = bindBatch(orig, 4);
      const rand = rng(7);
      const feed = (g: Graph, data: Map<string, Tensor>) => new Map(g.args.map((a) => [a, data.get(a.arg!.name)!]));
      const data = new Map(orig.args.map((a) => [a.arg!.name, randomTensor(concreteShape(a.type.shape, dims), rand)]));
      const opts = { dims, precision: "f32" as const };
      const a = interpret(orig, feed(orig, data), opts);
      const b = interpret(parsed, feed(parsed, data), opts);
      const read = (env: Map<Value, Tensor>, v: Value) => ({ shape: env.get(v)!.shape, data: Array.from(env.get(v)!.data) });
      expect(parsed.outputs.map((o) => read(b, o.value))).toEqual(orig.outputs.map((o) => read(a, o.value)));
      expect(orig.loss).toBeDefined();
      expect(read(b, parsed.loss!)).toEqual(read(a, orig.loss!));
      expect(parsed.grads.map((x) => read(b, x.grad))).toEqual(orig.grads.map((x) => read(a, x.grad)));
      expect(parsed.updates.map((u) => read(b, u.value))).toEqual(orig.updates.map((u) => read(a, u.value)));
      // Every node, not just the roots.
      expect(parsed.nodes.map((n) => read(b, n.out))).toEqual(orig.nodes.map((n) => read(a, n.out)));
    });
});

describe("invalid IR is reported as line:col: message", () => {
  const GOOD = `graph @t(
    input %x: f32[B,2],
    param %w: f32[2,3] = normal(std=0.1),
) {
  %0 = matmul %x, %w : f32[B,3]
  %1 = sigmoid %0 : f32[B,3]
  output "y" = %1
}
`;
  /** GOOD with line `line` (1-based) replaced. */
  const withLine = (line: number, text: string) => GOOD.split("\n").map((l, i) => (i === line - 1 ? text : l)).join("\n");
  const errorsOf = (text: string) => {
    const r = parseGraph(text);
    expect(r.graph).toBeUndefined();
    return r.errors;
  };

  it("the base text is valid", () => {
    expect(printGraph(parseOk(GOOD))).toBe(GOOD);
  });

  it("unknown op", () => {
    expect(errorsOf(withLine(6, "  %1 = sigmoidd %0 : f32[B,3]"))).toEqual(["6:8: unknown op `sigmoidd`; did you mean `sigmoid`?"]);
  });

  it("use of an undefined value", () => {
    expect(errorsOf(withLine(6, "  %1 = sigmoid %7 : f32[B,3]"))).toEqual(["6:16: use of undefined value %7"]);
    expect(errorsOf(withLine(7, '  output "y" = %nope'))).toEqual(["7:16: use of undefined value %nope"]);
  });

  it("a value used before its definition", () => {
    const text = GOOD.replace("%0 = matmul %x, %w", "%0 = matmul %x, %1");
    expect(errorsOf(text)).toEqual(["5:19: use of undefined value %1"]);
  });

  it("bad type syntax", () => {
    expect(errorsOf(withLine(6, "  %1 = sigmoid %0 : f32(B,3)"))).toEqual(["6:24: bad type: expected `[` after `f32`, got `(`"]);
    expect(errorsOf(withLine(2, "    input %x: f64[B,2],"))).toEqual(["2:15: bad type: unknown dtype `f64`; expected one of: f32, f16, i32, bool"]);
    expect(errorsOf(withLine(6, "  %1 = sigmoid %0 : f32[B,3"))).toEqual(["6:28: bad type: expected `,` or `]`, got end of line"]);
  });

  it("wrong number of operands", () => {
    expect(errorsOf(withLine(5, "  %0 = matmul %x : f32[B,3]"))).toEqual(["5:8: `matmul` takes 2 operands, got 1"]);
    expect(errorsOf(withLine(6, "  %1 = sigmoid %0, %0 : f32[B,3]"))).toEqual(["6:8: `sigmoid` takes 1 operand, got 2"]);
  });

  it("a garbage line", () => {
    expect(errorsOf(withLine(6, "  this is not IR\n  %1 = sigmoid %0 : f32[B,3]"))).toEqual([
      "6:3: expected a node `%r = op ...`, `kernel`, `output`, `loss`, `grad`, `update`, an origin comment or `}`, got `this`",
    ]);
    expect(errorsOf(withLine(6, "  %1 = sigmoid %0 : f32[B,3] $$"))).toEqual(["6:30: unexpected character `$`"]);
  });

  it("a type that the op's shape rule does not give", () => {
    expect(errorsOf(withLine(6, "  %1 = sigmoid %0 : f32[B,4]"))).toEqual(["6:21: `sigmoid` gives f32[B,3] here, but the line says f32[B,4]"]);
    expect(errorsOf(withLine(3, "    param %w: f32[5,3] = zeros,"))).toEqual(["5:8: `matmul`: matmul inner dims differ: [B, 2] @ [5, 3] (2 vs 5)"]);
  });

  it("mixing typed and untyped", () => {
    expect(errorsOf(withLine(6, "  %1 = sigmoid %0 : ?"))).toEqual(["6:21: `?` in a typed graph (earlier types are given)"]);
  });

  it("redefinition, and errors that follow from an earlier one are not repeated", () => {
    expect(errorsOf(withLine(6, "  %0 = sigmoid %0 : f32[B,3]"))).toEqual([
      "6:3: %0 is already defined on line 5",
      // %1 is then never defined.
      "7:16: use of undefined value %1",
    ]);
    // %0 fails; its uses on lines 6 and 7 are not reported again.
    expect(errorsOf(withLine(5, "  %0 = matmull %x, %w : f32[B,3]"))).toEqual(["5:8: unknown op `matmull`; did you mean `matmul`?"]);
  });

  it("reports several independent errors", () => {
    const text = withLine(6, "  %1 = bogus %0 : f32[B,3]").replace("input %x", "inptu %x");
    expect(errorsOf(text)).toEqual([
      "2:5: unknown argument role `inptu`; expected one of: input, label, param, state, hyper",
      // %x's line failed, so its use on line 5 is not reported (nor %0's on line 6).
      "6:8: unknown op `bogus`",
    ]);
  });

  it("kernels: origin comments inside, unknown kinds, missing close", () => {
    const kern = (body: string) =>
      GOOD.replace("  %0 = matmul %x, %w : f32[B,3]\n  %1 = sigmoid %0 : f32[B,3]\n", body);
    expect(errorsOf(kern("  kernel @k0 contraction {\n    %0 = matmul %x, %w : f32[B,3]\n  // grad\n    %1 = sigmoid %0 : f32[B,3]\n  }\n"))).toEqual([
      "7:3: origin comment inside kernel @k0: a kernel takes the origin in effect at its `kernel` line",
    ]);
    expect(errorsOf(kern("  kernel @k0 fancy {\n    %0 = matmul %x, %w : f32[B,3]\n  }\n"))[0]).toBe(
      "5:14: unknown kernel kind `fancy`; expected one of: elementwise, reduce, contraction, window, movement, row, multi",
    );
    expect(errorsOf(kern("  kernel @k0 elementwise {\n  }\n  %0 = matmul %x, %w : f32[B,3]\n  %1 = sigmoid %0 : f32[B,3]\n"))).toEqual([
      "6:3: kernel @k0 has no nodes",
    ]);
    expect(errorsOf(GOOD.replace(/}\n$/, ""))).toEqual(["7:18: unexpected end of input: expected `}` closing the graph"]);
  });

  it("text after the graph, and a missing header", () => {
    expect(errorsOf(GOOD + "  %9 = neg %1 : f32[B,3]\n")).toEqual(["9:3: unexpected text after the end of the graph"]);
    expect(errorsOf(withLine(1, "grph @t("))).toEqual(["1:1: expected `graph @name(`, got `grph`"]);
  });

  it("grad and update name graph arguments", () => {
    expect(errorsOf(withLine(7, "  grad %0 = %1"))).toEqual(["7:8: `grad` names %0, which is not a graph argument"]);
  });
});

describe("netc ir FILE.ir", () => {
  /** Runs `netc ir` in-process, capturing stdout and stderr. */
  async function run(...argv: string[]) {
    let out = "";
    let err = "";
    const o = vi.spyOn(process.stdout, "write").mockImplementation((s) => ((out += String(s)), true));
    const e = vi.spyOn(process.stderr, "write").mockImplementation((s) => ((err += String(s)), true));
    try {
      return { code: await irCommand(argv), out, err };
    } finally {
      o.mockRestore();
      e.mockRestore();
    }
  }

  it("validates and re-prints IR text", async () => {
    const path = join(GOLDEN, "fuse", "xor.ir");
    const r = await run(path);
    expect(r).toEqual({ code: 0, out: readFileSync(path, "utf8"), err: "" });
  });

  it("reports invalid IR as NC6001 at the IR line, exit code 1", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "netc-ir-")), "bad.ir");
    writeFileSync(path, "graph @t(\n    input %x: f32[B,2],\n) {\n  %0 = frob %x : f32[B,2]\n  output \"y\" = %0\n}\n");
    const r = await run(path);
    expect(r.code).toBe(1);
    expect(r.out).toBe("");
    expect(r.err.split("\n")[0]).toBe(`${path}:4:8: error NC6001: invalid IR: unknown op \`frob\``);
  });
});
