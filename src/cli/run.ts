import { writeFileSync } from "node:fs";
import { readIdx } from "../data/idx.js";
import { readJsonArray } from "../data/json.js";
import { readNpy } from "../data/npy.js";
import type { FloatTensor } from "../data/tensor.js";
import { bindBatch } from "../compile.js";
import { concreteShape, numel } from "../ir/types.js";
import { RunnerPool } from "../runtime/backend.js";
import { applyTransform, predictionOutput, type InputTransform } from "../runtime/data-source.js";
import { classesOf } from "../runtime/metrics.js";
import { checkpointValues } from "../runtime/restore.js";
import { asUserErrors, loadCheckpoint, metaJson, openBackend, userError } from "./backend.js";
import { compileFile, intOption, parseArgs, UsageError } from "./io.js";

const USAGE = "usage: netc run FILE --checkpoint CKPT --input FILE(.npy|.json|.idx[.gz]) [--output OUT.json] [--backend auto|webgpu|cpu] [--batch N]";

/** How many rows `netc run` prints when it also writes a file. */
const PRINTED_ROWS = 20;

/**
 * `netc run FILE --checkpoint CKPT --input IN [--output OUT.json] [--backend B] [--batch N]`: runs
 * the network in inference mode with the checkpoint's weights on the rows of IN (NPY, JSON or IDX;
 * one row, or rows along the first axis), after the input transform training used (raw bytes of
 * image models scaled to [0, 1], table features standardised with the training statistics).
 * Prints each row's predicted class (for classifiers) and outputs, or writes them all as JSON.
 */
export async function runCommand(argv: string[]): Promise<number> {
  const { positional, options } = parseArgs(argv, { checkpoint: "string", input: "string", output: "string", backend: "string", batch: "string" });
  const file = positional[0];
  const ckptPath = options["checkpoint"] as string | undefined;
  const inputPath = options["input"] as string | undefined;
  if (!file || positional.length > 1 || ckptPath === undefined || inputPath === undefined) throw new UsageError(USAGE);

  const c = compileFile(file, { mode: "infer" });
  const g = c.graph!;
  const ckpt = loadCheckpoint(ckptPath);
  let values: Record<string, Float32Array>;
  try {
    values = checkpointValues(ckpt, g, ckptPath, false);
  } catch (e) {
    throw userError(e);
  }
  const inputs = g.args.filter((a) => a.arg!.role === "input");
  if (inputs.length !== 1) throw new UsageError(`netc run feeds one input; ${g.name} has ${inputs.length}`);
  const input = inputs[0]!;
  const rowShape = input.type.shape.slice(1);
  if (!rowShape.every((d): d is number => typeof d === "number"))
    throw new UsageError(`${g.name}'s input ${input.arg!.name} has symbolic dims besides the batch ([${input.type.shape.join(", ")}]); netc run needs fixed row shapes`);
  const width = numel(rowShape);

  const raw = await asUserErrors(async () => readInput(inputPath));
  const rows = rowsOf(raw.tensor, rowShape, inputPath, input.arg!.name);
  const transform = metaJson<InputTransform>(ckpt, "transform") ?? { kind: "none" };
  let x: FloatTensor = { shape: [rows, ...rowShape], values: raw.tensor.values };
  if (transform.kind === "unit" && raw.bytes) x = { shape: x.shape, values: x.values.map((v) => v / 255) };
  x = await asUserErrors(async () => applyTransform(x, transform));

  const batch = intOption(options, "batch") || c.train?.batch || 32;
  const outputs = g.outputs.filter((o) => !o.name.startsWith("metric."));
  const label = g.args.find((a) => a.arg!.role === "label");
  const classifier = label && (c.train?.dataset !== undefined || c.train?.metrics.includes("accuracy") === true);
  const predicted = classifier ? predictionOutput(g, label) : undefined;
  const classNames = metaJson<string[]>(ckpt, "class_names");

  const opened = await openBackend(options["backend"] as string | undefined, "running");
  const pool = new RunnerPool(opened.backend, g, values);
  const collected = new Map<string, Float32Array[]>(outputs.map((o) => [o.name, []]));
  let runnerName = "";
  try {
    for (let start = 0; start < rows; start += batch) {
      const n = Math.min(batch, rows - start);
      const runner = await pool.get(n);
      runnerName = runner.name;
      const feed: Record<string, Float32Array> = { [input.arg!.name]: x.values.subarray(start * width, (start + n) * width) };
      // NOTE: labels only feed the loss and metrics, which `run` does not read; zeros will do.
      for (const a of g.perStep) if (!(a.arg!.name in feed)) feed[a.arg!.name] = new Float32Array(numel(concreteShape(a.type.shape, bindBatch(g, n).dims)));
      const got = await runner.run(feed, outputs.map((o) => o.name));
      for (const o of outputs) collected.get(o.name)!.push(got[o.name]!);
    }
  } finally {
    pool.dispose();
    opened.close();
  }
  const joined = Object.fromEntries([...collected].map(([name, parts]) => [name, concat(parts)]));
  const outShape = (name: string) => concreteShape(g.outputs.find((o) => o.name === name)!.value.type.shape.slice(1), {});
  const classWidth = predicted ? outShape(predicted).at(-1) ?? 1 : undefined;
  const classes = predicted ? classesOf(joined[predicted]!, classWidth!) : undefined;
  const perRow = classes ? classes.length / rows : 0;

  const outPath = options["output"] as string | undefined;
  if (outPath !== undefined) {
    const json = {
      network: g.name,
      checkpoint: ckptPath,
      input: inputPath,
      rows,
      outputs: Object.fromEntries(outputs.map((o) => [o.name, nest(joined[o.name]!, [rows, ...outShape(o.name)])])),
      ...(classes ? { classes: nest(Float32Array.from(classes), perRow === 1 ? [rows] : [rows, perRow]) } : {}),
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
    if (classes && perRow === 1) parts.push(`class ${classes[r]}${name !== undefined && name !== String(classes[r]) ? ` (${name})` : ""}`);
    else if (classes) parts.push(`classes [${Array.from(classes.subarray(r * perRow, (r + 1) * perRow)).join(", ")}]`);
    for (const o of outputs) {
      const w = numel(outShape(o.name));
      if (w > 16) continue;
      const v = joined[o.name]!.subarray(r * w, (r + 1) * w);
      parts.push(`${o.name} [${Array.from(v, (n) => Number(n.toPrecision(4))).join(", ")}]`);
    }
    out(`row ${r}: ${parts.join("  ")}`);
  }
  if (outPath !== undefined) out(`netc: wrote ${outputs.map((o) => o.name).join(", ")}${classes ? " and the classes" : ""} of ${rows} rows to ${outPath}`);
  out(`backend: ${runnerName}`);
  return 0;
}

/** An input file by its extension: NPY, JSON, or IDX (gzipped or not). `bytes` when it holds raw u8 values. */
export function readInput(path: string): { tensor: FloatTensor; bytes: boolean } {
  const lower = path.toLowerCase();
  if (lower.endsWith(".npy")) {
    const t = readNpy(path);
    return { tensor: t, bytes: t.dtype === "|u1" || t.dtype === "<u1" };
  }
  if (lower.endsWith(".json")) return { tensor: readJsonArray(path), bytes: false };
  if (/(\.idx\d?|-ubyte|\.idx\d?-ubyte)(\.gz)?$/.test(lower)) {
    const t = readIdx(path);
    return { tensor: t, bytes: t.dtype === "u8" };
  }
  throw new UsageError(`${path}: unknown input format; netc run reads .npy, .json and .idx (or .idx.gz, -ubyte) files`);
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
