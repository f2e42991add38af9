import { spawn } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

// A seeded slice of the fuzzer (tools/fuzz, `npm run fuzz`): 1,000 mutants of the examples, each
// checked through the library; the training step (two steps through the Trainer, on the CPU) for
// every 4th case whose step holds at most 8 MiB, and on WebGPU too (compared with the CPU) for the
// first 2 of those with at most 40 kernels: new WGSL costs about a second a kernel on llvmpipe, so
// the WebGPU share is kept small here (about a minute in all on two busy cores). The same seed
// always makes the same cases; a failure leaves each failing case in .tmp/fuzz-ci/ with how to
// reproduce it. The check, and then the CPU step, count as a hang after 120 s each here (30 s by
// default): CI's two test workers share two cores, and a slow CPU step there is not a hang. (A
// step estimated to be too large for its timeout is skipped, not run: tools/fuzz/cost.ts.)

const ROOT = join(import.meta.dirname, "..");

function run(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, "dist", "tools", "fuzz", "main.js"), ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8").on("data", (s: string) => (out += s));
    child.stderr.setEncoding("utf8").on("data", (s: string) => (err += s));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, out, err }));
  });
}

interface Summary {
  cases: number;
  counts: Record<"diagnostic" | "clean" | "crash" | "hang" | "silent", number>;
  cpuSteps: number;
  cpuTrained: number;
  tooLarge: number;
  gpuSteps: number;
  gpuAgree: number;
  gpu: boolean;
  failures: { index: number; outcome: string; file: string }[];
}

describe("fuzzing the examples", () => {
  it("1,000 seeded mutants: no crash, no hang, no silent failure; the CPU and WebGPU steps agree", async () => {
    const args = ["--n", "1000", "--seed", "1", "--step-every", "4", "--step-mb", "8", "--gpu-max", "2", "--gpu-kernels", "40", "--timeout", "120", "--out", ".tmp/fuzz-ci", "--json", "--quiet"];
    const r = await run(args);
    const summary = JSON.parse(r.out.trim().split("\n").at(-1)!) as Summary;
    const failures = r.err.split("\n").filter((l) => /^(crash|hang|silent): /.test(l));
    expect(failures, r.out).toEqual([]);
    expect(summary.counts).toMatchObject({ crash: 0, hang: 0, silent: 0 });
    expect(r.code).toBe(0);
    // The slice does what it says: mostly diagnostics, and a few dozen trained steps.
    expect(summary.cases).toBe(1000);
    expect(summary.counts.diagnostic).toBeGreaterThan(600);
    expect(summary.cpuTrained).toBeGreaterThan(20);
    // Every step of the slice is small (8 MiB cap): none is left out as too large for the budget.
    expect(summary.tooLarge).toBe(0);
    expect(summary.gpu, "a WebGPU adapter (npm run setup)").toBe(true);
    expect(summary.gpuSteps).toBe(2);
    expect(summary.gpuAgree).toBe(2);
  }, 600_000);
});
