import { describe, expect, it } from "vitest";
import { bindBatch, compile } from "../src/compile.js";
import type { Value } from "../src/ir/graph.js";
import { interpret, type Tensor } from "../src/ir/interp.js";
import { hyperSchedule, learningRate, type TrainSpec } from "../src/ir/training.js";
import { concreteShape } from "../src/ir/types.js";
import { CpuRunner } from "../src/runtime/cpu.js";
import { batches, initialParams } from "../src/runtime/train.js";

// Each optimizer, run for a few steps by the compiled graph (CPU backend), against the same
// update rule written out here in plain JS from the gradients of the graph without optimizer.

const program = (optimizer: string, extra = "") => `network n {
  input x: f32[B, 3]
  param w: f32[3, 2] = normal(std = 0.5)
  param b: f32[2] = uniform(low = -0.1, high = 0.1)
  output y = tanh(x @ w + b)
}
train {
  loss = mse(y, t)
  optimizer = ${optimizer}
  epochs = 1
  ${extra}
  data {
    x = [[0.5, -1, 2], [1, 0.25, -0.5], [-1.5, 1, 0.75], [0.1, 0.2, 0.3]]
    t = [[0.3, -0.2], [0.9, 0.1], [-0.4, 0.5], [0, 0]]
  }
}`;

type Rule = (p: number, g: number, s: Record<string, number>, t: number, lr: number) => number;

const RULES: Record<string, { optimizer: string; extra?: string; rule: Rule }> = {
  sgd: { optimizer: "sgd(lr = 0.1)", rule: (p, g, _s, _t, lr) => p - lr * g },
  "sgd momentum": {
    optimizer: "sgd(lr = 0.1, momentum = 0.9)",
    rule: (p, g, s, _t, lr) => {
      s["v"] = 0.9 * (s["v"] ?? 0) + g;
      return p - lr * s["v"];
    },
  },
  "sgd nesterov + weight decay": {
    optimizer: "sgd(lr = 0.1, momentum = 0.9, nesterov = true, weight_decay = 0.01)",
    rule: (p, g, s, _t, lr) => {
      const gw = g + 0.01 * p;
      s["v"] = 0.9 * (s["v"] ?? 0) + gw;
      return p - lr * (gw + 0.9 * s["v"]);
    },
  },
  adam: {
    optimizer: "adam(lr = 0.01)",
    rule: (p, g, s, t, lr) => {
      s["m"] = 0.9 * (s["m"] ?? 0) + 0.1 * g;
      s["v"] = 0.999 * (s["v"] ?? 0) + 0.001 * g * g;
      const mh = s["m"] / (1 - 0.9 ** t);
      const vh = s["v"] / (1 - 0.999 ** t);
      return p - (lr * mh) / (Math.sqrt(vh) + 1e-8);
    },
  },
  "adam with weight decay (PyTorch's coupled L2: the decay joins the gradient before the moments)": {
    optimizer: "adam(lr = 0.01, weight_decay = 0.1)",
    rule: (p, g, s, t, lr) => {
      const gw = g + 0.1 * p;
      s["m"] = 0.9 * (s["m"] ?? 0) + 0.1 * gw;
      s["v"] = 0.999 * (s["v"] ?? 0) + 0.001 * gw * gw;
      const mh = s["m"] / (1 - 0.9 ** t);
      const vh = s["v"] / (1 - 0.999 ** t);
      return p - (lr * mh) / (Math.sqrt(vh) + 1e-8);
    },
  },
  "adamw with a cosine schedule and warm-up": {
    optimizer: "adamw(lr = 0.01, weight_decay = 0.1)",
    extra: "schedule = cosine(steps = 4)\n  warmup = 2",
    rule: (p, g, s, t, lr) => {
      s["m"] = 0.9 * (s["m"] ?? 0) + 0.1 * g;
      s["v"] = 0.999 * (s["v"] ?? 0) + 0.001 * g * g;
      const mh = s["m"] / (1 - 0.9 ** t);
      const vh = s["v"] / (1 - 0.999 ** t);
      return p - lr * (mh / (Math.sqrt(vh) + 1e-8) + 0.1 * p);
    },
  },
};

describe("optimizers", () => {
  for (const [name, c] of Object.entries(RULES)) {
    it(`${name}: 4 steps match the update rule`, async () => {
      const text = program(c.optimizer, c.extra);
      const full = compile(text, "opt.net");
      const gradOnly = compile(text, "opt.net", { after: "autodiff" });
      expect(full.diagnostics.render()).toBe("");
      const spec = full.train as TrainSpec;
      const g = full.graph!;
      const { dims } = bindBatch(g, 4);
      const init = initialParams(g, dims, 3);
      const runner = new CpuRunner(g, dims, init);
      const batch = batches(spec.data, 4)[0]!;
      // The reference: params in f64, gradients from the graph without the optimizer.
      const ref: Record<string, number[]> = { w: [...init["w"]!], b: [...init["b"]!] };
      const state: Record<string, Record<string, number>[]> = { w: ref["w"]!.map(() => ({})), b: ref["b"]!.map(() => ({})) };
      const gg = gradOnly.graph!;
      for (let step = 0; step < 4; step++) {
        const lr = learningRate(spec, step);
        await runner.step({ ...batch, lr: Float32Array.of(lr), "adam.bc1": Float32Array.of(1 / (1 - 0.9 ** (step + 1))), "adam.bc2": Float32Array.of(1 / (1 - 0.999 ** (step + 1))) }, false);
        const env = new Map<Value, Tensor>();
        for (const a of gg.args) {
          const shape = concreteShape(a.type.shape, dims);
          const data = a.arg!.role === "param" ? ref[a.arg!.name]! : [...batch[a.arg!.name]!];
          env.set(a, { shape, data: Float64Array.from(data) });
        }
        const out = interpret(gg, env, { dims, precision: "f64" });
        for (const { param, grad } of gg.grads) {
          const name = param.arg!.name;
          const gv = out.get(grad)!.data;
          ref[name] = ref[name]!.map((p, i) => c.rule(p, gv[i]!, state[name]![i]!, step + 1, lr));
        }
      }
      const got = await runner.params();
      for (const name of ["w", "b"]) {
        got[name]!.forEach((v, i) => expect(v, `${name}[${i}]`).toBeCloseTo(ref[name]![i]!, 5));
      }
    });
  }

  it("adam's weight_decay is coupled (PyTorch's Adam), adamw's decoupled: one step by hand", async () => {
    // y = w = 1, target 1.2: mse's gradient is 2·(1 - 1.2) = -0.4. Adam's first step moves by lr·sign.
    //   adam, no decay:          p = 1 - 0.1·sign(-0.4)           = 1.1
    //   adam(weight_decay = 1):  g = -0.4 + 1·1 = 0.6: p = 1 - 0.1 = 0.9
    //   adamw(weight_decay = 1): p = 1 - 0.1·(sign(-0.4) + 1·1)  = 1.0
    const oneStep = async (optimizer: string) => {
      const text = `network n {\n  input x: f32[B, 1]\n  param w: f32[1, 1] = ones\n  output y = x @ w\n}\ntrain {\n  loss = mse(y, t)\n  optimizer = ${optimizer}\n  epochs = 1\n  data { x = [[1]] t = [[1.2]] }\n}`;
      const c = compile(text, "one.net");
      expect(c.diagnostics.render()).toBe("");
      const { dims } = bindBatch(c.graph!, 1);
      const runner = new CpuRunner(c.graph!, dims, { ...initialParams(c.graph!, dims, 1), w: Float32Array.of(1) }, { schedule: hyperSchedule(c.train!) });
      await runner.step(batches(c.train!.data, 1)[0]!, false);
      return (await runner.params())["w"]![0]!;
    };
    expect(await oneStep("adam(lr = 0.1)")).toBeCloseTo(1.1, 6);
    expect(await oneStep("adam(lr = 0.1, weight_decay = 1)")).toBeCloseTo(0.9, 6);
    expect(await oneStep("adamw(lr = 0.1, weight_decay = 1)")).toBeCloseTo(1.0, 6);
  });

  it("learning-rate schedules: step decay, cosine, warm-up", () => {
    const base = compile(program("sgd(lr = 1)", "schedule = step(every = 2, gamma = 0.5)"), "s.net").train!;
    expect([0, 1, 2, 3, 4].map((s) => learningRate(base, s))).toEqual([1, 1, 0.5, 0.5, 0.25]);
    const cos = compile(program("sgd(lr = 1)", "schedule = cosine(steps = 4, min_lr = 0.2)\n  warmup = 2"), "c.net").train!;
    expect(learningRate(cos, 0)).toBeCloseTo(0.5 * 1, 12); // warm-up: (0+1)/2 of the cosine value at step 0
    expect(learningRate(cos, 2)).toBeCloseTo(0.2 + 0.4 * (1 + Math.cos(Math.PI / 2)), 12);
    expect(learningRate(cos, 10)).toBeCloseTo(0.2, 12);
  });

  it("l2 adds the squared norm of every param to the loss", () => {
    const plain = compile(program("sgd(lr = 0.1)"), "p.net").graph!;
    const reg = compile(program("sgd(lr = 0.1)", "l2 = 0.5"), "r.net").graph!;
    const { dims } = bindBatch(plain, 4);
    const init = initialParams(plain, dims, 1);
    const spec = compile(program("sgd(lr = 0.1)"), "p.net").train!;
    const batch = batches(spec.data, 4)[0]!;
    const lossOf = (g: typeof plain) => {
      const env = new Map<Value, Tensor>();
      for (const a of g.args) {
        const src = a.arg!.role === "param" || a.arg!.role === "state" ? init[a.arg!.name] : batch[a.arg!.name] ?? Float32Array.of(0.1);
        env.set(a, { shape: concreteShape(a.type.shape, dims), data: Float64Array.from(src ?? new Float32Array(6)) });
      }
      return interpret(g, env, { dims, precision: "f64" }).get(g.loss!)!.data[0]!;
    };
    const norm = [...init["w"]!, ...init["b"]!].reduce((s, v) => s + v * v, 0);
    expect(lossOf(reg)).toBeCloseTo(lossOf(plain) + 0.5 * norm, 10);
  });
});
