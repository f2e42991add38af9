import { DataError } from "./errors.js";
import { rowCount, rowWidth, sizeOf, type AnyTensor, type FloatTensor, type IntTensor } from "./tensor.js";

/**
 * The steps between a reader and a training loop: seeded shuffling, batching, normalisation,
 * train/validation splits, one-hot targets and image layouts. All deterministic: the same seed
 * gives the same rows in the same order on every run and machine.
 */

// ---------------------------------------------------------------- random numbers

/** The murmur3 finaliser: a bijective 32-bit mix where every input bit affects every output bit. */
export function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/**
 * A small fast generator (SplitMix32: a Weyl sequence through {@link mix32}), keyed by a seed and a
 * stream number (the epoch, say) so each (seed, stream) pair has its own sequence.
 */
export class Rng {
  private state: number;

  constructor(seed: number, stream = 0) {
    // NOTE: fold in the high bits of seeds above 2^32, so e.g. Date.now() seeds differ.
    const lo = seed >>> 0;
    const hi = Math.floor(seed / 4294967296) >>> 0;
    this.state = mix32(mix32(mix32(lo) ^ hi) + Math.imul(stream >>> 0, 0x9e3779b9));
  }

  /** The next uniform 32-bit unsigned integer. */
  nextUint32(): number {
    this.state = (this.state + 0x9e3779b9) >>> 0;
    return mix32(this.state);
  }

  /** A uniform float in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** A uniform integer in [0, n), n ≤ 2^32 (multiply-shift: bias below n/2^32). */
  int(n: number): number {
    return Math.floor((this.nextUint32() * n) / 4294967296);
  }
}

/** A permutation of 0..n-1 (Fisher–Yates), the same for the same (seed, epoch). */
export function permutation(n: number, seed: number, epoch = 0): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  const rng = new Rng(seed, epoch);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}

// ---------------------------------------------------------------- rows and batches

/** Rows of a table of columns (inputs, labels, ...) by name; every column has the same row count. */
export type Columns = Record<string, AnyTensor>;

/** Any object whose properties are all tensors (a {@link Columns}, or an interface like `{ inputs; labels }`). */
export type ColumnsLike<C> = { [K in keyof C]: AnyTensor };

/** How an epoch is cut into batches. */
export interface BatchOptions {
  /** Rows per batch. */
  batch: number;
  /** Shuffle rows each epoch with a permutation of (seed, epoch); default false (file order). */
  shuffle?: boolean;
  seed?: number;
  /** 0-based epoch: a different permutation each epoch, the same one on every run. */
  epoch?: number;
  /** Leave out the last batch when it is partial (fixed batch shapes); default false: keep it, smaller. */
  dropLast?: boolean;
}

/** How many batches an epoch of `rows` rows has. */
export function batchCount(rows: number, batch: number, dropLast = false): number {
  return dropLast ? Math.floor(rows / batch) : Math.ceil(rows / batch);
}

/** The row indices of each batch of one epoch. */
export function batchIndices(rows: number, options: BatchOptions): Int32Array[] {
  checkBatch(options.batch);
  const order = options.shuffle ? permutation(rows, options.seed ?? 0, options.epoch ?? 0) : Int32Array.from({ length: rows }, (_, i) => i);
  const out: Int32Array[] = [];
  const n = batchCount(rows, options.batch, options.dropLast);
  for (let b = 0; b < n; b++) out.push(order.subarray(b * options.batch, Math.min(rows, (b + 1) * options.batch)));
  return out;
}

/**
 * The batches of one epoch, each a {@link Columns} of the same names. Unshuffled batches are views
 * into the columns (no copy); shuffled ones are gathered copies. Lazy: one batch at a time.
 */
export function* batches<C extends ColumnsLike<C>>(columns: C, options: BatchOptions): Generator<C> {
  const rows = commonRows(columns);
  checkBatch(options.batch);
  if (!options.shuffle) {
    const n = batchCount(rows, options.batch, options.dropLast);
    for (let b = 0; b < n; b++) yield mapColumns(columns, (t) => sliceRows(t, b * options.batch, Math.min(rows, (b + 1) * options.batch)));
    return;
  }
  for (const idx of batchIndices(rows, options)) yield mapColumns(columns, (t) => takeRows(t, idx));
}

/** Rows [start, end) of a tensor, as a view sharing its values. */
export function sliceRows<T extends AnyTensor>(t: T, start: number, end: number): T {
  const w = rowWidth(t);
  return { ...t, shape: [end - start, ...t.shape.slice(1)], values: t.values.subarray(start * w, end * w) };
}

/** The rows at `indices`, in that order, copied into a new tensor. */
export function takeRows<T extends AnyTensor>(t: T, indices: ArrayLike<number>): T {
  const w = rowWidth(t);
  const n = rowCount(t);
  const out = t.values instanceof Float32Array ? new Float32Array(indices.length * w) : new Int32Array(indices.length * w);
  for (let i = 0; i < indices.length; i++) {
    const r = indices[i]!;
    if (r < 0 || r >= n) throw new RangeError(`takeRows: row ${r} is out of range for ${n} rows`);
    out.set(t.values.subarray(r * w, (r + 1) * w), i * w);
  }
  return { ...t, shape: [indices.length, ...t.shape.slice(1)], values: out } as T;
}

/** The first `n` rows of every column (a view); all rows when n is undefined or larger. */
export function limitRows<C extends ColumnsLike<C>>(columns: C, n: number | undefined): C {
  const rows = commonRows(columns);
  if (n === undefined || n >= rows) return columns;
  if (!Number.isInteger(n) || n < 0) throw new DataError("", `a row limit must be a non-negative integer, got ${n}`);
  return mapColumns(columns, (t) => sliceRows(t, 0, n));
}

/**
 * Splits rows into training and validation: round(rows · fraction) rows chosen by a permutation of
 * `seed` go to validation; both parts keep the original row order.
 */
export function trainValidationSplit<C extends ColumnsLike<C>>(columns: C, fraction: number, seed = 0): { train: C; validation: C } {
  if (!(fraction >= 0 && fraction < 1)) throw new DataError("", `the validation share must be in [0, 1), got ${fraction}`);
  const rows = commonRows(columns);
  const v = Math.round(rows * fraction);
  const held = new Uint8Array(rows);
  // NOTE: stream 0x7a11d is the validation split's own, apart from the epoch shuffles (streams 0, 1, ...).
  const perm = permutation(rows, seed, 0x7a11d);
  for (let i = 0; i < v; i++) held[perm[i]!] = 1;
  const trainIdx: number[] = [];
  const valIdx: number[] = [];
  for (let r = 0; r < rows; r++) (held[r] ? valIdx : trainIdx).push(r);
  return { train: mapColumns(columns, (t) => takeRows(t, trainIdx)), validation: mapColumns(columns, (t) => takeRows(t, valIdx)) };
}

function commonRows(columns: object): number {
  const entries = Object.entries(columns) as [string, AnyTensor][];
  if (entries.length === 0) return 0;
  const rows = rowCount(entries[0]![1]);
  for (const [name, t] of entries) {
    if (rowCount(t) !== rows) throw new DataError("", `column ${name} has ${rowCount(t)} rows but ${entries[0]![0]} has ${rows}`);
  }
  return rows;
}

function mapColumns<C extends ColumnsLike<C>>(columns: C, f: (t: AnyTensor) => AnyTensor): C {
  return Object.fromEntries((Object.entries(columns) as [string, AnyTensor][]).map(([k, t]) => [k, f(t)])) as C;
}

function checkBatch(batch: number): void {
  if (!Number.isInteger(batch) || batch < 1) throw new DataError("", `the batch size must be a positive integer, got ${batch}`);
}

// ---------------------------------------------------------------- normalisation

/** Values divided by `max` (default 255: bytes to [0, 1]), as a new tensor. */
export function scaleToUnit(t: FloatTensor, max = 255): FloatTensor {
  const out = new Float32Array(t.values.length);
  const k = 1 / max;
  for (let i = 0; i < out.length; i++) out[i] = t.values[i]! * k;
  return { shape: [...t.shape], values: out };
}

/**
 * Which values share a mean and std: each position of a row ("feature": table columns, or each
 * pixel), each channel of [N, C, ...] images ("channel"), or all values ("all").
 */
export type StatsAxis = "feature" | "channel" | "all";

/** Means and standard deviations computed on a training split, to apply to every split. */
export interface Stats {
  per: StatsAxis;
  mean: Float32Array;
  /** Population std; a constant group gets 1, so standardising leaves it at 0 rather than NaN. */
  std: Float32Array;
}

/** The mean and std of a training tensor per feature, channel or over all values (f64 sums). */
export function standardStats(t: FloatTensor, per: StatsAxis = "feature"): Stats {
  const { groups, group } = grouping(t, per);
  const sum = new Float64Array(groups);
  const sq = new Float64Array(groups);
  const count = new Float64Array(groups);
  for (let i = 0; i < t.values.length; i++) {
    const g = group(i);
    const v = t.values[i]!;
    sum[g] += v;
    sq[g] += v * v;
    count[g]++;
  }
  const mean = new Float32Array(groups);
  const std = new Float32Array(groups);
  for (let g = 0; g < groups; g++) {
    const m = count[g]! > 0 ? sum[g]! / count[g]! : 0;
    const variance = count[g]! > 0 ? Math.max(0, sq[g]! / count[g]! - m * m) : 0;
    mean[g] = m;
    std[g] = variance > 1e-12 ? Math.sqrt(variance) : 1;
  }
  return { per, mean, std };
}

/** (x - mean) / std with stats from {@link standardStats}, as a new tensor. */
export function standardise(t: FloatTensor, stats: Stats): FloatTensor {
  const { groups, group } = grouping(t, stats.per);
  if (groups !== stats.mean.length) {
    throw new DataError("", `stats were computed for ${stats.mean.length} ${stats.per} group(s), but a tensor of shape [${t.shape.join(", ")}] has ${groups}`);
  }
  const out = new Float32Array(t.values.length);
  for (let i = 0; i < out.length; i++) {
    const g = group(i);
    out[i] = (t.values[i]! - stats.mean[g]!) / stats.std[g]!;
  }
  return { shape: [...t.shape], values: out };
}

function grouping(t: FloatTensor, per: StatsAxis): { groups: number; group: (i: number) => number } {
  if (per === "all") return { groups: 1, group: () => 0 };
  if (per === "feature") {
    const w = rowWidth(t);
    return { groups: w, group: (i) => i % w };
  }
  if (t.shape.length < 2) throw new DataError("", `per-channel stats need [N, C, ...] data, got shape [${t.shape.join(", ")}]`);
  const c = t.shape[1]!;
  const inner = sizeOf(t.shape.slice(2));
  return { groups: c, group: (i) => Math.floor(i / inner) % c };
}

// ---------------------------------------------------------------- targets and layouts

/** One-hot rows [..., classes] for class ids; an id outside 0..classes-1 is a DataError. */
export function oneHot(labels: IntTensor, classes: number): FloatTensor {
  const ids = labels.values;
  const out = new Float32Array(ids.length * classes);
  for (let i = 0; i < ids.length; i++) {
    const c = ids[i]!;
    if (c < 0 || c >= classes) throw new DataError("", `label ${i} is ${c}, expected a class id in 0..${classes - 1}`);
    out[i * classes + c] = 1;
  }
  return { shape: [...labels.shape, classes], values: out };
}

/** Integer ids as f32 values of the same shape (for a network that takes ids as floats). */
export function idsToFloat(t: IntTensor): FloatTensor {
  return { shape: [...t.shape], values: Float32Array.from(t.values) };
}

/** Image layouts: channels first ([N, C, H, W], what conv2d takes), channels last, or flat rows [N, C·H·W]. */
export type ImageLayout = "nchw" | "nhwc" | "flat";

/**
 * Images in another layout. Input: [N, H, W] (one channel) or [N, C, H, W]; "flat" needs no more,
 * "nchw" adds the channel axis (or keeps [N, C, H, W]), "nhwc" moves channels last. Values are
 * shared when only the shape changes, copied when they move.
 */
export function toLayout(t: FloatTensor, layout: ImageLayout): FloatTensor {
  const [n, ...rest] = t.shape;
  if (n === undefined || (rest.length !== 2 && rest.length !== 3)) {
    throw new DataError("", `expected images [N, H, W] or [N, C, H, W], got shape [${t.shape.join(", ")}]`);
  }
  const [c, h, w] = rest.length === 2 ? [1, rest[0]!, rest[1]!] : (rest as [number, number, number]);
  if (layout === "flat") return { shape: [n, c * h * w], values: t.values };
  if (layout === "nchw") return { shape: [n, c, h, w], values: t.values };
  if (c === 1) return { shape: [n, h, w, 1], values: t.values };
  const out = new Float32Array(t.values.length);
  for (let i = 0; i < n; i++)
    for (let ch = 0; ch < c; ch++)
      for (let p = 0; p < h * w; p++) out[((i * h * w + p) * c) + ch] = t.values[(i * c + ch) * h * w + p]!;
  return { shape: [n, h, w, c], values: out };
}

/** Channels-last images [N, H, W, C] in channels-first order [N, C, H, W] (a copy). */
export function nhwcToNchw(t: FloatTensor): FloatTensor {
  if (t.shape.length !== 4) throw new DataError("", `expected images [N, H, W, C], got shape [${t.shape.join(", ")}]`);
  const [n, h, w, c] = t.shape as [number, number, number, number];
  const out = new Float32Array(t.values.length);
  for (let i = 0; i < n; i++)
    for (let p = 0; p < h * w; p++)
      for (let ch = 0; ch < c; ch++) out[(i * c + ch) * h * w + p] = t.values[(i * h * w + p) * c + ch]!;
  return { shape: [n, c, h, w], values: out };
}
