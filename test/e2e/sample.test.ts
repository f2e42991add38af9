import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { netc } from "../util/cli.js";
import { draw } from "../../src/cli/sample.js";
import { readCheckpoint } from "../../src/runtime/checkpoint-file.js";

// `netc sample` on a small character model trained here on the first characters of Moby-Dick.

const ROOT = join(import.meta.dirname, "..", "..");
const dir = mkdtempSync(join(tmpdir(), "netc-sample-"));
const haveText = existsSync(join(ROOT, "node_modules", "@stdlib", "datasets-moby-dick"));

const CHAR_NET = `network tiny_chars {
  input chars: i32[B, 8]
  logits = chars |> embed: embedding(96, 8) |> rnn: lstm(16, return_sequences = true) |> head: dense(96)
  output probs = softmax(logits)
}
train {
  loss = cross_entropy(logits, labels)
  data = moby_dick(limit = 4000)
  optimizer = adam(lr = 0.01)
  epochs = 1
  batch = 32
  seed = 2
}
`;

describe("draw: one character from a position's outputs", () => {
  const probs = Float32Array.from([0.1, 0.6, 0.3]);
  it("walks the cumulative probabilities with u", () => {
    expect([0.05, 0.2, 0.69, 0.71, 0.999].map((u) => draw(probs, 1, u))).toEqual([0, 1, 1, 2, 2]);
  });
  it("a low temperature concentrates on the likeliest class; logits are softmaxed", () => {
    expect([0.01, 0.5, 0.99].map((u) => draw(probs, 0.01, u))).toEqual([1, 1, 1]);
    const logits = Float32Array.from([Math.log(0.1), Math.log(0.6), Math.log(0.3)].map((l) => l + 5));
    expect([0.05, 0.2, 0.69, 0.71].map((u) => draw(logits, 1, u))).toEqual([0, 1, 1, 2]);
  });
});

describe.runIf(haveText)("netc sample", () => {
  const net = join(dir, "chars.net");
  writeFileSync(net, CHAR_NET);
  const ckpt = join(dir, "chars.safetensors");

  it("generates --length characters after the prompt, from the training vocabulary, the same for the same seed", async () => {
    const t = await netc("train", net, "--backend", "cpu", "--checkpoint", ckpt, "--quiet");
    expect(t.code, t.err).toBe(0);
    expect(t.out).toMatch(/^validation loss|^final loss/m);
    const vocab = JSON.parse(readCheckpoint(ckpt).meta.extra!["class_names"]!) as string[];
    const a = await netc("sample", net, "--checkpoint", ckpt, "--prompt", "The whale", "--length", "40", "--backend", "cpu");
    expect(a.code, a.err).toBe(0);
    const text = a.out.replace(/\n$/, "");
    expect(text.startsWith("The whale")).toBe(true);
    expect([...text].length).toBe(9 + 40);
    expect([...text].every((ch) => vocab.includes(ch))).toBe(true);
    expect((await netc("sample", net, "--checkpoint", ckpt, "--prompt", "The whale", "--length", "40", "--backend", "cpu")).out).toBe(a.out);
    const other = await netc("sample", net, "--checkpoint", ckpt, "--prompt", "The whale", "--length", "40", "--seed", "9", "--backend", "cpu");
    expect(other.out).not.toBe(a.out);
  });

  it("draws the same text on WebGPU as on the CPU (each step's window reaches the device)", async () => {
    const args = ["sample", net, "--checkpoint", ckpt, "--prompt", "Call me", "--length", "48", "--seed", "3"];
    const cpu = await netc(...args, "--backend", "cpu");
    const gpu = await netc(...args, "--backend", "webgpu");
    expect(gpu.code, gpu.err).toBe(0);
    // NOTE: the two backends' probabilities differ by float rounding only; a draw would have to
    // land within ~1e-6 of a class boundary for the texts to part.
    expect(gpu.out).toBe(cpu.out);
  });

  it("bad options and checkpoints are one-line errors", async () => {
    const cases: [string[], RegExp][] = [
      [["--prompt", "whale\u00e9\u00e9"], /--prompt has characters the model never saw: "\u00e9"/],
      [["--temperature", "0"], /--temperature must be a positive number, got 0/],
      [["--prompt", ""], /--prompt must have at least one character/],
    ];
    for (const [extra, message] of cases) {
      const r = await netc("sample", net, "--checkpoint", ckpt, "--backend", "cpu", ...extra);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(message);
    }
    const xor = join(dir, "xor.safetensors");
    expect((await netc("train", "examples/xor.net", "--backend", "cpu", "--epochs", "1", "--checkpoint", xor, "--quiet")).code).toBe(0);
    const r = await netc("sample", "examples/xor.net", "--checkpoint", xor, "--backend", "cpu");
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/holds no character vocabulary: netc sample needs a checkpoint of a character-level model/);
  });
});
