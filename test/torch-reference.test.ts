import { describe, expect, it } from "vitest";
import { bindBatch, compile } from "../src/compile.js";
import type { LowerMode } from "../src/frontend/lower.js";
import type { Value } from "../src/ir/graph.js";
import { interpret, type Tensor } from "../src/ir/interp.js";
import { concreteShape } from "../src/ir/types.js";
import { rng } from "./util/build.js";

// netc's recurrent and norm layers against PyTorch's, without PyTorch: each reference below is
// written from the formulas in PyTorch's documentation (torch.nn.RNN, LSTM, GRU, LayerNorm,
// BatchNorm1d/2d), on weights in PyTorch's own layout (weight_ih_l0 [gates·H, F], gates stacked
// in PyTorch's order, two biases), and netc's params are filled by the mapping the README's
// "Coming from PyTorch" section documents. A wrong gate order, a transposed weight or a bias in
// the wrong place fails here.

const rand = rng(1234);
const uniform = (n: number, scale = 1) => Array.from({ length: n }, () => scale * (2 * rand() - 1));
const sig = (v: number) => 1 / (1 + Math.exp(-v));

/** A row-major [rows, cols] matrix as rows. */
type Matrix = number[][];
const matrix = (rows: number, cols: number, scale: number): Matrix => Array.from({ length: rows }, () => uniform(cols, scale));
/** W·v for W [rows, cols] (PyTorch's `x @ W.T` for one row x). */
const apply = (w: Matrix, v: number[]) => w.map((row) => row.reduce((s, wv, i) => s + wv * v[i]!, 0));
const add = (...vs: number[][]) => vs[0]!.map((_, j) => vs.reduce((s, v) => s + v[j]!, 0));
const mul = (a: number[], b: number[]) => a.map((v, j) => v * b[j]!);
/** Rows [k·H, (k+1)·H) of a stacked weight or bias: gate k. */
const chunk = <T>(x: T[], k: number, h: number): T[] => x.slice(k * h, (k + 1) * h);
/** PyTorch's [out, in] weight as netc's [in, out], flattened. */
const transposed = (w: Matrix) => w[0]!.flatMap((_, i) => w.map((row) => row[i]!));

/** Runs a compiled network on the f64 interpreter with the given args; returns every value. */
function run(text: string, args: Record<string, { shape: number[]; data: number[] }>, mode: LowerMode = "infer") {
  const c = compile(text, "ref.net", { mode, after: "infer-shapes" });
  expect(c.diagnostics.render()).toBe("");
  const g = c.graph!;
  const x = args["x"]!;
  const { dims } = bindBatch(g, x.shape[0]!);
  const env = new Map<Value, Tensor>();
  for (const a of g.args) {
    const given = args[a.arg!.name];
    if (!given) throw new Error(`test gives no value for ${a.arg!.name}`);
    expect(concreteShape(a.type.shape, dims), a.arg!.name).toEqual(given.shape);
    env.set(a, { shape: given.shape, data: Float64Array.from(given.data) });
  }
  const out = interpret(g, env, { dims, precision: "f64" });
  const output = (name: string) => Array.from(out.get(g.outputs.find((o) => o.name === name)!.value)!.data);
  const updated = (name: string) => Array.from(out.get(g.updates.find((u) => u.param.arg!.name === name)!.value)!.data);
  return { output, updated };
}

const expectClose = (got: number[], want: number[], what: string) => {
  expect(got.length, what).toBe(want.length);
  want.forEach((v, i) => expect(got[i]!, `${what}[${i}]`).toBeCloseTo(v, 10));
};

describe("recurrent layers against PyTorch's formulas", () => {
  const N = 2;
  const T = 4;
  const F = 3;
  const H = 2;
  const xs = Array.from({ length: N }, () => Array.from({ length: T }, () => uniform(F)));
  const x = { shape: [N, T, F], data: xs.flat(2) };

  /** Each layer's PyTorch step: (x_t, h, c) -> [h', c'], and how its PyTorch params fill netc's. */
  const cases: Record<string, { gates: number; step: (p: Torch, xt: number[], h: number[], c: number[]) => [number[], number[]]; netc: (p: Torch) => Record<string, number[]> }> = {
    rnn: {
      gates: 1,
      // h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)
      step: (p, xt, h, c) => [add(apply(p.wih, xt), p.bih, apply(p.whh, h), p.bhh).map(Math.tanh), c],
      netc: (p) => ({ bias: add(p.bih, p.bhh) }),
    },
    lstm: {
      gates: 4,
      // i, f, g, o stacked in weight_ih_l0 as (W_ii|W_if|W_ig|W_io).
      step: (p, xt, h, c) => {
        const pre = (k: number) => add(apply(chunk(p.wih, k, H), xt), chunk(p.bih, k, H), apply(chunk(p.whh, k, H), h), chunk(p.bhh, k, H));
        const [i, f, g, o] = [pre(0).map(sig), pre(1).map(sig), pre(2).map(Math.tanh), pre(3).map(sig)];
        const c2 = add(mul(f, c), mul(i, g));
        return [mul(o, c2.map(Math.tanh)), c2];
      },
      netc: (p) => ({ bias: add(p.bih, p.bhh) }),
    },
    gru: {
      gates: 3,
      // (W_ir|W_iz|W_in); n = tanh(W_in x + b_in + r * (W_hn h + b_hn)); h' = (1 - z) * n + z * h
      step: (p, xt, h, c) => {
        const ih = (k: number) => add(apply(chunk(p.wih, k, H), xt), chunk(p.bih, k, H));
        const hh = (k: number) => add(apply(chunk(p.whh, k, H), h), chunk(p.bhh, k, H));
        const r = add(ih(0), hh(0)).map(sig);
        const z = add(ih(1), hh(1)).map(sig);
        const n = add(ih(2), mul(r, hh(2))).map(Math.tanh);
        return [n.map((nv, j) => (1 - z[j]!) * nv + z[j]! * h[j]!), c];
      },
      netc: (p) => ({ bias: p.bih, recurrent_bias: p.bhh }),
    },
  };

  interface Torch {
    wih: Matrix;
    whh: Matrix;
    bih: number[];
    bhh: number[];
  }

  for (const [kind, spec] of Object.entries(cases))
    it(`${kind}: every step's state equals PyTorch's (weights transposed, gates in PyTorch's order)`, () => {
      const G = spec.gates * H;
      const p: Torch = { wih: matrix(G, F, 0.8), whh: matrix(G, H, 0.8), bih: uniform(G, 0.5), bhh: uniform(G, 0.5) };
      const text = `network n {\n  input x: f32[B, ${T}, ${F}]\n  output y = x |> cell: ${kind}(${H}, return_sequences = true)\n}\n`;
      const extra = spec.netc(p);
      const args: Record<string, { shape: number[]; data: number[] }> = {
        x,
        "cell.input_weight": { shape: [F, G], data: transposed(p.wih) },
        "cell.recurrent_weight": { shape: [H, G], data: transposed(p.whh) },
      };
      for (const [k, v] of Object.entries(extra)) args[`cell.${k}`] = { shape: [G], data: v };
      const want = xs.flatMap((seq) => {
        let [h, c] = [new Array<number>(H).fill(0), new Array<number>(H).fill(0)];
        return seq.flatMap((xt) => {
          [h, c] = spec.step(p, xt, h, c);
          return h;
        });
      });
      expectClose(run(text, args).output("y"), want, `${kind} y`);
    });
});

describe("norm layers against PyTorch's formulas", () => {
  it("layernorm: (x - E[x]) / sqrt(Var[x] + eps) * weight + bias over the last axis, variance biased, eps 1e-5", () => {
    const [N, F] = [3, 5];
    const rows = Array.from({ length: N }, () => uniform(F, 3));
    const weight = uniform(F);
    const bias = uniform(F);
    const want = rows.flatMap((r) => {
      const mean = r.reduce((a, b) => a + b, 0) / F;
      const variance = r.reduce((a, b) => a + (b - mean) ** 2, 0) / F;
      return r.map((v, j) => ((v - mean) / Math.sqrt(variance + 1e-5)) * weight[j]! + bias[j]!);
    });
    const text = `network n {\n  input x: f32[B, ${F}]\n  output y = x |> ln: layernorm\n}\n`;
    const got = run(text, { x: { shape: [N, F], data: rows.flat() }, "ln.gamma": { shape: [F], data: weight }, "ln.beta": { shape: [F], data: bias } });
    expectClose(got.output("y"), want, "y");
  });

  // BatchNorm2d on [N, C, H, W]: statistics per channel over N, H and W.
  const [N, C, Hs, Ws] = [3, 2, 2, 3];
  const data = uniform(N * C * Hs * Ws, 2);
  const at = (n: number, ch: number, i: number) => data[(n * C + ch) * Hs * Ws + i]!;
  const weight = uniform(C);
  const bias = uniform(C);
  const runningMean = uniform(C, 0.5);
  const runningVar = uniform(C, 0.5).map((v) => 1 + v);
  const args = {
    x: { shape: [N, C, Hs, Ws], data },
    "bn.gamma": { shape: [C], data: weight },
    "bn.beta": { shape: [C], data: bias },
    "bn.running_mean": { shape: [C], data: runningMean },
    "bn.running_var": { shape: [C], data: runningVar },
  };
  const text = (momentum: string) => `network n {\n  input x: f32[B, ${C}, ${Hs}, ${Ws}]\n  output y = x |> bn: batchnorm(${momentum})\n}\n`;
  const normalise = (mean: number[], variance: number[]) =>
    data.map((v, k) => {
      const ch = Math.floor(k / (Hs * Ws)) % C;
      return ((v - mean[ch]!) / Math.sqrt(variance[ch]! + 1e-5)) * weight[ch]! + bias[ch]!;
    });

  it("batchnorm, training: batch statistics (biased variance) normalise; running statistics move by momentum with the unbiased variance", () => {
    const m = N * Hs * Ws;
    const values = (ch: number) => Array.from({ length: N }, (_, n) => Array.from({ length: Hs * Ws }, (_, i) => at(n, ch, i))).flat();
    const mean = [0, 1].map((ch) => values(ch).reduce((a, b) => a + b, 0) / m);
    const variance = [0, 1].map((ch) => values(ch).reduce((a, b) => a + (b - mean[ch]!) ** 2, 0) / m);
    const got = run(text("momentum = 0.3"), args, "train");
    expectClose(got.output("y"), normalise(mean, variance), "y");
    // running_mean = (1 - momentum) * running_mean + momentum * mean; running_var likewise with var * m / (m - 1).
    expectClose(got.updated("bn.running_mean"), runningMean.map((r, ch) => 0.7 * r + 0.3 * mean[ch]!), "running_mean");
    expectClose(got.updated("bn.running_var"), runningVar.map((r, ch) => 0.7 * r + (0.3 * variance[ch]! * m) / (m - 1)), "running_var");
    // PyTorch's default momentum is 0.1.
    expectClose(run(text(""), args, "train").updated("bn.running_mean"), runningMean.map((r, ch) => 0.9 * r + 0.1 * mean[ch]!), "default momentum");
  });

  it("batchnorm, inference: the running statistics normalise", () => {
    expectClose(run(text(""), args, "infer").output("y"), normalise(runningMean, runningVar), "y");
  });
});
