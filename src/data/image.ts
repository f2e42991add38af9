import { inflateSync } from "node:zlib";
import pngjs, { type PNGWithMetadata } from "pngjs";
import { DataError, readBytes } from "./errors.js";
import type { FloatTensor } from "./tensor.js";

/**
 * Image files for image models: PNG (via pngjs; 1- to 16-bit grey, grey+alpha, RGB, RGBA and
 * palette) and the Netpbm formats PGM/PPM (P2, P5, P3, P6; maxval 1..65535). Steps:
 *   1. the format is sniffed from the first bytes (the extension only picks the error message);
 *   2. samples become channel-first f32 in 0..255, whatever the bit depth (16-bit samples are
 *      v × 255 / 65535, so not always integers);
 *   3. {@link toChannels} and {@link resizeImage} fit an image to a network's [C, H, W] row.
 */

/** A decoded image: `shape` is [channels, height, width], values are 0..255, channel-first. */
export interface Image extends FloatTensor {
  shape: [number, number, number];
}

/** File extensions {@link readImage} is meant for. */
const IMAGE_EXTENSIONS = [".png", ".pgm", ".ppm", ".pnm"];

/** The most values one image may have (as for IDX: 4 GiB of f32). */
const MAX_VALUES = 2 ** 30;

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** True when a path names an image file by its extension (.png, .pgm, .ppm, .pnm). */
export function isImagePath(path: string): boolean {
  const lower = path.toLowerCase();
  return IMAGE_EXTENSIONS.some((ext) => lower.endsWith(ext));
}

/** Reads a PNG, PGM or PPM file; a missing, unknown or damaged file is a DataError naming it. */
export function readImage(path: string): Image {
  return decodeImage(readBytes(path), path);
}

/** Decodes PNG or PGM/PPM bytes, sniffed from their first bytes; `file` names them in errors. */
export function decodeImage(bytes: Uint8Array, file: string): Image {
  if (bytes.length === 0) throw new DataError(file, "is empty, not an image");
  if (PNG_SIGNATURE.every((b, i) => bytes[i] === b)) return parsePng(bytes, file);
  if (bytes[0] === 0x50 /* P */ && bytes[1]! >= 0x31 && bytes[1]! <= 0x37) return parsePnm(bytes, file);
  const found = hexBytes(bytes.subarray(0, 8));
  const other = otherFormat(bytes);
  const hint = other ? ` (${other}; netc reads PNG, PGM and PPM)` : "";
  const lower = file.toLowerCase();
  if (lower.endsWith(".png")) throw new DataError(file, `not a PNG file: expected the signature ${hexBytes(PNG_SIGNATURE)}, found ${found}${hint}`);
  if (isImagePath(file)) throw new DataError(file, `not a PGM/PPM file: expected the magic P2, P3, P5 or P6, found ${found}${hint}`);
  throw new DataError(file, `not a PNG, PGM or PPM image: it starts with ${found}${hint}`);
}

/** Converts an image to 1 (grey) or 3 (RGB) channels; alpha is composited over white. Same channels: unchanged. */
export function toChannels(img: Image, channels: number, file: string): Image {
  const [from, h, w] = img.shape;
  if (from === channels) return img;
  if (channels !== 1 && channels !== 3) {
    throw new DataError(file, `has ${from} channel${from === 1 ? "" : "s"} (${CHANNEL_NAMES[from]}), and only grey (1) or RGB (3) can be made from it, not ${channels} channels`);
  }
  const plane = h * w;
  const src = img.values;
  const out = new Float32Array(channels * plane);
  const hasAlpha = from === 2 || from === 4;
  const colour = from >= 3;
  for (let p = 0; p < plane; p++) {
    let r = src[p]!;
    let g = colour ? src[plane + p]! : r;
    let b = colour ? src[2 * plane + p]! : r;
    if (hasAlpha) {
      // NOTE: over white, not black: drawings with a transparent background are dark strokes on
      // nothing, and over black those strokes would vanish into the background.
      const a = src[(from - 1) * plane + p]! / 255;
      r = 255 - (255 - r) * a;
      g = 255 - (255 - g) * a;
      b = 255 - (255 - b) * a;
    }
    if (channels === 1) {
      // ITU-R BT.601 luma, as PIL's convert("L") and OpenCV's cvtColor use.
      out[p] = colour ? 0.299 * r + 0.587 * g + 0.114 * b : r;
    } else {
      out[p] = r;
      out[plane + p] = g;
      out[2 * plane + p] = b;
    }
  }
  return { shape: [channels, h, w], values: out };
}

/** Names of the channel layouts by channel count. */
const CHANNEL_NAMES: Record<number, string> = { 1: "grey", 2: "grey+alpha", 3: "RGB", 4: "RGBA" };

/**
 * Resizes an image to `height` × `width`, one axis at a time: area averaging (a box filter with
 * fractional coverage) along an axis that shrinks, bilinear interpolation between pixel centres
 * (edges clamped, as OpenCV's INTER_LINEAR) along one that grows.
 */
export function resizeImage(img: Image, height: number, width: number): Image {
  const [c, h, w] = img.shape;
  if (h === height && w === width) return img;
  const across = axisTaps(w, width);
  const down = axisTaps(h, height);
  // 1. along each row: [c, h, w] -> [c, h, width]
  const wide = new Float32Array(c * h * width);
  for (let row = 0; row < c * h; row++) {
    for (let x = 0; x < width; x++) {
      let sum = 0;
      for (const [i, weight] of across[x]!) sum += weight * img.values[row * w + i]!;
      wide[row * width + x] = sum;
    }
  }
  // 2. along each column: [c, h, width] -> [c, height, width]
  const out = new Float32Array(c * height * width);
  for (let ch = 0; ch < c; ch++) {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        let sum = 0;
        for (const [i, weight] of down[y]!) sum += weight * wide[(ch * h + i) * width + x]!;
        out[(ch * height + y) * width + x] = sum;
      }
    }
  }
  return { shape: [c, height, width], values: out };
}

/** How {@link resizeImage} resamples from `from` to `to` pixels along each axis, for messages. */
export function resizeMethod(from: [height: number, width: number], to: [height: number, width: number]): string {
  const kind = (a: number, b: number) => (b < a ? "area average" : b > a ? "bilinear" : "");
  const [y, x] = [kind(from[0], to[0]), kind(from[1], to[1])];
  if (x === y || !y) return x;
  if (!x) return y;
  return `${x} across, ${y} down`;
}

/** For each output position along one axis: the source positions and their weights (summing to 1). */
function axisTaps(from: number, to: number): [index: number, weight: number][][] {
  const taps: [number, number][][] = [];
  const scale = from / to;
  for (let j = 0; j < to; j++) {
    if (from === to) taps.push([[j, 1]]);
    else if (to < from) {
      // The output pixel covers source [lo, hi); each source pixel weighs by its overlap.
      const lo = j * scale;
      const hi = (j + 1) * scale;
      const row: [number, number][] = [];
      for (let i = Math.floor(lo); i < Math.min(from, Math.ceil(hi)); i++) {
        const overlap = Math.min(hi, i + 1) - Math.max(lo, i);
        if (overlap > 0) row.push([i, overlap / scale]);
      }
      taps.push(row);
    } else {
      // NOTE: pixel centres line up ((j + 0.5) × scale - 0.5), so the image does not shift.
      const s = Math.min(Math.max((j + 0.5) * scale - 0.5, 0), from - 1);
      const i0 = Math.floor(s);
      const f = s - i0;
      taps.push(f === 0 ? [[i0, 1]] : [[i0, 1 - f], [i0 + 1, f]]);
    }
  }
  return taps;
}

/** A PNG through pngjs: its samples rescaled to 0..255 from the file's bit depth. */
function parsePng(bytes: Uint8Array, file: string): Image {
  const end = checkPng(bytes, file);
  let png: PNGWithMetadata;
  try {
    // NOTE: skipRescale keeps 16-bit samples whole (pngjs would round them to 8 bits); samples of
    // 1-, 2- and 4-bit images then stay 0..2^depth - 1 and are scaled below.
    png = pngjs.PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, end), { skipRescale: true });
  } catch (e) {
    throw new DataError(file, `damaged PNG data (${(e as Error).message})`);
  }
  const { width, height } = png;
  const channels = (png.color ? 3 : 1) + (png.alpha ? 1 : 0);
  // NOTE: pngjs expands every image to RGBA; palette entries are 8-bit whatever the index depth.
  // (Not `png.palette`: an RGB image may carry a suggested palette, and pngjs then sets it.)
  const max = (png.colorType as number) === 3 ? 255 : 2 ** png.depth - 1; // 3: palette (missing from @types/pngjs's ColorType)
  const rgba = png.data as Uint8Array | Uint16Array;
  const from = channels === 1 ? [0] : channels === 2 ? [0, 3] : channels === 3 ? [0, 1, 2] : [0, 1, 2, 3];
  const plane = width * height;
  const out = new Float32Array(channels * plane);
  for (let c = 0; c < channels; c++) {
    const k = from[c]!;
    for (let p = 0; p < plane; p++) out[c * plane + p] = (rgba[4 * p + k]! * 255) / max;
  }
  return { shape: [channels, height, width], values: out };
}

/** Allowed bit depths of each PNG colour type (0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA). */
const PNG_DEPTHS: Record<number, number[]> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };

/** Samples per pixel of each PNG colour type. */
const PNG_SAMPLES: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

/** The PNG header fields the checks need. */
interface PngHeader {
  width: number;
  height: number;
  depth: number;
  colorType: number;
  interlace: number;
}

/**
 * Checks a PNG before pngjs decodes it; returns where its IEND chunk ends. Steps:
 *   1. walk the chunks (length, type, data, CRC) from IHDR to IEND; check IHDR's fields;
 *   2. inflate the IDAT data and check it holds every scanline the header promises.
 * NOTE: pngjs's sync reader reports most problems as "unrecognised content at end of stream"
 * (the error it meets first is overwritten), and it fills missing pixels with zeros without a
 * word, so truncation, CRC damage, bad headers and short pixel data are found here, each named.
 * The pixels are inflated twice (here and by pngjs): cheap at the sizes of network inputs.
 */
function checkPng(bytes: Uint8Array, file: string): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const idat: Uint8Array[] = [];
  let header: PngHeader | undefined;
  let pos = PNG_SIGNATURE.length;
  for (let first = true; ; first = false) {
    if (pos + 8 > bytes.length) throw new DataError(file, `truncated: the file ends before the ${first ? "IHDR" : "IEND"} chunk (${bytes.length} bytes)`);
    const length = view.getUint32(pos);
    const type = String.fromCharCode(...bytes.subarray(pos + 4, pos + 8));
    if (first && type !== "IHDR") throw new DataError(file, `damaged PNG data: the first chunk is "${type}", not IHDR`);
    if (pos + 12 + length > bytes.length) throw new DataError(file, `truncated: the file ends inside the ${type} chunk at byte ${pos} (${bytes.length} bytes)`);
    if (crc32(bytes.subarray(pos + 4, pos + 8 + length)) !== view.getUint32(pos + 8 + length)) {
      throw new DataError(file, `damaged PNG data: the ${type} chunk at byte ${pos} fails its CRC check`);
    }
    if (type === "IHDR") header = checkIhdr(view, pos + 8, length, file);
    if (type === "IDAT") idat.push(bytes.subarray(pos + 8, pos + 8 + length));
    pos += 12 + length;
    // NOTE: bytes after IEND are ignored, as browsers and libpng do (pngjs would refuse them).
    if (type === "IEND") break;
  }
  if (idat.length === 0) throw new DataError(file, "damaged PNG data: no IDAT chunk, so no pixels");
  let scanlines: Buffer;
  try {
    scanlines = inflateSync(Buffer.concat(idat));
  } catch (e) {
    const short = (e as NodeJS.ErrnoException).code === "Z_BUF_ERROR";
    throw new DataError(file, short ? "truncated pixel data: the compressed IDAT data ends early" : `damaged PNG data: the IDAT data does not inflate (${(e as Error).message})`);
  }
  const need = scanlineBytes(header!);
  if (scanlines.length < need) {
    const { width, height } = header!;
    throw new DataError(file, `truncated pixel data: ${width}×${height} pixels need ${need} bytes of scanlines, the IDAT data holds ${scanlines.length}`);
  }
  return pos;
}

/** Bytes of filtered scanlines (a filter byte per row) a PNG header needs, Adam7 passes included. */
function scanlineBytes(h: PngHeader): number {
  const bits = h.depth * PNG_SAMPLES[h.colorType]!;
  const rows = (w: number, n: number) => (w > 0 && n > 0 ? n * (1 + Math.ceil((w * bits) / 8)) : 0);
  if (h.interlace === 0) return rows(h.width, h.height);
  // Adam7: [x0, y0, dx, dy] of each of the seven passes.
  const passes = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]] as const;
  return passes.reduce((sum, [x0, y0, dx, dy]) => sum + rows(Math.ceil((h.width - x0) / dx), Math.ceil((h.height - y0) / dy)), 0);
}

function checkIhdr(view: DataView, at: number, length: number, file: string): PngHeader {
  if (length !== 13) throw new DataError(file, `bad header: the IHDR chunk has ${length} bytes, not 13`);
  const [width, height] = [view.getUint32(at), view.getUint32(at + 4)];
  const [depth, colorType, compression, filter, interlace] = [8, 9, 10, 11, 12].map((k) => view.getUint8(at + k)) as [number, number, number, number, number];
  if (width < 1 || height < 1) throw new DataError(file, `bad header: the image is ${width}×${height} pixels; both must be at least 1`);
  if (4 * width * height > MAX_VALUES) throw new DataError(file, `bad header: ${width}×${height} pixels, more than an image can hold here`);
  const depths = PNG_DEPTHS[colorType];
  if (!depths) throw new DataError(file, `bad header: colour type ${colorType}; PNG has 0, 2, 3, 4 and 6`);
  if (!depths.includes(depth)) throw new DataError(file, `bad header: bit depth ${depth} with colour type ${colorType}; that type takes ${depths.join(", ")}`);
  if (compression !== 0 || filter !== 0 || interlace > 1) throw new DataError(file, `bad header: compression ${compression}, filter ${filter}, interlace ${interlace}; PNG has 0, 0 and 0 or 1`);
  return { width, height, depth, colorType, interlace };
}

/** CRC-32 (the PNG/zlib polynomial) of some bytes. */
function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** PGM (P2 plain, P5 binary: grey) and PPM (P3 plain, P6 binary: RGB); 16-bit samples are big-endian. */
function parsePnm(bytes: Uint8Array, file: string): Image {
  const magic = String.fromCharCode(bytes[0]!, bytes[1]!);
  if (magic === "P1" || magic === "P4") throw new DataError(file, `is a PBM bitmap (${magic}), which netc does not read: convert it to PGM (P2, P5) or PPM (P3, P6)`);
  if (magic === "P7") throw new DataError(file, "is a PAM file (P7), which netc does not read: convert it to PGM (P2, P5) or PPM (P3, P6)");
  const channels = magic === "P3" || magic === "P6" ? 3 : 1;
  const plain = magic === "P2" || magic === "P3";
  const reader = new PnmReader(bytes, file, 2);
  if (bytes.length > 2 && !reader.atSpace()) throw new DataError(file, `bad header: the magic ${magic} must be followed by whitespace`);
  const width = reader.headerInt("width");
  const height = reader.headerInt("height");
  const maxval = reader.headerInt("maxval");
  if (width < 1 || height < 1) throw new DataError(file, `bad header: the image is ${width}×${height} pixels; both must be at least 1`);
  if (maxval < 1 || maxval > 65535) throw new DataError(file, `bad header: maxval ${maxval}; it must be 1..65535`);
  const count = width * height * channels;
  if (count > MAX_VALUES) throw new DataError(file, `bad header: ${width}×${height} pixels × ${channels} samples, more than the ${MAX_VALUES} values an image can hold here`);
  const samples = plain ? reader.plainSamples(count, maxval) : reader.binarySamples(count, maxval);
  if (samples.length < count) {
    throw new DataError(file, `truncated: the header says ${width}×${height} pixels × ${channels} sample${channels === 1 ? "" : "s"} = ${count} values, the file has ${samples.length}`);
  }
  // PNM stores pixels interleaved (RGB RGB ...); an Image is channel-first.
  const plane = width * height;
  const out = new Float32Array(count);
  for (let p = 0; p < plane; p++) for (let c = 0; c < channels; c++) out[c * plane + p] = (samples[p * channels + c]! * 255) / maxval;
  return { shape: [channels, height, width], values: out };
}

/** A cursor over PNM bytes: header tokens (with `#` comments), then plain or binary samples. */
class PnmReader {
  constructor(
    private readonly bytes: Uint8Array,
    private readonly file: string,
    private pos: number,
  ) {}

  atSpace(): boolean {
    return this.pos < this.bytes.length && isSpace(this.bytes[this.pos]!);
  }

  /** The next whitespace-separated token, skipping `#` comments; undefined at the end of the file. */
  private token(): string | undefined {
    const b = this.bytes;
    while (this.pos < b.length) {
      if (isSpace(b[this.pos]!)) this.pos++;
      else if (b[this.pos] === 0x23 /* # */) while (this.pos < b.length && b[this.pos] !== 0x0a && b[this.pos] !== 0x0d) this.pos++;
      else break;
    }
    if (this.pos >= b.length) return undefined;
    const start = this.pos;
    while (this.pos < b.length && !isSpace(b[this.pos]!) && b[this.pos] !== 0x23) this.pos++;
    return String.fromCharCode(...b.subarray(start, Math.min(this.pos, start + 20)));
  }

  headerInt(what: string): number {
    const t = this.token();
    if (t === undefined) throw new DataError(this.file, `truncated: the header ends before the ${what}`);
    if (!/^\d{1,9}$/.test(t)) throw new DataError(this.file, `bad header: the ${what} is "${t}", not a whole number`);
    return Number(t);
  }

  /** P2/P3: `count` decimal samples (fewer when the file ends early). */
  plainSamples(count: number, maxval: number): Uint16Array {
    // NOTE: each sample takes at least two bytes (a digit and a separator) but the last: checked
    // before allocating, so a damaged header cannot ask for gigabytes.
    const room = Math.ceil((this.bytes.length - this.pos) / 2);
    const out = new Uint16Array(Math.min(count, room));
    for (let i = 0; i < out.length; i++) {
      const t = this.token();
      if (t === undefined) return out.subarray(0, i);
      if (!/^\d{1,5}$/.test(t) || Number(t) > maxval) throw new DataError(this.file, `sample ${i} is "${t}", not a whole number in 0..${maxval} (the maxval)`);
      out[i] = Number(t);
    }
    return out;
  }

  /** P5/P6: `count` samples of one byte (maxval < 256) or two big-endian bytes, after one whitespace byte. */
  binarySamples(count: number, maxval: number): Uint16Array {
    if (!this.atSpace()) throw new DataError(this.file, this.pos >= this.bytes.length ? "truncated: the file ends after the header" : "bad header: the maxval must be followed by one whitespace byte");
    const start = this.pos + 1;
    const size = maxval < 256 ? 1 : 2;
    const have = this.bytes.length - start;
    const need = count * size;
    if (have < need) {
      throw new DataError(this.file, `truncated: the header says ${count} sample${count === 1 ? "" : "s"} × ${size} byte${size === 1 ? "" : "s"} = ${need} bytes of pixels, the file has ${have}`);
    }
    // NOTE: bytes after the pixels are ignored: Netpbm allows several images in one file, and this reads the first.
    const out = new Uint16Array(count);
    const b = this.bytes;
    for (let i = 0; i < count; i++) {
      const v = size === 1 ? b[start + i]! : (b[start + 2 * i]! << 8) | b[start + 2 * i + 1]!;
      if (v > maxval) throw new DataError(this.file, `sample ${i} is ${v}, more than the maxval ${maxval}`);
      out[i] = v;
    }
    return out;
  }
}

function isSpace(b: number): boolean {
  return b === 0x20 || (b >= 0x09 && b <= 0x0d);
}

function hexBytes(bytes: ArrayLike<number>): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
}

/** A name for common image formats netc does not read, from their magic bytes. */
function otherFormat(b: Uint8Array): string | undefined {
  if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return "a JPEG file";
  if (b[0] === 0x47 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x38) return "a GIF file";
  if (b[0] === 0x42 && b[1] === 0x4d) return "perhaps a BMP file";
  if (b[0] === 0x52 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x46 && b[8] === 0x57 && b[9] === 0x45) return "a WebP file";
  return undefined;
}
