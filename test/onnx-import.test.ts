import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { afterAll, describe, expect, it } from "vitest";
import { bindBatch, compile } from "../src/compile.js";
import type { Graph } from "../src/ir/graph.js";
import { concreteShape, type DimBindings } from "../src/ir/types.js";
import { ELEM } from "../src/onnx/export-graph.js";
import { exportOnnx, type ExportResult } from "../src/onnx/export.js";
import { onnxToNet, OnnxImportUnsupported } from "../src/onnx/to-net.js";
import { CpuRunner } from "../src/runtime/cpu.js";
import { testInputs, testValues } from "./util/onnx-values.js";
import { netc } from "./util/cli.js";

// `netc import`: every example is exported (seeded weights), imported back as .net + weights,
// and exported again. The imported network on netc's CPU reference, and the re-exported model in
// ONNX Runtime, give the first export's outputs (ONNX Runtime) at two batch sizes.

const DIR = join(import.meta.dirname, "..", "examples");
const files = readdirSync(DIR).filter((f) => f.endsWith(".net")).sort();
const BATCHES = [2, 5];
const RTOL = 1e-4;
const FLOOR = 1e-2;



/** Max relative difference (below FLOOR: relative to FLOOR). */
function maxRel(got: ArrayLike<number>, want: ArrayLike<number>): number {
  if (got.length !== want.length) return Infinity;
  let rel = 0;
  for (let i = 0; i < want.length; i++) rel = Math.max(rel, Math.abs(Number(got[i]) - Number(want[i])) / Math.max(Math.abs(Number(want[i])), FLOOR));
  return rel;
}

async function ortRun(exported: ExportResult, feed: Record<string, Float32Array>, dims: DimBindings): Promise<Record<string, Float32Array>> {
  const session = await ort.InferenceSession.create(exported.bytes, { executionProviders: ["cpu"] });
  const f: Record<string, ort.Tensor> = {};
  for (const i of exported.inputs) {
    const shape = concreteShape(i.shape, dims);
    f[i.name] = i.elem === ELEM.INT32 ? new ort.Tensor("int32", Int32Array.from(feed[i.name]!), shape) : new ort.Tensor("float32", feed[i.name]!, shape);
  }
  const r = await session.run(f);
  return Object.fromEntries(Object.entries(r).map(([k, t]) => [k, Float32Array.from(t.data as ArrayLike<number>)]));
}

const report: string[] = [];
afterAll(() => {
  if (report.length) console.log(`export -> import -> export, max relative differences:\n${report.join("\n")}`);
});

describe("netc import: export -> import -> export of every example", () => {
  for (const file of files) {
    it(`${file}: the imported network and its export give the first export's outputs`, async () => {
      const path = join(DIR, file);
      const c = compile(readFileSync(path, "utf8"), path, { mode: "infer", after: "simplify" });
      const g = c.graph!;
      const values = testValues(g, 5);
      const first = exportOnnx(g, { values });
      const imported = onnxToNet(first.bytes, file.replace(/\.net$/, ".onnx"));
      const c2 = compile(imported.source, "imported.net", { mode: "infer", after: "simplify" });
      expect(c2.diagnostics.render(), imported.source).toBe("");
      const g2 = c2.graph!;
      const values2 = Object.fromEntries(Object.entries(imported.tensors).map(([k, t]) => [k, t.values]));
      const second = exportOnnx(g2, { values: values2 });
      expect(second.inputs.map((i) => [i.name, i.shape])).toEqual(first.inputs.map((i) => [i.name, i.shape]));
      expect(second.outputs.map((o) => [o.name, o.shape])).toEqual(first.outputs.map((o) => [o.name, o.shape]));
      let netcWorst = 0;
      let ortWorst = 0;
      for (const batch of BATCHES) {
        const dims = bindBatch(g, batch).dims;
        const feed = testInputs(g, dims, batch);
        const want = await ortRun(first, feed, dims);
        const names = first.outputs.map((o) => o.name);
        const dims2 = bindBatch(g2, batch).dims;
        const mine = await new CpuRunner(g2, dims2, values2).run(feed, names);
        const again = await ortRun(second, feed, dims);
        for (const name of names) {
          netcWorst = Math.max(netcWorst, maxRel(mine[name]!, want[name]!));
          ortWorst = Math.max(ortWorst, maxRel(again[name]!, want[name]!));
        }
      }
      report.push(`  ${file.padEnd(26)} layers ${String(imported.layers.length).padStart(2)}  netc ${netcWorst.toExponential(2)}  re-export ${ortWorst.toExponential(2)}`);
      expect(netcWorst).toBeLessThanOrEqual(RTOL);
      expect(ortWorst).toBeLessThanOrEqual(RTOL);
    });
  }
});
