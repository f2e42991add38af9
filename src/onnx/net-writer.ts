import type { Node, Value } from "../ir/graph.js";
import type { OnnxLayer } from "./net-layers.js";
import { geluInput, layernormOf, softmaxInput, type PatternCtx } from "./net-patterns.js";

/**
 * Turns the IR the importer built from an ONNX model back into `.net` text: a network of layers
 * where a pattern maps to one and primitives otherwise.
 *
 * 1. Every value gets a *view*: a layer (found by the ONNX handlers, or here: matmul of a 2-D
 *    constant [+ a bias constant] is `dense`, conv of a constant [+ bias] a `convNd`, pool a
 *    `maxpoolNd`/`avgpoolNd`), an argument (input, or a constant that becomes a `param`), or
 *    the primitive node itself.
 * 2. Uses are counted over the views reachable from the outputs (a layer's insides are not).
 * 3. Expressions are written depth-first from the outputs: a value used once is written inline,
 *    one used more (or an ONNX node's result) gets a let named after its ONNX tensor.
 * 4. Batch dims were bound to sentinel sizes for the import; they print as their symbols, and a
 *    reshape keeps them (0 when in place, else -1).
 * Anything with no `.net` form (comparisons, gather by computed indices, expand, a conv of a
 * computed weight) is collected with the ONNX node it came from, for one error.
 */

/** A param the written network declares, with its values in netc's layout. */
export interface WrittenParam {
  name: string;
  dims: number[];
  data: ArrayLike<number>;
  role: "param" | "state";
}

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

/** The written network: its lines and its params' values. */
export interface Written {
  lines: string[];
  params: WrittenParam[];
  layers: string[];
  unsupported: string[];
}

/** An expression's text and how it binds: names and literals, calls, pipes, infix operators. */
interface Text {
  text: string;
  form: "atom" | "call" | "pipe" | "infix";
}

type View =
  | { kind: "layer"; call: (input: string) => string; input: Value; label: string; inputs: Value[] }
  | { kind: "node"; node: Node }
  | { kind: "arg"; value: Value };

/** A pipe stage on its own line, as the examples write them. */
const PIPE = "\n    |> ";

const KEYWORDS = new Set(["network", "input", "param", "output", "train", "data", "block", "import", "repeat"]);

/** A valid, unused identifier made from `raw`. */
class Names {
  private used = new Set<string>();
  constructor(reserved: Iterable<string>) {
    for (const r of reserved) this.used.add(r);
  }
  make(raw: string, dotted = false): string {
    let base = raw.replace(dotted ? /[^A-Za-z0-9_.]/g : /[^A-Za-z0-9_]/g, "_").replace(/^[._]+|\.+$/g, "");
    if (dotted) base = base.split(".").filter(Boolean).join("_");
    if (!base || !/^[A-Za-z_]/.test(base)) base = `v_${base}`;
    if (KEYWORDS.has(base)) base = `${base}_`;
    let name = base;
    for (let k = 2; this.used.has(name); k++) name = `${base}_${k}`;
    this.used.add(name);
    return name;
  }
}

/** A number as the shortest text that reads back as the same f32 (1e-5 rather than 0.000009999999747378752). */
const num = (v: number): string => {
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
const list = (xs: readonly number[]) => `[${xs.join(", ")}]`;
const isConstArg = (v: Value, w: WriterInput) => v.arg?.role === "param" && w.constants.has(v);
const allOnes = (xs: readonly number[]) => xs.every((x) => x === 1);

/** Writes the network's body. `reserved` are names the caller uses (functions of the language). */
export function writeNetwork(w: WriterInput, reserved: Iterable<string>): Written {
  const names = new Names(reserved);
  const lines: string[] = [];
  const params: WrittenParam[] = [];
  const paramLines: string[] = [];
  const layerLines: string[] = [];
  const unsupported: string[] = [];
  const layerNames = new Names([]);
  const counters: Record<string, number> = {};
  const consumers = new Map<Value, Node[]>();
  const nodesOf = new Set<Node>();

  // Every node's consumers in the whole graph (a dense's matmul must feed its bias add only).
  const allNodes: Node[] = [];
  const seen = new Set<Value>();
  const collect = (v: Value) => {
    if (seen.has(v)) return;
    seen.add(v);
    if (v.producer) {
      allNodes.push(v.producer);
      v.producer.inputs.forEach(collect);
    }
  };
  w.outputs.forEach((o) => collect(o.value));
  for (const n of allNodes) {
    nodesOf.add(n);
    for (const i of n.inputs) consumers.set(i, [...(consumers.get(i) ?? []), n]);
  }
  const onlyUse = (v: Value, n: Node) => (consumers.get(v) ?? []).every((c) => c === n) && !w.outputs.some((o) => o.value === v);
  const patterns: PatternCtx = {
    usersOf: (v) => consumers.get(v) ?? [],
    isOutput: (v) => w.outputs.some((o) => o.value === v),
    isConst: (v) => isConstArg(v, w),
    onlyUse,
  };

  const dimText = (d: number) => w.symbols.get(d) ?? String(d);
  const shapeText = (v: Value) => `[${(v.type.shape as number[]).map(dimText).join(", ")}]`;
  const hasSymbol = (dims: readonly number[]) => dims.some((d) => w.symbols.has(d));

  /** A layer's instance name: its weight's initializer name without `.weight` (`fc1.weight` → `fc1`), else kind + count. */
  const instance = (kind: string, tensorName: string | undefined) => {
    const m = tensorName && /^(.*?)[._/]?(weight|kernel|gamma|scale|W|embeddings?|weight_ih_l0)$/.exec(tensorName);
    if (m && m[1]) return layerNames.make(m[1], true);
    counters[kind] = (counters[kind] ?? 0) + 1;
    return layerNames.make(`${kind}${counters[kind]}`);
  };
  const addParam = (name: string, dims: number[], data: ArrayLike<number>, role: "param" | "state" = "param") => params.push({ name, dims, data, role });

  /** Data of a constant arg as a row-major array (transposed when `tb`). */
  const dataOf = (v: Value) => w.constants.get(v)!;
  const transpose2 = (d: ArrayLike<number>, rows: number, cols: number) => {
    const out = new Float64Array(rows * cols);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = d[r * cols + c]!;
    return out;
  };

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

  const views = new Map<Value, View>();
  const viewOf = (v: Value): View => {
    const known = views.get(v);
    if (known) return known;
    const view = makeView(v);
    views.set(v, view);
    return view;
  };

  function makeView(v: Value): View {
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
      layerLines.push(`${name}: ${found.kind}`);
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
      layerLines.push(`${name}: dense`);
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
      layerLines.push(`${name}: conv${s}d`);
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
      layerLines.push(`${name}: layernorm`);
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

  const depsOf = (view: View): Value[] => (view.kind === "layer" ? view.inputs : view.kind === "node" ? view.node.inputs : []);

  // Uses over views reachable from the outputs.
  const uses = new Map<Value, number>();
  const reach = new Set<Value>();
  const feedsPipe = new Set<Value>();
  const walk = (v: Value) => {
    if (reach.has(v)) return;
    reach.add(v);
    const view = viewOf(v);
    if (view.kind === "layer") feedsPipe.add(view.input);
    for (const d of depsOf(view)) {
      uses.set(d, (uses.get(d) ?? 0) + 1);
      walk(d);
    }
  };
  for (const o of w.outputs) {
    uses.set(o.value, (uses.get(o.value) ?? 0) + 1);
    walk(o.value);
  }

  const inputNames = new Map<Value, string>();
  for (const i of w.inputs) inputNames.set(i.value, names.make(i.name));
  const outputNames = new Map<Value, string>();
  // NOTE: output names are reserved first, so a let never takes the name the model gives an output.
  for (const o of w.outputs) if (!outputNames.has(o.value)) outputNames.set(o.value, names.make(o.name));
  const exprs = new Map<Value, Text>();

  /** `.net` text of a value: a name, a literal, or an inline expression. */
  const expr = (v: Value): Text => {
    const done = exprs.get(v);
    if (done !== undefined) return done;
    const view = viewOf(v);
    let t: Text;
    if (view.kind === "arg") t = { text: argText(v), form: "atom" };
    else if (view.kind === "layer") t = { text: view.call(pipeLeft(expr(view.input))), form: "pipe" };
    else t = nodeText(view.node);
    if (t.form !== "atom" && ((uses.get(v) ?? 0) > 1 || (t.form === "pipe" && !feedsPipe.has(v) && !outputNames.has(v)))) {
      // NOTE: a pipe chain inside an operator or a call reads badly: it gets a name.
      const name = names.make(w.names.get(v) ?? `t${v.id}`);
      lines.push(`  ${name} = ${t.text}`);
      t = { text: name, form: "atom" };
    }
    exprs.set(v, t);
    return t;
  };
  /** As an operand of an infix operator. */
  const operand = (t: Text) => (t.form === "atom" || t.form === "call" ? t.text : `(${t.text})`);
  /** Left of `|>`. */
  const pipeLeft = (t: Text) => (t.form === "infix" ? `(${t.text})` : t.text);

  const argText = (v: Value): string => {
    const input = inputNames.get(v);
    if (input) return input;
    const data = w.constants.get(v);
    if (!data) {
      unsupported.push(`an argument ${v.arg?.name ?? "?"} with no value`);
      return "0";
    }
    let dims = v.type.shape as number[];
    let values: ArrayLike<number> = data;
    if (hasSymbol(dims)) {
      // A constant the import folded at the sentinel batch size (a zero state times a weight, plus a
      // bias): the same along the batch, it is written without it and broadcast.
      const reduced = dims.map((d) => (w.symbols.has(d) ? 1 : d));
      const slice = sliceAlong(data, dims, reduced);
      if (!slice) {
        unsupported.push(`${w.origin(v)}: a constant that varies along the batch`);
        return "0";
      }
      const first = slice[0] ?? 0;
      if (slice.every((x) => x === first)) return num(first);
      dims = reduced;
      values = slice;
    }
    const name = names.make(w.initializerOf(v) ?? v.arg!.name);
    paramLines.push(`  param ${name}: ${v.type.dtype === "i32" ? "i32" : "f32"}[${dims.map(dimText).join(", ")}] = zeros`);
    addParam(name, dims, values);
    return name;
  };

  const nodeText = (n: Node): Text => {
    const a = (i: number) => expr(n.inputs[i]!).text;
    const o = (i: number) => operand(expr(n.inputs[i]!));
    const call = (f: string, ...args: string[]): Text => ({ text: `${f}(${args.join(", ")})`, form: "call" });
    const infix = (op: string): Text => ({ text: `${o(0)} ${op} ${o(1)}`, form: "infix" });
    const axes = () => {
      const ax = n.attrs["axes"] as number[] | undefined;
      return [...(ax ? [`axis = ${list(ax)}`] : []), ...(n.attrs["keepdims"] === true ? ["keepdims = true"] : [])];
    };
    switch (n.op) {
      case "const":
        return { text: num(n.attrs["value"] as number), form: "atom" };
      case "neg":
        return { text: `-${o(0)}`, form: "infix" };
      case "exp": case "log": case "sqrt": case "tanh": case "sigmoid": case "erf": case "abs":
        return call(n.op, a(0));
      case "add": return infix("+");
      case "sub": return infix("-");
      case "mul": return infix("*");
      case "div": return infix("/");
      case "pow": return call("pow", a(0), a(1));
      case "max": return call("maximum", a(0), a(1));
      case "min": return call("minimum", a(0), a(1));
      case "select": return call("where", a(0), a(1), a(2));
      case "sum": return call("sum", a(0), ...axes());
      case "mean": return call("mean", a(0), ...axes());
      case "max_reduce": return call("max", a(0), ...axes());
      case "matmul": {
        const swap = (i: number) => {
          const r = n.inputs[i]!.type.shape.length;
          const perm = [...Array(r).keys()];
          [perm[r - 2], perm[r - 1]] = [perm[r - 1]!, perm[r - 2]!];
          return `transpose(${a(i)}, perm = ${list(perm)})`;
        };
        return { text: `${n.attrs["ta"] === true ? swap(0) : o(0)} @ ${n.attrs["tb"] === true ? swap(1) : o(1)}`, form: "infix" };
      }
      case "reshape": {
        const from = n.inputs[0]!.type.shape as number[];
        const to = n.out.type.shape as number[];
        let free = 0;
        const target = to.map((d, i) => {
          if (!w.symbols.has(d)) return d;
          if (from[i] === d) return 0;
          free++;
          return -1;
        });
        if (free > 1) unsupported.push(`${w.origin(n.out)}: a reshape to ${shapeText(n.out)}`);
        return call("reshape", a(0), list(target));
      }
      case "broadcast": {
        const from = n.inputs[0]!.type.shape as number[];
        const to = n.out.type.shape as number[];
        if (from.length === to.length && from.every((d, i) => d === to[i])) return expr(n.inputs[0]!);
        const src = n.inputs[0]!;
        const value = src.producer?.op === "const" ? (src.producer.attrs["value"] as number) : undefined;
        if (value !== undefined && !hasSymbol(to)) {
          // NOTE: a constant spread to a fixed shape (a recurrent op's zero initial state) has no
          // constructor in the language: it becomes a param that starts at that value.
          const name = names.make(`${w.names.get(n.out) ?? "filled"}_${value === 0 ? "zeros" : "value"}`);
          paramLines.push(`  param ${name}: f32${shapeText(n.out)} = zeros`);
          addParam(name, to, new Float64Array(to.reduce((a, b) => a * b, 1)).fill(value));
          return { text: name, form: "atom" };
        }
        unsupported.push(`${w.origin(n.out)}: an expand to ${shapeText(n.out)}`);
        return expr(n.inputs[0]!);
      }
      case "transpose": {
        const perm = n.attrs["perm"] as number[] | undefined;
        return call("transpose", a(0), ...(perm ? [`perm = ${list(perm)}`] : []));
      }
      case "slice": {
        const kw: string[] = [];
        if (n.attrs["axes"]) kw.push(`axis = ${list(n.attrs["axes"] as number[])}`);
        if (n.attrs["steps"]) kw.push(`step = ${list(n.attrs["steps"] as number[])}`);
        return call("slice", a(0), list(n.attrs["starts"] as number[]), list(n.attrs["ends"] as number[]), ...kw);
      }
      case "pad": {
        const value = (n.attrs["value"] as number | undefined) ?? 0;
        return call("pad", a(0), list(n.attrs["pads"] as number[]), ...(value !== 0 ? [`value = ${num(value)}`] : []));
      }
      case "concat":
        return call("concat", ...n.inputs.map((_, i) => a(i)), `axis = ${(n.attrs["axis"] as number | undefined) ?? 0}`);
      default:
        unsupported.push(`${w.origin(n.out)}: ${describe(n)}`);
        return { text: n.inputs.length ? a(0) : "0", form: "atom" };
    }
  };

  // Outputs last, in the model's order (netc keeps the order of the output statements).
  for (const out of w.outputs) {
    const t = expr(out.value);
    const name = outputNames.get(out.value) ?? names.make(out.name);
    outputNames.delete(out.value);
    lines.push(`  output ${name} = ${t.text}`);
  }
  const head = w.inputs.map((i) => `  input ${inputNames.get(i.value)}: ${i.dtype}${shapeText(i.value)}`);
  return { lines: [...head, ...paramLines, ...lines], params, layers: layerLines, unsupported };
}

/** The first index along every axis `reduced` sets to 1, when the data is the same along them; else undefined. */
function sliceAlong(data: ArrayLike<number>, dims: number[], reduced: number[]): number[] | undefined {
  const strides = dims.map((_, i) => dims.slice(i + 1).reduce((a, b) => a * b, 1));
  const out: number[] = [];
  const count = reduced.reduce((a, b) => a * b, 1);
  for (let k = 0; k < count; k++) {
    let rest = k;
    let at = 0;
    for (let d = reduced.length - 1; d >= 0; d--) {
      at += (rest % reduced[d]!) * strides[d]!;
      rest = Math.floor(rest / reduced[d]!);
    }
    out.push(data[at]!);
  }
  for (let i = 0; i < data.length; i++) {
    let rest = i;
    let at = 0;
    for (let d = dims.length - 1; d >= 0; d--) {
      const c = rest % dims[d]!;
      rest = Math.floor(rest / dims[d]!);
      if (reduced[d] !== 1 || dims[d] === 1) at += c * strides[d]!;
    }
    if (data[i] !== data[at]) return undefined;
  }
  return out;
}

/** What an IR op with no `.net` form computes, for the message. */
function describe(n: Node): string {
  switch (n.op) {
    case "lt": case "le": case "eq": return "a comparison (netc's language has none)";
    case "gather": return "a gather by computed indices";
    case "conv": return "a convolution of a computed weight, or with asymmetric padding";
    case "pool": return "pooling with asymmetric padding, or an average that counts padding";
    case "iota": return "a range (iota)";
    case "size": return "a size read at run time";
    case "rand": return "random numbers";
    default: return `the primitive ${n.op}`;
  }
}
