import { compile, type CompileOptions } from "../../src/compile.js";
import type { Graph } from "../../src/ir/graph.js";
import type { TrainSpec } from "../../src/ir/training.js";
import { rng } from "./build.js";

/**
 * A small classifier for runtime tests: dense, batchnorm (running statistics are state), dropout
 * (a per-step seed), Adam (moments are state), 10 rows of literal data by default (so batch 4
 * gives steps of 4, 4 and 2) and the accuracy metric. `plain`: dense-tanh-dense with SGD and
 * momentum, for comparing backends over several steps (Adam turns rounding noise in near-zero
 * gradients, like that of a bias before batchnorm, into full-size steps).
 */
export function tinySource(opts: { rows?: number; batch?: number; epochs?: number; validation?: number; seed?: number; plain?: boolean } = {}): string {
  const rows = opts.rows ?? 10;
  const rand = rng(11);
  const x = Array.from({ length: rows }, () => [0, 0, 0].map(() => Number((2 * rand() - 1).toFixed(3))));
  const labels = x.map(([a, b, c]) => (a! + 0.5 * b! - c! > 0 ? [1, 0] : [0, 1]));
  return `network tiny {
  input x: f32[B, 3]
  logits = x |> h: dense(6, activation = ${opts.plain ? "tanh" : "relu"})${opts.plain ? "" : " |> bn: batchnorm |> drop: dropout(0.2)"} |> out: dense(2)
  output probs = softmax(logits)
}
train {
  loss = cross_entropy(logits, labels)
  optimizer = ${opts.plain ? "sgd(lr = 0.5, momentum = 0.9)" : "adam(lr = 0.05)"}
  epochs = ${opts.epochs ?? 4}
  batch = ${opts.batch ?? 4}
  seed = ${opts.seed ?? 7}
  log_every = 1
  metrics = [accuracy]
  ${opts.validation ? `validation = ${opts.validation}` : ""}
  data {
    x = ${JSON.stringify(x)}
    labels = ${JSON.stringify(labels)}
  }
}
`;
}

/** Compiles source text, failing loudly on diagnostics. */
export function compileOk(text: string, opts: CompileOptions = {}): { graph: Graph; spec: TrainSpec } {
  const c = compile(text, "test.net", opts);
  if (!c.graph || !c.train) throw new Error(`does not compile:\n${c.diagnostics.render()}`);
  return { graph: c.graph, spec: c.train };
}
