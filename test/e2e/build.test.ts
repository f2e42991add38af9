import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { planOf } from "../../src/codegen/plan.js";
import { compile } from "../../src/compile.js";
import { writeCheckpoint } from "../../src/runtime/checkpoint-file.js";
import { planInitialValues } from "../../src/runtime/train.js";
import { netc } from "../util/cli.js";

// `netc build` as an app developer meets it: a trained model becomes an ES module that imports
// only netc's runtime, runs in a plain Node process on WebGPU or the CPU reference to the same
// numbers as `netc run`, reports the caller's mistakes by input name and shape, and comes with
// typings a strict TypeScript project compiles against.

const ROOT = join(import.meta.dirname, "..", "..");
const DIR = join(ROOT, ".tmp", "build-test");
const TSC = join(ROOT, "node_modules", "typescript", "bin", "tsc");

function node(args: string[], cwd = DIR): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd, timeout: 300_000, maxBuffer: 16 * 1024 * 1024 }, (error, out, err) => {
      resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, out, err });
    });
  });
}

/** A checkpoint of `example`'s params and state at their seeded initial values (no training needed to test the path). */
function initialCheckpoint(example: string, path: string, extra: Record<string, string>): void {
  const file = join(ROOT, "examples", example);
  const c = compile(readFileSync(file, "utf8"), file, { mode: "infer" });
  const plan = planOf(c.graph!);
  const values = planInitialValues(plan, 3);
  const tensors = Object.fromEntries(plan.params.map((p) => [p.name, { shape: p.shape as number[], values: values[p.name]! }]));
  writeCheckpoint(path, { tensors, meta: { network: plan.name, epoch: 0, step: 0, seed: 3, extra } });
}

const USE = `
import { load } from "./out/iris.js";
const rows = JSON.parse(process.argv[3]);
const model = await load({ backend: process.argv[2] });
const p = await model.predict({ x: rows.flat() });
const errors = [];
for (const bad of [{}, { x: [1, 2, 3] }, { x: rows.flat(), y: [1] }, { x: "5.1,3.5" }]) {
  try { await model.predict(bad); errors.push("no error"); } catch (e) { errors.push(e.name + ": " + e.message); }
}
console.log(JSON.stringify({ backend: model.backend, classes: p.classes, probs: Array.from(p.probs), batchSizes: model.batchSizes, errors }));
model.dispose();
`;

const CONSUMER = `
import { load, classNames, type IrisClass, type IrisOutputs } from "./out/iris.js";
const model = await load({ backend: "cpu" });
const out: IrisOutputs = await model.predict({ x: new Float32Array([5.1, 3.5, 1.4, 0.2]) });
const first: IrisClass = out.classes[0]!;
const probs: Float32Array = out.probs;
const names: readonly IrisClass[] = classNames;
// @ts-expect-error iris has no input "y"
await model.predict({ y: new Float32Array(4) });
// @ts-expect-error "daisy" is not one of iris's classes
const wrong: IrisClass = "daisy";
console.log(first, probs.length, names.length, wrong, model.backend satisfies "webgpu" | "cpu");
model.dispose();
`;

describe("netc build", () => {
  const rows = [
    [5.1, 3.5, 1.4, 0.2],
    [6.7, 3.0, 5.2, 2.3],
    [5.9, 3.0, 4.2, 1.5],
  ];
  beforeAll(async () => {
    rmSync(DIR, { recursive: true, force: true });
    mkdirSync(DIR, { recursive: true });
    const trained = await netc("train", "examples/iris.net", "--backend", "cpu", "--epochs", "30", "--quiet", "--checkpoint", join(DIR, "iris.ckpt"));
    expect(trained.code, trained.err).toBe(0);
  });

  it("writes a module, its typings and the weights alone; the module imports only netc/runtime", async () => {
    const r = await netc("build", "examples/iris.net", "--checkpoint", join(DIR, "iris.ckpt"), "--out", join(DIR, "out"));
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/built iris .* iris\.js .* iris\.d\.ts, iris\.safetensors/);
    expect(r.out).toMatch(/batch sizes 1, 32 .*inputs x: f32\[B, 4\]; outputs probs; classes setosa, versicolor, virginica/);
    expect(r.out).toMatch(/^netc: memory at batch 1: [\d.]+ K?B \(params .*without reuse\) on WebGPU\nnetc: memory at batch 32: [\d.]+ K?B \(/m);
    const js = readFileSync(join(DIR, "out", "iris.js"), "utf8");
    expect(js.match(/^import .*$/gm)).toEqual(['import { loadModel } from "netc/runtime";']);
    const dts = readFileSync(join(DIR, "out", "iris.d.ts"), "utf8");
    expect(dts).toContain('export type IrisClass = "setosa" | "versicolor" | "virginica";');
    expect(dts).toMatch(/\/\*\* f32\[B, 4\]: B rows of 4 values\..*\*\/\n\s+x: Float32Array/);
    // The weights alone: the checkpoint's Adam moments stay behind.
    const weights = readFileSync(join(DIR, "out", "iris.safetensors"));
    const header = JSON.parse(weights.subarray(8, 8 + Number(weights.readBigUInt64LE(0))).toString()) as Record<string, unknown>;
    expect(Object.keys(header).filter((k) => k !== "__metadata__").sort()).toEqual(["hidden.bias", "hidden.weight", "out.bias", "out.weight"]);
  });

  it("predicts in a plain Node process like `netc run`, on the CPU reference and on WebGPU, and names the caller's mistakes", async () => {
    writeFileSync(join(DIR, "rows.json"), JSON.stringify(rows));
    const run = await netc("run", "examples/iris.net", "--checkpoint", join(DIR, "iris.ckpt"), "--input", join(DIR, "rows.json"), "--output", join(DIR, "run.json"), "--backend", "cpu");
    expect(run.code, run.err).toBe(0);
    const expected = JSON.parse(readFileSync(join(DIR, "run.json"), "utf8")) as { outputs: { probs: number[][] }; class_names: string[] };
    writeFileSync(join(DIR, "use.mjs"), USE);
    for (const backend of ["cpu", "webgpu"]) {
      const r = await node(["use.mjs", backend, JSON.stringify(rows)]);
      expect(r.code, r.err).toBe(0);
      const got = JSON.parse(r.out) as { backend: string; classes: string[]; probs: number[]; batchSizes: number[]; errors: string[] };
      expect(got.backend).toBe(backend);
      expect(got.batchSizes).toEqual([1, 32]);
      expect(got.classes).toEqual(expected.class_names);
      got.probs.forEach((p, i) => expect(p).toBeCloseTo(expected.outputs.probs.flat()[i]!, 5));
      expect(got.errors).toEqual([
        'NetcError: iris.predict: input "x" (f32[B, 4]) is missing',
        'NetcError: iris.predict: input "x" is f32[B, 4]: rows of 4 values, got 3 values',
        'NetcError: iris has no input "y"; its inputs: x: f32[B, 4]',
        "NetcError: iris.predict: input \"x\" must be a typed array or an array of numbers, got string",
      ]);
    }
  });

  it("gives typings a strict TypeScript project compiles against, and that refuse a wrong input or class", async () => {
    writeFileSync(join(DIR, "consumer.mts"), CONSUMER);
    const config = { compilerOptions: { strict: true, skipLibCheck: false, noEmit: true, module: "nodenext", moduleResolution: "nodenext", target: "es2022", lib: ["es2022", "dom"], types: [] }, files: ["consumer.mts"] };
    writeFileSync(join(DIR, "tsconfig.json"), JSON.stringify(config));
    const r = await node([TSC, "-p", "tsconfig.json"]);
    expect(r.out + r.err).toBe("");
    expect(r.code).toBe(0);
  });

  it("builds the Fashion-MNIST CNN: bytes become pixels in [0, 1] as in training, and its classes are the dataset's", async () => {
    const names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];
    initialCheckpoint("mnist-cnn.net", join(DIR, "cnn.ckpt"), { transform: JSON.stringify({ kind: "unit" }), class_names: JSON.stringify(names) });
    const b = await netc("build", "examples/mnist-cnn.net", "--checkpoint", join(DIR, "cnn.ckpt"), "--out", join(DIR, "cnn"), "--batch", "2");
    expect(b.code, b.err).toBe(0);
    const dts = readFileSync(join(DIR, "cnn", "mnist_cnn.d.ts"), "utf8");
    expect(dts).toContain('"T-shirt/top" | "Trouser"');
    expect(dts).toMatch(/f32\[B, 1, 28, 28\]: B rows of 1 × 28 × 28 = 784 values/);
    const pixels = Array.from({ length: 3 * 784 }, (_, i) => (i * 37) % 256);
    const scaled = pixels.map((v) => v / 255);
    writeFileSync(join(DIR, "pixels.json"), JSON.stringify([0, 1, 2].map((r) => scaled.slice(r * 784, (r + 1) * 784))));
    const run = await netc("run", "examples/mnist-cnn.net", "--checkpoint", join(DIR, "cnn.ckpt"), "--input", join(DIR, "pixels.json"), "--output", join(DIR, "cnn-run.json"), "--backend", "cpu");
    expect(run.code, run.err).toBe(0);
    const expected = JSON.parse(readFileSync(join(DIR, "cnn-run.json"), "utf8")) as { class_names: string[] };
    writeFileSync(
      join(DIR, "cnn.mjs"),
      `import { load } from "./cnn/mnist_cnn.js";
const m = await load({ backend: "cpu" });
const p = await m.predict({ x: Uint8Array.from(${JSON.stringify(pixels)}) });
console.log(JSON.stringify(p.classes)); m.dispose();`,
    );
    const r = await node(["cnn.mjs"]);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toEqual(expected.class_names);
  });

  it("refuses what it cannot build, in one line", async () => {
    const missing = await netc("build", "examples/iris.net", "--checkpoint", join(DIR, "iris.ckpt"));
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/usage: netc build FILE --checkpoint CKPT --out DIR/);
    const other = await netc("build", "examples/xor.net", "--checkpoint", join(DIR, "iris.ckpt"), "--out", join(DIR, "x"));
    expect(other.code).toBe(1);
    expect(other.err).toMatch(/iris\.ckpt: is a checkpoint of network `iris`, not of `xor`/);
    const batch = await netc("build", "examples/iris.net", "--checkpoint", join(DIR, "iris.ckpt"), "--out", join(DIR, "x"), "--batch", "0,4");
    expect(batch.code).toBe(1);
    expect(batch.err).toMatch(/--batch must be a comma-separated list of batch sizes from 1 to 65536, got 0,4/);
    writeFileSync(join(DIR, "a-file"), "");
    const file = await netc("build", "examples/iris.net", "--checkpoint", join(DIR, "iris.ckpt"), "--out", join(DIR, "a-file"));
    expect(file.code).toBe(1);
    expect(file.err).toMatch(/--out .*a-file is a file, not a folder/);
    for (const r of [missing, other, batch, file]) expect(r.err).not.toMatch(/internal/);
  });
});
