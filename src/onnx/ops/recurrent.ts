import type { Value } from "../../ir/graph.js";
import { dimsOf, dtypeOfTerm, type Handler, invalid, type NodeCtx, type Term, unsupported } from "../node-context.js";
import { out, reshapeValue, staticOf } from "./common.js";
import { gruStep, lstmStep, rnnStep } from "../../frontend/cells.js";
import type { Emit } from "../../frontend/function-def.js";

/**
 * ONNX RNN, GRU and LSTM, unrolled over time (the sequence length is static), built from
 * primitives in ONNX's own conventions rather than the frontend's Keras-style layers: weights
 * are [dirs, gates·H, in] and used transposed, gate order is LSTM i,o,f,c and GRU z,r,h, GRU's
 * `linear_before_reset` applies the reset gate after the recurrent product, directions are
 * forward, reverse or bidirectional, LSTM has optional peepholes, and layout 1 puts batch first.
 * As in the frontend, the input projection x·Wᵀ + b runs once for all steps.
 */

type Kind = "rnn" | "gru" | "lstm";

const GATES: Record<Kind, number> = { rnn: 1, gru: 3, lstm: 4 };
const DEFAULT_ACTIVATIONS: Record<Kind, string[]> = { rnn: ["Tanh"], gru: ["Sigmoid", "Tanh"], lstm: ["Sigmoid", "Tanh", "Tanh"] };

function activation(n: NodeCtx, name: string): (v: Value) => Value {
  switch (name.toLowerCase()) {
    case "sigmoid":
      return (v) => n.emit("sigmoid", [v]);
    case "tanh":
      return (v) => n.emit("tanh", [v]);
    case "relu":
      return (v) => n.emit("max", [v, n.scalar(0)]);
    default:
      return unsupported(`${n.where}: activation ${name}`);
  }
}

/** The handler's emitter as the shared cells take it. */
const emitOf =
  (n: NodeCtx): Emit =>
  (op, inputs, attrs) =>
    n.emit(op, inputs, attrs);

/** Rows [lo, hi) of axis `axis`. */
function part(n: NodeCtx, v: Value, axis: number, lo: number, hi: number): Value {
  const size = (v.type.shape as number[])[axis]!;
  if (lo === 0 && hi === size) return v;
  return n.emit("slice", [v], { starts: [lo], ends: [hi], axes: [axis] });
}

function recurrent(kind: Kind): Handler {
  return (n) => {
    const gates = GATES[kind];
    const x = n.input(0);
    const dt = dtypeOfTerm(x);
    const layout = n.attr.int("layout", 0);
    const direction = n.attr.string("direction", "forward");
    if (!["forward", "reverse", "bidirectional"].includes(direction)) invalid(`${n.where}: direction ${direction}`);
    const dirs = direction === "bidirectional" ? 2 : 1;
    if (n.attr.has("clip")) unsupported(`${n.where}: clip`);
    if (n.attr.int("input_forget", 0) !== 0) unsupported(`${n.where}: input_forget`);
    if (n.attr.has("activation_alpha") || n.attr.has("activation_beta")) unsupported(`${n.where}: activation_alpha/beta`);
    const perDir = DEFAULT_ACTIVATIONS[kind].length;
    const names = n.attr.strings("activations") ?? Array.from({ length: dirs }, () => DEFAULT_ACTIVATIONS[kind]).flat();
    if (names.length !== perDir * dirs) invalid(`${n.where}: ${names.length} activations for ${dirs} direction(s)`);
    const lbr = kind === "gru" && n.attr.int("linear_before_reset", 0) === 1;

    let xv = n.value(x);
    if (layout === 1) xv = n.emit("transpose", [xv], { perm: [1, 0, 2] });
    const [steps, batch, features] = xv.type.shape as [number, number, number];
    const wDims = dimsOf(n.input(1));
    const hidden = n.attr.int("hidden_size") ?? dimsOf(n.input(2))[2]!;
    const gh = gates * hidden;
    if (wDims[0] !== dirs || wDims[1] !== gh || wDims[2] !== features)
      invalid(`${n.where}: W is [${wDims}], expected [${dirs}, ${gh}, ${features}]`);

    const lensTerm = n.optional(4);
    const lens = lensTerm ? n.ints(lensTerm, "sequence_lens") : undefined;
    const ragged = lens !== undefined && lens.some((l) => l !== steps);
    if (ragged && direction !== "forward") unsupported(`${n.where}: sequence_lens shorter than the sequence with direction ${direction}`);

    // initial_h / initial_c are [dirs, batch, H] (layout 1: [batch, dirs, H]).
    const initial = (i: number, d: number): Value | undefined => {
      const t = n.optional(i);
      if (!t) return undefined;
      return reshapeValue(n, part(n, n.value(t), layout === 1 ? 1 : 0, d, d + 1), [batch, hidden]);
    };
    const zeros = () => n.emit("broadcast", [n.scalar(0)], { shape: [batch, hidden] });

    const ys: Value[] = [];
    const lastH: Value[] = [];
    const lastC: Value[] = [];
    for (let d = 0; d < dirs; d++) {
      const reverse = direction === "reverse" || d === 1;
      const act = names.slice(d * perDir, (d + 1) * perDir).map((a) => activation(n, a));
      const w = reshapeValue(n, part(n, n.value(n.input(1)), 0, d, d + 1), [gh, features]);
      const r = reshapeValue(n, part(n, n.value(n.input(2)), 0, d, d + 1), [gh, hidden]);
      const bTerm = n.optional(3);
      const b = bTerm ? reshapeValue(n, part(n, n.value(bTerm), 0, d, d + 1), [2 * gh]) : undefined;
      // The input bias plus the recurrent one, except with linear_before_reset, where the GRU cell
      // adds its recurrent bias to h·Rᵀ itself (the reset gate multiplies it).
      let bias: Value | undefined;
      let rb: Value | undefined;
      if (b) {
        const wb = part(n, b, 0, 0, gh);
        rb = part(n, b, 0, gh, 2 * gh);
        bias = lbr ? wb : n.emit("add", [wb, rb]);
      }
      let projected = n.emit("matmul", [reshapeValue(n, xv, [steps * batch, features]), w], { tb: true });
      if (bias) projected = n.emit("add", [projected, bias]);
      projected = reshapeValue(n, projected, [steps, batch, gh]);

      const p = kind === "lstm" && n.optional(7) ? reshapeValue(n, part(n, n.value(n.input(7)), 0, d, d + 1), [3 * hidden]) : undefined;
      const peep = (k: number) => (p ? part(n, p, 0, k * hidden, (k + 1) * hidden) : undefined);

      // ONNX's activations per direction: RNN [g], GRU [f, g], LSTM [f, g, h].
      const [f, g = f, hAct = g] = kind === "rnn" ? [act[0]!, act[0]!, act[0]!] : act;
      const cell = { emit: emitOf(n), wh: r, units: hidden, transposed: true, act: { f: f!, g: g!, h: hAct! } };
      let h = initial(5, d) ?? zeros();
      let c = kind === "lstm" ? (initial(6, d) ?? zeros()) : undefined;
      const stepOut: Value[] = new Array<Value>(steps);
      for (let s = 0; s < steps; s++) {
        const t = reverse ? steps - 1 - s : s;
        const xt = reshapeValue(n, part(n, projected, 0, t, t + 1), [batch, gh]);
        const step = { ...cell, xz: xt, h };
        let hNew: Value;
        let cNew: Value | undefined;
        if (kind === "rnn") hNew = rnnStep(step);
        else if (kind === "lstm") ({ h: hNew, c: cNew } = lstmStep({ ...step, c: c!, order: { i: 0, o: 1, f: 2, g: 3 }, ...(p ? { peep: { i: peep(0)!, o: peep(1)!, f: peep(2)! } } : {}) }));
        else hNew = gruStep({ ...step, order: { z: 0, r: 1, n: 2 }, resetAfter: lbr, ...(lbr && rb ? { bh: rb } : {}) });
        if (ragged) {
          // Steps past a sequence's length keep its state and output zeros.
          const live = n.value(staticOf("bool", [batch, 1], lens!.map((l) => (t < l ? 1 : 0))));
          stepOut[t] = n.emit("select", [live, hNew, n.scalar(0)]);
          h = n.emit("select", [live, hNew, h]);
          if (cNew) c = n.emit("select", [live, cNew, c!]);
        } else {
          stepOut[t] = hNew;
          h = hNew;
          c = cNew;
        }
      }
      const rows = stepOut.map((v) => reshapeValue(n, v, [1, 1, batch, hidden]));
      ys.push(rows.length === 1 ? rows[0]! : n.emit("concat", rows, { axis: 0 }));
      lastH.push(reshapeValue(n, h, [1, batch, hidden]));
      if (c) lastC.push(reshapeValue(n, c, [1, batch, hidden]));
    }
    const join = (vs: Value[], axis: number) => (vs.length === 1 ? vs[0]! : n.emit("concat", vs, { axis }));
    let y = join(ys, 1);
    let yh = join(lastH, 0);
    let yc = lastC.length ? join(lastC, 0) : undefined;
    if (layout === 1) {
      y = n.emit("transpose", [y], { perm: [2, 0, 1, 3] });
      yh = n.emit("transpose", [yh], { perm: [1, 0, 2] });
      if (yc) yc = n.emit("transpose", [yc], { perm: [1, 0, 2] });
    }
    const outs: (Term | undefined)[] = [out(y, dt), out(yh, dt)];
    if (kind === "lstm") outs.push(yc && out(yc, dt));
    return outs;
  };
}

/** Recurrent handlers by ONNX op type. */
export const RECURRENT_OPS: Record<string, Handler> = {
  RNN: recurrent("rnn"),
  GRU: recurrent("gru"),
  LSTM: recurrent("lstm"),
};
