import type { Value } from "../ir/graph.js";
import type { Dim } from "../ir/types.js";
import type { Emit, FunctionDef, LayerCtx } from "./function-def.js";

/**
 * Recurrent layers, unrolled over time once the sequence length is known (architecture.md,
 * "Recurrence"): the input projection x·W_x runs once for all steps as one batched matmul, and
 * only h·W_h and the gate math run per step, which fusion turns into one kernel per step.
 * Inputs are [batch, time, features]; with `return_sequences` the output is [batch, time, units],
 * else the last state [batch, units].
 *
 * Params and gate orders (see README, "Coming from PyTorch"): `input_weight` [features, gates·units]
 * and `recurrent_weight` [units, gates·units] are PyTorch's weight_ih / weight_hh transposed, with
 * the gates in PyTorch's order along the columns: LSTM i, f, g, o (also Keras's i, f, c, o); GRU
 * r, z, n (Keras: z, r, h). `bias` is LSTM's and RNN's b_ih + b_hh (one bias, as Keras has); the
 * GRU keeps PyTorch's two, `bias` (b_ih) and `recurrent_bias` (b_hh), because the reset gate
 * multiplies the recurrent one: n = tanh(W_in·x + b_in + r·(W_hn·h + b_hn)), PyTorch's GRU and
 * Keras's default (reset_after=True). `reset_after = false` is the other variant (Cho et al.
 * 2014, Keras's reset_after=False): n = tanh(W_in·x + b_in + W_hn·(r·h)), no recurrent bias.
 */

interface Unrolled {
  /** Batch dim and number of steps of x. */
  batch: Dim;
  steps: number;
  /** x·W_x + b for every step: [batch, time, gates·units]. */
  projected: Value;
}

const c = (emit: Emit, value: number) => emit("const", [], { value });

/** The longest sequence a recurrent layer unrolls. */
const MAX_STEPS = 10000;

/** Checks x is [batch, time, features] with a known time, and projects it for all steps at once. */
function project(emit: Emit, layer: LayerCtx, name: string, x: Value, units: number, gates: number): Unrolled | undefined {
  const shape = layer.shape(x);
  if (!shape) return undefined; // infer-shapes reports why x has no type
  if (shape.length !== 3) {
    layer.error("NC3004", { op: name, expected: "3 ([batch, time, features])", got: shape.length });
    return undefined;
  }
  const steps = shape[1]!;
  if (typeof steps !== "number") {
    layer.error("NC2029", { name, dim: steps });
    return undefined;
  }
  // NOTE: each step is unrolled into nodes: a mutated length of 2^31 - 1 kept check busy forever,
  // and one of 0 left nothing to unroll and crashed infer-shapes (both found by the fuzzer).
  if (steps < 1 || steps > MAX_STEPS) {
    layer.error("NC2036", { name, steps, max: MAX_STEPS });
    return undefined;
  }
  const wx = layer.param("input_weight", [`${layer.instance}.in`, gates * units], { kind: "xavier", options: {} });
  const bias = layer.param("bias", [gates * units], { kind: "zeros", options: {} });
  return { batch: shape[0]!, steps, projected: emit("add", [emit("matmul", [x, wx]), bias]) };
}

/** Step t of a [batch, time, n] tensor as [batch, n]. */
function stepOf(emit: Emit, u: Unrolled, t: number, width: number): Value {
  const s = emit("slice", [u.projected], { starts: [t], ends: [t + 1], axes: [1] });
  return emit("reshape", [s], { shape: [u.batch, width] });
}

/** Columns [k·units, (k+1)·units) of a [batch, gates·units] tensor. */
function gate(emit: Emit, z: Value, k: number, units: number): Value {
  return emit("slice", [z], { starts: [k * units], ends: [(k + 1) * units], axes: [1] });
}

/** The per-step states as [batch, time, units], or the last one. */
function finish(emit: Emit, u: Unrolled, states: Value[], units: number, sequences: boolean): Value {
  if (!sequences) return states.at(-1)!;
  const rows = states.map((h) => emit("reshape", [h], { shape: [u.batch, 1, units] }));
  return rows.length === 1 ? rows[0]! : emit("concat", rows, { axis: 1 });
}

function zeros(emit: Emit, u: Unrolled, units: number): Value {
  return emit("broadcast", [c(emit, 0)], { shape: [u.batch, units] });
}

/** What a cell step sees: its projected input, the state, the recurrent weight (and bias), the layer's options. */
interface CellArgs {
  emit: Emit;
  /** x_t·W_x + b: [batch, gates·units]. */
  xz: Value;
  h: Value;
  /** The LSTM's cell state, carried between steps. */
  state: { c?: Value };
  wh: Value;
  /** The recurrent bias (GRU with reset_after), else undefined. */
  bh?: Value;
  units: number;
  kw: Record<string, unknown>;
}

type Cell = (a: CellArgs) => Value;

/**
 * A recurrent layer with `gates` blocks of units per step, stepping `cell` over time. `recurrentBias`
 * says, from the options, whether the layer has a `recurrent_bias` param.
 */
function recurrentLayer(gates: number, cell: Cell, extra: { kwargs?: FunctionDef["kwargs"]; recurrentBias?: (kw: Record<string, unknown>) => boolean } = {}): FunctionDef {
  return {
    params: ["x"],
    statics: [{ name: "units", kind: "size" }],
    kwargs: { return_sequences: "bool", ...extra.kwargs },
    layer: true,
    lower: (emit, [x], kw, _span, layer) => {
      const units = kw["units"] as number;
      const u = project(emit, layer, layer.instance, x!, units, gates);
      if (!u) return undefined;
      const wh = layer.param("recurrent_weight", [units, gates * units], { kind: "xavier", options: {} });
      const bh = extra.recurrentBias?.(kw) ? layer.param("recurrent_bias", [gates * units], { kind: "zeros", options: {} }) : undefined;
      let h = zeros(emit, u, units);
      const state: { c?: Value } = { c: zeros(emit, u, units) };
      const states: Value[] = [];
      for (let t = 0; t < u.steps; t++) {
        h = cell({ emit, xz: stepOf(emit, u, t, gates * units), h, state, wh, bh, units, kw });
        states.push(h);
      }
      return finish(emit, u, states, units, kw["return_sequences"] === true);
    },
  };
}

/** Columns [from, to) of a [rows, n] weight. */
function columns(emit: Emit, w: Value, from: number, to: number): Value {
  return emit("slice", [w], { starts: [from], ends: [to], axes: [1] });
}

/** rnn, lstm and gru: the recurrent layers. */
export const RECURRENT: Record<string, FunctionDef> = {
  /** Elman cell: h_t = tanh(x_t·W_x + h_{t-1}·W_h + b). */
  rnn: recurrentLayer(1, ({ emit, xz, h, wh }) => emit("tanh", [emit("add", [xz, emit("matmul", [h, wh])])])),
  /** LSTM, gates i, f, g, o: i, f, o = σ(·), g = tanh(·); c_t = f·c + i·g; h_t = o·tanh(c_t). */
  lstm: recurrentLayer(4, ({ emit, xz, h, state: s, wh, units }) => {
    const z = emit("add", [xz, emit("matmul", [h, wh])]);
    const i = emit("sigmoid", [gate(emit, z, 0, units)]);
    const f = emit("sigmoid", [gate(emit, z, 1, units)]);
    const g = emit("tanh", [gate(emit, z, 2, units)]);
    const o = emit("sigmoid", [gate(emit, z, 3, units)]);
    s.c = emit("add", [emit("mul", [f, s.c!]), emit("mul", [i, g])]);
    return emit("mul", [o, emit("tanh", [s.c])]);
  }),
  /**
   * GRU, gates r, z, n: r, z = σ(x_r,z + h·W_hr,hz + b_hr,hz); n = tanh(x_n + r·(h·W_hn + b_hn))
   * (reset_after, the default) or tanh(x_n + (r·h)·W_hn); h_t = (1 - z)·n + z·h.
   */
  gru: recurrentLayer(
    3,
    ({ emit, xz, h, wh, bh, units, kw }) => {
      const resetAfter = kw["reset_after"] !== false;
      const rzWeight = resetAfter ? wh : columns(emit, wh, 0, 2 * units);
      let hz = emit("matmul", [h, rzWeight]);
      if (bh) hz = emit("add", [hz, bh]);
      const r = emit("sigmoid", [emit("add", [gate(emit, xz, 0, units), gate(emit, hz, 0, units)])]);
      const z = emit("sigmoid", [emit("add", [gate(emit, xz, 1, units), gate(emit, hz, 1, units)])]);
      const recurrent = resetAfter ? emit("mul", [r, gate(emit, hz, 2, units)]) : emit("matmul", [emit("mul", [r, h]), columns(emit, wh, 2 * units, 3 * units)]);
      const n = emit("tanh", [emit("add", [gate(emit, xz, 2, units), recurrent])]);
      return emit("add", [emit("mul", [emit("sub", [c(emit, 1), z]), n]), emit("mul", [z, h])]);
    },
    { kwargs: { reset_after: "bool" }, recurrentBias: (kw) => kw["reset_after"] !== false },
  ),
};
