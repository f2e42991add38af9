import type { Node, Value } from "../ir/graph.js";
import type { PatternCtx } from "./net-patterns.js";
import { isConstArg, list, num, viewOf, type View, type ViewCtx, type WriterInput } from "./net-views.js";

export type { WriterInput } from "./net-views.js";

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

  const ctx: ViewCtx = { w, patterns, instance, addParam, layer: (line) => layerLines.push(line) };
  const views = new Map<Value, View>();
  const viewed = (v: Value): View => {
    const known = views.get(v);
    if (known) return known;
    const found = viewOf(v, ctx);
    views.set(v, found);
    return found;
  };

  const depsOf = (view: View): Value[] => (view.kind === "layer" ? view.inputs : view.kind === "node" ? view.node.inputs : []);

  // Uses over views reachable from the outputs.
  const uses = new Map<Value, number>();
  const reach = new Set<Value>();
  const feedsPipe = new Set<Value>();
  const walk = (v: Value) => {
    if (reach.has(v)) return;
    reach.add(v);
    const view = viewed(v);
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
    const view = viewed(v);
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
