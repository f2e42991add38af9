import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { compile } from "../../src/compile.js";
import { concreteShape } from "../../src/ir/types.js";
import { decodeModel } from "../../src/onnx/proto.js";
import { writeCheckpoint } from "../../src/runtime/checkpoint-file.js";
import { initialParams } from "../../src/runtime/train.js";
import { netc } from "../util/cli.js";

// `netc export` as a user runs it: train iris briefly, export, serve the model in ONNX Runtime and
// get what `netc run` prints for the same rows; and the errors a user can cause, each one line.

const dir = mkdtempSync(join(tmpdir(), "netc-export-"));
const ckpt = join(dir, "iris.safetensors");
const rows = [
  [5.1, 3.5, 1.4, 0.2],
  [6.7, 3.0, 5.2, 2.3],
  [5.9, 2.8, 4.3, 1.3],
  [6.3, 3.3, 6.0, 2.5],
];
const rowsPath = join(dir, "rows.json");
writeFileSync(rowsPath, JSON.stringify(rows));

/** The probabilities `netc run --backend cpu` gives for the rows (it standardises them as training did). */
async function netcRun(): Promise<number[][]> {
  const outPath = join(dir, "run.json");
  const r = await netc("run", "examples/iris.net", "--checkpoint", ckpt, "--input", rowsPath, "--output", outPath, "--backend", "cpu");
  expect(r.code, r.err).toBe(0);
  return JSON.parse(readFileSync(outPath, "utf8")).outputs.probs;
}

/** Runs an exported iris model in ONNX Runtime on rows of 4 features. */
async function serve(path: string, x: number[][]): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(path);
  const got = await session.run({ x: new ort.Tensor("float32", Float32Array.from(x.flat()), [x.length, 4]) });
  expect(got["probs"]!.dims).toEqual([x.length, 3]);
  return got["probs"]!.data as Float32Array;
}

function expectClose(got: Float32Array, want: number[][]): void {
  const flat = want.flat();
  expect(got.length).toBe(flat.length);
  for (let i = 0; i < flat.length; i++) expect(Math.abs(got[i]! - flat[i]!)).toBeLessThanOrEqual(1e-4 * Math.max(Math.abs(flat[i]!), 1e-2));
}

describe("netc export", () => {
  it("trains iris, exports it, and ONNX Runtime gives netc run's probabilities", async () => {
    const train = await netc("train", "examples/iris.net", "--backend", "cpu", "--epochs", "5", "--quiet", "--checkpoint", ckpt);
    expect(train.code, train.err).toBe(0);
    const want = await netcRun();

    const plain = join(dir, "iris.onnx");
    const r = await netc("export", "examples/iris.net", "--checkpoint", ckpt, "--onnx", plain);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^netc: wrote .*iris\.onnx \(ONNX opset 17, \d+ nodes, 6 initializers, [\d.]+ KiB\)\ninputs: x float32\[B, 4\]\noutputs: probs float32\[B, 3\]\n$/);
    expect(r.err).toMatch(/^netc: note: training standardised each input feature: .*--include-transform\n$/);
    // Without the transform the model takes standardised features: the mean and std are in its metadata.
    const meta = Object.fromEntries(decodeModel(readFileSync(plain)).metadataProps!.map((e) => [e.key, e.value]));
    expect(meta["netc.network"]).toBe("iris");
    expect(meta["netc.checkpoint"]).toBe("epoch 5, step 40");
    const t = JSON.parse(meta["netc.input_transform"]!) as { kind: string; mean: number[]; std: number[]; included: boolean };
    expect(t).toMatchObject({ kind: "standardise", included: false });
    expectClose(await serve(plain, rows.map((row) => row.map((v, j) => (v - t.mean[j]!) / t.std[j]!))), want);

    const raw = join(dir, "iris-raw.onnx");
    const r2 = await netc("export", "examples/iris.net", "--checkpoint", ckpt, "--onnx", raw, "--include-transform");
    expect(r2.code, r2.err).toBe(0);
    expect(r2.err).toBe("");
    expect(r2.out).toContain("input transform: standardise (included: the model takes raw inputs)");
    expectClose(await serve(raw, rows), want);
  });

  it("says what is wrong in one line: no checkpoint, another network's, an op opset 17 lacks", async () => {
    const missing = await netc("export", "examples/iris.net", "--checkpoint", join(dir, "nope.safetensors"), "--onnx", join(dir, "x.onnx"));
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/^netc: .*nope\.safetensors: .*\n$/);

    const usage = await netc("export", "examples/iris.net", "--onnx", join(dir, "x.onnx"));
    expect(usage.code).toBe(1);
    expect(usage.err).toMatch(/^netc: usage: netc export FILE --checkpoint CKPT --onnx OUT\.onnx/);

    const other = await netc("export", "examples/xor.net", "--checkpoint", ckpt, "--onnx", join(dir, "x.onnx"));
    expect(other.code).toBe(1);
    expect(other.err).toBe(`netc: ${ckpt}: is a checkpoint of network \`iris\`, not of \`xor\`\n`);

    // Average pooling with dilation has no opset-17 form: refused, naming the op and its line.
    const net = join(dir, "dilated.net");
    writeFileSync(net, ["network dilated {", "  input x: f32[B, 1, 8, 8]", "  output y = x |> avgpool2d(2, dilation = 2)", "}", ""].join("\n"));
    const g = compile(readFileSync(net, "utf8"), net, { mode: "infer" }).graph!;
    const tensors = Object.fromEntries(Object.entries(initialParams(g, {}, 1)).map(([k, v]) => [k, { shape: concreteShape(g.argNamed(k)!.type.shape, {}), values: v }]));
    const dck = join(dir, "dilated.safetensors");
    writeCheckpoint(dck, { tensors, meta: { network: "dilated", epoch: 0, step: 0, seed: 1 } });
    const bad = await netc("export", net, "--checkpoint", dck, "--onnx", join(dir, "d.onnx"));
    expect(bad.code).toBe(1);
    expect(bad.err).toBe(
      `netc: cannot export ${net} to ONNX: unsupported op pool (dilated average pooling needs ONNX opset 19) at ${net}:3:19 (\`output y = x |> avgpool2d(2, dilation = 2)\`)\n`,
    );
    expect(bad.err).not.toMatch(/internal/);
  });
});
