import { mkdtempSync, rmSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { afterAll, describe, expect, it } from "vitest";
import { compile } from "../src/compile.js";
import { ELEM, OnnxGraph } from "../src/onnx/export-graph.js";
import { decodeModel, encodeModel, type ModelProto } from "../src/onnx/proto.js";
import { importModel } from "../src/onnx/importer.js";
import { ONNX_OPS } from "../src/onnx/ops/index.js";
import type { Value } from "../src/ir/graph.js";
import { interpret, type Tensor } from "../src/ir/interp.js";
import { onnxToNet, OnnxImportUnsupported } from "../src/onnx/to-net.js";
import { readCheckpoint } from "../src/runtime/checkpoint-file.js";
import { CpuRunner } from "../src/runtime/cpu.js";
import { rng } from "./util/build.js";
import { netc } from "./util/cli.js";

// ONNX models as PyTorch's exporter writes them (Gemm with transB, Conv with bias,
// BatchNormalization and LayerNormalization nodes with initializers, a symbolic batch) become
// netc layers; ONNX Runtime on the model is the reference. The CLI writes files that run, eval,
// export and train --init take; unsupported ops are listed together.

const rand = rng(3);
const randn = (n: number) => Array.from({ length: n }, () => 2 * rand() - 1);

function model(build: (g: OnnxGraph) => string, inputs: [string, (number | string)[]][], output: string, name = "torch_model"): Uint8Array {
  const g = new OnnxGraph();
  for (const [n] of inputs) g.reserve(n);
  const out = build(g);
  const info = (n: string, shape: (number | string)[]) => ({ name: n, type: { tensorType: { elemType: ELEM.FLOAT, shape: { dim: shape.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) } } } });
  const m: ModelProto = {
    irVersion: 8,
    opsetImport: [{ domain: "", version: 17 }],
    producerName: "pytorch",
    graph: { name: name, node: g.nodes, initializer: g.initializers, input: inputs.map(([n, s]) => info(n, s)), output: [info(out, ["B", 3])] },
  };
  return encodeModel(m);
}

/** A CNN as torch.onnx.export writes one: Conv + BatchNormalization + Relu + Flatten + Gemm(transB) + LayerNormalization. */
function torchCnn(): Uint8Array {
  return model(
    (g) => {
      const w = g.floatTensor("conv1.weight", [4, 2, 3, 3], randn(72));
      const b = g.floatTensor("conv1.bias", [4], randn(4));
      const c = g.node("Conv", ["x", w, b], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [1, 1] });
      const bn = g.node("BatchNormalization", [c, g.floatTensor("bn1.weight", [4], randn(4)), g.floatTensor("bn1.bias", [4], randn(4)), g.floatTensor("bn1.running_mean", [4], randn(4)), g.floatTensor("bn1.running_var", [4], randn(4).map((v) => 0.5 + Math.abs(v)))], { epsilon: { float: 1e-3 } });
      const r = g.node("Relu", [bn]);
      const p = g.node("MaxPool", [r], { kernel_shape: [2, 2], strides: [2, 2] });
      const f = g.node("Flatten", [p], { axis: 1 });
      const fc = g.node("Gemm", [f, g.floatTensor("fc.weight", [3, 16], randn(48)), g.floatTensor("fc.bias", [3], randn(3))], { transB: 1 });
      return g.node("LayerNormalization", [fc, g.floatTensor("ln.weight", [3], randn(3)), g.floatTensor("ln.bias", [3], randn(3))], { axis: -1, epsilon: { float: 1e-5 } }, "y");
    },
    [["x", ["B", 2, 4, 4]]],
    "y",
  );
}

describe("netc import of a PyTorch-style model", () => {
  it("writes layers (conv2d, batchnorm, relu, maxpool2d, dense, layernorm) and gives ONNX Runtime's outputs", async () => {
    const bytes = torchCnn();
    const net = onnxToNet(bytes, "torch_cnn.onnx");
    expect(net.source).toContain("input x: f32[B, 2, 4, 4]");
    expect(net.source).toMatch(/\|> conv1: conv2d\(4, \[3, 3\], padding = \[1, 1\]\)\s+\|> bn1: batchnorm\(eps = 0.001\)\s+\|> relu\s+\|> maxpool2d\(\[2, 2\]\)/);
    expect(net.source).toMatch(/\|> fc: dense\(3\)\s+\|> ln: layernorm/);
    expect(Object.keys(net.tensors).sort()).toEqual(
      ["bn1.beta", "bn1.gamma", "bn1.running_mean", "bn1.running_var", "conv1.bias", "conv1.weight", "fc.bias", "fc.weight", "ln.beta", "ln.gamma"].sort(),
    );
    expect(net.tensors["fc.weight"]!.shape).toEqual([16, 3]); // Gemm's transB weight [3, 16] in netc's [in, out]
    const c = compile(net.source, "torch_cnn.net", { mode: "infer", after: "simplify" });
    expect(c.diagnostics.render()).toBe("");
    const x = Float32Array.from(randn(3 * 32));
    const values = Object.fromEntries(Object.entries(net.tensors).map(([k, t]) => [k, t.values]));
    const mine = await new CpuRunner(c.graph!, { B: 3 }, values).run({ x }, ["y"]);
    const session = await ort.InferenceSession.create(bytes, { executionProviders: ["cpu"] });
    const want = (await session.run({ x: new ort.Tensor("float32", x, [3, 2, 4, 4]) }))["y"]!.data as Float32Array;
    expect(mine["y"]!.length).toBe(9);
    mine["y"]!.forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 4));
  });

  for (const [op, gates, layer] of [["LSTM", 4, "lstm"], ["RNN", 1, "rnn"]] as const)
    for (const layout of [0, 1])
      it(`writes ONNX ${op} (layout ${layout}, two biases, ONNX's gate order) as netc's ${layer} with ONNX Runtime's Y and Y_h`, async () => {
        const [T, F, H] = [4, 3, 5];
        const bytes = (() => {
          const g = new OnnxGraph();
          g.reserve("x");
          const w = g.floatTensor("rnn.weight_ih_l0", [1, gates * H, F], randn(gates * H * F));
          const r = g.floatTensor("rnn.weight_hh_l0", [1, gates * H, H], randn(gates * H * H));
          const b = g.floatTensor("rnn.bias", [1, 2 * gates * H], randn(2 * gates * H));
          g.reserve("y");
          g.reserve("y_h");
          g.nodes.push({ opType: op, input: ["x", w, r, b], output: ["y", "y_h"], name: "rec", attribute: [{ name: "hidden_size", type: "INT", i: H }, { name: "layout", type: "INT", i: layout }] });
          const shape = (dims: (number | string)[]) => ({ tensorType: { elemType: ELEM.FLOAT, shape: { dim: dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) } } });
          const m: ModelProto = {
            irVersion: 8,
            opsetImport: [{ domain: "", version: 14 }],
            graph: {
              name: "rec",
              node: g.nodes,
              initializer: g.initializers,
              input: [{ name: "x", type: shape(layout === 0 ? [T, "B", F] : ["B", T, F]) }],
              output: [
                { name: "y", type: shape(layout === 0 ? [T, 1, "B", H] : ["B", T, 1, H]) },
                { name: "y_h", type: shape(layout === 0 ? [1, "B", H] : ["B", 1, H]) },
              ],
            },
          };
          return encodeModel(m);
        })();
        const net = onnxToNet(bytes, "rec.onnx");
        expect(net.source).toContain(`|> rnn: ${layer}(${H}, return_sequences = true)`);
        expect(net.tensors["rnn.input_weight"]!.shape).toEqual([F, gates * H]);
        const c = compile(net.source, "rec.net", { mode: "infer", after: "simplify" });
        expect(c.diagnostics.render()).toBe("");
        const x = Float32Array.from(randn(2 * T * F));
        const values = Object.fromEntries(Object.entries(net.tensors).map(([k, t]) => [k, t.values]));
        const mine = await new CpuRunner(c.graph!, { B: 2 }, values).run({ x }, ["y", "y_h"]);
        // NOTE: ONNX Runtime has no batch-first (layout 1) recurrent ops; there the conformance
        // importer (which passes ONNX's batchwise node tests) runs the original model instead.
        const want: Record<string, ArrayLike<number>> = {};
        if (layout === 0) {
          const session = await ort.InferenceSession.create(bytes, { executionProviders: ["cpu"] });
          const r = await session.run({ x: new ort.Tensor("float32", x, [T, 2, F]) });
          for (const k of ["y", "y_h"]) want[k] = r[k]!.data as Float32Array;
        } else {
          const ref = importModel(decodeModel(bytes), ONNX_OPS, { feeds: new Map([["x", { dtype: "float32", dims: [2, T, F], data: Float64Array.from(x) }]]) });
          const args = new Map<Value, Tensor>();
          for (const i of ref.inputs) args.set(i.arg, { shape: [2, T, F], data: Float64Array.from(x) });
          for (const a of ref.graph.args) if (a.arg!.role === "param") args.set(a, { shape: a.type.shape as number[], data: Float64Array.from(ref.constants[a.arg!.name]!) });
          const env = interpret(ref.graph, args, { dims: {}, precision: "f64" });
          for (const o of ref.outputs) want[o.name] = env.get(o.value)!.data;
        }
        for (const name of ["y", "y_h"]) {
          const ref = want[name]!;
          expect(mine[name]!.length).toBe(ref.length);
          mine[name]!.forEach((v, i) => expect(v).toBeCloseTo(ref[i]!, 5));
        }
      });

  it("lists every unsupported op by op and node in one error", () => {
    const bytes = model(
      (g) => {
        const a = g.node("Relu", ["x"]);
        const b = g.node("NonMaxSuppression", [a]);
        const c = g.node("TopK", [b, g.ints([1])]);
        return g.node("Unique", [c], {}, "y");
      },
      [["x", ["B", 4]]],
      "y",
    );
    let err: unknown;
    try {
      onnxToNet(bytes, "bad.onnx");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(OnnxImportUnsupported);
    expect((err as Error).message).toMatch(/^cannot import bad.onnx: unsupported ops: NonMaxSuppression \(node "[^"]+"\), TopK \(node "[^"]+"\), Unique \(node "[^"]+"\)$/);
  });
});

describe("netc import (CLI)", () => {
  const dir = mkdtempSync(join(tmpdir(), "netc-import-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const onnx = join(dir, "torch_cnn.onnx");
  writeFileSync(onnx, torchCnn());

  it("writes a .net and weights that run, export and fine-tune from", async () => {
    const r = await netc("import", onnx, "--out", join(dir, "out"));
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out).toContain("layers conv1: conv2d, bn1: batchnorm, fc: dense, ln: layernorm");
    const net = join(dir, "out", "torch_cnn.net");
    const weights = join(dir, "out", "torch_cnn.safetensors");
    expect(readCheckpoint(weights).meta.network).toBe("torch_model");

    writeFileSync(join(dir, "rows.json"), JSON.stringify([randn(32), randn(32)]));
    const run = await netc("run", net, "--checkpoint", weights, "--input", join(dir, "rows.json"), "--backend", "cpu", "--output", join(dir, "y.json"));
    expect(run.err).toBe("");
    expect(run.code).toBe(0);

    const ex = await netc("export", net, "--checkpoint", weights, "--onnx", join(dir, "again.onnx"));
    expect(ex.code).toBe(0);

    // Fine-tuning: a training section added by hand, then --init from the imported weights.
    const source = readFileSync(net, "utf8");
    writeFileSync(
      join(dir, "tune.net"),
      `${source}\ntrain {\n  loss = mse(y, target)\n  optimizer = sgd(lr = 0.01)\n  epochs = 2\n  batch = 2\n  data {\n    x = ${JSON.stringify([0, 1].map(() => [0, 1].map(() => [0, 1, 2, 3].map(() => randn(4)))))}\n    target = [[1, 0, 0], [0, 1, 0]]\n  }\n}\n`,
    );
    const tune = await netc("train", join(dir, "tune.net"), "--init", weights, "--backend", "cpu", "--checkpoint", join(dir, "tuned.safetensors"));
    expect(tune.err).toBe("");
    expect(tune.code).toBe(0);
    expect(tune.out).toContain(`starting from 10 tensors of ${weights}`);
    const tuned = readCheckpoint(join(dir, "tuned.safetensors"));
    const before = readCheckpoint(weights);
    // Trained from the imported weights: close to them (two small steps), not to a fresh start.
    const w0 = before.tensors["fc.weight"]!.values;
    const w1 = tuned.tensors["fc.weight"]!.values;
    let diff = 0;
    for (let i = 0; i < w0.length; i++) diff = Math.max(diff, Math.abs(w1[i]! - w0[i]!));
    expect(diff).toBeGreaterThan(0);
    expect(diff).toBeLessThan(0.1);
  });

  it("names the unsupported ops and exits 1", async () => {
    const bad = join(dir, "bad.onnx");
    writeFileSync(bad, model((g) => g.node("TopK", ["x", g.ints([1])], {}, "y"), [["x", ["B", 4]]], "y"));
    const r = await netc("import", bad, "--out", dir);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/cannot import .*bad.onnx: unsupported ops: TopK \(node/);
  });
});
