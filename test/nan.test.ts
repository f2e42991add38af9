import { existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { planOf } from "../src/codegen/plan.js";
import { webgpuBackend, type Backend } from "../src/runtime/backend.js";
import { cpuBackend } from "../src/runtime/cpu-backend.js";
import { prepareData } from "../src/runtime/data-source.js";
import { requireSharedGpu } from "../src/runtime/device.js";
import { evaluate } from "../src/runtime/evaluate.js";
import { RunnerPool } from "../src/runtime/backend.js";
import { traceNonFinite } from "../src/runtime/nan-trace.js";
import { Trainer, TrainingStopped } from "../src/runtime/trainer.js";
import { netc } from "./util/cli.js";
import { compileOk } from "./util/tiny-net.js";

// A run never ends in silence with wrong numbers: a NaN or infinite loss stops training before a
// checkpoint is written and names the op and line the first non-finite value came from (replayed
// on the CPU reference); `skip` and `ignore` go on; a device error stops the run; evaluation's
// accuracy agrees with its confusion matrix whatever the scores are.

const DIR = join(import.meta.dirname, "..", ".tmp", "nan-test");

function source(body: string, lr = 0.1, optimizer = "sgd"): string {
  const rows = Array.from({ length: 12 }, (_, i) => [((i * 7) % 5) / 5, ((i * 3) % 4) / 4]);
  const labels = rows.map(([a, b]) => (a! > b! ? [1, 0] : [0, 1]));
  return `network nanny {
  input x: f32[B, 2]
  h = x |> fc: dense(4, activation = relu)
${body}
  output y = z |> out: dense(2)
}
train {
  loss = cross_entropy(y, labels)
  optimizer = ${optimizer}(lr = ${lr})
  epochs = 3
  batch = 4
  metrics = [accuracy]
  data {
    x = ${JSON.stringify(rows)}
    labels = ${JSON.stringify(labels)}
  }
}`;
}

async function trainer(backend: Backend, text: string, opts: { onNan?: "stop" | "skip" | "ignore"; checkpoint?: string; readEvery?: number } = {}): Promise<Trainer> {
  const { graph, spec } = compileOk(text);
  const data = await prepareData(spec, graph, { seed: 1 });
  return Trainer.create({ backend, plan: planOf(graph, { train: spec }), spec, data, readEvery: opts.readEvery ?? 1, logEvery: 1, checkpointPath: opts.checkpoint, onNan: opts.onNan });
}

const backends: [string, () => Promise<Backend>][] = [
  ["cpu", async () => cpuBackend()],
  ["webgpu", async () => webgpuBackend(await requireSharedGpu())],
];

describe("a non-finite loss", () => {
  for (const [name, make] of backends) {
    it(`${name}: stops before the checkpoint and names the op that made it, at its line`, async () => {
      rmSync(DIR, { recursive: true, force: true });
      mkdirSync(DIR, { recursive: true });
      const ckpt = join(DIR, `${name}.ckpt`);
      const t = await trainer(await make(), source("  z = log(h - 100)"), { checkpoint: ckpt });
      const run = t.run();
      await expect(run).rejects.toThrow(TrainingStopped);
      await expect(run).rejects.toThrow(/the training loss is NaN at epoch 1, step 1: already in the run's first step, the first non-finite value comes from `log` at test.net:4:7 \(forward pass; input 0 in \[-100, -9\d\.\d+\]/);
      expect(existsSync(ckpt)).toBe(false);
      t.dispose();
    });

    it(`${name}: a diverging learning rate is told apart from a bad op`, async () => {
      const t = await trainer(await make(), source("  z = h", 1e30));
      await expect(t.run()).rejects.toThrow(/already hold NaN or infinite values \(an earlier update diverged/);
      t.dispose();
    });
  }

  for (const [name, make] of backends) {
    it(`${name}: read only at the epoch's end, the per-step flag names the first bad step, and weights that went NaN under a finite loss`, async () => {
      // 12 rows at batch 4: 3 steps, and nothing read before the third.
      const t = await trainer(await make(), source("  z = log(h - 100)"), { readEvery: 0 });
      await expect(t.run()).rejects.toThrow(/the training loss is not finite at epoch 1, step 1: already in the run's first step, the first non-finite value comes from `log` at test.net:4:7/);
      t.dispose();
      // sqrt(|p|) at p = 0 is 0 (the loss stays finite), its gradient is not: p is NaN after step 1.
      const w = await trainer(await make(), source("  param p: f32[4] = zeros\n  z = h + sqrt(abs(p))"), { readEvery: 0 });
      await expect(w.run()).rejects.toThrow(/the updated weights hold NaN or infinite values at epoch 1, step 1: already in the run's first step, the first non-finite value comes from .* at test.net:5:\d+ \(gradient;/);
      w.dispose();
    });
  }

  for (const [name, make] of backends) {
    it(`${name}: Adam's moments that overflow under a finite loss and finite weights stop the run, named with the op`, async () => {
      // Logits near 1e30: the loss is finite (about 1e30) and so is every gradient, but a gradient's
      // square is not: v is Inf, and m / sqrt(v) = 0 leaves the weights finite and frozen. (h + 1:
      // the output layer's inputs are never 0, so its gradient is large even when every relu is off.)
      const text = source("  z = (h + 1) * 1e30", 0.01, "adam");
      const t = await trainer(await make(), text, { readEvery: 0 });
      const run = t.run();
      await expect(run).rejects.toThrow(TrainingStopped);
      await expect(run).rejects.toThrow(/at epoch 1, step 1: .*the first non-finite value comes from `\w+` .*\(optimizer update;/);
      await expect(run).rejects.toThrow(/the optimizer or batchnorm state [\w.]+\.v\b.* holds NaN or infinite values under a finite loss and finite weights/);
      const state = await t.pool.state();
      const { graph, spec } = compileOk(text);
      const weights = planOf(graph, { train: spec }).params.filter((p) => p.role === "param");
      expect(weights.every((p) => state[p.name]!.every(Number.isFinite))).toBe(true);
      t.dispose();
    });
  }

  it("a replay names non-finite optimizer state as state, not as weights", () => {
    const { graph, spec } = compileOk(source("  z = h", 0.01, "adam"));
    const plan = planOf(graph, { train: spec });
    const state = Object.fromEntries(plan.params.map((p) => [p.name, new Float32Array((p.shape as number[]).reduce((a, b) => a * b, 1))]));
    const v = plan.params.find((p) => p.role === "state" && p.name.endsWith(".v"))!;
    state[v.name]![0] = Infinity;
    expect(traceNonFinite(plan, state, {}, {})).toMatch(new RegExp(`^the state ${v.name.replace(/\./g, "\\.")} already holds NaN or infinite values`));
    const w = plan.params.find((p) => p.role === "param")!;
    state[w.name]![0] = NaN;
    expect(traceNonFinite(plan, state, {}, {})).toMatch(/^the weights .* already hold NaN/);
  });

  it("skip undoes the bad steps and goes on; ignore trains on", async () => {
    const skip = await trainer(cpuBackend(), source("  z = h", 1e30), { onNan: "skip" });
    const r = await skip.run();
    expect(skip.skippedSteps).toBeGreaterThan(0);
    expect(skip.skippedSteps).toBeLessThan(r.steps);
    expect(Object.values(await skip.pool.state()).every((v) => v.every(Number.isFinite))).toBe(true);
    skip.dispose();
    const ignore = await trainer(cpuBackend(), source("  z = log(h - 100)"), { onNan: "ignore" });
    const done = await ignore.run();
    expect(done.history.at(-1)!.loss).toBeNaN();
    ignore.dispose();
  });

  it("the CLI exits 1 with the message and writes no checkpoint; --on-nan is checked", async () => {
    mkdirSync(DIR, { recursive: true });
    const file = join(DIR, "nan.net");
    const { writeFileSync } = await import("node:fs");
    writeFileSync(file, source("  z = log(h - 100)"));
    const ckpt = join(DIR, "cli.ckpt");
    const r = await netc("train", file, "--backend", "cpu", "--quiet", "--checkpoint", ckpt);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/netc: the training loss is NaN .*`log` at .*nan\.net:4:7 .*training stopped, .*cli\.ckpt not written after it/);
    expect(r.err).not.toMatch(/internal/);
    expect(existsSync(ckpt)).toBe(false);
    const bad = await netc("train", file, "--on-nan", "maybe");
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/--on-nan must be stop, skip or ignore, got maybe/);
  });
});

describe("device errors and evaluation", () => {
  it("a device error stops the run with it, before the checkpoint", async () => {
    mkdirSync(DIR, { recursive: true });
    const errors: string[] = [];
    const base = cpuBackend();
    const backend: Backend = {
      ...base,
      deviceErrors: () => errors,
      create: async (...args) => {
        const r = await base.create(...args);
        const run = r.run.bind(r);
        r.run = async (b, read) => {
          const got = await run(b, read);
          errors.push("uncaptured validation error: Binding size (144000000) of [Buffer \"w\"] is larger than the maximum storage buffer binding size (134217728)");
          return got;
        };
        return r;
      },
    };
    const ckpt = join(DIR, "device.ckpt");
    const t = await trainer(backend, source("  z = h"), { checkpoint: ckpt });
    await expect(t.run()).rejects.toThrow(/the WebGPU device reported an error at epoch 1, step 1: uncaptured validation error: Binding size .*; training stopped/);
    expect(existsSync(ckpt)).toBe(false);
    t.dispose();
  });

  it("evaluation's accuracy is its confusion matrix's, NaN scores included", async () => {
    const { graph, spec } = compileOk(source("  z = h"), { mode: "eval" });
    const data = await prepareData(spec, graph, { seed: 1 });
    const plan = planOf(graph);
    const nan = Object.fromEntries(plan.params.map((p) => [p.name, new Float32Array((p.shape as number[]).reduce((a, b) => a * b, 1)).fill(NaN)]));
    const pool = new RunnerPool(cpuBackend(), plan, nan);
    const task = { label: "labels", output: "y", classes: 2, width: 2 };
    const r = await evaluate(pool, data.train, { batch: 4, task });
    expect(r.accuracy).toBe(r.confusion!.accuracy());
    pool.dispose();
  });
});
