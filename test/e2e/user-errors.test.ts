import { describe, expect, it } from "vitest";
import { netc } from "../util/cli.js";

// Mistakes a user makes through the CLI end in one line and exit 1, before any work: never a stack
// trace or "internal". (The .net mistakes themselves are in the diagnostics corpus.)

describe("user mistakes are the user's", () => {
  it("output paths are checked before training starts", async () => {
    for (const [args, message] of [
      [["--checkpoint", "/no-such-folder/x.ckpt"], /--checkpoint \/no-such-folder\/x\.ckpt: the folder \/no-such-folder does not exist/],
      [["--checkpoint", "test"], /--checkpoint test is a folder; give a file name/],
      [["--plot", "README.md/x.svg"], /--plot README\.md\/x\.svg: README\.md is not a folder/],
    ] as const) {
      const r = await netc("train", "examples/xor.net", "--backend", "cpu", ...args);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(message);
      expect(r.out).toBe("");
      expect(r.err).not.toMatch(/internal|at .*\.js:\d+/);
    }
  });

  it("sizes beyond what a tensor holds are diagnostics in check and train, on both backends", async () => {
    for (const backend of ["cpu", "webgpu"]) {
      const r = await netc("train", "test/diagnostics/tensor-too-large.net", "--backend", backend);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/error NC3022: param w f32\[100000,100000\] holds 1\.00e\+10 values/);
      expect(r.err).not.toMatch(/internal/);
    }
    const check = await netc("check", "test/diagnostics/size-not-positive.net");
    expect(check.code).toBe(1);
    expect(check.err).toMatch(/must be a whole number from 1 to 2147483647/);
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
