import { describe, expect, it } from "vitest";
import { NetcError } from "../../src/base/errors.js";
import { planOf } from "../../src/codegen/plan.js";
import { RunnerPool, webgpuBackend } from "../../src/runtime/backend.js";
import { cpuBackend } from "../../src/runtime/cpu-backend.js";
import { requireSharedGpu } from "../../src/runtime/device.js";
import { planInitialValues } from "../../src/runtime/train.js";
import { netc, type CliResult } from "../util/cli.js";
import { compileOk, tinySource } from "../util/tiny-net.js";

/** A stack trace line, or netc's word for its own bugs. */
const BUG = /internal|\n\s+at .*\.js:\d+/;

/** Runs `jobs` two at a time (each is a CLI process), in order of the list. */
async function twoAtATime<T>(jobs: (() => Promise<T>)[]): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < jobs.length; i += 2) out.push(...(await Promise.all(jobs.slice(i, i + 2).map((j) => j()))));
  return out;
}

// The mistakes issue 13's audit found reported as internal errors or crashes in `train`; each is in
// the diagnostics corpus with the errors it must give, and here goes through the CLI as a user runs it.
const CORPUS = [
  "param-too-large-train.net", // f32[100000, 100000]
  "tensor-too-large.net", // the same, and dense(1000000000), with no train section
  "dense-units-1e9-train.net", // dense(1000000000)
  "conv2d-filters-over-2-32.net", // conv2d(4294967297, 3)
  "size-not-positive.net", // dense(-3), embedding(0, 8), conv1d(4294967297, 3)
  "dense-zero-units.net", // dense(0): trained on the CPU and crashed on WebGPU
  "embedding-vocab-negative-train.net", // embedding(-3, 8) with a train section: crashed check
  "embedding-vocab-zero-train.net", // embedding(0, 8) with a train section
];

// Mistakes a user makes through the CLI end in one line and exit 1, before any work: never a stack
// trace or "internal". (The .net mistakes themselves are in the diagnostics corpus.)

describe("user mistakes are the user's", () => {
  it("output paths are checked before training starts, on both backends", async () => {
    const cases = [
      [["--checkpoint", "/no-such-folder/x.ckpt"], /--checkpoint \/no-such-folder\/x\.ckpt: the folder \/no-such-folder does not exist/],
      [["--checkpoint", "test"], /--checkpoint test is a folder; give a file name/],
      [["--plot", "README.md/x.svg"], /--plot README\.md\/x\.svg: README\.md is not a folder/],
    ] as const;
    const runs = await twoAtATime(
      cases.flatMap(([args]) => ["cpu", "webgpu"].map((backend) => () => netc("train", "examples/xor.net", "--backend", backend, ...args))),
    );
    runs.forEach((r, i) => {
      expect(r.code, r.err).toBe(1);
      expect(r.err).toMatch(cases[Math.floor(i / 2)]![1]);
      expect(r.out).toBe("");
      expect(r.err).not.toMatch(BUG);
    });
  });

  it("sizes a tensor cannot hold, and sizes that are not whole numbers from 1 to 2^31-1, are diagnostics in check and in train on both backends", async () => {
    const commands = [["check"], ["train", "--backend", "cpu", "--epochs", "1"], ["train", "--backend", "webgpu", "--epochs", "1"]];
    const jobs = CORPUS.flatMap((file) => commands.map((cmd) => () => netc(cmd[0]!, `test/diagnostics/${file}`, ...cmd.slice(1)).then((r): [string, CliResult] => [`${cmd.join(" ")} ${file}`, r])));
    for (const [what, r] of await twoAtATime(jobs)) {
      expect(r.code, `${what}: ${r.err}`).toBe(1);
      expect(r.err, what).toMatch(/^test\/diagnostics\/[\w.-]+:\d+:\d+: error NC(2006|3022): /);
      expect(r.err, what).not.toMatch(BUG);
      expect(r.out, what).toBe("");
    }
  });

  it("check --target webgpu of a network whose label width nothing binds says so (was an internal error; found by the fuzzer)", async () => {
    const { mkdirSync, writeFileSync } = await import("node:fs");
    mkdirSync(".tmp/user-errors", { recursive: true });
    const file = ".tmp/user-errors/unbound-label.net";
    writeFileSync(
      file,
      "network lm {\n  input chars: i32[B, 4]\n  logits = chars |> embed: embedding(5, 3) |> head: dense(1)\n}\n" +
        "train {\n  loss = cross_entropy(logits, labels)\n  data = moby_dick\n  optimizer = adam\n  epochs = 1\n}\n",
    );
    const r = await netc("check", file, "--target", "webgpu");
    expect(r.code, r.err).toBe(1);
    expect(r.err).toMatch(/^netc: dims labels\.classes of lm are not bound by any input\n$/);
  });

  it("through the library: a batch of the wrong size, and a hyper scalar with no schedule to take it from, are NetcErrors on both backends", async () => {
    const { graph } = compileOk(tinySource({ plain: true }));
    // NOTE: planned without the training section, so the runners have no schedule for lr.
    const plan = planOf(graph, { batches: [4] });
    for (const backend of [cpuBackend(), webgpuBackend(await requireSharedGpu())]) {
      const pool = new RunnerPool(backend, plan, planInitialValues(plan, 1));
      try {
        const r = await pool.get(4);
        const labels = new Float32Array(8);
        const lr = Float32Array.of(0.1);
        await expect(r.run({ x: new Float32Array(20), labels, lr }, ["loss"]), backend.kind).rejects.toThrow(new NetcError('tiny: input "x" is f32[B, 3] with B = 4: 12 values, got 20'));
        await expect(r.run({ x: new Float32Array(12), labels }, ["loss"]), backend.kind).rejects.toThrow(
          new NetcError('tiny: hyper scalar "lr" was not given, and there is no training schedule to take it from'),
        );
        const ok = await r.run({ x: new Float32Array(12), labels, lr }, ["loss"]);
        expect(Number.isFinite(ok["loss"]![0]), backend.kind).toBe(true);
      } finally {
        pool.dispose();
      }
    }
  });

  it("--version, --help on a command, and a near-miss command name", async () => {
    const v = await netc("--version");
    expect(v.code).toBe(0);
    expect(v.out).toMatch(/^netc \d+\.\d+\.\d+\n$/);
    const h = await netc("build", "--help");
    expect(h.code).toBe(0);
    expect(h.out).toMatch(/^usage: netc build \.\.\.\n  build FILE --checkpoint CKPT/);
    const typo = await netc("trian", "examples/xor.net");
    expect(typo.code).toBe(2);
    expect(typo.err).toMatch(/^netc: unknown command `trian`; did you mean `train`\?/);
  });

  it("a folder, a binary file, text that is not UTF-8 each give one line; a byte-order mark is skipped", async () => {
    const { mkdirSync, writeFileSync } = await import("node:fs");
    const dir = ".tmp/user-errors";
    mkdirSync(dir, { recursive: true });
    writeFileSync(`${dir}/binary.net`, Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01, 0x00, 0x00]));
    writeFileSync(`${dir}/latin1.net`, Buffer.from("network n {\xff}", "latin1"));
    writeFileSync(`${dir}/bom.net`, "\uFEFFnetwork n {\n  input x: f32[B, 2]\n  output y = x\n}\n");
    for (const [file, message] of [
      ["examples", /^netc: cannot read examples: it is a folder, not a \.net file\n$/],
      [`${dir}/binary.net`, /^netc: .*binary\.net is not a text file \(a NUL byte at offset 7\); netc reads \.net source text in UTF-8\n$/],
      [`${dir}/latin1.net`, /^netc: .*latin1\.net is not UTF-8 text; netc reads \.net source text in UTF-8\n$/],
    ] as const) {
      const r = await netc("check", file);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(message);
    }
    const bom = await netc("check", `${dir}/bom.net`);
    expect(bom.code, bom.err).toBe(0);
  });
});
