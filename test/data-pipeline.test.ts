import { describe, expect, it } from "vitest";
import { DataError } from "../src/data/errors.js";
import {
  Rng,
  batchCount,
  batchIndices,
  batches,
  idsToFloat,
  limitRows,
  nhwcToNchw,
  oneHot,
  permutation,
  scaleToUnit,
  standardStats,
  standardise,
  takeRows,
  toLayout,
  trainValidationSplit,
} from "../src/data/pipeline.js";
import type { FloatTensor, IntTensor } from "../src/data/tensor.js";

const table = (rows: number, width: number): FloatTensor => ({
  shape: [rows, width],
  values: Float32Array.from({ length: rows * width }, (_, i) => i),
});
const ids = (values: number[]): IntTensor => ({ shape: [values.length], values: Int32Array.from(values) });

describe("seeded shuffling", () => {
  it("gives the same numbers for the same seed on every run (pinned values)", () => {
    const r = new Rng(42);
    expect(Array.from({ length: 4 }, () => r.nextUint32())).toMatchInlineSnapshot(`
      [
        3799734563,
        1082708812,
        1821231090,
        2006252602,
      ]
    `);
    expect(Array.from(permutation(10, 42, 0))).toMatchInlineSnapshot(`
      [
        6,
        5,
        4,
        9,
        1,
        0,
        7,
        3,
        2,
        8,
      ]
    `);
    expect(Array.from(permutation(10, 42, 1))).toMatchInlineSnapshot(`
      [
        8,
        1,
        0,
        3,
        9,
        6,
        5,
        4,
        7,
        2,
      ]
    `);
  });

  it("permutes every row once, differently per epoch and seed, identically for the same (seed, epoch)", () => {
    const p = permutation(1000, 7, 3);
    expect([...p].sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(Array.from(permutation(1000, 7, 3))).toEqual(Array.from(p));
    expect(Array.from(permutation(1000, 7, 4))).not.toEqual(Array.from(p));
    expect(Array.from(permutation(1000, 8, 3))).not.toEqual(Array.from(p));
    // Seeds above 2^32 differ from their low 32 bits.
    expect(Array.from(permutation(50, 2 ** 32 + 5))).not.toEqual(Array.from(permutation(50, 5)));
  });

  it("draws roughly uniform values", () => {
    const r = new Rng(1);
    const counts = new Array(10).fill(0);
    for (let i = 0; i < 20000; i++) counts[r.int(10)]++;
    for (const c of counts) expect(Math.abs(c - 2000)).toBeLessThan(200);
    const f = Array.from({ length: 1000 }, () => r.next());
    expect(Math.min(...f)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...f)).toBeLessThan(1);
  });
});

describe("batching", () => {
  it("keeps the last partial batch by default, drops it when asked", () => {
    expect(batchCount(10, 4)).toBe(3);
    expect(batchCount(10, 4, true)).toBe(2);
    const kept = batchIndices(10, { batch: 4 }).map((b) => Array.from(b));
    expect(kept).toEqual([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
    expect(batchIndices(10, { batch: 4, dropLast: true }).map((b) => b.length)).toEqual([4, 4]);
    expect(batchIndices(8, { batch: 4, dropLast: true }).length).toBe(2);
  });

  it("yields column batches: views in file order, gathered rows when shuffled", () => {
    const cols = { x: table(5, 2), y: ids([0, 1, 2, 3, 4]) };
    const plain = [...batches(cols, { batch: 2 })];
    expect(plain.map((b) => b.x.shape)).toEqual([[2, 2], [2, 2], [1, 2]]);
    expect(Array.from(plain[2]!.x.values)).toEqual([8, 9]);
    expect(plain[0]!.x.values.buffer).toBe(cols.x.values.buffer);
    expect(plain[0]!.y.values).toBeInstanceOf(Int32Array);

    const shuffled = [...batches(cols, { batch: 2, shuffle: true, seed: 3, epoch: 1 })];
    const order = Array.from(permutation(5, 3, 1));
    expect(shuffled.flatMap((b) => Array.from(b.y.values))).toEqual(order);
    // Each x row still goes with its label.
    for (const b of shuffled) b.y.values.forEach((r, i) => expect(b.x.values[2 * i]).toBe(2 * r));
    const dropped = [...batches(cols, { batch: 2, shuffle: true, seed: 3, epoch: 1, dropLast: true })];
    expect(dropped.map((b) => b.y.values.length)).toEqual([2, 2]);
  });

  it("refuses columns of different lengths and bad batch sizes", () => {
    expect(() => [...batches({ x: table(5, 2), y: ids([1, 2]) }, { batch: 2 })]).toThrow(/column y has 2 rows but x has 5/);
    expect(() => batchIndices(5, { batch: 0 })).toThrow(DataError);
  });

  it("takes and limits rows", () => {
    expect(Array.from(takeRows(table(4, 2), [3, 0]).values)).toEqual([6, 7, 0, 1]);
    const lim = limitRows({ x: table(4, 2), y: ids([1, 2, 3, 4]) }, 3);
    expect(lim.x.shape).toEqual([3, 2]);
    expect(Array.from(lim.y.values)).toEqual([1, 2, 3]);
    expect(limitRows({ x: table(4, 2) }, 10).x.shape).toEqual([4, 2]);
  });
});

describe("train / validation split", () => {
  it("holds out round(rows · fraction) rows chosen by the seed, disjoint, in file order", () => {
    const cols = { x: table(20, 1), y: ids(Array.from({ length: 20 }, (_, i) => i)) };
    const { train, validation } = trainValidationSplit(cols, 0.25, 9);
    expect(validation.y.values.length).toBe(5);
    expect(train.y.values.length).toBe(15);
    const all = [...train.y.values, ...validation.y.values].sort((a, b) => a - b);
    expect(all).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect([...validation.y.values]).toEqual([...validation.y.values].sort((a, b) => a - b));
    expect(Array.from(validation.x.values)).toEqual(Array.from(validation.y.values));
    const again = trainValidationSplit(cols, 0.25, 9);
    expect(Array.from(again.validation.y.values)).toEqual(Array.from(validation.y.values));
    expect(Array.from(trainValidationSplit(cols, 0.25, 10).validation.y.values)).not.toEqual(Array.from(validation.y.values));
    expect(() => trainValidationSplit(cols, 1)).toThrow(/validation share must be in \[0, 1\)/);
  });
});

describe("normalisation", () => {
  it("scales bytes to [0, 1]", () => {
    const t = scaleToUnit({ shape: [3], values: Float32Array.of(0, 51, 255) });
    expect(Array.from(t.values)).toEqual(Array.from(Float32Array.of(0, 0.2, 1)));
  });

  it("standardises per feature with the training split's stats, applied to another split", () => {
    const train: FloatTensor = { shape: [4, 2], values: Float32Array.of(1, 10, 2, 10, 3, 10, 4, 10) };
    const stats = standardStats(train);
    expect(Array.from(stats.mean)).toEqual([2.5, 10]);
    expect(stats.std[0]).toBeCloseTo(Math.sqrt(1.25), 6);
    expect(stats.std[1]).toBe(1); // a constant feature: std 1, not 0
    const out = standardise(train, stats);
    let mean = 0;
    let sq = 0;
    for (let r = 0; r < 4; r++) {
      mean += out.values[2 * r]! / 4;
      sq += out.values[2 * r]! ** 2 / 4;
      expect(out.values[2 * r + 1]).toBe(0);
    }
    expect(mean).toBeCloseTo(0, 6);
    expect(sq).toBeCloseTo(1, 5);
    const test = standardise({ shape: [1, 2], values: Float32Array.of(2.5, 12) }, stats);
    expect(Array.from(test.values)).toEqual([0, 2]);
    expect(() => standardise({ shape: [1, 3], values: new Float32Array(3) }, stats)).toThrow(/2 feature group\(s\)/);
  });

  it("computes per-channel and global stats for images", () => {
    // Two images of 2 channels × 2 pixels: channel 0 holds 0s and 2s, channel 1 holds 10s.
    const images: FloatTensor = { shape: [2, 2, 1, 2], values: Float32Array.of(0, 2, 10, 10, 0, 2, 10, 10) };
    const ch = standardStats(images, "channel");
    expect(Array.from(ch.mean)).toEqual([1, 10]);
    expect(Array.from(ch.std)).toEqual([1, 1]);
    const all = standardStats(images, "all");
    expect(all.mean[0]).toBe(5.5);
    expect(Array.from(standardise(images, ch).values)).toEqual([-1, 1, 0, 0, -1, 1, 0, 0]);
  });
});

describe("targets and layouts", () => {
  it("one-hot encodes class ids, refusing ids out of range", () => {
    const t = oneHot(ids([2, 0]), 3);
    expect(t.shape).toEqual([2, 3]);
    expect(Array.from(t.values)).toEqual([0, 0, 1, 1, 0, 0]);
    expect(() => oneHot(ids([3]), 3)).toThrow(/label 0 is 3, expected a class id in 0\.\.2/);
    expect(idsToFloat(ids([4, 5])).values).toEqual(Float32Array.of(4, 5));
  });

  it("converts [N, 28, 28] to NCHW and flat rows, and NHWC to NCHW and back", () => {
    const mnistLike: FloatTensor = { shape: [2, 28, 28], values: new Float32Array(2 * 784) };
    expect(toLayout(mnistLike, "nchw").shape).toEqual([2, 1, 28, 28]);
    expect(toLayout(mnistLike, "flat").shape).toEqual([2, 784]);
    expect(toLayout(mnistLike, "nhwc").shape).toEqual([2, 28, 28, 1]);
    expect(toLayout(mnistLike, "flat").values).toBe(mnistLike.values);
    // One 2×2 RGB image, channels last: pixel p has (r, g, b) = (p, 10 + p, 20 + p).
    const nhwc: FloatTensor = { shape: [1, 2, 2, 3], values: Float32Array.of(0, 10, 20, 1, 11, 21, 2, 12, 22, 3, 13, 23) };
    const nchw = nhwcToNchw(nhwc);
    expect(nchw.shape).toEqual([1, 3, 2, 2]);
    expect(Array.from(nchw.values)).toEqual([0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23]);
    expect(Array.from(toLayout(nchw, "nhwc").values)).toEqual(Array.from(nhwc.values));
    expect(() => toLayout({ shape: [5], values: new Float32Array(5) }, "nchw")).toThrow(/expected images \[N, H, W\] or \[N, C, H, W\]/);
  });
});
