import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { afterAll, describe, expect, it } from "vitest";
import { NetcError } from "../src/base/errors.js";
import { compile } from "../src/compile.js";
import type { Value } from "../src/ir/graph.js";
import { interpret, type Tensor } from "../src/ir/interp.js";
import { ELEM } from "../src/onnx/export-graph.js";
import { exportOnnx, OnnxExportError } from "../src/onnx/export.js";
import { compareOutputs, conformanceDir, ConformanceRunner, listTests, loadTest } from "../src/onnx/runner.js";
import { onnxToNet, OnnxImportUnsupported } from "../src/onnx/to-net.js";

// `netc import` on the ONNX node tests netc's conformance runner passes (CPU): each model is
// imported as .net + weights, compiled, run on the test's inputs against ONNX's expected outputs,
// then exported and run in ONNX Runtime against them again. A model import cannot write as .net
// is refused with OnnxImportUnsupported (its reasons listed), never a crash.

const dir = conformanceDir();
const tests = existsSync(dir) ? listTests(dir) : [];
const imported: string[] = [];
const refused = new Map<string, string[]>();
const worst = { netc: 0, ort: 0 };
const exportRefused: string[] = [];

afterAll(() => {
  if (!tests.length) return;
  const reasons = [...refused.entries()].map(([reason, names]) => `  ${names.length} ${reason.slice(0, 160)}: ${names.slice(0, 4).join(", ")}${names.length > 4 ? ", ..." : ""}`);
  console.log(`netc import of conformance models netc passes: ${imported.length} round-trip (max relative error (below 1: absolute) netc ${worst.netc.toExponential(2)}, re-export ${worst.ort.toExponential(2)}), ${[...refused.values()].reduce((a, b) => a + b.length, 0)} refused:\n${reasons.join("\n")}\nimported but not exported again (opset 17): ${exportRefused.join(", ") || "none"}`);
});

const maxRel = (got: ArrayLike<number>, want: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < want.length; i++)
    if (Number.isFinite(want[i]!) && Number.isFinite(got[i]!)) m = Math.max(m, Math.abs(Number(got[i]) - Number(want[i])) / Math.max(Math.abs(Number(want[i])), 1));
  return m;
};

describe.skipIf(!tests.length)("netc import: the conformance models netc supports", () => {
  it("import, run, export and run in ONNX Runtime each, with ONNX's expected outputs", { timeout: 600_000 }, async () => {
    const runner = new ConformanceRunner({ backends: ["cpu"] });
    const problems: string[] = [];
    for (const tc of tests) {
      const r = await runner.run(tc);
      if (r.status !== "pass" || !r.counted) continue;
      const test = loadTest(tc.dir);
      const file = join(tc.dir, "model.onnx");
      let net;
      try {
        net = onnxToNet(readFileSync(file), file);
      } catch (e) {
        if (!(e instanceof OnnxImportUnsupported) && !(e instanceof NetcError)) throw e;
        const reason = e instanceof OnnxImportUnsupported ? e.problems.join("; ").replace(/"[^"]*"|node #\d+|\(output [^)]*\)/g, "").replace(new RegExp(tc.dir, "g"), "") : e.message;
        refused.set(reason, [...(refused.get(reason) ?? []), tc.name]);
        continue;
      }
      const c = compile(net.source, `${tc.name}.net`, { mode: "infer", after: "simplify" });
      if (!c.graph) {
        problems.push(`${tc.name}: the written .net does not compile: ${c.diagnostics.render()}\n${net.source}`);
        continue;
      }
      const g = c.graph;
      const values = Object.fromEntries(Object.entries(net.tensors).map(([k, t]) => [k, t.values]));
      // The written inputs keep the model's order; the test's data follows it.
      const inputs = g.args.filter((a) => a.arg!.role === "input");
      const args = new Map<Value, Tensor>();
      inputs.forEach((a, i) => args.set(a, { shape: test.inputs[i]!.tensor.dims, data: Float32Array.from(test.inputs[i]!.tensor.data) }));
      for (const a of g.args) if (a.arg!.role !== "input") args.set(a, { shape: a.type.shape as number[], data: values[a.arg!.name]! });
      const env = interpret(g, args, { dims: {}, precision: "f32" });
      let again: Record<string, ort.Tensor> | undefined;
      let names: string[] = [];
      try {
        const exported = exportOnnx(g, { values });
        names = exported.outputs.map((o) => o.name);
        const session = await ort.InferenceSession.create(exported.bytes, { executionProviders: ["cpu"] }).catch((e: Error) => {
          problems.push(`${tc.name}: ONNX Runtime refuses the re-export: ${e.message}`);
          return undefined;
        });
        if (!session) continue;
        const feed: Record<string, ort.Tensor> = {};
        exported.inputs.forEach((inp, i) => {
          const t = test.inputs[i]!.tensor;
          feed[inp.name] = inp.elem === ELEM.INT32 ? new ort.Tensor("int32", Int32Array.from(t.data), t.dims) : new ort.Tensor("float32", Float32Array.from(t.data), t.dims);
        });
        again = await session.run(feed).catch((e: Error) => {
          problems.push(`${tc.name}: ONNX Runtime refuses the re-export: ${e.message}`);
          return undefined;
        });
      } catch (e) {
        // NOTE: a few imports need more than opset 17 to export again (dilated average pooling).
        if (!(e instanceof OnnxExportError)) throw e;
        exportRefused.push(`${tc.name} (${e.problems.join("; ").replace(/ at .*$/, "")})`);
      }
      let ok = true;
      g.outputs.forEach((o, k) => {
        const want = test.outputs[k]!.tensor;
        const mine = Float32Array.from(env.get(o.value)?.data ?? args.get(o.value)!.data);
        const viaOrt = again && Float32Array.from(again[names[k]!]!.data as ArrayLike<number>);
        const a = compareOutputs(mine, want);
        const b = viaOrt && compareOutputs(viaOrt, want);
        if (a !== undefined || b !== undefined) {
          ok = false;
          problems.push(`${tc.name} output ${k}: netc ${JSON.stringify(a)}, re-export ${JSON.stringify(b)}`);
        }
        worst.netc = Math.max(worst.netc, maxRel(mine, want.data));
        if (viaOrt) worst.ort = Math.max(worst.ort, maxRel(viaOrt, want.data));
      });
      if (ok) imported.push(tc.name);
    }
    expect(problems).toEqual([]);
    expect(imported.length).toBeGreaterThan(100);
  });
});
