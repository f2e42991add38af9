import { readFileSync } from "node:fs";
import { join } from "node:path";
import { deflateSync } from "node:zlib";
import pngjs, { type ColorType } from "pngjs";
import { describe, expect, it } from "vitest";
import { readInput, runCommand } from "../src/cli/run.js";
import { trainCommand } from "../src/cli/train.js";
import { DataError } from "../src/data/errors.js";
import { readImage, resizeImage, resizeMethod, toChannels, type Image } from "../src/data/image.js";
import { tempDir, writeFile } from "./util/data-files.js";

// Image inputs of `netc run`: PNG through pngjs, PGM/PPM by hand, and fitting an image to the
// network's [C, H, W] (channels, size) before the usual byte scaling.

const dir = tempDir("netc-image-");

/** A PNG written by pngjs from samples in the layout of `colorType` (no conversion on the way). */
function pngFile(name: string, width: number, height: number, colorType: ColorType, samples: number[], bitDepth: 8 | 16 = 8): string {
  const hasAlpha = colorType === 4 || colorType === 6;
  const png = new pngjs.PNG({ width, height });
  // NOTE: pngjs reads 16-bit input as a native-endian Uint16Array over the data's buffer.
  png.data = bitDepth === 16 ? Buffer.from(Uint16Array.from(samples).buffer) : Buffer.from(samples);
  return writeFile(dir, name, pngjs.PNG.sync.write(png, { colorType, inputColorType: colorType, inputHasAlpha: hasAlpha, bitDepth }));
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  body.copy(out, 4);
  out.writeUInt32BE(crc32(body), 8 + data.length);
  return out;
}

/**
 * PNG bytes by hand, for what pngjs cannot write (palettes, depths below 8, interlacing): `rows`
 * hold one sample (or palette index) per entry, packed here at `depth` bits, most significant
 * first. Interlaced: `rows` are the scanlines of the Adam7 passes in order, and `height` is given.
 */
function handPng(opts: { width: number; height?: number; depth: number; colorType: number; rows: number[][]; palette?: number[][]; alpha?: number[]; interlace?: boolean }): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(opts.width, 0);
  ihdr.writeUInt32BE(opts.height ?? opts.rows.length, 4);
  ihdr[8] = opts.depth;
  ihdr[9] = opts.colorType;
  ihdr[12] = opts.interlace ? 1 : 0;
  const scanlines = opts.rows.map((row) => {
    const line = Buffer.alloc(1 + Math.ceil((row.length * opts.depth) / 8));
    row.forEach((v, i) => {
      const bit = i * opts.depth;
      line[1 + (bit >> 3)]! |= v << (8 - opts.depth - (bit & 7));
    });
    return line;
  });
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    ...(opts.palette ? [chunk("PLTE", Buffer.from(opts.palette.flat()))] : []),
    ...(opts.alpha ? [chunk("tRNS", Buffer.from(opts.alpha))] : []),
    chunk("IDAT", deflateSync(Buffer.concat(scanlines))),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

/** The DataError message reading `path` gives. */
function imageError(path: string): string {
  try {
    readImage(path);
  } catch (e) {
    expect(e).toBeInstanceOf(DataError);
    return (e as Error).message;
  }
  throw new Error(`${path} was read without an error`);
}

const f32 = (xs: number[]) => Array.from(Float32Array.from(xs));
const at = (img: Image, c: number, y: number, x: number) => img.values[(c * img.shape[1] + y) * img.shape[2] + x]!;

describe("PNG images decode to channel-first samples in 0..255", () => {
  it("8-bit grey, grey+alpha, RGB and RGBA", () => {
    const grey = readImage(pngFile("grey.png", 3, 2, 0, [0, 1, 2, 100, 200, 255]));
    expect(grey.shape).toEqual([1, 2, 3]);
    expect(Array.from(grey.values)).toEqual([0, 1, 2, 100, 200, 255]);
    const ga = readImage(pngFile("ga.png", 2, 1, 4, [10, 20, 30, 40]));
    expect(ga.shape).toEqual([2, 1, 2]);
    expect(Array.from(ga.values)).toEqual([10, 30, 20, 40]);
    const rgb = readImage(pngFile("rgb.png", 2, 1, 2, [1, 2, 3, 4, 5, 6]));
    expect(rgb.shape).toEqual([3, 1, 2]);
    expect(Array.from(rgb.values)).toEqual([1, 4, 2, 5, 3, 6]);
    const rgba = readImage(pngFile("rgba.png", 1, 2, 6, [1, 2, 3, 4, 5, 6, 7, 8]));
    expect(rgba.shape).toEqual([4, 2, 1]);
    expect(Array.from(rgba.values)).toEqual([1, 5, 2, 6, 3, 7, 4, 8]);
  });

  it("16-bit grey keeps its precision (v × 255 / 65535); 4-bit grey scales by 255 / 15", () => {
    const samples = [0, 257, 65535, 1000];
    const deep = readImage(pngFile("grey16.png", 2, 2, 0, samples, 16));
    expect(deep.shape).toEqual([1, 2, 2]);
    expect(Array.from(deep.values)).toEqual(f32(samples.map((v) => (v * 255) / 65535)));
    expect(deep.values[3]).not.toBe(Math.round((1000 * 255) / 65535));
    const nibbles = writeFile(dir, "grey4.png", handPng({ width: 3, depth: 4, colorType: 0, rows: [[0, 1, 15], [7, 8, 9]] }));
    expect(Array.from(readImage(nibbles).values)).toEqual([0, 17, 255, 119, 136, 153]);
  });

  it("palette images: 8-bit with transparency (RGBA), 2-bit without (RGB)", () => {
    const palette = [[255, 0, 0], [0, 128, 0], [10, 20, 30]];
    const withAlpha = writeFile(dir, "pal8.png", handPng({ width: 2, depth: 8, colorType: 3, rows: [[0, 1], [2, 0]], palette, alpha: [255, 0, 128] }));
    const a = readImage(withAlpha);
    expect(a.shape).toEqual([4, 2, 2]);
    expect(Array.from(a.values)).toEqual([255, 0, 10, 255, 0, 128, 20, 0, 0, 0, 30, 0, 255, 0, 128, 255]);
    const small = writeFile(dir, "pal2.png", handPng({ width: 5, depth: 2, colorType: 3, rows: [[2, 1, 0, 1, 2]], palette }));
    const b = readImage(small);
    expect(b.shape).toEqual([3, 1, 5]);
    expect(Array.from(b.values)).toEqual([10, 0, 255, 0, 10, 20, 128, 0, 128, 20, 30, 0, 0, 0, 30]);
  });

  it("interlaced (Adam7): a 3x2 image's pixels come from passes 1, 4, 6 and 7", () => {
    // Pass 1 holds (0, 0), pass 4 (0, 2), pass 6 (0, 1), pass 7 the whole second row.
    const path = writeFile(dir, "adam7.png", handPng({ width: 3, height: 2, depth: 8, colorType: 0, interlace: true, rows: [[1], [3], [2], [4, 5, 6]] }));
    expect(Array.from(readImage(path).values)).toEqual([1, 2, 3, 4, 5, 6]);
    const short = writeFile(dir, "adam7-short.png", handPng({ width: 3, height: 2, depth: 8, colorType: 0, interlace: true, rows: [[1], [3], [2]] }));
    expect(imageError(short)).toBe(`${short}: truncated pixel data: 3×2 pixels need 10 bytes of scanlines, the IDAT data holds 6`);
  });
});

describe("PGM and PPM images", () => {
  it("P5 (8- and 16-bit) and P2 grey, with comments in the header", () => {
    const p5 = writeFile(dir, "a.pgm", Buffer.concat([Buffer.from("P5\n# made by hand\n3 2 # width height\n255\n"), Buffer.from([0, 1, 2, 3, 254, 255])]));
    const a = readImage(p5);
    expect(a.shape).toEqual([1, 2, 3]);
    expect(Array.from(a.values)).toEqual([0, 1, 2, 3, 254, 255]);
    const p5deep = writeFile(dir, "deep.pgm", Buffer.concat([Buffer.from("P5 2 1 1000\n"), Buffer.from([0x03, 0xe8, 0x00, 0x07])]));
    expect(Array.from(readImage(p5deep).values)).toEqual(f32([255, (7 * 255) / 1000]));
    const p2 = writeFile(dir, "b.pgm", "P2\n# plain\n2 2\n15\n0 15\n# a comment between rows\n5 10\n");
    expect(Array.from(readImage(p2).values)).toEqual([0, 255, 85, 170]);
  });

  it("P6 and P3 colour come out channel-first", () => {
    const p6 = writeFile(dir, "c.ppm", Buffer.concat([Buffer.from("P6\n2 1\n255\n"), Buffer.from([1, 2, 3, 4, 5, 6])]));
    const c = readImage(p6);
    expect(c.shape).toEqual([3, 1, 2]);
    expect(Array.from(c.values)).toEqual([1, 4, 2, 5, 3, 6]);
    const p3 = writeFile(dir, "d.pnm", "P3 1 2 255\n10 20 30\n40 50 60\n");
    expect(Array.from(readImage(p3).values)).toEqual([10, 40, 20, 50, 30, 60]);
  });
});

describe("corrupt image files are DataErrors naming the file", () => {
  const grey = pngjs.PNG.sync.write(Object.assign(new pngjs.PNG({ width: 4, height: 4 }), { data: Buffer.alloc(16, 7) }), {
    colorType: 0,
    inputColorType: 0,
    inputHasAlpha: false,
  });

  it("PNG: truncated (the file, the pixel data), damaged (CRC), a bad header, wrong magic, empty", () => {
    const cut = writeFile(dir, "cut.png", grey.subarray(0, grey.length - 20));
    expect(imageError(cut)).toBe(`${cut}: truncated: the file ends inside the IDAT chunk at byte 33 (${grey.length - 20} bytes)`);
    const noEnd = writeFile(dir, "noend.png", grey.subarray(0, grey.length - 12));
    expect(imageError(noEnd)).toBe(`${noEnd}: truncated: the file ends before the IEND chunk (${grey.length - 12} bytes)`);
    const damaged = Buffer.from(grey);
    damaged[44]! ^= 0xff; // inside the IDAT data
    const bad = writeFile(dir, "crc.png", damaged);
    expect(imageError(bad)).toBe(`${bad}: damaged PNG data: the IDAT chunk at byte 33 fails its CRC check`);
    const few = writeFile(dir, "few.png", handPng({ width: 4, height: 4, depth: 8, colorType: 0, rows: [[1, 2, 3, 4], [5, 6, 7, 8]] }));
    expect(imageError(few)).toBe(`${few}: truncated pixel data: 4×4 pixels need 20 bytes of scanlines, the IDAT data holds 10`);
    const header = writeFile(dir, "depth.png", handPng({ width: 1, depth: 4, colorType: 2, rows: [[0]] }));
    expect(imageError(header)).toBe(`${header}: bad header: bit depth 4 with colour type 2; that type takes 8, 16`);
    // Bytes after IEND are ignored.
    const tail = writeFile(dir, "tail.png", Buffer.concat([grey, Buffer.from("trailing")]));
    expect(Array.from(readImage(tail).values)).toEqual(Array(16).fill(7));
    const gif = writeFile(dir, "gif.png", Buffer.from("GIF89a\x01\x00\x01\x00", "latin1"));
    expect(imageError(gif)).toBe(`${gif}: not a PNG file: expected the signature 89 50 4e 47 0d 0a 1a 0a, found 47 49 46 38 39 61 01 00 (a GIF file; netc reads PNG, PGM and PPM)`);
    const empty = writeFile(dir, "empty.png", "");
    expect(imageError(empty)).toBe(`${empty}: is empty, not an image`);
    const missing = join(dir, "missing.png");
    expect(imageError(missing)).toBe(`${missing}: no such file`);
  });

  it("PGM/PPM: fewer pixels than the header says, maxval 0, a bad or short header, a sample over maxval", () => {
    const cases: [string, string | Buffer, string][] = [
      ["short.pgm", Buffer.concat([Buffer.from("P5\n4 4\n255\n"), Buffer.alloc(10)]), "truncated: the header says 16 samples × 1 byte = 16 bytes of pixels, the file has 10"],
      ["short16.ppm", Buffer.concat([Buffer.from("P6 1 1 65535\n"), Buffer.alloc(5)]), "truncated: the header says 3 samples × 2 bytes = 6 bytes of pixels, the file has 5"],
      ["short.pnm", "P2\n2 2\n255\n1 2 3\n", "truncated: the header says 2×2 pixels × 1 sample = 4 values, the file has 3"],
      ["zero.pgm", "P2\n2 2\n0\n0 0 0 0\n", "bad header: maxval 0; it must be 1..65535"],
      ["big.pgm", "P2\n1 1\n65536\n0\n", "bad header: maxval 65536; it must be 1..65535"],
      ["word.pgm", "P5\n4 x\n255\n", 'bad header: the height is "x", not a whole number'],
      ["nosize.pgm", "P5\n4 0\n255\n", "bad header: the image is 4×0 pixels; both must be at least 1"],
      ["header.pgm", "P5\n4 4\n", "truncated: the header ends before the maxval"],
      ["nopixels.pgm", "P5\n1 1\n255", "truncated: the file ends after the header"],
      ["over.pgm", "P2\n2 1\n10\n3 11\n", 'sample 1 is "11", not a whole number in 0..10 (the maxval)'],
      ["over.ppm", Buffer.concat([Buffer.from("P6\n1 1\n200\n"), Buffer.from([1, 201, 3])]), "sample 1 is 201, more than the maxval 200"],
      ["magic.pgm", "hello", "not a PGM/PPM file: expected the magic P2, P3, P5 or P6, found 68 65 6c 6c 6f"],
      ["bitmap.pnm", "P4\n8 1\n\xff", "is a PBM bitmap (P4), which netc does not read: convert it to PGM (P2, P5) or PPM (P3, P6)"],
    ];
    for (const [name, data, detail] of cases) {
      const path = writeFile(dir, name, data);
      expect(imageError(path), name).toBe(`${path}: ${detail}`);
    }
  });
});

describe("fitting an image to the network's input", () => {
  it("grey by BT.601 luma, alpha over white, grey to three channels", () => {
    const rgb: Image = { shape: [3, 1, 2], values: Float32Array.from([200, 0, 100, 0, 50, 255]) };
    expect(Array.from(toChannels(rgb, 1, "x.png").values)).toEqual(f32([0.299 * 200 + 0.587 * 100 + 0.114 * 50, 0.114 * 255]));
    // Black at half opacity over white is mid grey; fully transparent is white whatever its colour.
    const rgba: Image = { shape: [4, 1, 2], values: Float32Array.from([0, 30, 0, 60, 0, 90, 255 * 0.5, 0]) };
    expect(Array.from(toChannels(rgba, 1, "x.png").values)).toEqual(f32([127.5, 255]));
    expect(Array.from(toChannels(rgba, 3, "x.png").values)).toEqual(f32([127.5, 255, 127.5, 255, 127.5, 255]));
    const ga: Image = { shape: [2, 1, 2], values: Float32Array.from([100, 100, 255, 0]) };
    expect(Array.from(toChannels(ga, 1, "x.png").values)).toEqual([100, 255]);
    const grey: Image = { shape: [1, 1, 2], values: Float32Array.from([7, 9]) };
    expect(Array.from(toChannels(grey, 3, "x.png").values)).toEqual([7, 9, 7, 9, 7, 9]);
    expect(() => toChannels(rgba, 2, "x.png")).toThrow("x.png: has 4 channels (RGBA), and only grey (1) or RGB (3) can be made from it, not 2 channels");
  });

  it("shrinks by area averaging: 2x2 blocks of a 56x56 image become the 28x28 block values", () => {
    const block = (y: number, x: number) => (y * 28 + x) % 251;
    const big = Array.from({ length: 56 * 56 }, (_, i) => block(Math.floor(i / 56 / 2), Math.floor((i % 56) / 2)));
    const path = pngFile("blocks.png", 56, 56, 0, big);
    const r = readInput(path, [1, 28, 28]);
    expect(r.bytes).toBe(true);
    expect(r.tensor.shape).toEqual([1, 1, 28, 28]);
    expect(Array.from(r.tensor.values)).toEqual(Array.from({ length: 28 * 28 }, (_, i) => block(Math.floor(i / 28), i % 28)));
    expect(r.notes).toEqual([`netc: ${path}: resized from 56x56 to 28x28 (area average)`]);
    // Fractional coverage: 3 -> 2 pixels weighs the middle one half into each.
    const row: Image = { shape: [1, 1, 3], values: Float32Array.from([0, 30, 60]) };
    const two = resizeImage(row, 1, 2);
    expect(two.values[0]).toBeCloseTo(10, 5);
    expect(two.values[1]).toBeCloseTo(50, 5);
  });

  it("enlarges bilinearly between pixel centres, edges clamped: a 14x14 ramp at 28x28", () => {
    // p(y, x) = 10y + x is linear, so bilinear interpolation gives 10·sy + sx at source position
    // s = (j + 0.5) / 2 - 0.5, clamped to 0..13.
    const small: Image = { shape: [1, 14, 14], values: Float32Array.from({ length: 196 }, (_, i) => 10 * Math.floor(i / 14) + (i % 14)) };
    const big = resizeImage(small, 28, 28);
    expect(big.shape).toEqual([1, 28, 28]);
    expect(at(big, 0, 0, 0)).toBe(0);
    expect(at(big, 0, 1, 1)).toBe(2.75);
    expect(at(big, 0, 2, 5)).toBe(9.75);
    expect(at(big, 0, 27, 10)).toBe(134.75);
    expect(at(big, 0, 27, 27)).toBe(143);
    expect(resizeMethod([14, 14], [28, 28])).toBe("bilinear");
    expect(resizeMethod([56, 10], [28, 20])).toBe("bilinear across, area average down");
    expect(resizeMethod([28, 56], [28, 28])).toBe("area average");
  });

  it("readInput: a comma-separated list of images gives a row each; [H, W] and flat square inputs take grey images", () => {
    const a = pngFile("row-a.png", 2, 2, 2, [255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9]);
    const b = writeFile(dir, "row-b.pgm", "P2 2 2 255 1 2 3 4");
    const r = readInput(`${a},${b}`, [1, 2, 2]);
    expect(r.tensor.shape).toEqual([2, 1, 2, 2]);
    expect(Array.from(r.tensor.values)).toEqual(f32([0.299 * 255, 0.587 * 255, 0.114 * 255, 9, 1, 2, 3, 4]));
    expect(r.notes).toEqual([]);
    const flat = readInput(b, [64]);
    expect(flat.tensor.shape).toEqual([1, 64]);
    expect([Math.min(...flat.tensor.values), Math.max(...flat.tensor.values)]).toEqual([1, 4]);
    expect(flat.notes).toEqual([`netc: ${b}: resized from 2x2 to 8x8 (bilinear)`]);
    expect(Array.from(readInput(b, [2, 2]).tensor.values)).toEqual([1, 2, 3, 4]);
    expect(Array.from(readInput(b, [3, 1, 1]).tensor.values)).toEqual([2.5, 2.5, 2.5]);
    const message = "an image input needs a network input of [C, H, W] (channels first), [H, W] or a square number (at least 64) of values; this one's rows are";
    expect(() => readInput(b, [5])).toThrow(`${message} [5]`);
    expect(() => readInput(b, [4])).toThrow(`${message} [4]`);
  });
});

describe("netc run --invert", () => {
  // NOTE: in-process on the CPU, with a network on literal data (a 2x2 grey image) whose
  // checkpoint a one-step training run writes; `--output` collects the outputs.
  const net = writeFile(
    dir,
    "pix.net",
    `network pix {
  input x: f32[B, 2, 2]
  output y = x |> flatten |> out: dense(3)
}
train {
  loss = mse(y, target)
  optimizer = sgd(lr = 0.1)
  epochs = 1
  batch = 1
  seed = 5
  data {
    x = [[[0.1, 0.2], [0.3, 0.4]]]
    target = [[1, 0, 0]]
  }
}
`,
  );

  it("flips byte inputs before the network sees them, and refuses float inputs", async () => {
    const ckpt = join(dir, "pix.safetensors");
    const quiet = silence();
    try {
      expect(await trainCommand([net, "--backend", "cpu", "--checkpoint", ckpt, "--quiet"])).toBe(0);
      const image = writeFile(dir, "pix.pgm", "P2 2 2 255 0 10 200 255");
      const flipped = writeFile(dir, "pix-flipped.pgm", "P2 2 2 255 255 245 55 0");
      const outputs = async (...args: string[]) => {
        const out = join(dir, "out.json");
        expect(await runCommand([net, "--checkpoint", ckpt, "--backend", "cpu", "--output", out, ...args])).toBe(0);
        return (JSON.parse(readFileSync(out, "utf8")) as { outputs: { y: number[][] } }).outputs.y;
      };
      const plain = await outputs("--input", image);
      expect(await outputs("--input", flipped, "--invert")).toEqual(plain);
      expect(await outputs("--input", flipped)).not.toEqual(plain);
      const json = writeFile(dir, "pix.json", "[[[0, 10], [200, 255]]]");
      await expect(runCommand([net, "--checkpoint", ckpt, "--backend", "cpu", "--input", json, "--invert"])).rejects.toThrow(
        `--invert flips byte values (v -> 255 - v), but ${json} holds floats, not raw bytes`,
      );
    } finally {
      quiet();
    }
  });
});

/** Swallows stdout while commands print; returns the function that restores it. */
function silence(): () => void {
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = (() => true) as typeof process.stdout.write;
  return () => {
    process.stdout.write = write;
  };
}
