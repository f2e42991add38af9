import { NetcError } from "../base/errors.js";
import type { Graph } from "../ir/graph.js";
import { netcLayers, type LayerKind, type NetcLayer, type NetcLayers, type NetcTensor } from "./layers.js";
import { decodeForeignSafetensors, isFloatDtype, type ForeignTensor } from "./safetensors-any.js";

/**
 * Foreign weights: PyTorch `state_dict` names or Keras weight names, mapped onto a netc network's
 * params (the table in README.md, "Weights from PyTorch and Keras").
 *
 * 1. The network's layer instances are read from its graph (layers.ts): `fc1` is a dense layer
 *    with `fc1.weight` [in, out] and `fc1.bias` [out], and so on.
 * 2. Each kind of layer has a recipe per framework: for every netc tensor, the foreign tensors it
 *    is made of (by local name under the same instance name), their expected shapes, and how to
 *    build netc's values from them (transpose, permute, sum, slice).
 * 3. Tensors outside any recognised layer (raw `param`s) match by their full name, unchanged.
 * 4. Every problem (a tensor of the file nothing uses, a tensor of the wrong shape or dtype, a
 *    netc tensor the file lacks) is collected; if there are any, one NetcError lists them all.
 */

/** The framework a weights file comes from (`netc`: a netc checkpoint or weights file, names as they are). */
export type WeightSource = "torch" | "keras" | "netc";

/** Options for {@link mapForeignWeights}. */
export interface ForeignWeightOptions {
  from: WeightSource;
  /** Leave netc tensors the file does not have at their initial values instead of refusing. */
  partial?: boolean;
  /** Names the file in messages. */
  what?: string;
}

/** How one netc tensor is built: the foreign local names, their shapes, and the values. */
interface Recipe {
  from: string[];
  /** The foreign shapes expected, from netc's shape. */
  shapes: (netc: number[]) => number[][];
  build: (parts: Float32Array[], netc: number[]) => Float32Array;
  /** How the foreign layout differs, for messages ("torch stores [out, in]"). */
  note?: string;
}

const same = (from: string, note?: string): Recipe => ({ from: [from], shapes: (s) => [s], build: ([a]) => a!, note });

/** Row-major [rows, cols] → [cols, rows]. */
function transpose2d(v: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(v.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = v[r * cols + c]!;
  return out;
}

/** Axis permutation of a row-major tensor: out axis i is input axis perm[i]. */
function permute(v: Float32Array, shape: number[], perm: number[]): Float32Array {
  const rank = shape.length;
  const inStrides = new Array<number>(rank);
  let acc = 1;
  for (let d = rank - 1; d >= 0; d--) {
    inStrides[d] = acc;
    acc *= shape[d]!;
  }
  const outShape = perm.map((p) => shape[p]!);
  const out = new Float32Array(v.length);
  const idx = new Array<number>(rank).fill(0);
  for (let i = 0; i < out.length; i++) {
    let src = 0;
    for (let d = 0; d < rank; d++) src += idx[d]! * inStrides[perm[d]!]!;
    out[i] = v[src]!;
    for (let d = rank - 1; d >= 0; d--) {
      if (++idx[d]! < outShape[d]!) break;
      idx[d] = 0;
    }
  }
  return out;
}

/** A netc [in, out] matrix from a foreign [out, in] one (PyTorch's Linear and RNN weights). */
const transposed = (from: string, note: string): Recipe => ({
  from: [from],
  shapes: ([i, o]) => [[o!, i!]],
  build: ([a], [i, o]) => transpose2d(a!, o!, i!),
  note,
});

/** The sum of two foreign vectors (PyTorch's two recurrent biases). */
const summed = (a: string, b: string): Recipe => ({
  from: [a, b],
  shapes: (s) => [s, s],
  build: ([x, y]) => x!.map((v, i) => v + y![i]!),
  note: "PyTorch's bias_ih + bias_hh",
});

/** Rows [k·D, (k+1)·D) of PyTorch's packed in_proj_weight [3D, D], as netc's [in, out]. */
const inProjWeight = (k: number): Recipe => ({
  from: ["in_proj_weight"],
  shapes: ([d]) => [[3 * d!, d!]],
  build: ([w], [d]) => transpose2d(w!.subarray(k * d! * d!, (k + 1) * d! * d!), d!, d!),
  note: "PyTorch packs query, key, value as [3·D, D]",
});
const inProjBias = (k: number): Recipe => ({
  from: ["in_proj_bias"],
  shapes: ([d]) => [[3 * d!]],
  build: ([b], [d]) => b!.slice(k * d!, (k + 1) * d!),
});

/** Keras's conv kernel [...kernel, in, out] as netc's [out, in, ...kernel]. */
const kerasConv: Recipe = {
  from: ["kernel"],
  shapes: ([o, i, ...k]) => [[...k, i!, o!]],
  build: ([w], [o, i, ...k]) => {
    const r = k.length;
    return permute(w!, [...k, i!, o!], [r + 1, r, ...k.map((_, j) => j)]);
  },
  note: "Keras stores [...kernel, in, out]",
};

/** Keras's MultiHeadAttention kernels [D, heads, D/heads] / [heads, D/heads, D] are netc's [D, D] in the same order. */
const kerasReshaped = (from: string, heads: (s: number[]) => number[]): Recipe => ({
  from: [from],
  shapes: (s) => [heads(s)],
  build: ([a]) => a!,
});

/**
 * A recurrent layer's recipes; `k` is PyTorch's layer index (`_l0`). LSTM and RNN sum PyTorch's two
 * biases; the GRU keeps them apart (`bias`, `recurrent_bias`: its reset gate multiplies the
 * recurrent part), in PyTorch's own gate order r, z, n.
 */
function torchRecurrent(k: number, gru = false): Record<string, Recipe> {
  return {
    input_weight: transposed(`weight_ih_l${k}`, "PyTorch stores [gates·units, in]"),
    recurrent_weight: transposed(`weight_hh_l${k}`, "PyTorch stores [gates·units, units]"),
    ...(gru ? { bias: same(`bias_ih_l${k}`), recurrent_bias: same(`bias_hh_l${k}`) } : { bias: summed(`bias_ih_l${k}`, `bias_hh_l${k}`) }),
  };
}

/** Keras's GRU gates z, r, h as netc's r, z, n: the first two blocks of the last axis swapped. */
function swapFirstGates(v: Float32Array, units: number): Float32Array {
  const out = Float32Array.from(v);
  const width = 3 * units;
  for (let row = 0; row < v.length / width; row++)
    for (let u = 0; u < units; u++) {
      out[row * width + u] = v[row * width + units + u]!;
      out[row * width + units + u] = v[row * width + u]!;
    }
  return out;
}

/** Keras's GRU: kernel and recurrent_kernel gate-swapped; with reset_after its bias [2, 3H] holds the input row and the recurrent row. */
function kerasGru(layer: NetcLayer): Record<string, Recipe> {
  const units = layer.tensors["recurrent_weight"]!.shape[0]!;
  const swapped = (from: string): Recipe => ({ from: [from], shapes: (s) => [s], build: ([a]) => swapFirstGates(a!, units), note: "Keras's gates z, r, h" });
  if (!layer.tensors["recurrent_bias"]) return { input_weight: swapped("kernel"), recurrent_weight: swapped("recurrent_kernel"), bias: swapped("bias") };
  const row = (k: number): Recipe => ({
    from: ["bias"],
    shapes: ([w]) => [[2, w!]],
    build: ([b]) => swapFirstGates(b!.slice(k * 3 * units, (k + 1) * 3 * units), units),
    note: "Keras's reset_after bias is [2, 3·units]: the input row, then the recurrent row",
  });
  return { input_weight: swapped("kernel"), recurrent_weight: swapped("recurrent_kernel"), bias: row(0), recurrent_bias: row(1) };
}

type Recipes = Partial<Record<LayerKind, (layer: NetcLayer) => Record<string, Recipe>>>;

/** PyTorch's module names (nn.Linear, nn.Conv*d, nn.Embedding, nn.LayerNorm, nn.BatchNorm*d, nn.LSTM, nn.RNN, nn.MultiheadAttention). */
const TORCH: Recipes = {
  dense: () => ({ weight: transposed("weight", "PyTorch stores [out, in]"), bias: same("bias") }),
  conv: () => ({ weight: same("weight"), bias: same("bias") }),
  embedding: () => ({ weight: same("weight") }),
  layernorm: () => ({ gamma: same("weight"), beta: same("bias") }),
  batchnorm: () => ({ gamma: same("weight"), beta: same("bias"), running_mean: same("running_mean"), running_var: same("running_var") }),
  lstm: () => torchRecurrent(0),
  rnn: () => torchRecurrent(0),
  gru: (layer) => torchRecurrent(0, layer.tensors["recurrent_bias"] !== undefined),
  attention: () => ({
    query_weight: inProjWeight(0),
    key_weight: inProjWeight(1),
    value_weight: inProjWeight(2),
    query_bias: inProjBias(0),
    key_bias: inProjBias(1),
    value_bias: inProjBias(2),
    out_weight: transposed("out_proj.weight", "PyTorch stores [out, in]"),
    out_bias: same("out_proj.bias"),
  }),
};

/** Keras's layer weights (Dense, Conv*D, Embedding, LayerNormalization, BatchNormalization, LSTM, SimpleRNN, MultiHeadAttention). */
const KERAS: Recipes = {
  dense: () => ({ weight: same("kernel"), bias: same("bias") }),
  conv: () => ({ weight: kerasConv, bias: same("bias") }),
  embedding: () => ({ weight: same("embeddings") }),
  layernorm: () => ({ gamma: same("gamma"), beta: same("beta") }),
  batchnorm: () => ({ gamma: same("gamma"), beta: same("beta"), running_mean: same("moving_mean"), running_var: same("moving_variance") }),
  lstm: () => ({ input_weight: same("kernel"), recurrent_weight: same("recurrent_kernel"), bias: same("bias") }),
  rnn: () => ({ input_weight: same("kernel"), recurrent_weight: same("recurrent_kernel"), bias: same("bias") }),
  gru: kerasGru,
  attention: (layer) => {
    const d = layer.tensors["query_bias"]!.shape[0]!;
    // NOTE: the head count is not among netc's tensors; Keras's kernels carry it as [D, heads, D/heads],
    // so the file's split is taken as it is, checked by size (heads · D/heads = D).
    const qk = (name: string): Recipe => ({ from: [`${name}.kernel`], shapes: () => [[d, NaN, NaN]], build: ([a]) => a! });
    const qb = (name: string): Recipe => ({ from: [`${name}.bias`], shapes: () => [[NaN, NaN]], build: ([a]) => a! });
    return {
      query_weight: qk("query"),
      key_weight: qk("key"),
      value_weight: qk("value"),
      query_bias: qb("query"),
      key_bias: qb("key"),
      value_bias: qb("value"),
      out_weight: kerasReshaped("attention_output.kernel", () => [NaN, NaN, d]),
      out_bias: same("attention_output.bias"),
    };
  },
};

/** Foreign tensors netc has no use for and never complains about (PyTorch's batchnorm step counter). */
function ignored(name: string, from: WeightSource): boolean {
  if (from === "netc") return /\.(m|v|velocity)$/.test(name); // optimizer state: a fresh run starts its own
  return from === "torch" && name.endsWith("num_batches_tracked");
}

/**
 * Keras names (`dense_1/kernel:0`, `lstm/lstm_cell/kernel`) in netc's dotted form (`dense_1.kernel`):
 * the `:0` suffix and the recurrent cell's scope dropped.
 */
export function kerasName(name: string): string {
  return name
    .replace(/:\d+$/, "")
    .split("/")
    .filter((part, i, all) => !(i > 0 && i < all.length - 1 && /(^|_)cell$/.test(part)))
    .join(".");
}

const fmt = (s: readonly number[]) => `[${s.map((d) => (Number.isNaN(d) ? "?" : String(d))).join(", ")}]`;
const fits = (have: readonly number[], want: readonly number[]) => have.length === want.length && want.every((d, i) => Number.isNaN(d) || d === have[i]);
const count = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** Where a layer's foreign tensors live: the instance name, or for PyTorch's stacked RNN layer K `base` with `_lK`. */
function recipesFor(layer: NetcLayer, from: WeightSource, has: (name: string) => boolean): { prefix: string; recipes: Record<string, Recipe> } | undefined {
  const table = from === "torch" ? TORCH : KERAS;
  const make = table[layer.kind];
  if (!make) return undefined;
  const recipes = make(layer);
  if (from === "torch" && (layer.kind === "lstm" || layer.kind === "rnn" || layer.kind === "gru")) {
    // NOTE: nn.LSTM(num_layers = N) named `lstm` holds layer K as `lstm.weight_ih_lK`; netc's stacked
    // layers named `lstm.K` (a repeat) or `lstm` (K = 0) take them.
    const m = /^(.*)\.(\d+)$/.exec(layer.instance);
    if (m && !has(`${layer.instance}.weight_ih_l0`) && has(`${m[1]}.weight_ih_l${m[2]}`)) return { prefix: m[1]!, recipes: torchRecurrent(Number(m[2]), layer.kind === "gru" && layer.tensors["recurrent_bias"] !== undefined) };
  }
  return { prefix: layer.instance, recipes };
}

/**
 * netc's values for a network's params and state from foreign tensors, by the documented mapping.
 * Every unmatched, mis-shaped or missing tensor is listed in one NetcError.
 */
export function mapForeignWeights(net: NetcLayers, file: Record<string, ForeignTensor>, opts: ForeignWeightOptions): Record<string, Float32Array> {
  const what = opts.what ?? "the weights";
  const from = opts.from;
  const tensors: Record<string, ForeignTensor> = {};
  const original: Record<string, string> = {};
  for (const [name, t] of Object.entries(file)) {
    const key = from === "keras" ? kerasName(name) : name;
    tensors[key] = t;
    original[key] = name;
  }
  const has = (n: string) => Object.hasOwn(tensors, n);
  const used = new Set<string>();
  const problems: string[] = [];
  const missing: string[] = [];
  const out: Record<string, Float32Array> = {};
  const framework = from === "torch" ? "PyTorch" : from === "keras" ? "Keras" : "netc";

  const take = (target: NetcTensor, names: string[], recipe: Recipe, kind: string) => {
    const present = names.filter(has);
    if (present.length === 0) {
      missing.push(`\`${target.name}\` ${fmt(target.shape)} (${kind}; from ${names.map((n) => `\`${original[n] ?? n}\``).join(" + ")})`);
      return;
    }
    names.forEach((n) => has(n) && used.add(n));
    if (present.length < names.length) {
      const absent = names.filter((n) => !has(n));
      problems.push(`\`${target.name}\` needs ${absent.map((n) => `\`${n}\``).join(", ")} besides ${present.map((n) => `\`${original[n]}\``).join(", ")}`);
      return;
    }
    const want = recipe.shapes(target.shape);
    let ok = true;
    names.forEach((n, i) => {
      const t = tensors[n]!;
      if (!isFloatDtype(t.dtype)) {
        problems.push(`\`${original[n]}\` is ${t.dtype}; netc's \`${target.name}\` takes real numbers`);
        ok = false;
      } else if (!fits(t.shape, want[i]!) || (want[i]!.some(Number.isNaN) && count(t.shape) !== count(target.shape))) {
        problems.push(`\`${original[n]}\` is ${fmt(t.shape)}, expected ${fmt(want[i]!)} for netc's \`${target.name}\` ${fmt(target.shape)}${recipe.note ? ` (${recipe.note})` : ""}`);
        ok = false;
      }
    });
    if (!ok) return;
    const values = recipe.build(names.map((n) => tensors[n]!.values), target.shape);
    if (values.length !== count(target.shape)) {
      problems.push(`\`${names.map((n) => original[n]).join(" + ")}\` hold ${values.length} values, netc's \`${target.name}\` ${fmt(target.shape)} takes ${count(target.shape)}`);
      return;
    }
    out[target.name] = values;
  };

  // NOTE: netc's own files need no mapping: every tensor matches by its full name.
  if (from === "netc") net = { layers: [], loose: [...net.layers.flatMap((l) => Object.values(l.tensors)), ...net.loose] };
  for (const layer of net.layers) {
    if (from === "torch" && layer.kind === "gru" && !layer.tensors["recurrent_bias"]) {
      problems.push(`netc's gru layer \`${layer.instance}\` has reset_after = false, which PyTorch's GRU does not compute`);
      continue;
    }
    const found = recipesFor(layer, from, has);
    if (!found) {
      problems.push(`netc's ${layer.kind} layer \`${layer.instance}\` has no ${framework} mapping`);
      continue;
    }
    for (const [local, target] of Object.entries(layer.tensors)) {
      const recipe = found.recipes[local];
      if (!recipe) {
        problems.push(`netc's \`${target.name}\` has no ${framework} counterpart`);
        continue;
      }
      take(target, recipe.from.map((f) => `${found.prefix}.${f}`), recipe, layer.kind);
    }
  }
  for (const t of net.loose) take(t, [t.name], same(t.name), "param");

  const unmatched = Object.keys(tensors).filter((n) => !used.has(n) && !ignored(n, from));
  if (unmatched.length) problems.push(`${unmatched.length === 1 ? "a tensor" : `${unmatched.length} tensors`} netc's network has no place for: ${unmatched.map((n) => `\`${original[n]}\` ${fmt(tensors[n]!.shape)}`).join(", ")}`);
  if (missing.length && !opts.partial) problems.push(`missing from the file: ${missing.join(", ")}`);
  if (problems.length) {
    const layers = net.layers.map((l) => `${l.instance} (${l.kind})`).join(", ");
    throw new NetcError(`${what} does not fit the network as ${framework} weights: ${problems.join("; ")}${layers ? `. netc's layers: ${layers}` : ""}`);
  }
  return out;
}

/** {@link mapForeignWeights} from a safetensors file's bytes and a compiled graph. */
export function foreignWeights(graph: Graph, bytes: Uint8Array, opts: ForeignWeightOptions): Record<string, Float32Array> {
  const what = opts.what ?? "the weights";
  const { tensors } = decodeForeignSafetensors(bytes, what);
  return mapForeignWeights(netcLayers(graph), tensors, { ...opts, what });
}
