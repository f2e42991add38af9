import { planOf } from "../src/codegen/plan.js";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { bindBatch } from "../src/compile.js";
import type { TrainSpec } from "../src/ir/training.js";
import { hyperValues } from "../src/ir/training.js";
import { RunnerPool, webgpuBackend, type Backend } from "../src/runtime/backend.js";
import { cpuBackend } from "../src/runtime/cpu-backend.js";
import { CheckpointError, type Checkpoint } from "../src/runtime/checkpoint.js";
import { readCheckpoint } from "../src/runtime/checkpoint-file.js";
import { CpuRunner } from "../src/runtime/cpu.js";
import { batchOf, epochBatches, prepareData } from "../src/runtime/data-source.js";
import { requireSharedGpu } from "../src/runtime/device.js";
import { checkpointValues } from "../src/runtime/restore.js";
import type { StepRunner } from "../src/runtime/runner.js";
import { initialParams } from "../src/runtime/train.js";
import { statsOf, STEP_STATS } from "../src/runtime/step-stats.js";
import { Trainer, type TrainerConfig } from "../src/runtime/trainer.js";
import { PipelineCache } from "../src/runtime/pipelines.js";
import { WebGpuRunner } from "../src/runtime/webgpu.js";
import { compileOk, tinySource } from "./util/tiny-net.js";

// The runtime around a training step: runners that read several values in one read-back, hand out
// and take back every persistent value, and share them across batch sizes; the trainer (seeded
// shuffling, the last partial batch, validation on the inference graph, exact resume from a
// checkpoint); checkpoints that do not fit the network.

const dir = mkdtempSync(join(tmpdir(), "netc-trainer-"));
const hyper = (spec: TrainSpec, step: number) => Object.fromEntries(Object.entries(hyperValues(spec, step)).map(([k, v]) => [k, Float32Array.of(v)]));
const backends: [string, () => Promise<Backend>][] = [
  ["cpu", async () => cpuBackend()],
  ["webgpu", async () => webgpuBackend(await requireSharedGpu())],
];

async function makeRunners(rows: number): Promise<{ cpu: CpuRunner; gpu: WebGpuRunner; spec: TrainSpec; batch: Record<string, Float32Array> }> {
  const { graph, spec } = compileOk(tinySource());
  const dims = bindBatch(graph, rows).dims;
  const init = initialParams(graph, dims, 3);
  const data = await prepareData(spec, graph, { seed: 3 });
  const batch = { ...batchOf(data.train, { start: 0, end: rows }), ...hyper(spec, 0) };
  return { cpu: new CpuRunner(graph, dims, init), gpu: await WebGpuRunner.create(await requireSharedGpu(), planOf(graph), dims, init), spec, batch };
}

const expectClose = (a: Float32Array, b: Float32Array, what: string, digits = 4) => {
  expect(a.length, what).toBe(b.length);
  a.forEach((v, i) => expect(b[i]!, `${what}[${i}]`).toBeCloseTo(v, digits));
};

describe("runners", () => {
  it("run() reads the loss, a metric and an output of the same step; CPU and WebGPU agree", async () => {
    const { cpu, gpu, batch } = await makeRunners(4);
    const read = ["loss", "metric.accuracy", "probs"];
    const [c, g] = [await cpu.run(batch, read), await gpu.run(batch, read)];
    expect(Object.keys(g).sort()).toEqual([...read].sort());
    expect(g["probs"]!.length).toBe(4 * 2);
    for (const name of read) expectClose(c[name]!, g[name]!, name);
    expect(cpu.readable).toEqual(["loss", "probs", "metric.accuracy", STEP_STATS]);
    expect(gpu.readable).toEqual(cpu.readable);
    await expect(cpu.run(batch, ["nope"])).rejects.toThrow(/no value "nope"/);
    gpu.dispose();
  });

  it("state() holds params, optimizer moments and batchnorm statistics; load() overwrites them", async () => {
    const { cpu, gpu, batch } = await makeRunners(4);
    await cpu.step(batch, false);
    await gpu.step(batch, false);
    const [sc, sg] = [await cpu.state(), await gpu.state()];
    expect(Object.keys(sg)).toEqual(expect.arrayContaining(["h.weight", "h.weight.m", "h.weight.v", "bn.running_mean", "bn.running_var"]));
    expect(Object.keys(sg).sort()).toEqual(Object.keys(sc).sort());
    // NOTE: h.bias feeds batchnorm, which subtracts the batch mean: its gradient is zero but for
    // rounding, and Adam scales that noise to a full step, differently on each backend.
    for (const name of Object.keys(sc)) if (!name.startsWith("h.bias")) expectClose(sc[name]!, sg[name]!, name);
    expect([...sg["bn.running_var"]!].some((v) => v !== 1)).toBe(true); // the step moved it
    const values = { "h.bias": Float32Array.from({ length: 6 }, (_, i) => i / 8), "bn.running_mean": new Float32Array(6).fill(0.25) };
    for (const r of [cpu, gpu] as StepRunner[]) {
      await r.load(values);
      const s = await r.state();
      expect([...s["h.bias"]!]).toEqual([...values["h.bias"]]);
      expect([...s["bn.running_mean"]!]).toEqual([...values["bn.running_mean"]]);
      await expect(r.load({ "no.such": new Float32Array(1) })).rejects.toThrow(/no param or state called "no.such"/);
    }
    gpu.dispose();
  });

  for (const [name, make] of backends) {
    it(`${name}: a runner for another batch size shares the persistent values, with no copy`, async () => {
      const { graph, spec } = compileOk(tinySource());
      const backend = await make();
      const pool = new RunnerPool(backend, planOf(graph), initialParams(graph, bindBatch(graph, 4).dims, 1));
      const [r4, r2] = [await pool.get(4), await pool.get(2)];
      const data = await prepareData(spec, graph, { seed: 1 });
      const before = await r4.state();
      await r2.step({ ...batchOf(data.train, { start: 0, end: 2 }), ...hyper(spec, 0) }, false);
      const [after4, after2] = [await r4.state(), await r2.state()];
      expect([...after4["out.weight"]!]).toEqual([...after2["out.weight"]!]);
      expect([...after4["out.weight"]!]).not.toEqual([...before["out.weight"]!]);
      expect([...after4["bn.running_var"]!]).toEqual([...after2["bn.running_var"]!]);
      pool.dispose();
    });
  }
});

describe("pipelines across batch sizes", () => {
  it("a runner for another batch size compiles only the kernels whose WGSL names the batch (matmuls, sums over it, 1/B)", async () => {
    const gpu = await requireSharedGpu();
    const cache = new PipelineCache(gpu.device);
    const { graph, spec } = compileOk(tinySource({ plain: true }));
    const plan = planOf(graph, { train: spec });
    const pool = new RunnerPool(webgpuBackend(gpu, cache), plan, initialParams(graph, bindBatch(graph, 4).dims, 1));
    await pool.get(4);
    const first = cache.size;
    await pool.get(2);
    const added = cache.size - first;
    const kernels = plan.variants[0]!.kernels;
    const newShaders = new Set(plan.variants[1]!.kernels.map((k) => k.shader).filter((s) => !kernels.some((k) => k.shader === s)));
    expect(added).toBe(newShaders.size);
    // 9 of 11 kernels (matmuls, sums over the batch, the loss's row kernel computing 1/B): all but
    // the two elementwise updates (11 of 20 before row and multi kernels; 21 of 30 when every
    // kernel wrote its length as a constant)
    expect(added).toBeLessThanOrEqual(9);
    expect(kernels.length).toBeGreaterThanOrEqual(11);
    pool.dispose();
  });
});

describe("data for training", () => {
  it("shuffles each epoch by (seed, epoch): repeatable, different per epoch, every row once, the last batch partial", () => {
    const a = epochBatches(10, 4, 7, 0);
    expect(a.map((b) => b.length)).toEqual([4, 4, 2]);
    expect(epochBatches(10, 4, 7, 0).map((b) => [...b])).toEqual(a.map((b) => [...b]));
    expect(a.flatMap((b) => [...b]).sort((x, y) => x - y)).toEqual([...Array(10).keys()]);
    expect(epochBatches(10, 4, 7, 1).map((b) => [...b])).not.toEqual(a.map((b) => [...b]));
    expect(epochBatches(10, 4, 8, 0).map((b) => [...b])).not.toEqual(a.map((b) => [...b]));
  });

  it("holds out a seeded validation share, disjoint from the training rows", async () => {
    const { graph, spec } = compileOk(tinySource({ rows: 20, validation: 0.25 }));
    const d = await prepareData(spec, graph, { seed: 5 });
    expect(d.train.rows).toBe(15);
    expect(d.validation!.rows).toBe(5);
    const rowsOf = (values: Float32Array) => Array.from({ length: values.length / 3 }, (_, i) => [...values.subarray(3 * i, 3 * i + 3)].join(","));
    const train = rowsOf(batchOf(d.train, { start: 0, end: 15 })["x"]!);
    const val = rowsOf(batchOf(d.validation!, { start: 0, end: 5 })["x"]!);
    expect(new Set([...train, ...val]).size).toBe(20);
    expect(rowsOf(spec.data[0]!.values).sort()).toEqual([...train, ...val].sort());
    const again = await prepareData(spec, graph, { seed: 5 });
    expect(rowsOf(batchOf(again.validation!, { start: 0, end: 5 })["x"]!)).toEqual(val);
    const other = await prepareData(spec, graph, { seed: 6 });
    expect(rowsOf(batchOf(other.validation!, { start: 0, end: 5 })["x"]!)).not.toEqual(val);
    expect(d.test.rows).toBe(20); // literal data: eval's default split is the data itself
  });

  it("refuses a text whose vocabulary is larger than the network's output", async () => {
    const { graph, spec } = compileOk(`network lm {
  input chars: i32[B, 4]
  logits = chars |> embed: embedding(5, 3) |> out: dense(5)
}
train {
  loss = cross_entropy(logits, labels)
  optimizer = adam
  epochs = 1
  data = moby_dick
}`);
    const text = "abcdefgh abcdefgh";
    const chars = [...new Set(text)].sort();
    const ids = Int32Array.from(text, (c) => chars.indexOf(c));
    const split = { text, ids: { shape: [ids.length], values: ids } };
    const dataset = { name: "moby_dick", kind: "text" as const, source: "test", train: split, test: split, inputShape: [], classes: chars.length, classNames: chars, vocab: { chars, index: new Map(chars.map((c, i) => [c, i])) } };
    await expect(prepareData(spec, graph, { seed: 0, dataset })).rejects.toThrow(/the text has 9 distinct characters, but lm's output has 5 classes/);
  });
});

/** A trainer on the tiny network; `epochs` and a checkpoint path and resume as given. */
async function tinyTrainer(
  backend: Backend,
  opts: { epochs: number; batch?: number; validation?: number; checkpoint?: string; resume?: string; plain?: boolean; readEvery?: number },
): Promise<Trainer> {
  const text = tinySource({ validation: opts.validation, rows: opts.validation ? 14 : 10, plain: opts.plain });
  const { graph, spec: s0 } = compileOk(text);
  const spec = { ...s0, epochs: opts.epochs, batch: opts.batch ?? s0.batch };
  const data = await prepareData(spec, graph, { seed: spec.seed });
  const cfg: TrainerConfig = {
    backend,
    plan: planOf(graph, { train: spec }),
    spec,
    data,
    infer: data.validation ? planOf(compileOk(text, { mode: "eval" }).graph) : undefined,
    readEvery: opts.readEvery ?? 1,
    logEvery: 1,
    checkpointPath: opts.checkpoint,
    resume: opts.resume ? { checkpoint: readCheckpoint(opts.resume), path: opts.resume } : undefined,
  };
  return Trainer.create(cfg);
}

describe("the trainer", () => {
  it("runs the last partial batch: 10 rows at batch 4 are steps of 4, 4 and 2, on runners made once", async () => {
    const base = cpuBackend();
    const made: number[] = [];
    const backend: Backend = { ...base, kind: "cpu", times: base.times, create: (g, rows, init, share) => (made.push(rows), base.create(g, rows, init, share)) };
    const t = await tinyTrainer(backend, { epochs: 2 });
    const rows: number[] = [];
    await t.run({ onStep: (p) => rows.push(p.rows) });
    expect(made).toEqual([4, 2]);
    expect(rows).toEqual([4, 8, 10, 14, 18, 20]);
    expect(t.history.map((h) => h.step)).toEqual([3, 6]);
    t.dispose();
  });

  it("leaves out a lone last row when the network has batchnorm (its variance would be 0·1/0), saying so", async () => {
    const { graph, spec } = compileOk(tinySource({ rows: 9 }));
    const data = await prepareData(spec, graph, { seed: 1 });
    const t = await Trainer.create({ backend: cpuBackend(), plan: planOf(graph), spec: { ...spec, epochs: 2 }, data, readEvery: 1, logEvery: 1 });
    expect(t.notes).toEqual([expect.stringMatching(/would hold 1 row, too few for batchnorm's variance: it is left out/)]);
    const rows: number[] = [];
    await t.run({ onStep: (p) => rows.push(p.rows) });
    expect(rows).toEqual([4, 8, 12, 16]);
    expect([...(await t.pool.state())["bn.running_var"]!].every(Number.isFinite)).toBe(true);
    t.dispose();
  });

  it("stops after the step in flight when its signal is aborted, and yields after each read", async () => {
    const { graph, spec } = compileOk(tinySource({ rows: 9 }));
    const data = await prepareData(spec, graph, { seed: 1 });
    const t = await Trainer.create({ backend: cpuBackend(), plan: planOf(graph), spec: { ...spec, epochs: 5 }, data, readEvery: 1, logEvery: 1 });
    const stop = new AbortController();
    let yields = 0;
    const result = await t.run({
      signal: stop.signal,
      yieldAfterRead: async () => {
        yields++;
      },
      onStep: (p) => {
        if (p.done === 3) stop.abort();
      },
    });
    expect(result.stopped).toBe(true);
    expect(result.steps).toBe(3);
    expect(yields).toBe(3);
    const full = await t.run();
    expect(full.stopped).toBeUndefined();
    t.dispose();
  });

  it("gives the same weights on WebGPU as on the CPU reference, partial batches included", async () => {
    const cpu = await tinyTrainer(cpuBackend(), { epochs: 3, plain: true });
    const gpu = await tinyTrainer(webgpuBackend(await requireSharedGpu()), { epochs: 3, plain: true });
    const [hc, hg] = [await cpu.run(), await gpu.run()];
    hc.history.forEach((h, i) => expect(hg.history[i]!.loss!).toBeCloseTo(h.loss!, 4));
    const [sc, sg] = [await cpu.pool.state(), await gpu.pool.state()];
    for (const name of Object.keys(sc)) expectClose(sc[name]!, sg[name]!, name, 4);
    cpu.dispose();
    gpu.dispose();
  });

  it("an epoch's loss and accuracy are over all of its steps, summed on the device, whatever is read; CPU and WebGPU agree", async () => {
    // The reference: the same epochs stepped by hand on the CPU, every step's loss and accuracy read.
    const cpu = await tinyTrainer(cpuBackend(), { epochs: 3, plain: true });
    const { graph, spec } = compileOk(tinySource({ plain: true }));
    const data = await prepareData(spec, graph, { seed: spec.seed });
    const plan = planOf(graph, { train: spec });
    const pool = new RunnerPool(cpuBackend(), plan, await cpu.pool.state());
    const want: { loss: number; accuracy: number }[] = [];
    let step = 0;
    for (let e = 0; e < 3; e++) {
      let [loss, acc] = [0, 0];
      for (const idx of epochBatches(10, 4, spec.seed, e)) {
        const got = await (await pool.get(idx.length)).run({ ...batchOf(data.train, idx), ...hyper(spec, step++) }, ["loss", "metric.accuracy"]);
        loss += got["loss"]![0]! * idx.length;
        acc += got["metric.accuracy"]![0]! * idx.length;
      }
      want.push({ loss: loss / 10, accuracy: acc / 10 });
    }
    pool.dispose();
    // Reads only at the end of each epoch (readEvery 0), where the last batch is 2 rows of 10.
    for (const [, make] of backends) {
      const t = await tinyTrainer(await make(), { epochs: 3, plain: true, readEvery: 0 });
      const { history } = await t.run();
      history.forEach((h, i) => {
        expect(h.loss!).toBeCloseTo(want[i]!.loss, 4);
        expect(h.accuracy!).toBeCloseTo(want[i]!.accuracy, 5);
      });
      const stats = statsOf((await (await t.pool.get(4)).run({ ...batchOf(data.train, { start: 0, end: 4 }), ...hyper(spec, 9) }, [STEP_STATS]))[STEP_STATS]!);
      expect(stats).toMatchObject({ rows: 10 + 4, steps: 3 + 1, firstBad: 0 });
      t.dispose();
    }
    expect(new Set(want.map((w) => w.accuracy)).size).toBeGreaterThan(1);
    cpu.dispose();
  });

  for (const [name, make] of backends) {
    it(`${name}: validates each recorded epoch on the inference graph, which reads the trained weights in place`, async () => {
      const backend = await make();
      const t = await tinyTrainer(backend, { epochs: 2, validation: 0.3 });
      const { history } = await t.run();
      expect(history).toHaveLength(2);
      for (const h of history) {
        expect(Number.isFinite(h.valLoss)).toBe(true);
        expect(h.valAccuracy).toBeGreaterThanOrEqual(0);
      }
      // The same numbers from a separate inference runner loaded with the trained state.
      const text = tinySource({ validation: 0.3, rows: 14 });
      const infer = compileOk(text, { mode: "eval" }).graph;
      const { graph, spec } = compileOk(text);
      const data = await prepareData(spec, graph, { seed: spec.seed });
      const state = await t.pool.state();
      const values = Object.fromEntries(infer.persistent.map((p) => [p.arg!.name, state[p.arg!.name]!]));
      const rows = data.validation!.rows;
      const r = new CpuRunner(infer, bindBatch(infer, rows).dims, values);
      const got = await r.run(batchOf(data.validation!, { start: 0, end: rows }), ["loss"]);
      expect(history[1]!.valLoss!).toBeCloseTo(got["loss"]![0]!, 4);
      t.dispose();
    });

    it(`${name}: resuming from a checkpoint ends with exactly the weights of an uninterrupted run`, async () => {
      const backend = await make();
      const full = join(dir, `full-${name}.safetensors`);
      const half = join(dir, `half-${name}.safetensors`);
      const a = await tinyTrainer(backend, { epochs: 4, checkpoint: full });
      await a.run();
      a.dispose();
      const b = await tinyTrainer(backend, { epochs: 2, checkpoint: half });
      await b.run();
      b.dispose();
      expect(readCheckpoint(half).meta).toMatchObject({ network: "tiny", epoch: 2, step: 6, seed: 7 });
      const c = await tinyTrainer(backend, { epochs: 4, checkpoint: half, resume: half });
      expect(c.startEpoch).toBe(3);
      expect(c.history).toHaveLength(2);
      await c.run();
      c.dispose();
      const [x, y] = [readCheckpoint(full), readCheckpoint(half)];
      expect(y.meta).toMatchObject({ epoch: 4, step: 12 });
      expect(Object.keys(y.tensors).sort()).toEqual(Object.keys(x.tensors).sort());
      expect(Object.keys(x.tensors)).toContain("bn.running_var");
      for (const [k, t] of Object.entries(x.tensors)) {
        const u = y.tensors[k]!.values;
        t.values.forEach((v, i) => {
          if (!Object.is(v, u[i])) expect.fail(`${k}[${i}]: ${v} uninterrupted, ${u[i]} resumed`);
        });
      }
      expect(JSON.parse(y.meta.extra!["history"]!).map((h: { epoch: number }) => h.epoch)).toEqual([1, 2, 3, 4]);
    });
  }
});

describe("checkpoints that do not fit", () => {
  const { graph } = compileOk(tinySource());
  const state = initialParams(graph, bindBatch(graph, 4).dims, 1);
  const ckpt = (edit: (c: Checkpoint) => void = () => {}): Checkpoint => {
    const c: Checkpoint = {
      tensors: Object.fromEntries(graph.persistent.map((p) => [p.arg!.name, { shape: p.type.shape as number[], values: state[p.arg!.name]! }])),
      meta: { network: "tiny", epoch: 1, step: 3, seed: 1 },
    };
    edit(c);
    return c;
  };

  it("fits as written", () => {
    expect(Object.keys(checkpointValues(ckpt(), planOf(graph), "a.ckpt", true))).toHaveLength(graph.persistent.length);
  });

  it("of another network", () => {
    expect(() => checkpointValues(ckpt((c) => (c.meta.network = "xor")), planOf(graph), "a.ckpt", false)).toThrow(
      new CheckpointError("a.ckpt", "is a checkpoint of network `xor`, not of `tiny`"),
    );
  });

  it("with a tensor of another shape, or missing", () => {
    const bad = ckpt((c) => {
      c.tensors["h.weight"] = { shape: [3, 7], values: new Float32Array(21) };
      delete c.tensors["bn.running_mean"];
    });
    expect(() => checkpointValues(bad, planOf(graph), "a.ckpt", false)).toThrow(/a\.ckpt: does not fit tiny: tensor `h.weight` is \[3, 7\], but tiny's param is \[3, 6\]; it has no tensor `bn.running_mean` \(state \[6\] of tiny\)/);
  });

  it("with another optimizer's state, when resuming (inference ignores it)", () => {
    const other = ckpt((c) => (c.tensors["h.weight.velocity"] = { shape: [3, 6], values: new Float32Array(18) }));
    expect(() => checkpointValues(other, planOf(graph), "a.ckpt", true)).toThrow(/holds a tensor tiny does not have \(`h.weight.velocity`\): written with another optimizer or network\?/);
    expect(() => checkpointValues(other, planOf(graph), "a.ckpt", false)).not.toThrow();
  });
});
