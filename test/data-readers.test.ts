import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { readCifar10 } from "../src/data/cifar.js";
import { parseCsv, readCsv } from "../src/data/csv.js";
import { DataError } from "../src/data/errors.js";
import { readIdx, readIdxAsync, readIdxLabels } from "../src/data/idx.js";
import { readJsonArray, scanNumberArray } from "../src/data/json.js";
import { readNpy, readNpyInt } from "../src/data/npy.js";
import { charSequences, charVocab, decodeChars, encodeChars, readCharText, readText } from "../src/data/text.js";
import { cifarBytes, idxBytes, npyBytes, tempDir, writeFile } from "./util/data-files.js";

const dir = tempDir();

/** Expects `f` to throw a DataError whose message matches every pattern. */
function dataError(f: () => unknown, ...patterns: RegExp[]): DataError {
  let caught: unknown;
  try {
    f();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(DataError);
  for (const p of patterns) expect((caught as DataError).message).toMatch(p);
  return caught as DataError;
}

const close = (a: ArrayLike<number>, b: number[]) => expect(Array.from(a).map((v) => Math.round(v * 1e6) / 1e6)).toEqual(b);

describe("IDX", () => {
  const pixels = Array.from({ length: 2 * 3 * 4 }, (_, i) => (i * 11) % 256);

  it("reads ubyte images, plain and gzipped, as f32 values of the stored bytes", () => {
    for (const gz of [false, true]) {
      const path = writeFile(dir, `images-${gz}.idx${gz ? ".gz" : ""}`, idxBytes("u8", [2, 3, 4], pixels, gz));
      const t = readIdx(path, { rank: 3 });
      expect(t.shape).toEqual([2, 3, 4]);
      expect(t.dtype).toBe("u8");
      expect(Array.from(t.values)).toEqual(pixels);
    }
  });

  it("scales while decoding when asked", () => {
    const path = writeFile(dir, "scaled.idx", idxBytes("u8", [1, 2, 2], [0, 51, 255, 102]));
    close(readIdx(path, { scale: 1 / 255 }).values, [0, 0.2, 1, 0.4]);
  });

  it("reads every dtype: byte, short, int, float, double (big-endian)", () => {
    const cases = [
      ["i8", [-128, -1, 0, 127]],
      ["i16", [-32768, -2, 3, 32767]],
      ["i32", [-2147483648, -5, 6, 2147483647]],
      ["f32", [-1.5, 0, 0.25, 3e10]],
      ["f64", [-1.5, 0, 0.125, 1e-3]],
    ] as const;
    for (const [dtype, values] of cases) {
      const t = readIdx(writeFile(dir, `${dtype}.idx`, idxBytes(dtype, [2, 2], [...values])));
      expect(t.dtype).toBe(dtype);
      expect(t.shape).toEqual([2, 2]);
      expect(Array.from(t.values)).toEqual(Array.from(Float32Array.from(values)));
    }
  });

  it("reads labels as integer class ids", () => {
    const path = writeFile(dir, "labels.idx.gz", idxBytes("u8", [5], [3, 1, 4, 1, 5], true));
    const l = readIdxLabels(path, 10);
    expect(l.values).toBeInstanceOf(Int32Array);
    expect(Array.from(l.values)).toEqual([3, 1, 4, 1, 5]);
    dataError(() => readIdxLabels(path, 5), /labels\.idx\.gz: label 4 is 5, expected a class id in 0\.\.4/);
  });

  it("the async reader gives the same tensor, gzipped or not, any dtype", async () => {
    for (const [name, bytes] of [
      ["a.gz", idxBytes("u8", [2, 3, 4], pixels, true)],
      ["a.idx", idxBytes("u8", [2, 3, 4], pixels)],
      ["b.gz", idxBytes("f32", [3], [1.5, -2, 4], true)],
    ] as const) {
      const path = writeFile(dir, name, bytes);
      const sync = readIdx(path, { scale: 0.5 });
      const async = await readIdxAsync(path, { scale: 0.5 });
      expect(async.shape).toEqual(sync.shape);
      expect(Array.from(async.values)).toEqual(Array.from(sync.values));
    }
    const big = Array.from({ length: 300 * 28 * 28 }, (_, i) => (i * 7) & 255);
    const path = writeFile(dir, "big.gz", idxBytes("u8", [300, 28, 28], big, true));
    const read = await readIdxAsync(path);
    expect(Buffer.from(read.values.buffer).equals(Buffer.from(Float32Array.from(big).buffer))).toBe(true);
  });

  it("errors: wrong magic, wrong rank, not IDX, truncated, extra bytes, damaged gzip, missing file", async () => {
    // A labels file where images are expected.
    const labels = writeFile(dir, "train-labels-idx1-ubyte.gz", idxBytes("u8", [3], [1, 2, 3], true));
    dataError(() => readIdx(labels, { rank: 3, dtype: "u8" }), /train-labels-idx1-ubyte\.gz: expected magic 0x00000803, found 0x00000801 \(u8, rank 1\)/);
    // Text, not IDX.
    const text = writeFile(dir, "notes.idx", "hello world");
    dataError(() => readIdx(text), /notes\.idx: expected magic 0x0000TTRR .*found 0x68656c6c \(not an IDX file\)/);
    // The header promises 60000×28×28 bytes.
    const header = idxBytes("u8", [60000, 28, 28], []);
    const truncated = writeFile(dir, "train-images-idx3-ubyte.gz", gzipSync(Buffer.concat([header, Buffer.alloc(1234)])));
    dataError(() => readIdx(truncated), /train-images-idx3-ubyte\.gz: truncated: header says 60000×28×28 = 47040000 bytes, file has 1234/);
    await expect(readIdxAsync(truncated)).rejects.toThrow(/truncated: header says 60000×28×28 = 47040000 bytes, file has 1234/);
    const shortHeader = writeFile(dir, "short.idx", Buffer.from([0, 0, 8, 3, 0, 0]));
    dataError(() => readIdx(shortHeader), /short\.idx: truncated: the header needs 16 bytes, file has 6/);
    const huge = writeFile(dir, "huge.idx.gz", idxBytes("u8", [100000, 100000], [], true));
    dataError(() => readIdx(huge), /huge\.idx\.gz: header says 100000×100000 = 10000000000 values, more than/);
    await expect(readIdxAsync(huge)).rejects.toThrow(/header says 100000×100000 = 10000000000 values/);
    const extra = writeFile(dir, "extra.idx", Buffer.concat([idxBytes("u8", [2], [1, 2]), Buffer.from([9, 9])]));
    dataError(() => readIdx(extra), /extra\.idx: 2 bytes after the data: header says 2 bytes, file has 4/);
    const good = idxBytes("u8", [4], [1, 2, 3, 4], true);
    const damaged = writeFile(dir, "damaged.gz", good.subarray(0, good.length - 6));
    dataError(() => readIdx(damaged), /damaged\.gz: damaged gzip data/);
    await expect(readIdxAsync(damaged)).rejects.toThrow(/damaged\.gz: damaged gzip data/);
    dataError(() => readIdx(`${dir}/absent.idx.gz`), /absent\.idx\.gz: no such file/);
    await expect(readIdxAsync(`${dir}/absent.idx.gz`)).rejects.toThrow(DataError);
    dataError(() => readIdxLabels(writeFile(dir, "flabels.idx", idxBytes("f32", [2], [1, 2]))), /labels must be integers, but the dtype is f32/);
  });
});

describe("NPY", () => {
  it("reads little-endian floats, ints and unsigned of several widths", () => {
    const cases: [string, number[]][] = [
      ["<f4", [1.5, -2.25, 0, 3e-5, 7, 8]],
      ["<f8", [1.5, -2.25, 0, 1e-300, 7, 8]],
      ["<f2", [1.5, -2.25, 0, 0.5, 7, 8]],
      ["<i4", [-7, 0, 1, 2147483647, -2147483648, 5]],
      ["<i8", [-7, 0, 1, 2 ** 40, -(2 ** 40), 5]],
      ["|i1", [-128, 0, 1, 127, -1, 5]],
      ["|u1", [0, 1, 127, 128, 255, 5]],
      ["<u2", [0, 1, 65535, 128, 255, 5]],
      ["<u4", [0, 1, 4294967295, 128, 255, 5]],
      ["|b1", [0, 1, 1, 0, 0, 1]],
      [">f4", [1.5, -2.25, 0, 3e-5, 7, 8]],
      [">i2", [-300, 0, 1, 32767, -32768, 5]],
    ];
    for (const [descr, values] of cases) {
      const t = readNpy(writeFile(dir, `a${descr.replace(/\W/g, "_")}.npy`, npyBytes(descr, [2, 3], values)));
      expect(t.shape).toEqual([2, 3]);
      expect(t.dtype).toBe(descr);
      expect(Array.from(t.values)).toEqual(Array.from(Float32Array.from(values)));
    }
  });

  it("reads format 2.0 headers, 1-D and scalar shapes", () => {
    const t = readNpy(writeFile(dir, "v2.npy", npyBytes("<f4", [3], [1, 2, 3], { version: 2 })));
    expect(t.shape).toEqual([3]);
    expect(Array.from(t.values)).toEqual([1, 2, 3]);
    const s = readNpy(writeFile(dir, "scalar.npy", npyBytes("<f8", [], [4.5])));
    expect(s.shape).toEqual([]);
    expect(Array.from(s.values)).toEqual([4.5]);
  });

  it("turns Fortran order into C order", () => {
    // The C array [[1, 2, 3], [4, 5, 6]] stored column-major is 1 4 2 5 3 6.
    const t = readNpy(writeFile(dir, "fortran.npy", npyBytes("<f4", [2, 3], [1, 4, 2, 5, 3, 6], { fortran: true })));
    expect(Array.from(t.values)).toEqual([1, 2, 3, 4, 5, 6]);
    const i = readNpyInt(writeFile(dir, "fortran3.npy", npyBytes("<i4", [2, 2, 2], [0, 4, 2, 6, 1, 5, 3, 7], { fortran: true })));
    expect(Array.from(i.values)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it("reads integer files as exact Int32 ids", () => {
    const t = readNpyInt(writeFile(dir, "ids.npy", npyBytes("<i8", [4], [0, 16777217, 3, 9])));
    expect(t.values).toBeInstanceOf(Int32Array);
    expect(Array.from(t.values)).toEqual([0, 16777217, 3, 9]);
    dataError(() => readNpyInt(writeFile(dir, "fids.npy", npyBytes("<f4", [1], [1]))), /fids\.npy: expected an integer dtype for ids, found '<f4'/);
    dataError(() => readNpyInt(writeFile(dir, "bigids.npy", npyBytes("<i8", [1], [2 ** 40]))), /value 0 is 1099511627776, outside the int32 range/);
  });

  it("errors: magic, version, dtype, header, truncated, extra bytes, missing file", () => {
    dataError(() => readNpy(writeFile(dir, "bad.npy", "PK\x03\x04 a zip, not npy")), /bad\.npy: not an NPY file: expected the magic \\x93NUMPY/);
    const v9 = npyBytes("<f4", [1], [1]);
    v9[6] = 9;
    dataError(() => readNpy(writeFile(dir, "v9.npy", v9)), /v9\.npy: unsupported NPY format version 9\.0/);
    dataError(() => readNpy(writeFile(dir, "c8.npy", Buffer.from(npyBytes("<f4", [1], [1]).toString("latin1").replace("<f4", "<c8"), "latin1"))), /c8\.npy: unsupported dtype '<c8'/);
    dataError(() => readNpy(writeFile(dir, "U.npy", Buffer.from(npyBytes("<f4", [1], [1]).toString("latin1").replace("'<f4'", "'<U1'"), "latin1"))), /unsupported dtype '<U1'/);
    const noShape = npyBytes("<f4", [1], [1]).toString("latin1").replace("'shape'", "'shapf'");
    dataError(() => readNpy(writeFile(dir, "noshape.npy", Buffer.from(noShape, "latin1"))), /noshape\.npy: malformed NPY header \(no shape\)/);
    const full = npyBytes("<f4", [10, 10], Array.from({ length: 100 }, () => 1));
    dataError(() => readNpy(writeFile(dir, "trunc.npy", full.subarray(0, full.length - 8))), /trunc\.npy: truncated: header says 10×10×4 = 400 bytes, file has 392/);
    dataError(() => readNpy(writeFile(dir, "extra.npy", Buffer.concat([full, Buffer.alloc(4)]))), /extra\.npy: 4 bytes after the data/);
    dataError(() => readNpy(writeFile(dir, "hdr.npy", full.subarray(0, 30))), /hdr\.npy: truncated: the header says it is \d+ bytes/);
    dataError(() => readNpy(`${dir}/nope.npy`), /nope\.npy: no such file/);
  });
});

describe("CSV", () => {
  const iris = [
    "sepal_length,sepal_width,species",
    "5.1,3.5,setosa",
    "7.0,3.2,versicolor",
    "",
    "6.3,3.3,virginica",
    "4.9,3.0,setosa",
  ].join("\n");

  it("reads a header, numeric features and string labels as class ids with the mapping", () => {
    const t = readCsv(writeFile(dir, "iris.csv", iris), { label: "species" });
    expect(t.columns).toEqual(["sepal_length", "sepal_width"]);
    expect(t.features.shape).toEqual([4, 2]);
    close(t.features.values, [5.1, 3.5, 7, 3.2, 6.3, 3.3, 4.9, 3]);
    expect(t.classes).toEqual(["setosa", "versicolor", "virginica"]);
    expect(Array.from(t.labels!.values)).toEqual([0, 1, 2, 0]);
    expect(t.labelColumn).toBe("species");
  });

  it("takes a fixed class order, numeric labels, a label column by index, no header", () => {
    const fixed = parseCsv(iris, "iris.csv", { label: "species", classes: ["virginica", "versicolor", "setosa"] });
    expect(Array.from(fixed.labels!.values)).toEqual([2, 1, 0, 2]);
    const numeric = parseCsv("1,0.5,2\n0,0.25,1e2\n2,-1,-3.5\n", "n.csv", { label: 0 });
    expect(numeric.columns).toEqual(["col1", "col2"]);
    expect(Array.from(numeric.labels!.values)).toEqual([1, 0, 2]);
    expect(numeric.classes).toEqual(["0", "1", "2"]);
    close(numeric.features.values, [0.5, 2, 0.25, 100, -1, -3.5]);
    const plain = parseCsv("1;2\r\n3;4\r\n", "p.csv", { delimiter: ";" });
    expect(plain.features.shape).toEqual([2, 2]);
    expect(plain.labels).toBeUndefined();
  });

  it("handles quoted fields with commas, quotes and newlines", () => {
    const t = parseCsv('x,"name, quoted"\n1,"a ""b"", c"\n2,"two\nlines"\n', "q.csv", { label: "name, quoted" });
    expect(t.classes).toEqual(['a "b", c', "two\nlines"]);
    expect(Array.from(t.features.values)).toEqual([1, 2]);
  });

  it("errors: ragged row, non-number, empty value, unknown column, no header, empty, unclosed quote, unknown class", () => {
    const ragged = "a,b,c,d,label\n" + "1,2,3,4,x\n".repeat(15) + "1,2,x\n";
    dataError(() => parseCsv(ragged, "ragged.csv", { label: "label" }), /ragged\.csv: row 17 has 3 columns, expected 5 \(as in the header\)/);
    dataError(() => parseCsv("a,b\n1,2\n3,oops\n", "nan.csv"), /nan\.csv: row 3, column "b" is "oops", not a number/);
    dataError(() => parseCsv("a,b\n1,\n", "empty-field.csv"), /row 2, column "b" is empty/);
    dataError(() => readCsv(writeFile(dir, "cols.csv", iris), { label: "kind" }), /cols\.csv: no column named "kind"; the columns are: sepal_length, sepal_width, species/);
    dataError(() => parseCsv("1,2\n3,4\n", "nohdr.csv", { label: "y" }), /nohdr\.csv: the label column is named "y", but the file has no header row/);
    dataError(() => parseCsv("1,2\n", "idx.csv", { label: 5 }), /label column 5 is out of range: the rows have 2 columns/);
    dataError(() => readCsv(writeFile(dir, "empty.csv", "\n\n")), /empty\.csv: is empty: no rows/);
    dataError(() => parseCsv("a,b\n", "hdr-only.csv"), /has a header but no data rows/);
    dataError(() => parseCsv('a,b\n1,"2\n', "quote.csv"), /quote\.csv: row 2: a quoted field is never closed/);
    dataError(() => parseCsv("x,y\n1,cat\n", "cls.csv", { label: "y", classes: ["dog"] }), /cls\.csv: row 2: label "cat" is not one of the classes: dog/);
    dataError(() => parseCsv("x,y\n1,\n", "nolabel.csv", { label: "y" }), /row 2: the label \(column "y"\) is empty/);
    dataError(() => readCsv(`${dir}/missing.csv`), /missing\.csv: no such file/);
  });
});

describe("JSON arrays", () => {
  it("reads nested rectangular arrays", () => {
    const t = readJsonArray(writeFile(dir, "a.json", "[[[1, 2], [3, 4]], [[5, 6], [7, 8.5]]]"));
    expect(t.shape).toEqual([2, 2, 2]);
    expect(Array.from(t.values)).toEqual([1, 2, 3, 4, 5, 6, 7, 8.5]);
    expect(readJsonArray(writeFile(dir, "e.json", "[]")).shape).toEqual([0]);
  });

  it("errors: ragged, not a number, not an array, invalid JSON", () => {
    dataError(() => readJsonArray(writeFile(dir, "ragged.json", "[[1, 2], [3], [4, 5]]")), /ragged\.json: not rectangular: at \[1\] the array has 1 elements, expected 2/);
    dataError(() => readJsonArray(writeFile(dir, "str.json", '[[1, 2], [3, "x"]]')), /str\.json: at \[1\]\[1\]: expected a number, found the string "x"/);
    dataError(() => readJsonArray(writeFile(dir, "deep.json", "[[1, 2], 3]")), /at \[1\]: expected an array of 2, found number 3/);
    dataError(() => readJsonArray(writeFile(dir, "obj.json", '{"data": []}')), /obj\.json: expected an array of numbers, found an object/);
    dataError(() => readJsonArray(writeFile(dir, "bad.json", "[1, 2,")), /bad\.json: is not valid JSON/);
  });

  it("scans flat number arrays from bytes exactly like JSON.parse", () => {
    const text = '{"data": [0, 0.624, -1.5, 1e-3, 2E+2, 12345678901234567, 0.1]}';
    const { values, end } = scanNumberArray(Buffer.from(text), "s.json");
    expect(Array.from(values)).toEqual(Array.from(Float32Array.from(JSON.parse(text).data as number[])));
    expect(text[end]).toBe("}");
    dataError(() => scanNumberArray(Buffer.from("[1, x]"), "x.json"), /x\.json: expected a number at byte 4/);
    dataError(() => scanNumberArray(Buffer.from("[1, 2"), "open.json"), /the array is never closed/);
  });
});

describe("text", () => {
  it("builds a sorted vocabulary, ids, and next-character sequences", () => {
    const path = writeFile(dir, "tiny.txt", "hello, world\r\nhello");
    const { text, vocab, ids } = readCharText(path);
    expect(text).toBe("hello, world\nhello");
    expect(vocab.chars).toEqual(["\n", " ", ",", "d", "e", "h", "l", "o", "r", "w"]);
    expect(decodeChars(ids, vocab)).toBe(text);
    const seq = charSequences(ids, 4);
    // 18 characters: sequences start at 0, 4, 8, 12 (the last needs ids 12..16).
    expect(seq.inputs.shape).toEqual([4, 4]);
    expect(decodeChars(seq.inputs.values.subarray(0, 4), vocab)).toBe("hell");
    expect(decodeChars(seq.targets.values.subarray(0, 4), vocab)).toBe("ello");
    expect(decodeChars(seq.targets.values.subarray(12, 16), vocab)).toBe("hell");
    const overlapping = charSequences(ids, 16, { stride: 1 });
    expect(overlapping.inputs.shape).toEqual([2, 16]);
  });

  it("counts characters as code points", () => {
    const v = charVocab("a😀b😀");
    expect(v.chars).toEqual(["a", "b", "😀"]);
    expect(Array.from(encodeChars("😀ab", v))).toEqual([2, 0, 1]);
  });

  it("errors: empty, invalid UTF-8, too short, unknown character", () => {
    dataError(() => readText(writeFile(dir, "empty.txt", "")), /empty\.txt: is empty: no text/);
    dataError(() => readText(writeFile(dir, "latin1.txt", Buffer.from([0x63, 0x61, 0x66, 0xe9]))), /latin1\.txt: is not valid UTF-8 text/);
    dataError(() => charSequences(Int32Array.of(1, 2, 3), 3, { source: "short.txt" }), /short\.txt: has 3 characters, too few for one sequence of 3/);
    dataError(() => encodeChars("abz", charVocab("ab"), "val.txt"), /val\.txt: character "z" at offset 2 is not in the vocabulary/);
  });
});

describe("CIFAR-10 binary batches", () => {
  const pixel = (r: number, i: number) => r * 10 + Math.floor(i / 1024) + (i % 1024 === 5 ? 100 : 0);

  it("reads records as [N, 3, 32, 32] pixels (CHW) and labels", () => {
    const path = writeFile(dir, "data_batch_1.bin", cifarBytes([6, 9, 0], pixel));
    const b = readCifar10(path);
    expect(b.images.shape).toEqual([3, 3, 32, 32]);
    expect(Array.from(b.labels.values)).toEqual([6, 9, 0]);
    // record 1, channel 2 (blue), pixel 5 of the plane.
    expect(b.images.values[1 * 3072 + 2 * 1024 + 5]).toBe(10 + 2 + 100);
    expect(b.images.values[2 * 3072 + 1 * 1024 + 7]).toBe(20 + 1);
    const two = readCifar10([path, writeFile(dir, "test_batch.bin.gz", gzipSync(cifarBytes([3], pixel)))]);
    expect(two.images.shape).toEqual([4, 3, 32, 32]);
    expect(Array.from(two.labels.values)).toEqual([6, 9, 0, 3]);
  });

  it("errors: size not a whole number of records, label out of range, empty", () => {
    dataError(
      () => readCifar10(writeFile(dir, "cut.bin", cifarBytes([1, 2], pixel).subarray(0, 3073 + 100))),
      /cut\.bin: size 3173 is not a multiple of 3073 \(a CIFAR-10 record is 1 label byte \+ 3072 pixel bytes\): 1 records and 100 bytes left over/,
    );
    dataError(() => readCifar10(writeFile(dir, "label.bin", cifarBytes([1, 12], pixel))), /label\.bin: record 1 has label 12, expected a class id in 0\.\.9/);
    dataError(() => readCifar10(writeFile(dir, "none.bin", "")), /none\.bin: is empty/);
  });
});
