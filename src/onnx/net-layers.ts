import type { Value } from "../ir/graph.js";
import { NodeCtx, type Handler, type Term } from "./node-context.js";
import { ONNX_OPS } from "./ops/index.js";
import type { HostTensor } from "./tensor.js";

/**
 * The ONNX ops `netc import` writes as netc layers although the conformance importer lowers them
 * to primitives (whose arithmetic on the static params would fold away the layer's identity):
 * BatchNormalization (inference, static statistics) → `batchnorm`, LayerNormalization over the
 * last axis → `layernorm`, Gather of a static [vocab, dim] table by run-time ids → `embedding`.
 * Each handler still emits the primitives, so every later node sees the right shapes; the layer
 * is recorded against the node's result, and the .net writer prints the layer in its place.
 * Dense and conv layers are found later, in the IR (matmul or conv of a constant, plus a bias).
 */

/** A layer found at an ONNX node: what the .net writer prints for `output`. */
export interface OnnxLayer {
  kind: "batchnorm" | "layernorm" | "embedding" | "lstm" | "rnn";
  /** The layer's input. */
  input: Value;
  /** netc's tensors of the layer by local name, in netc's layout. */
  tensors: Record<string, { dims: number[]; data: ArrayLike<number> }>;
  /** Keyword arguments, printed as they are (`eps = 0.001`). */
  kwargs: Record<string, number>;
  /** Positional arguments (embedding's vocab and dim). */
  args: number[];
  /** Boolean keyword arguments (`return_sequences = true`). */
  flags?: Record<string, boolean>;
  /** The static tensor whose initializer name names the layer (`bn1.gamma` names `bn1`). */
  namedBy?: HostTensor;
}

/** What the handlers found: layers by result value, ONNX output names by value, and each value's ONNX node. */
export interface LayerFinds {
  layers: Map<Value, OnnxLayer>;
  names: Map<Value, string>;
  origins: Map<Value, string>;
}

const isStatic = (t: Term | undefined): t is Extract<Term, { kind: "static" }> => t?.kind === "static";
const flat = (t: HostTensor) => ({ dims: [t.dims.reduce((a, b) => a * b, 1)], data: t.data });

/** The handler table with layer-finding handlers in place, and what they find. */
export function layerFindingHandlers(): { handlers: Record<string, Handler>; finds: LayerFinds } {
  const finds: LayerFinds = { layers: new Map(), names: new Map(), origins: new Map() };
  const named = (h: Handler): Handler => (n) => {
    const first = n.e.graph.nodes.length;
    const outs = h(n);
    for (const node of n.e.graph.nodes.slice(first)) finds.origins.set(node.out, n.node.name ? `${n.op} node "${n.node.name}"` : `${n.op} node (output ${n.node.output?.[0] ?? "?"})`);
    outs.forEach((t, k) => {
      const name = n.node.output?.[k];
      if (t?.kind === "dynamic" && name && !finds.names.has(t.value)) finds.names.set(t.value, name);
    });
    return outs;
  };
  const handlers: Record<string, Handler> = {};
  for (const [op, h] of Object.entries(ONNX_OPS)) handlers[op] = named(h);

  handlers["BatchNormalization"] = named((n: NodeCtx) => {
    const outs = ONNX_OPS["BatchNormalization"]!(n);
    const x = n.input(0);
    const params = [1, 2, 3, 4].map((i) => n.optional(i));
    const training = n.attr.int("training_mode", 0) === 1;
    const y = outs[0];
    if (!training && x.kind === "dynamic" && y?.kind === "dynamic" && params.every(isStatic) && n.outputCount === 1) {
      const [scale, bias, mean, variance] = params.map((p) => (p as Extract<Term, { kind: "static" }>).t) as [HostTensor, HostTensor, HostTensor, HostTensor];
      finds.layers.set(y.value, {
        kind: "batchnorm",
        input: x.value,
        tensors: { gamma: flat(scale), beta: flat(bias), running_mean: flat(mean), running_var: flat(variance) },
        // NOTE: ONNX's momentum weighs the old running value, netc's the batch's.
        kwargs: { eps: n.attr.float("epsilon", 1e-5), momentum: 1 - n.attr.float("momentum", 0.9) },
        args: [],
        namedBy: scale,
      });
    }
    return outs;
  });

  handlers["LayerNormalization"] = named((n: NodeCtx) => {
    const outs = ONNX_OPS["LayerNormalization"]!(n);
    const x = n.input(0);
    const scale = n.optional(1);
    const bias = n.optional(2);
    const y = outs[0];
    const rank = x.kind === "dynamic" ? x.value.type.shape.length : 0;
    const axis = n.attr.int("axis", -1);
    const last = axis === -1 || axis === rank - 1;
    if (x.kind === "dynamic" && y?.kind === "dynamic" && last && isStatic(scale) && scale.t.dims.length === 1 && (!bias || (isStatic(bias) && bias.t.dims.length === 1)) && !n.wants(1) && !n.wants(2)) {
      const width = scale.t.dims[0]!;
      finds.layers.set(y.value, {
        kind: "layernorm",
        input: x.value,
        tensors: { gamma: flat(scale.t), beta: bias && isStatic(bias) ? flat(bias.t) : { dims: [width], data: new Float64Array(width) } },
        kwargs: { eps: n.attr.float("epsilon", 1e-5) },
        args: [],
        namedBy: scale.t,
      });
    }
    return outs;
  });

  handlers["Gather"] = named((n: NodeCtx) => {
    const data = n.input(0);
    const ids = n.input(1);
    const axis = n.attr.int("axis", 0);
    if (isStatic(data) && data.t.dims.length === 2 && axis === 0 && ids.kind === "dynamic" && /int/.test(ids.dtype)) {
      // NOTE: the conformance importer needs static indices; an embedding's come at run time.
      const [vocab, dim] = data.t.dims as [number, number];
      const y = n.emit("gather", [n.value(data), ids.value], { axis: 0 });
      finds.layers.set(y, { kind: "embedding", input: ids.value, tensors: { weight: data.t }, kwargs: {}, args: [vocab, dim], namedBy: data.t });
      return [{ kind: "dynamic", dtype: data.t.dtype, value: y }];
    }
    return ONNX_OPS["Gather"]!(n);
  });
  handlers["LSTM"] = named(recurrentLayer("LSTM", "lstm", [0, 2, 3, 1], ["Sigmoid", "Tanh", "Tanh"], finds));
  handlers["RNN"] = named(recurrentLayer("RNN", "rnn", [0], ["Tanh"], finds));
  return { handlers, finds };
}

/** Whether a term is absent or a static tensor of zeros. */
const absentOrZero = (t: Term | undefined) => !t || (t.kind === "static" && Array.from(t.t.data).every((v) => v === 0));

/**
 * ONNX LSTM / RNN as netc's `lstm` / `rnn` where the semantics match: one forward direction,
 * the default activations, no clip, peepholes, sequence lengths or input-forget coupling, zero
 * initial states, constant weights. ONNX's gates come in the order i, o, f, c (netc's: i, f, g, o)
 * as rows of [gates·H, in] with two biases; netc's are columns of [in, gates·H] with one. ONNX's
 * default layout is [time, batch, features]: the layer's input and output are transposed around
 * it. Y and Y_h come from the layer's sequence; Y_c (the cell state) keeps the primitives.
 */
function recurrentLayer(op: string, kind: "lstm" | "rnn", order: number[], activations: string[], finds: LayerFinds): Handler {
  return (n: NodeCtx) => {
    const outs = ONNX_OPS[op]!(n);
    const [x, w, r, b, seq, h0, c0, p] = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => n.optional(i));
    const acts = n.attr.strings("activations");
    const matches =
      x?.kind === "dynamic" &&
      isStatic(w) &&
      isStatic(r) &&
      (!b || isStatic(b)) &&
      !seq &&
      absentOrZero(h0) &&
      absentOrZero(c0) &&
      !p &&
      n.attr.string("direction", "forward") === "forward" &&
      !n.attr.has("clip") &&
      n.attr.int("input_forget", 0) === 0 &&
      (!acts || acts.join() === activations.join()) &&
      outs[0]?.kind === "dynamic";
    if (!matches) return outs;
    const layout = n.attr.int("layout", 0);
    const gates = order.length;
    const [, rows, inn] = w.t.dims as [number, number, number];
    const units = rows / gates;
    const xv = x.value;
    const [steps, batch] = layout === 0 ? (xv.type.shape as number[]) : [(xv.type.shape as number[])[1]!, (xv.type.shape as number[])[0]!];
    // netc's [in, gates·H] column block k is ONNX's row block order[k], transposed.
    const columns = (m: HostTensor, width: number) => {
      const out = new Float64Array(width * gates * units);
      for (let k = 0; k < gates; k++)
        for (let u = 0; u < units; u++) for (let j = 0; j < width; j++) out[j * gates * units + k * units + u] = m.data[(order[k]! * units + u) * width + j]!;
      return out;
    };
    const bias = new Float64Array(gates * units);
    if (b && isStatic(b))
      for (let k = 0; k < gates; k++) for (let u = 0; u < units; u++) bias[k * units + u] = b.t.data[order[k]! * units + u]! + b.t.data[(gates + order[k]!) * units + u]!;
    const input = layout === 0 ? n.emit("transpose", [xv], { perm: [1, 0, 2] }) : xv;
    // The layer's result [batch, time, H]: the original Y reshaped gives the value its type.
    const y = outs[0] as Extract<Term, { kind: "dynamic" }>;
    const seqOut = layout === 0 ? n.emit("transpose", [n.emit("reshape", [y.value], { shape: [steps, batch, units] })], { perm: [1, 0, 2] }) : n.emit("reshape", [y.value], { shape: [batch, steps, units] });
    finds.layers.set(seqOut, {
      kind,
      input,
      tensors: { input_weight: { dims: [inn, gates * units], data: columns(w.t, inn) }, recurrent_weight: { dims: [units, gates * units], data: columns(r.t, units) }, bias: { dims: [gates * units], data: bias } },
      kwargs: {},
      args: [units],
      flags: { return_sequences: true },
      namedBy: w.t,
    });
    const yOut = layout === 0 ? n.emit("reshape", [n.emit("transpose", [seqOut], { perm: [1, 0, 2] })], { shape: [steps, 1, batch, units] }) : n.emit("reshape", [seqOut], { shape: [batch, steps, 1, units] });
    const last = n.emit("reshape", [n.emit("slice", [seqOut], { starts: [steps - 1], ends: [steps], axes: [1] })], { shape: layout === 0 ? [1, batch, units] : [batch, 1, units] });
    return [{ kind: "dynamic", dtype: y.dtype, value: yOut }, outs[1] && { kind: "dynamic", dtype: y.dtype, value: last }, ...outs.slice(2)];
  };
}
