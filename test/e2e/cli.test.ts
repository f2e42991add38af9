import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { netc, netcWith } from "../util/cli.js";

// NOTE: runs the built CLI (dist/), as a user would; `npm test` builds it first.
const finalLoss = (out: string) => Number(/final loss ([\d.e+-]+)/.exec(out)?.[1]);

function tempNet(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), "netc-"));
  const file = join(dir, "bad.net");
  writeFileSync(file, text);
  return file;
}

describe("netc train examples/xor.net", () => {
  for (const backend of ["cpu", "webgpu"]) {
    it(`reaches MSE < 0.01 on ${backend}`, async () => {
      const r = await netc("train", "examples/xor.net", "--backend", backend);
      expect(r.err).not.toMatch(/internal compiler error/);
      expect(r.code, r.err).toBe(0);
      const losses = [...r.out.matchAll(/^epoch\s+\d+\/\d+\s+loss ([\d.e+-]+)/gm)].map((m) => Number(m[1]));
      expect(losses.length).toBeGreaterThan(5);
      expect(losses.at(-1)!).toBeLessThan(losses[0]!);
      expect(finalLoss(r.out)).toBeLessThan(0.01);
      expect(r.out).toMatch(backend === "cpu" ? /backend: cpu/ : /backend: webgpu \(.+\)/);
    });
  }

  it("gives the same losses on both backends from the same seed (to f32 rounding)", async () => {
    const cpu = finalLoss((await netc("train", "examples/xor.net", "--backend", "cpu", "--epochs", "300")).out);
    const gpu = finalLoss((await netc("train", "examples/xor.net", "--backend", "webgpu", "--epochs", "300")).out);
    expect(Math.abs(cpu - gpu)).toBeLessThan(1e-4);
  });
});

describe("Dawn's notices", () => {
  it("WebGPU commands do not show Dawn's limit notices; other stderr and the exit code pass through", async () => {
    const args = ["train", "examples/xor.net", "--backend", "webgpu", "--epochs", "1", "--quiet"];
    // NETC_STDERR_FILTERED=1 skips the filter: Dawn on llvmpipe prints its notices there.
    const raw = await netcWith(args, { env: { ...process.env, NETC_STDERR_FILTERED: "1" } });
    expect(raw.err).toMatch(/^Warning: maxDynamicStorageBuffersPerPipelineLayout artificially reduced/m);
    const r = await netc(...args);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toBe("");
    expect(r.out).toMatch(/final loss/);
    expect(r.out).toMatch(/^netc: memory per step on the device: [\d.]+ K?B \(params [\d.]+ B, .*activations and temporaries [\d.]+ K?B; [\d.]+ K?B without reuse\)$/m);
    const bad = await netc("eval", "examples/xor.net", "--checkpoint", "no-such.safetensors", "--backend", "webgpu");
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/^netc: .*no-such\.safetensors/m);
    expect(bad.err).not.toMatch(/artificially reduced/);
  });
});

describe("netc train examples/xor-layers.net (the same network as a pipe of dense layers)", () => {
  it("reaches MSE < 0.01 on webgpu, with dotted param names", async () => {
    const r = await netc("train", "examples/xor-layers.net", "--backend", "webgpu");
    expect(r.code, r.err).toBe(0);
    expect(finalLoss(r.out)).toBeLessThan(0.01);
    const ir = (await netc("ir", "examples/xor-layers.net", "--after", "infer-shapes")).out;
    expect(ir).toContain("param %hidden.weight: f32[2,3] = xavier");
    expect(ir).toContain("param %out.bias: f32[1] = zeros");
  });
});

describe("netc ir", () => {
  it("--after fuse shows the fused kernels", async () => {
    const r = await netc("ir", "examples/xor.net", "--after", "fuse");
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/kernel @k0 contraction \{/);
    expect(r.out).toMatch(/kernel @k\d+ elementwise \{\n(\s+%\d+ = \w+.*\n){2,}/);
    expect(r.out).toMatch(/update %w1 := %\d+/);
  });

  it("--debug-info prints source locations", async () => {
    const r = await netc("ir", "examples/xor.net", "--after", "infer-shapes", "--debug-info");
    expect(r.out).toMatch(/loc\("examples\/xor.net":\d+:\d+\)/);
  });

  it("rejects an unknown pass name, listing the passes", async () => {
    const r = await netc("ir", "examples/xor.net", "--after", "fusion");
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/unknown pass `fusion`; passes: lower, infer-shapes, autodiff, optimizer, simplify, fuse/);
  });
});

describe("errors a user can cause", () => {
  it("a shape mismatch prints file:line:col, the source line and a caret, with no stack trace", async () => {
    const file = tempNet(`network n {\n  input x: f32[B, 2]\n  param w: f32[3, 1]\n  output y = x @ w\n}\n`);
    const r = await netc("check", file);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${file}:4:14: error NC3002: matmul inner dims differ: [B, 2] @ [3, 1] (2 vs 3)`);
    expect(r.err).toContain("4 |   output y = x @ w");
    expect(r.err).toMatch(/\|\s{14}\^~~~~/);
    expect(r.err).not.toMatch(/at \w+ \(/);
  });

  it("a missing file is a one-line error", async () => {
    const r = await netc("check", "no/such.net");
    expect(r.code).toBe(1);
    expect(r.err.trim()).toBe("netc: cannot read no/such.net: no such file");
  });

  it("--backend webgpu without an adapter is an error, auto falls back with a warning", async () => {
    // A Vulkan loader pointed at no driver: Dawn finds no adapter.
    const env = { ...process.env, VK_ICD_FILENAMES: "/nonexistent.json", VK_DRIVER_FILES: "/nonexistent.json" };
    const run = (backend: string) => netcWith(["train", "examples/xor.net", "--backend", backend, "--epochs", "2"], { env });
    const strict = await run("webgpu");
    expect(strict.code).toBe(1);
    expect(strict.err).toMatch(/netc: no WebGPU adapter: .+/);
    const auto = await run("auto");
    expect(auto.code).toBe(0);
    expect(auto.err).toMatch(/netc: warning: no WebGPU adapter \(.+\); training on the CPU backend instead/);
    expect(auto.out).toMatch(/backend: cpu/);
  });
});
