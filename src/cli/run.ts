import { writeFileSync } from "node:fs";
import { readIdx } from "../data/idx.js";
import { isImagePath, readImage, resizeImage, resizeMethod, toChannels } from "../data/image.js";
import { readJsonArray } from "../data/json.js";
import { readNpy } from "../data/npy.js";
import type { FloatTensor } from "../data/tensor.js";
import type { Graph } from "../ir/graph.js";
import { formatShape, numel, type Dim } from "../ir/types.js";
import { RunnerPool } from "../runtime/backend.js";
import { applyTransform, type InputTransform } from "../runtime/data-source.js";
import { classesOf } from "../runtime/metrics.js";
import { asUserErrors, loadInference, metaJson, openBackend } from "./backend.js";
import { intOption, parseArgs, UsageError } from "./io.js";

const USAGE =
  "usage: netc run FILE --checkpoint CKPT --input IN [--invert] [--read NAME,...] [--target T] [--output OUT.json] [--backend auto|webgpu|cpu] [--batch N]\n" +
  "  IN: a .npy, .json or .idx[.gz] file, or images (.png, .pgm, .ppm; A.png,B.png,... gives a row each),\n" +
  "      made grey or RGB as the input wants (transparent pixels count as white) and resized to fit;\n" +
  "  --invert: byte values v -> 255 - v (dark-on-light drawings for models trained on light-on-dark images);\n" +
  "  --read: lets (h1, block.h) and gradients of the loss (grad.PARAM, grad.INPUT; these need --target T,\n" +
  "      the label rows, and run all rows as one batch) besides the outputs";

/** How many rows `netc run` prints when it also writes a file. */
const PRINTED_ROWS = 20;

/**
 * `netc run FILE --checkpoint CKPT --input IN [--invert] [--output OUT.json] [--backend B] [--batch N]`:
 * runs the network in inference mode with the checkpoint's weights on the rows of IN (NPY, JSON or
 * IDX: one row, or rows along the first axis; or images, PNG/PGM/PPM, a comma-separated list giving
 * one row each, fitted to the input's [C, H, W] as {@link readInput} says), after the input
 * transform training used (raw bytes of image models scaled to [0, 1], table features standardised
 * with the training statistics). `--invert` turns byte values v into 255 - v first.
 * Prints each row's predicted class (for classifiers) and outputs, or writes them all as JSON.
 */
export async function runCommand(argv: string[]): Promise<number> {
  const { positional, options } = parseArgs(argv, {
    checkpoint: "string",
    input: "string",
    output: "string",
    backend: "string",
    batch: "string",
    invert: "boolean",
    read: "string",
    target: "string",
  });
  const file = positional[0];
  const ckptPath = options["checkpoint"] as string | undefined;
  const inputPath = options["input"] as string | undefined;
  if (!file || positional.length > 1 || ckptPath === undefined || inputPath === undefined) throw new UsageError(USAGE);
  const reads = typeof options["read"] === "string" ? options["read"].split(",").map((r) => r.trim()).filter((r) => r !== "") : [];
  if (options["read"] !== undefined && reads.length === 0) throw new UsageError("--read needs one or more names, separated by commas (a let, an output, or grad.NAME)");
  const gradients = reads.filter((r) => r.startsWith("grad."));
  const targetPath = options["target"] as string | undefined;
  // NOTE: a gradient is of the loss, so the run is an evaluation (inference mode, with the loss)
  // fed the targets, and all rows go in one batch: a param's gradient is that of the loss over them all.
  if (gradients.length && targetPath === undefined)
    throw new UsageError(`--read ${gradients[0]}: a gradient is of the loss, which needs targets: give --target FILE (rows of the label the loss compares with)`);
  if (targetPath !== undefined && !gradients.length) throw new UsageError("--target feeds the loss for gradient reads (--read grad.NAME); nothing read here needs it");

  const { compiled: c, graph: g, plan, ckpt, values } = loadInference(file, ckptPath, { mode: gradients.length ? "eval" : "infer", read: reads });
  const inputs = g.args.filter((a) => a.arg!.role === "input");
  if (inputs.length !== 1) throw new UsageError(`netc run feeds one input; ${g.name} has ${inputs.length}`);
  const input = inputs[0]!;
  const rowShape = fixedRowShape(input.type.shape, g.name, `input ${input.arg!.name}`);
  const width = numel(rowShape);

  const raw = await asUserErrors(async () => readInput(inputPath, rowShape));
  for (const note of raw.notes) process.stderr.write(note + "\n");
  const rows = rowsOf(raw.tensor, rowShape, inputPath, input.arg!.name);
  const transform = metaJson<InputTransform>(ckpt, "transform") ?? { kind: "none" };
  let x: FloatTensor = { shape: [rows, ...rowShape], values: raw.tensor.values };
  if (options["invert"] === true) {
    // NOTE: only bytes have a known range to flip within; floats could be anything.
    if (!raw.bytes) throw new UsageError(`--invert flips byte values (v -> 255 - v), but ${inputPath} holds floats, not raw bytes`);
    x = { shape: x.shape, values: x.values.map((v) => 255 - v) };
  }
  if (transform.kind === "unit" && raw.bytes) x = { shape: x.shape, values: x.values.map((v) => v / 255) };
  x = await asUserErrors(async () => applyTransform(x, transform));
  const feeds = [{ name: input.arg!.name, values: x.values, width }];
  if (targetPath !== undefined) feeds.push(readTargets(g, targetPath, rows));

  const batch = gradients.length ? rows : intOption(options, "batch") || c.train?.batch || 32;
  const outputs = g.outputs.filter((o) => !o.name.startsWith("metric."));
  const names = [...(gradients.length ? ["loss"] : []), ...outputs.map((o) => o.name)];
  const valueOf = (name: string) => (name === "loss" ? g.loss! : g.outputs.find((o) => o.name === name)!.value);
  // A value with the batch as its leading dim has one part per row; any other (a param's gradient, the loss) is whole.
  const perRow = (name: string) => valueOf(name).type.shape[0] === input.type.shape[0];
  const shapeOf = (name: string) => {
    const shape = valueOf(name).type.shape;
    return perRow(name) ? fixedRowShape(shape, g.name, `"${name}"`) : fixedRowShape(["batch", ...shape], g.name, `"${name}"`);
  };
  const predicted = c.prediction?.output;
  const classNames = metaJson<string[]>(ckpt, "class_names");

  const opened = await openBackend(options["backend"] as string | undefined, "running");
  const pool = new RunnerPool(opened.backend, plan, values);
  const collected = new Map<string, Float32Array[]>(names.map((n) => [n, []]));
  let runnerName = "";
  try {
    for (let start = 0; start < rows; start += batch) {
      const n = Math.min(batch, rows - start);
      const runner = await pool.get(n);
      runnerName = runner.name;
      const feed = Object.fromEntries(feeds.map((f) => [f.name, f.values.subarray(start * f.width, (start + n) * f.width)]));
      const got = await asUserErrors(() => runner.run(feed, names));
      for (const name of names) collected.get(name)!.push(got[name]!);
    }
  } finally {
    pool.dispose();
    opened.close();
  }
  const joined = Object.fromEntries([...collected].map(([name, parts]) => [name, concat(parts)]));
  const classWidth = predicted ? shapeOf(predicted).at(-1) ?? 1 : undefined;
  const classes = predicted ? classesOf(joined[predicted]!, classWidth!) : undefined;
  const perRowClasses = classes ? classes.length / rows : 0;
  const rowNames = names.filter(perRow);
  const wholeNames = names.filter((n) => !perRow(n));

  const outPath = options["output"] as string | undefined;
  if (outPath !== undefined) {
    const json = {
      network: g.name,
      checkpoint: ckptPath,
      input: inputPath,
      rows,
      outputs: Object.fromEntries(names.map((n) => [n, nest(joined[n]!, perRow(n) ? [rows, ...shapeOf(n)] : shapeOf(n))])),
      ...(classes ? { classes: nest(Float32Array.from(classes), perRowClasses === 1 ? [rows] : [rows, perRowClasses]) } : {}),
      ...(classes && classNames ? { class_names: Array.from(classes, (k) => classNames[k] ?? String(k)) } : {}),
    };
    try {
      writeFileSync(outPath, JSON.stringify(json) + "\n");
    } catch (e) {
      throw new UsageError(`cannot write ${outPath}: ${(e as Error).message}`);
    }
  }
  const out = (line: string) => process.stdout.write(line + "\n");
  out(`netc: run ${file} with ${ckptPath} on ${inputPath}: ${rows} row${rows === 1 ? "" : "s"}`);
  // NOTE: with --output the file has every row; the terminal gets the first few.
  const shown = outPath === undefined ? rows : Math.min(rows, PRINTED_ROWS);
  for (let r = 0; r < shown; r++) {
    const parts: string[] = [];
    const name = classes && classNames?.[classes[r]!];
    if (classes && perRowClasses === 1) parts.push(`class ${classes[r]}${name !== undefined && name !== String(classes[r]) ? ` (${name})` : ""}`);
    else if (classes) parts.push(`classes [${Array.from(classes.subarray(r * perRowClasses, (r + 1) * perRowClasses)).join(", ")}]`);
    for (const n of rowNames) {
      const w = numel(shapeOf(n));
      if (w > 16) continue;
      parts.push(`${n} [${short(joined[n]!.subarray(r * w, (r + 1) * w))}]`);
    }
    out(`row ${r}: ${parts.join("  ")}`);
  }
  for (const n of wholeNames) {
    const v = joined[n]!;
    const shape = shapeOf(n);
    out(shape.length === 0 ? `${n}: ${short(v)}` : `${n} ${formatShape(shape)}: [${short(v.subarray(0, 16))}${v.length > 16 ? `, ... (${v.length} values)` : ""}]`);
  }
  if (outPath !== undefined) out(`netc: wrote ${names.join(", ")}${classes ? " and the classes" : ""} of ${rows} rows to ${outPath}`);
  out(`backend: ${runnerName}`);
  return 0;
}

/** Values to 4 significant digits, comma-separated. */
function short(v: Float32Array): string {
  return Array.from(v, (n) => Number(n.toPrecision(4))).join(", ");
}

/** The dims after the batch, which must all be numbers for rows to be cut and printed. */
function fixedRowShape(shape: readonly Dim[], network: string, what: string): number[] {
  const rest = shape.slice(1);
  if (!rest.every((d): d is number => typeof d === "number"))
    throw new UsageError(`${network}'s ${what} has symbolic dims besides the batch (${formatShape(shape)}); netc run needs fixed row shapes`);
  return rest;
}

/** The label a gradient's loss compares with, read from `path` as rows like the label's. */
function readTargets(g: Graph, path: string, rows: number): { name: string; values: Float32Array; width: number } {
  const labels = g.args.filter((a) => a.arg!.role === "label");
  if (labels.length !== 1) throw new UsageError(`--target feeds one label; ${g.name}'s loss compares with ${labels.length} (${labels.map((l) => l.arg!.name).join(", ")})`);
  const label = labels[0]!;
  const rowShape = fixedRowShape(label.type.shape, g.name, `label ${label.arg!.name}`);
  const t = readInput(path, rowShape).tensor;
  const got = rowsOf(t, rowShape, path, label.arg!.name);
  if (got !== rows) throw new UsageError(`${path} has ${got} row${got === 1 ? "" : "s"} of ${label.arg!.name}, the input has ${rows}`);
  return { name: label.arg!.name, values: t.values, width: numel(rowShape) };
}

/** What {@link readInput} read: the values, whether they are raw 0..255 bytes, and lines for stderr. */
export interface RunInput {
  tensor: FloatTensor;
  bytes: boolean;
  notes: string[];
}

/**
 * An input file by its extension: NPY, JSON, IDX (gzipped or not), or images (.png, .pgm, .ppm,
 * .pnm). `path` may list several images separated by commas, one row each. Images are fitted to
 * `rowShape` (see {@link readImages}) and count as bytes; NPY and IDX files do when they hold u8.
 */
export function readInput(path: string, rowShape: number[]): RunInput {
  const parts = path.split(",");
  if (parts.every(isImagePath)) return readImages(parts, rowShape);
  // NOTE: a single image whose name has a comma in it.
  if (isImagePath(path)) return readImages([path], rowShape);
  const lower = path.toLowerCase();
  if (lower.endsWith(".npy")) {
    const t = readNpy(path);
    return { tensor: t, bytes: t.dtype === "|u1" || t.dtype === "<u1", notes: [] };
  }
  if (lower.endsWith(".json")) return { tensor: readJsonArray(path), bytes: false, notes: [] };
  if (/(\.idx\d?|-ubyte|\.idx\d?-ubyte)(\.gz)?$/.test(lower)) {
    const t = readIdx(path);
    return { tensor: t, bytes: t.dtype === "u8", notes: [] };
  }
  throw new UsageError(`${path}: unknown input format; netc run reads .npy, .json, .idx (or .idx.gz, -ubyte) and image (.png, .pgm, .ppm) files`);
}

/**
 * Images as rows of `rowShape`, values 0..255. Steps, per image:
 *   1. channels: RGB(A) to grey by BT.601 luma when the input has 1 channel, grey to RGB when it
 *      has 3; alpha is composited over white (drawings on a transparent background stay visible);
 *   2. size: area averaging where the image is larger than the input, bilinear where smaller, with
 *      a note saying so (a classifier is only as good as the resized image).
 */
function readImages(paths: string[], rowShape: number[]): RunInput {
  const [channels, height, width] = imageShape(rowShape);
  const size = channels * height * width;
  const values = new Float32Array(paths.length * size);
  const notes: string[] = [];
  paths.forEach((path, i) => {
    const image = readImage(path);
    const [, h, w] = image.shape;
    const fitted = resizeImage(toChannels(image, channels, path), height, width);
    if (h !== height || w !== width) notes.push(`netc: ${path}: resized from ${w}x${h} to ${width}x${height} (${resizeMethod([h, w], [height, width])})`);
    values.set(fitted.values, i * size);
  });
  return { tensor: { shape: [paths.length, ...rowShape], values }, bytes: true, notes };
}

/** The [channels, height, width] an image row fills: [C, H, W] itself, [H, W] as grey, or a flat square of N = S² values (S >= 8) as a grey S×S image. */
function imageShape(rowShape: number[]): [number, number, number] {
  if (rowShape.length === 3) return [rowShape[0]!, rowShape[1]!, rowShape[2]!];
  if (rowShape.length === 2) return [1, rowShape[0]!, rowShape[1]!];
  const side = Math.round(Math.sqrt(rowShape[0] ?? 0));
  // NOTE: MLPs on MNIST take the 28x28 pixels flat (784), row by row, as the dataset stores them.
  // NOTE: at least 8x8, so a 4-feature table model (iris) does not take an image as 2x2.
  if (rowShape.length === 1 && side >= 8 && side * side === rowShape[0]) return [1, side, side];
  throw new UsageError(
    `an image input needs a network input of [C, H, W] (channels first), [H, W] or a square number (at least 64) of values; this one's rows are [${rowShape.join(", ")}]`,
  );
}

/** The row count of an input: one row shaped like the input, or rows along the first axis. */
function rowsOf(t: FloatTensor, rowShape: number[], path: string, name: string): number {
  const width = numel(rowShape);
  const total = t.values.length;
  const sameAsRow = t.shape.length === rowShape.length && t.shape.every((d, i) => d === rowShape[i]);
  if (sameAsRow) return 1;
  if (t.shape.length >= 1 && numel(t.shape.slice(1)) === width && t.shape[0]! > 0) return t.shape[0]!;
  throw new UsageError(
    `${path}: shape [${t.shape.join(", ")}] (${total} values) does not hold rows of ${name}: [${rowShape.join(", ")}] (${width} values each)`,
  );
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Row-major values as nested arrays of a shape. */
function nest(values: Float32Array, shape: number[]): unknown {
  if (shape.length === 0) return values[0];
  if (shape.length === 1) return Array.from(values.subarray(0, shape[0]));
  const inner = numel(shape.slice(1));
  return Array.from({ length: shape[0]! }, (_, i) => nest(values.subarray(i * inner, (i + 1) * inner), shape.slice(1)));
}
