import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { planOf } from "../src/codegen/plan.js";
import { DEFAULT_CODEGEN } from "../src/codegen/wgsl.js";
import { compile } from "../src/compile.js";
import { batchBindings } from "../src/ir/plan.js";
import { DEFAULT_LIMITS, planNeeds } from "../src/runtime/limits.js";
import { netc } from "./util/cli.js";

// A network too big for the device is the user's to change, said with the line that declared the
// tensor, before any GPU work: never Dawn's validation errors followed by a run that "succeeds".

const DIR = join(import.meta.dirname, "..", ".tmp", "limits-test");
const BIG = `network big {
  input x: f32[B, 4]
  param w: f32[4, 6000] = xavier
  param v: f32[6000, 6000] = zeros
  output y = sum(x @ w @ v, axis = 1, keepdims = true)
}
train {
  loss = mse(y, target)
  optimizer = sgd(lr = 0.01)
  epochs = 1
  batch = 2
  data {
    x = [[0, 0, 1, 1], [1, 1, 0, 0]]
    target = [[0], [1]]
  }
}
`;

describe("device limits", () => {
  it("a plan names each buffer over the binding limit with its source line, and its largest buffer and step memory", () => {
    const c = compile(BIG, "big.net");
    const plan = planOf(c.graph!, { batches: [2] });
    const needs = planNeeds(plan, batchBindings(plan, 2), DEFAULT_LIMITS);
    expect(needs.largest).toMatchObject({ label: "v", bytes: 144_000_000, at: "big.net:4:3" });
    expect(needs.problems[0]).toBe("big.net:4:3: param v [6000, 6000] is 137 MiB; this device binds at most 128 MiB per buffer");
    expect(needs.totalBytes).toBeGreaterThan(2 * 144_000_000);
    const tight = planNeeds(plan, batchBindings(plan, 2), { ...DEFAULT_LIMITS, maxStorageBuffersPerShaderStage: 2 });
    expect(tight.problems.some((p) => /binds 3 storage buffers; this device allows 2/.test(p))).toBe(true);
  });

  it("a kernel past 65,535 workgroups in one dimension is split by codegen, not refused: param v: f32[5000, 5000]", () => {
    const c = compile(BIG.replaceAll("6000", "5000").replace("sgd(lr = 0.01)", "adam(lr = 0.01)"), "big.net");
    // NOTE: one element a thread, as elementwise kernels had by default (now 16: 12,208 workgroups).
    const plan = planOf(c.graph!, { batches: [2], codegen: { ...DEFAULT_CODEGEN, elementwise: { threads: 64, perThread: 1 } } });
    const needs = planNeeds(plan, batchBindings(plan, 2), DEFAULT_LIMITS);
    expect(needs.problems).toEqual([]);
    // Adam's moments of v: 25 M values each, 390,625 workgroups of 64 folded over x and y
    const grids = plan.variants[0]!.kernels.map((k) => k.workgroups);
    expect(grids.some(([x, y]) => y > 1 && x * y * 64 >= 25_000_000)).toBe(true);
    expect(grids.every((g) => g.every((n) => n <= 65535))).toBe(true);
  });

  it("netc check --target webgpu reports it (exit 1); netc train on WebGPU stops before any work with the same words", async () => {
    mkdirSync(DIR, { recursive: true });
    const file = join(DIR, "big.net");
    writeFileSync(file, BIG);
    const check = await netc("check", file, "--target", "webgpu");
    expect(check.code).toBe(1);
    expect(check.out).toMatch(/on WebGPU at batch 2: largest buffer v 137\.3 MiB \(.*big\.net:4:3\) of at most 128\.0 MiB/);
    expect(check.err).toMatch(/does not fit WebGPU's limits: .*big\.net:4:3: param v \[6000, 6000\] is 137 MiB/);
    const train = await netc("train", file, "--backend", "webgpu", "--quiet");
    expect(train.code).toBe(1);
    expect(train.err).toMatch(/^netc: big does not fit this device: .*big\.net:4:3: param v \[6000, 6000\] is 137 MiB; this device binds at most 128 MiB per buffer/m);
    expect(train.err).not.toMatch(/internal|Invalid CommandBuffer/);
    const fits = await netc("check", "examples/mnist-cnn.net", "--target", "webgpu");
    expect(fits.code).toBe(0);
    expect(fits.out).toMatch(/largest buffer .* MiB .* a step's buffers \d+\.\d MiB \(\d+\.\d MiB without reuse\)/);
  });
});
