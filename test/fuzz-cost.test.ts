import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { prepareCase, type CaseSetup } from "../tools/fuzz/case.js";
import { defaultBudget } from "../tools/fuzz/cost.js";

// The fuzzer skips a CPU step whose estimated cost (tools/fuzz/cost.ts, from the compiled graph's
// shapes) is over its budget, so that its timeout only catches hangs. The estimate must follow
// the work: every example's step runs under the default budget, and a mutant that multiplies the
// work multiplies the estimate.

const EXAMPLES = join(import.meta.dirname, "..", "examples");

async function setup(text: string, name: string): Promise<CaseSetup> {
  const p = await prepareCase(text, name, { step: true, stepBytes: 1 << 30 });
  if (p.done) throw new Error(`${name}: ${p.outcome} at ${p.stage}: ${p.detail}`);
  return p.setup;
}

describe("the fuzzer's step cost estimate", () => {
  it("puts every example's step under the default budget of a 30 s timeout", async () => {
    const trained = readdirSync(EXAMPLES).filter((f) => f.endsWith(".net") && /^train\b/m.test(readFileSync(join(EXAMPLES, f), "utf8")));
    expect(trained.length).toBeGreaterThan(8);
    for (const f of trained) {
      const s = await setup(readFileSync(join(EXAMPLES, f), "utf8"), f);
      expect(s.cost, f).toBeGreaterThan(0);
      expect(s.cost, f).toBeLessThan(defaultBudget(30));
    }
  }, 120_000);

  it("grows with the sequence length, the depth and the convolution's taps", async () => {
    const lstm = readFileSync(join(EXAMPLES, "char-lstm.net"), "utf8");
    const short = await setup(lstm, "char-lstm.net");
    const long = await setup(lstm.replace("i32[B, 32]", "i32[B, 320]"), "long.net");
    expect(long.cost / short.cost).toBeGreaterThan(8);
    expect(long.cost).toBeGreaterThan(defaultBudget(30));
    const mlp = readFileSync(join(EXAMPLES, "residual-mlp.net"), "utf8");
    const deep = await setup(mlp.replace("repeat(3,", "repeat(300,"), "deep.net");
    expect(deep.cost / (await setup(mlp, "mlp.net")).cost).toBeGreaterThan(50);
    const cnn = readFileSync(join(EXAMPLES, "mnist-cnn.net"), "utf8");
    const wide = cnn.replace(/conv2d\((\d+), 3/, (_, f: string) => `conv2d(${f}, 9`);
    expect(wide).not.toBe(cnn);
    // NOTE: a 9x9 kernel has 9 times the taps of a 3x3 over 0.59 times the outputs (20² of 26²);
    // counted by outputs alone, the wider net would cost less, not more.
    expect((await setup(wide, "wide.net")).cost / (await setup(cnn, "cnn.net")).cost).toBeGreaterThan(1.1);
  }, 120_000);
});
