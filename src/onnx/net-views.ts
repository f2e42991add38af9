import type { Node, Value } from "../ir/graph.js";
import type { OnnxLayer } from "./net-layers.js";
import { geluInput, layernormOf, softmaxInput, type PatternCtx } from "./net-patterns.js";

// The first step of writing `.net` from an imported graph (src/onnx/net-writer.ts): what each value
// is seen as. A layer the ONNX handlers found, or one recognised here (matmul of a 2-D constant
// [+ a bias constant] is `dense`, conv of a constant [+ bias] a `convNd`, pool a `maxpoolNd` or
// `avgpoolNd`, and relu, gelu, softmax, layernorm and flatten where spelled out), an argument, or
// the primitive node itself.

/** What the writer needs from the import. */
export interface WriterInput {
  network: string;
  inputs: { name: string; value: Value; dtype: "f32" | "i32" }[];
  outputs: { name: string; value: Value }[];
  /** Constant arguments' data (their dims are the argument's type). */
  constants: Map<Value, ArrayLike<number>>;
  /** A constant argument's initializer name, when it holds one unchanged. */
  initializerOf: (arg: Value) => string | undefined;
  /** Layers found at ONNX nodes. */
  layers: Map<Value, OnnxLayer>;
  /** ONNX tensor names of values. */
  names: Map<Value, string>;
  /** The name a layer's static tensor had in the model. */
  tensorName: (layer: OnnxLayer) => string | undefined;
  /** Symbol of each sentinel size. */
  symbols: Map<number, string>;
  /** The ONNX node a value came from, for messages (`Less node "cmp"`). */
  origin: (v: Value) => string;
}

/** How a value is written: as a layer applied to its input, a primitive, or an argument. */
export type View =
  | { kind: "layer"; call: (input: string) => string; input: Value; label: string; inputs: Value[] }
  | { kind: "node"; node: Node }
  | { kind: "arg"; value: Value };

/** What recognising a layer does besides returning it: name the instance, declare its params, list it. */
export interface ViewCtx {
  w: WriterInput;
  patterns: PatternCtx;
  /** A layer's instance name, from its weight's initializer name when there is one. */
  instance(kind: string, tensorName: string | undefined): string;
  addParam(name: string, dims: number[], data: ArrayLike<number>, role?: "param" | "state"): void;
  /** Lists a layer found (`fc1: dense`). */
  layer(line: string): void;
}

export /** A pipe stage on its own line, as the examples write them. */
const PIPE = "\n    |> ";

/** A number as the shortest text that reads back as the same f32 (1e-5 rather than 0.000009999999747378752). */
export const num = (v: number): string => {
  let s = Object.is(v, -0) ? "0" : String(v);
  for (let p = 1; p <= 9 && Number.isFinite(v); p++) {
    const t = Number(v.toPrecision(p));
    if (Math.fround(t) === Math.fround(v)) {
      s = String(t);
      break;
    }
  }
  return v < 0 ? `(${s})` : s;
};
export const list = (xs: readonly number[]) => `[${xs.join(", ")}]`;
export const isConstArg = (v: Value, w: WriterInput) => v.arg?.role === "param" && w.constants.has(v);
export const allOnes = (xs: readonly number[]) => xs.every((x) => x === 1);

const transpose2 = (d: ArrayLike<number>, rows: number, cols: number) => {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = d[r * cols + c]!;
  return out;
};

/** How `v` is written (see the header). */
export function viewOf(v: Value, ctx: ViewCtx): View {
  const { w, patterns, instance, addParam } = ctx;
  const { onlyUse } = patterns;
  const dataOf = (x: Value) => w.constants.get(x)!;

/** A bias operand of `n` (an add) besides `main`: a constant [F] or [.., F, 1, ..], or reshape of one. */
const biasOf = (n: Node, main: Value, width: number): Value | undefined => {
  if (n.op !== "add" || n.inputs.length !== 2) return undefined;
  const other = n.inputs[0] === main ? n.inputs[1]! : n.inputs[1] === main ? n.inputs[0]! : undefined;
  if (!other) return undefined;
  let c = other;
  if (c.producer?.op === "reshape" && isConstArg(c.producer.inputs[0]!, w)) c = c.producer.inputs[0]!;
  if (!isConstArg(c, w)) return undefined;
  const dims = c.type.shape as number[];
  return dims.reduce((a, b) => a * b, 1) === width && dims.filter((d) => d !== 1).length <= 1 ? c : undefined;
};

  if (!v.producer) return { kind: "arg", value: v };
  const found = w.layers.get(v);
  if (found) {
    const name = instance(found.kind, w.tensorName(found));
    for (const [local, t] of Object.entries(found.tensors)) addParam(`${name}.${local}`, t.dims, t.data, local.startsWith("running_") ? "state" : "param");
    const kw = Object.entries(found.kwargs)
      .filter(([k, x]) => !(k === "eps" && Math.abs(x - 1e-5) < 1e-12) && !(k === "momentum" && Math.abs(x - 0.1) < 1e-7))
      .map(([k, x]) => `${k} = ${Number(x.toPrecision(7))}`);
    const flags = Object.entries(found.flags ?? {}).map(([k, x]) => `${k} = ${x}`);
    const args = [...found.args.map(String), ...kw, ...flags].join(", ");
    ctx.layer(`${name}: ${found.kind}`);
    return { kind: "layer", input: found.input, inputs: [found.input], label: name, call: (x) => `${x}${PIPE}${name}: ${found.kind}${args ? `(${args})` : ""}` };
  }
  const n = v.producer;
  // dense: matmul(x, W) [+ b] with W a 2-D constant used only here.
  const denseOf = (mm: Node, bias?: Value): View | undefined => {
    const [x, wt] = mm.inputs as [Value, Value];
    if (mm.op !== "matmul" || mm.attrs["ta"] === true || !isConstArg(wt, w) || wt.type.shape.length !== 2 || x.type.shape.length < 2) return undefined;
    if (!onlyUse(wt, mm)) return undefined;
    const tb = mm.attrs["tb"] === true;
    const [r, c] = wt.type.shape as [number, number];
    const [inn, out] = tb ? [c, r] : [r, c];
    const name = instance("dense", w.initializerOf(wt));
    addParam(`${name}.weight`, [inn, out], tb ? transpose2(dataOf(wt), r, c) : dataOf(wt));
    if (bias) addParam(`${name}.bias`, [out], dataOf(bias));
    ctx.layer(`${name}: dense`);
    return { kind: "layer", input: x, inputs: [x], label: name, call: (s) => `${s}${PIPE}${name}: dense(${out}${bias ? "" : ", use_bias = false"})` };
  };
  const convOf = (cv: Node, bias?: Value): View | undefined => {
    const [x, wt] = cv.inputs as [Value, Value];
    if (cv.op !== "conv" || !isConstArg(wt, w) || !onlyUse(wt, cv)) return undefined;
    const wd = wt.type.shape as number[];
    const s = wd.length - 2;
    const pads = cv.attrs["pads"] as number[];
    // NOTE: netc's conv pads each axis symmetrically; other pads go in front as an explicit pad.
    const symmetric = Array.from({ length: s }, (_, a) => pads[2 * a] === pads[2 * a + 1]).every(Boolean);
    const name = instance(`conv`, w.initializerOf(wt));
    addParam(`${name}.weight`, wd, dataOf(wt));
    if (bias) addParam(`${name}.bias`, [wd[0]!], dataOf(bias));
    const kw: string[] = [];
    const strides = cv.attrs["strides"] as number[];
    const dil = cv.attrs["dilations"] as number[];
    const groups = cv.attrs["groups"] as number;
    if (!allOnes(strides)) kw.push(`stride = ${list(strides)}`);
    const each = Array.from({ length: s }, (_, a) => pads[2 * a]!);
    if (symmetric && each.some((p) => p !== 0)) kw.push(`padding = ${list(each)}`);
    if (!allOnes(dil)) kw.push(`dilation = ${list(dil)}`);
    if (groups !== 1) kw.push(`groups = ${groups}`);
    if (!bias) kw.push("use_bias = false");
    ctx.layer(`${name}: conv${s}d`);
    const padded = (t: string) => (symmetric || pads.every((p) => p === 0) ? t : `pad(${t}, ${list(pads)})`);
    return { kind: "layer", input: x, inputs: [x], label: name, call: (t) => `${padded(t)}${PIPE}${name}: conv${s}d(${[String(wd[0]), list(wd.slice(2)), ...kw].join(", ")})` };
  };
  if (n.op === "add") {
    for (const main of n.inputs) {
      const p = main.producer;
      if (!p || !onlyUse(main, n)) continue;
      if (p.op === "matmul") {
        const out = (p.inputs[1]!.type.shape as number[])[p.attrs["tb"] === true ? 0 : 1]!;
        const b = biasOf(n, main, out);
        const d = b && onlyUse(b, n) ? denseOf(p, b) : undefined;
        if (d) return d;
      }
      if (p.op === "conv") {
        const b = biasOf(n, main, (p.inputs[1]!.type.shape as number[])[0]!);
        const bArg = b;
        const direct = n.inputs.includes(bArg!) ? bArg : n.inputs.find((i) => i !== main);
        const usedOnce = direct && (direct === bArg ? onlyUse(bArg!, n) : onlyUse(direct, n) && onlyUse(bArg!, direct.producer!));
        const d = b && usedOnce ? convOf(p, b) : undefined;
        if (d) return d;
      }
    }
  }
  const ln = layernormOf(patterns, n);
  if (ln) {
    const name = instance("layernorm", w.initializerOf(ln.gamma));
    addParam(`${name}.gamma`, [ln.width], dataOf(ln.gamma));
    addParam(`${name}.beta`, [ln.width], dataOf(ln.beta));
    ctx.layer(`${name}: layernorm`);
    const eps = Math.abs(ln.eps - 1e-5) < 1e-12 ? "" : `(eps = ${num(ln.eps)})`;
    return { kind: "layer", input: ln.x, inputs: [ln.x], label: name, call: (t) => `${t}${PIPE}${name}: layernorm${eps}` };
  }
  // relu: max(x, 0); softmax: exp(x - max(x)) / sum(exp(x - max(x))) along one axis.
  const isZero = (x: Value) => x.producer?.op === "const" && x.producer.attrs["value"] === 0;
  if (n.op === "max" && (isZero(n.inputs[1]!) || isZero(n.inputs[0]!))) {
    const x = isZero(n.inputs[1]!) ? n.inputs[0]! : n.inputs[1]!;
    return { kind: "layer", input: x, inputs: [x], label: "relu", call: (t) => `${t}${PIPE}relu` };
  }
  const gx = geluInput(patterns, n);
  if (gx) return { kind: "layer", input: gx, inputs: [gx], label: "gelu", call: (t) => `${t}${PIPE}gelu` };
  const soft = softmaxInput(patterns, n);
  if (soft) {
    const rank = soft.x.type.shape.length;
    const axis = soft.axis === rank - 1 ? "" : `(axis = ${soft.axis})`;
    return { kind: "layer", input: soft.x, inputs: [soft.x], label: "softmax", call: (t) => `${t}${PIPE}softmax${axis}` };
  }
  if (n.op === "reshape") {
    // flatten: keep the leading axis, join the rest.
    const from = n.inputs[0]!.type.shape as number[];
    const to = n.out.type.shape as number[];
    if (from.length > 2 && to.length === 2 && to[0] === from[0] && to[1] === from.slice(1).reduce((a, b) => a * b, 1)) {
      const x = n.inputs[0]!;
      return { kind: "layer", input: x, inputs: [x], label: "flatten", call: (t) => `${t}${PIPE}flatten` };
    }
  }
  if (n.op === "matmul") {
    const d = denseOf(n);
    if (d) return d;
  }
  if (n.op === "conv") {
    const d = convOf(n);
    if (d) return d;
  }
  if (n.op === "pool") {
    const x = n.inputs[0]!;
    const s = x.type.shape.length - 2;
    const pads = n.attrs["pads"] as number[];
    const each = Array.from({ length: s }, (_, a) => pads[2 * a]!);
    const symmetric = each.every((p, a) => p === pads[2 * a + 1]);
    const avgCountsPad = n.attrs["mode"] === "avg" && n.attrs["count_pad"] === true && each.some((p) => p > 0);
    // NOTE: max pooling with uneven pads pools an explicit pad of the lowest f32 (which never wins).
    const maxPadded = n.attrs["mode"] === "max" && !symmetric;
    if ((symmetric && !avgCountsPad) || maxPadded) {
      const kernel = n.attrs["kernel"] as number[];
      const strides = n.attrs["strides"] as number[];
      const dil = n.attrs["dilations"] as number[];
      const kw: string[] = [];
      if (strides.some((d, i) => d !== kernel[i])) kw.push(`stride = ${list(strides)}`);
      if (!maxPadded && each.some((p) => p !== 0)) kw.push(`padding = ${list(each)}`);
      if (!allOnes(dil)) kw.push(`dilation = ${list(dil)}`);
      if (n.attrs["ceil"] === true) kw.push("ceil = true");
      const layer = `${n.attrs["mode"] === "max" ? "max" : "avg"}pool${s}d`;
      const padded = (t: string) => (maxPadded ? `pad(${t}, ${list(pads)}, value = -3.4028235e38)` : t);
      return { kind: "layer", input: x, inputs: [x], label: layer, call: (t) => `${padded(t)}${PIPE}${layer}(${[list(kernel), ...kw].join(", ")})` };
    }
  }
  return { kind: "node", node: n };
}
