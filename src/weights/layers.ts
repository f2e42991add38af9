import type { Graph, Value } from "../ir/graph.js";

/**
 * The layers of a compiled network as foreign-weight mapping sees them: each layer instance
 * (`fc1`, `blocks.0.attn`) with the kind of layer it is and its params by local name. The kind is
 * read from the graph (which op consumes the weight), not from the source, so it holds for layers
 * inside blocks and repeats too: a dense weight feeds a matmul, an embedding's a gather, a conv's a
 * conv.
 */

/** A layer kind that has a foreign-weight mapping. */
export type LayerKind = "dense" | "conv" | "embedding" | "layernorm" | "batchnorm" | "lstm" | "gru" | "rnn" | "attention";

/** One netc param or state tensor: its full name and concrete shape. */
export interface NetcTensor {
  name: string;
  shape: number[];
}

/** A layer instance: its kind and its tensors by local name (`weight`, `running_mean`). */
export interface NetcLayer {
  instance: string;
  kind: LayerKind;
  tensors: Record<string, NetcTensor>;
}

/** The layers of a graph, and the params that belong to no recognised layer (raw `param`s). */
export interface NetcLayers {
  layers: NetcLayer[];
  /** Params and state outside any recognised layer, matched by their full names. */
  loose: NetcTensor[];
}

const ATTENTION = ["query_weight", "query_bias", "key_weight", "key_bias", "value_weight", "value_bias", "out_weight", "out_bias"];

/** The ops that consume a value in the forward graph. */
function consumers(g: Graph): Map<Value, Set<string>> {
  const out = new Map<Value, Set<string>>();
  for (const n of g.nodes) {
    if (n.origin !== "forward") continue;
    for (const v of n.inputs) {
      let s = out.get(v);
      if (!s) out.set(v, (s = new Set()));
      s.add(n.op);
    }
  }
  return out;
}

/** The kind of layer whose tensors have these local names, or undefined. */
function kindOf(local: Map<string, Value>, uses: Map<Value, Set<string>>): LayerKind | undefined {
  const has = (...names: string[]) => names.every((n) => local.has(n));
  const only = (...names: string[]) => [...local.keys()].every((n) => names.includes(n));
  if (has("input_weight", "recurrent_weight", "bias") && only("input_weight", "recurrent_weight", "bias", "recurrent_bias")) {
    const [units, width] = local.get("recurrent_weight")!.type.shape as number[];
    const gates = width! / units!;
    return gates === 4 ? "lstm" : gates === 3 ? "gru" : gates === 1 ? "rnn" : undefined;
  }
  if (has("gamma", "beta", "running_mean", "running_var") && only("gamma", "beta", "running_mean", "running_var")) return "batchnorm";
  if (has("gamma", "beta") && only("gamma", "beta")) return "layernorm";
  if (has(...ATTENTION) && only(...ATTENTION)) return "attention";
  if (has("weight") && only("weight", "bias")) {
    const ops = uses.get(local.get("weight")!) ?? new Set();
    if (ops.has("conv")) return "conv";
    if (ops.has("gather")) return local.has("bias") ? undefined : "embedding";
    if (ops.has("matmul")) return "dense";
  }
  return undefined;
}

/** The layer instances of a typed graph (params and batchnorm statistics; optimizer state left out). */
export function netcLayers(g: Graph): NetcLayers {
  const uses = consumers(g);
  // NOTE: optimizer state (`fc1.weight.m`) is read only by update nodes; a tensor no forward node reads is not a weight.
  const weights = g.persistent.filter((v) => uses.has(v));
  const byInstance = new Map<string, Map<string, Value>>();
  for (const v of weights) {
    const name = v.arg!.name;
    const dot = name.lastIndexOf(".");
    const instance = dot < 0 ? "" : name.slice(0, dot);
    let m = byInstance.get(instance);
    if (!m) byInstance.set(instance, (m = new Map()));
    m.set(name.slice(dot + 1), v);
  }
  const tensor = (v: Value): NetcTensor => ({ name: v.arg!.name, shape: v.type.shape.map((d) => (typeof d === "number" ? d : NaN)) });
  const layers: NetcLayer[] = [];
  const loose: NetcTensor[] = [];
  for (const [instance, local] of byInstance) {
    const kind = instance ? kindOf(local, uses) : undefined;
    if (!kind) {
      for (const v of local.values()) loose.push(tensor(v));
      continue;
    }
    const tensors: Record<string, NetcTensor> = {};
    for (const [k, v] of local) tensors[k] = tensor(v);
    layers.push({ instance, kind, tensors });
  }
  return { layers, loose };
}
