import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CheckpointError, encodeCheckpoint, type Checkpoint } from "../src/runtime/checkpoint.js";
import { readCheckpoint, writeCheckpoint } from "../src/runtime/checkpoint-file.js";

const sample = (): Checkpoint => ({
  tensors: {
    "dense1.weight": { shape: [2, 3], values: Float32Array.of(1, -2, 3.5, 0, 1e-8, -7) },
    "dense1.bias": { shape: [3], values: Float32Array.of(0.25, 0.5, 0.75) },
    "dense1.weight.m": { shape: [2, 3], values: new Float32Array(6).fill(0.125) },
  },
  meta: { network: "xor", epoch: 3, step: 42, seed: 7, extra: { note: "hi" } },
});

describe("checkpoints (safetensors)", () => {
  const dir = mkdtempSync(join(tmpdir(), "netc-ckpt-"));

  it("round-trips tensors and metadata, leaving no temporary file", () => {
    const path = join(dir, "a.safetensors");
    writeCheckpoint(path, sample());
    const back = readCheckpoint(path);
    expect(back.meta).toEqual(sample().meta);
    for (const [name, t] of Object.entries(sample().tensors)) {
      expect(back.tensors[name]!.shape).toEqual(t.shape);
      expect([...back.tensors[name]!.values]).toEqual([...t.values]);
    }
    expect(readdirSync(dir).filter((f) => f.includes(".tmp-"))).toEqual([]);
  });

  it("removes the temporary files of saves that were killed (their process is gone) on the next save, and no other files", () => {
    const sub = mkdtempSync(join(dir, "stale-"));
    const path = join(sub, "b.safetensors");
    // 2^22 + 1 is above Linux's largest pid, so no process has it; the parent of this one lives.
    const names = [`.b.safetensors.tmp-${2 ** 22 + 1}`, `.b.safetensors.tmp-${process.ppid}`, ".c.safetensors.tmp-4194305", "b.safetensors.tmp-4194305", ".b.safetensors.tmp-x"];
    for (const name of names) writeFileSync(join(sub, name), "half a checkpoint");
    writeCheckpoint(path, sample());
    expect(readdirSync(sub).sort()).toEqual([...names.slice(1), "b.safetensors"].sort());
    expect(readCheckpoint(path).meta.step).toBe(42);
  });

  it("writes the safetensors layout other tools read: u64 header length, JSON header, aligned data", () => {
    const bytes = Buffer.from(encodeCheckpoint(sample()));
    const n = Number(bytes.readBigUInt64LE(0));
    expect(n % 8).toBe(0);
    const header = JSON.parse(bytes.subarray(8, 8 + n).toString("utf8"));
    expect(header["dense1.bias"]).toEqual({ dtype: "F32", shape: [3], data_offsets: [0, 12] });
    expect(bytes.length).toBe(8 + n + 4 * (3 + 6 + 6));
    expect(bytes.readFloatLE(8 + n + 4)).toBe(0.5);
  });

  const damaged = (name: string, edit: (b: Buffer) => Buffer) => {
    const path = join(dir, name);
    writeFileSync(path, edit(Buffer.from(encodeCheckpoint(sample()))));
    return () => readCheckpoint(path);
  };

  it("refuses a truncated file, naming it", () => {
    const read = damaged("trunc.safetensors", (b) => b.subarray(0, b.length - 5));
    expect(read).toThrow(CheckpointError);
    expect(read).toThrow(/trunc\.safetensors: truncated/);
  });

  it("refuses a file whose data was altered (checksum)", () => {
    const read = damaged("flip.safetensors", (b) => {
      const c = Buffer.from(b);
      c[c.length - 1] ^= 0x40;
      return c;
    });
    expect(read).toThrow(/does not match its checksum/);
  });

  it("refuses bytes appended after the data", () => {
    expect(damaged("tail.safetensors", (b) => Buffer.concat([b, Buffer.from([1, 2, 3, 4])]))).toThrow(/after the last tensor/);
  });

  it("refuses a file that is not a checkpoint", () => {
    expect(damaged("junk.safetensors", () => Buffer.from("hello world, not a checkpoint"))).toThrow(/not a safetensors file/);
    expect(damaged("tiny.safetensors", () => Buffer.from([1, 2]))).toThrow(/not even a header length/);
    expect(() => readCheckpoint(join(dir, "missing.safetensors"))).toThrow(/missing\.safetensors: cannot read the file \(ENOENT\)/);
  });

  it("refuses a safetensors file from another tool (no netc metadata)", () => {
    const json = Buffer.from(JSON.stringify({ w: { dtype: "F32", shape: [1], data_offsets: [0, 4] } }).padEnd(64));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    const path = join(dir, "foreign.safetensors");
    writeFileSync(path, Buffer.concat([len, json, Buffer.alloc(4)]));
    expect(() => readCheckpoint(path)).toThrow(/not a netc checkpoint/);
  });
});

describe("checkpoints without Node's file system or crypto", () => {
  it("the pure SHA-256 equals Node's for lengths around the block and padding boundaries", async () => {
    const { createHash } = await import("node:crypto");
    const { sha256HexPure } = await import("../src/base/sha256.js");
    for (const n of [0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 128, 1000, 100_003]) {
      const data = Uint8Array.from({ length: n }, (_, i) => (i * 7919 + n) & 255);
      expect(sha256HexPure(data), `${n} bytes`).toBe(createHash("sha256").update(data).digest("hex"));
    }
  });

  it("loadCheckpoint reads bytes, a path and a file: URL; encodeCheckpoint round-trips", async () => {
    const { loadCheckpoint, decodeCheckpoint } = await import("../src/runtime/checkpoint.js");
    const { pathToFileURL } = await import("node:url");
    const ckpt: Checkpoint = {
      tensors: { "dense.w": { shape: [2, 3], values: Float32Array.from([1, -2, 3.5, 0, 1e-30, -7]) } },
      meta: { network: "n", epoch: 2, step: 10, seed: 3, extra: { note: "x" } },
    };
    const bytes = encodeCheckpoint(ckpt);
    const dir = mkdtempSync(join(tmpdir(), "netc-ckpt-load-"));
    try {
      const path = join(dir, "c.safetensors");
      writeFileSync(path, bytes);
      for (const src of [bytes, bytes.slice().buffer, path, pathToFileURL(path)]) {
        const got = await loadCheckpoint(src);
        expect(got.meta).toEqual(ckpt.meta);
        expect(Array.from(got.tensors["dense.w"]!.values)).toEqual(Array.from(ckpt.tensors["dense.w"]!.values));
      }
      // An unaligned view decodes too (the values are copied out).
      const padded = new Uint8Array(bytes.length + 1);
      padded.set(bytes, 1);
      expect(decodeCheckpoint(padded.subarray(1), "p").tensors["dense.w"]!.values[2]).toBe(3.5);
      await expect(loadCheckpoint(join(dir, "missing.safetensors"))).rejects.toThrow(/missing\.safetensors: cannot read the file \(ENOENT\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
