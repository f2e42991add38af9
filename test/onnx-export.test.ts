import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { afterAll, describe, expect, it } from "vitest";
import { bindBatch, compile } from "../src/compile.js";
import type { Graph } from "../src/ir/graph.js";
import { concreteShape, numel, type DimBindings } from "../src/ir/types.js";
import { ELEM } from "../src/onnx/export-graph.js";
import { exportedGraph, exportOnnx, OnnxExportError, OPSET } from "../src/onnx/export.js";
import { EXPORT_RULES } from "../src/onnx/export-ops.js";
import { decodeModel } from "../src/onnx/proto.js";
import { parseGraph } from "../src/ir/parse.js";
import { CpuRunner } from "../src/runtime/cpu.js";
import { OP_NAMES, type OpName } from "../src/ir/ops/types.js";
import { caseInputs, OP_CASES } from "./op-cases.js";
import { graphWith } from "./util/build.js";
import { testInputs, testValues } from "./util/onnx-values.js";

// Every example, exported with seeded weights, runs in ONNX Runtime (its CPU provider) and gives
// netc's CPU reference outputs to 1e-4 relative, at two batch sizes (the batch dim is symbolic).

const DIR = join(import.meta.dirname, "..", "examples");
const files = readdirSync(DIR).filter((f) => f.endsWith(".net")).sort();
const BATCHES = [3, 5];
/** |onnx - netc| <= RTOL · max(|netc|, FLOOR): relative, with values below FLOOR held to RTOL · FLOOR. */
const RTOL = 1e-4;
const FLOOR = 1e-2;



/** What netc's CPU backend gives for the exported outputs (labels fed as zeros: they only feed the loss and metrics). */
async function netcOutputs(g: Graph, values: Record<string, Float32Array>, feed: Record<string, Float32Array>, dims: DimBindings, names: string[]) {
  const all = { ...feed };
  for (const a of g.perStep) all[a.arg!.name] ??= new Float32Array(numel(concreteShape(a.type.shape, dims)));
  return new CpuRunner(g, dims, values).run(all, names);
}

/** The largest absolute and relative differences, and whether every element is within tolerance. */
function compare(got: ArrayLike<number | bigint | boolean>, want: Float32Array): { abs: number; rel: number; ok: boolean } {
  let abs = 0;
  let rel = 0;
  let ok = got.length === want.length;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(Number(got[i]) - want[i]!);
    abs = Math.max(abs, d);
    rel = Math.max(rel, d / Math.max(Math.abs(want[i]!), FLOOR));
    if (!(d <= RTOL * Math.max(Math.abs(want[i]!), FLOOR))) ok = false;
  }
  return { abs, rel, ok };
}

/** An ONNX Runtime tensor of an exported input's type holding netc's f32 values. */
function ortTensor(elem: number, data: Float32Array, shape: number[]): ort.Tensor {
  if (elem === ELEM.INT32) return new ort.Tensor("int32", Int32Array.from(data), shape);
  if (elem === ELEM.BOOL) return new ort.Tensor("bool", Uint8Array.from(data), shape);
  return new ort.Tensor("float32", data, shape);
}

/**
 * Exports `g`, runs it in ONNX Runtime on each feed (with its dim bindings) and expects netc's CPU
 * outputs to 1e-4 relative, shapes included; returns the largest differences seen.
 */
async function expectSameAsNetc(label: string, g: Graph, values: Record<string, Float32Array>, runs: { feed: Record<string, Float32Array>; dims: DimBindings }[]) {
  const exported = exportOnnx(g, { values });
  for (const n of exportedGraph(g).nodes) coveredOps.add(n.op);
  const session = await ort.InferenceSession.create(exported.bytes, { executionProviders: ["cpu"] });
  const names = exported.outputs.map((o) => o.name);
  expect(session.inputNames).toEqual(exported.inputs.map((i) => i.name));
  expect(session.outputNames).toEqual(names);
  const worst = { abs: 0, rel: 0, nodes: exported.model.graph!.node!.length };
  for (const { feed, dims } of runs) {
    const ortFeed: Record<string, ort.Tensor> = {};
    for (const i of exported.inputs) ortFeed[i.name] = ortTensor(i.elem, feed[i.name]!, concreteShape(i.shape, dims));
    const got = await session.run(ortFeed);
    const want = await netcOutputs(g, values, feed, dims, names);
    for (const name of names) {
      const wantShape = concreteShape(g.outputs.find((o) => o.name === name)!.value.type.shape, dims);
      expect(got[name]!.dims, `${label} ${name}`).toEqual(wantShape);
      const r = compare(got[name]!.data as ArrayLike<number>, want[name]!);
      worst.abs = Math.max(worst.abs, r.abs);
      worst.rel = Math.max(worst.rel, r.rel);
      expect(r.ok, `${label} ${name} at ${JSON.stringify(dims)}: max abs ${r.abs}, max rel ${r.rel}`).toBe(true);
    }
  }
  report.push(`  ${label.padEnd(26)} ${String(worst.nodes).padStart(4)} ONNX nodes  max abs ${worst.abs.toExponential(2)}  max rel ${worst.rel.toExponential(2)}`);
}

/** IR ops the tests exported (every op with a rule must be among them). */
const coveredOps = new Set<string>();

const report: string[] = [];
afterAll(() => {
  if (report.length) console.log(`ONNX Runtime ${ort.env.versions.common} against netc's CPU reference:\n${report.join("\n")}`);
});

describe("netc ONNX export, run in ONNX Runtime", () => {
  it("there are examples", () => expect(files.length).toBeGreaterThan(10));
  for (const file of files) {
    it(`${file}: the same outputs as netc at batch ${BATCHES.join(" and ")}`, async () => {
      const path = join(DIR, file);
      const c = compile(readFileSync(path, "utf8"), path, { mode: "infer", after: "simplify" });
      expect(c.diagnostics.render()).toBe("");
      const g = c.graph!;
      const runs = BATCHES.map((batch) => ({ feed: testInputs(g, bindBatch(g, batch).dims, batch), dims: bindBatch(g, batch).dims }));
      await expectSameAsNetc(file, g, testValues(g, 11), runs);
    });
  }
});

// Every primitive with an export rule, with the cases the examples do not reach: a second
// symbolic dim (T), reshapes that move symbols, size and iota over symbols, bools and ints as
// values and outputs, strided and grouped convs, padded and ceil-mode pooling, an input as an output.
const ZOO = `
graph @zoo(
    input %x: f32[B,T,4],
    input %ids: i32[B,3],
    input %pick: i32[2],
    input %img: f32[B,2,7,7],
    param %w: f32[4,1,3,3] = xavier,
    param %table: f32[6,5] = normal,
    param %m: f32[3,16] = xavier,
) {
  %0 = abs %x : f32[B,T,4]
  %1 = const {value=0.5} : f32[]
  %2 = add %0, %1 : f32[B,T,4]
  %3 = sqrt %2 : f32[B,T,4]
  %4 = log %2 : f32[B,T,4]
  %5 = pow %2, %1 : f32[B,T,4]
  %6 = min %3, %4 : f32[B,T,4]
  %7 = neg %6 : f32[B,T,4]
  %8 = lt %x, %1 : bool[B,T,4]
  %9 = le %x, %7 : bool[B,T,4]
  %10 = eq %8, %9 : bool[B,T,4]
  %11 = mul %10, %5 : f32[B,T,4]
  %12 = select %8, %11, %7 : f32[B,T,4]
  %13 = size {dims=[B,T,4]} : f32[]
  %14 = div %12, %13 : f32[B,T,4]
  %15 = mean %14 {axes=[1], keepdims=true} : f32[B,1,4]
  %16 = sub %14, %15 : f32[B,T,4]
  %17 = transpose %16 {perm=[1,0,2]} : f32[T,B,4]
  %18 = reshape %17 {shape=[1,T,B,2,2]} : f32[1,T,B,2,2]
  %19 = transpose %18 : f32[2,2,B,T,1]
  %20 = iota {shape=[B,T,4], axis=1} : f32[B,T,4]
  %21 = add %16, %20 : f32[B,T,4]
  %22 = max_reduce %21 {axes=[2]} : f32[B,T]
  %23 = sum %21 : f32[]
  %24 = sum %x {axes=[]} : f32[B,T,4]
  %25 = broadcast %1 {shape=[B,T,4]} : f32[B,T,4]
  %26 = mul %24, %25 : f32[B,T,4]
  %27 = matmul %x, %26 {ta=true} : f32[B,4,4]
  %30 = conv %img, %w {strides=[2,1], pads=[1,0,2,1], dilations=[1,2], groups=2} : f32[B,4,3,6]
  %31 = pool %30 {mode=avg, kernel=[2,2], strides=[1,2], pads=[1,0,0,1], ceil=true, count_pad=false} : f32[B,4,3,3]
  %32 = pool %31 {mode=max, kernel=[2,2], strides=[2,2], ceil=true} : f32[B,4,2,2]
  %33 = pad %32 {pads=[1,0,0,2], value=-1.5} : f32[B,4,3,4]
  %34 = slice %33 {starts=[0,1], ends=[3,4], axes=[2,3], steps=[2,2]} : f32[B,4,2,2]
  %35 = reshape %34 {shape=[0,-1]} : f32[B,16]
  %36 = matmul %35, %m {tb=true} : f32[B,3]
  %37 = pool %30 {mode=avg, kernel=[3,3], strides=[1,1], pads=[1,1,1,1], count_pad=true} : f32[B,4,3,6]
  %40 = gather %table, %ids {axis=0} : f32[B,3,5]
  %41 = gather %table, %pick {axis=1} : f32[6,2]
  %42 = add %ids, %ids : i32[B,3]
  %43 = concat %40, %40 {axis=-1} : f32[B,3,10]
  output "a" = %19
  output "b" = %22
  output "c" = %23
  output "d" = %27
  output "e" = %36
  output "f" = %37
  output "g" = %41
  output "h" = %42
  output "i" = %43
  output "mask" = %8
  output "echo" = %x
  output "a2" = %19
}
`;

describe("every op with an export rule", () => {
  it("the op zoo: the same outputs as netc with two symbolic dims", async () => {
    const { graph: g, errors } = parseGraph(ZOO, "zoo.ir");
    expect(errors).toEqual([]);
    const values = testValues(g!, 5);
    const runs = [
      { B: 3, T: 5 },
      { B: 2, T: 1 },
    ].map((dims, k) => {
      const feed = testInputs(g!, dims, 20 + k);
      feed["pick"] = Float32Array.from([4, 0]);
      return { feed, dims };
    });
    await expectSameAsNetc("op zoo (IR)", g!, values, runs);
  });

  // No example has a GRU; both variants (PyTorch's reset-after with its recurrent bias, and
  // reset_after = false) export as the primitives they lower to.
  for (const variant of ["", ", reset_after = false"])
    it(`a gru${variant}: the same outputs as netc`, async () => {
      const text = `network g {\n  input x: f32[B, 4, 3]\n  output y = x |> cell: gru(5, return_sequences = true${variant}) |> dense(2)\n}\n`;
      const c = compile(text, "gru.net", { mode: "infer", after: "simplify" });
      expect(c.diagnostics.render()).toBe("");
      const g = c.graph!;
      const runs = BATCHES.map((batch) => ({ feed: testInputs(g, bindBatch(g, batch).dims, batch), dims: bindBatch(g, batch).dims }));
      await expectSameAsNetc(`gru${variant}`, g, testValues(g, 7), runs);
    });

  // Each op alone on its case of test/op-cases.ts, so a new op's case row is its export test too.
  for (const op of OP_NAMES.filter((name) => typeof EXPORT_RULES[name] === "function")) {
    it(`${op} alone (its op case): the same outputs as netc`, async () => {
      const c = OP_CASES[op as OpName];
      const { g, b, args } = graphWith(c.shapes, "input");
      g.outputs = [{ name: "y", value: b.op(op, args, c.attrs ?? {}) }];
      const inputs = caseInputs(c, 31);
      const feed = Object.fromEntries(args.map((a, i) => [a.arg!.name, Float32Array.from(inputs[i]!.data)]));
      await expectSameAsNetc(`${op} alone`, g, {}, [{ feed, dims: {} }]);
    });
  }

  it("has a rule for every registry op", () => {
    expect(OP_NAMES.filter((op) => EXPORT_RULES[op] === undefined)).toEqual([]);
  });

  it("is exercised by these tests", () => {
    const rules = Object.entries(EXPORT_RULES).filter(([, r]) => typeof r === "function").map(([op]) => op);
    expect(rules.filter((op) => !coveredOps.has(op))).toEqual([]);
  });
});

describe("the exported model", () => {
  const path = join(DIR, "transformer-encoder.net");
  const c = compile(readFileSync(path, "utf8"), path, { mode: "infer", after: "simplify" });
  const g = c.graph!;
  const model = decodeModel(exportOnnx(g, { values: testValues(g, 1), metadata: { "netc.network": g.name } }).bytes);

  it("is opset 17 with named inputs and outputs, a symbolic batch dim, and the weights as initializers", () => {
    expect(model.opsetImport).toEqual([{ version: OPSET }]); // the default domain (ai.onnx) is the empty string, left out
    expect(model.producerName).toBe("netc");
    expect(model.graph!.input!.map((i) => [i.name, i.type!.tensorType!.elemType, i.type!.tensorType!.shape!.dim])).toEqual([
      ["tokens", ELEM.INT32, [{ dimParam: "B" }, { dimValue: 4 }]],
    ]);
    expect(model.graph!.output!.map((o) => [o.name, o.type!.tensorType!.shape!.dim])).toEqual([["y", [{ dimParam: "B" }, { dimValue: 4 }, { dimValue: 1 }]]]);
    const inits = new Set(model.graph!.initializer!.map((t) => t.name));
    for (const p of exportedGraph(g).args.filter((a) => a.arg!.role === "param")) expect(inits).toContain(p.arg!.name);
    expect(model.metadataProps).toEqual([{ key: "netc.network", value: "transformer" }].map((e) => ({ ...e, value: g.name })));
  });

  it("drops the loss, the labels and the metrics", () => {
    const iris = join(DIR, "iris.net");
    const gi = compile(readFileSync(iris, "utf8"), iris, { mode: "infer", after: "simplify" }).graph!;
    const m = decodeModel(exportOnnx(gi, { values: testValues(gi, 1) }).bytes);
    expect(m.graph!.input!.map((i) => i.name)).toEqual(["x"]);
    expect(m.graph!.output!.map((o) => o.name)).toEqual(["probs"]);
    expect(m.graph!.node!.every((n) => n.docString?.startsWith(iris))).toBe(true);
  });

  it("refuses ops it cannot express, naming each with its source line", () => {
    const text = [
      "network drop {",
      "  input x: f32[B, 4]",
      "  output y = dropout(x, 0.5)",
      "}",
    ].join("\n");
    const gt = compile(text, "drop.net", { mode: "train", after: "simplify" }).graph!;
    expect(() => exportOnnx(gt, { values: testValues(gt, 1) })).toThrow(OnnxExportError);
    expect(() => exportOnnx(gt, { values: testValues(gt, 1) })).toThrow(/unsupported op rand \(.*\) at drop\.net:3:\d+ \(`output y = dropout\(x, 0\.5\)`\)/);
  });
});
