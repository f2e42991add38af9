import { nodeBuiltin } from "./base/node-builtins.js";
import { NetcError } from "./base/errors.js";
import { Diagnostics, suggest } from "./base/diagnostics.js";
import { lowerProgram, type Lowered, type LowerMode } from "./frontend/lower.js";
import { linkProgram, type ReadFile } from "./frontend/modules.js";
import { parseProgram } from "./frontend/parse.js";
import { SourceFile } from "./base/source.js";
import type { Graph, Value } from "./ir/graph.js";
import { runPipeline, type PassTimes } from "./ir/passes/pipeline.js";
import { classifierOutput } from "./ir/prediction.js";
import type { TrainSpec } from "./ir/training.js";
import { formatType, type DimBindings } from "./ir/types.js";

/** Options for {@link compile}. */
export interface CompileOptions {
  /** Stop after this stage (`lower` or a pass name); default: run every pass. */
  after?: string;
  /** Reads the files `import "path"` names (resolved against the importing file); default: node:fs in Node, none in a browser. */
  readFile?: ReadFile;
  /**
   * `train` (default): the training step, differentiated, with the optimizer's updates.
   * `eval`: the forward pass in inference mode (dropout off, batchnorm on running statistics),
   * with the loss and metrics against labels, nothing differentiated.
   * `infer`: what produces the outputs and nothing else: no loss, no metrics, no labels, no
   * optimizer (the training section is still checked).
   */
  mode?: LowerMode;
  /**
   * Values to make readable (runners' `run(batch, read)`) besides the loss and the outputs: any
   * `let` by name (`h1`, `r1.h` inside block instance `r1`), and `grad.NAME`, the gradient of the
   * loss with respect to a param or an f32 input (train and eval modes). Values are those of the
   * step's forward pass, before its updates. An unknown name is a NetcError listing the readable ones.
   */
  read?: readonly string[];
}

/** Reads a UTF-8 file from disk; `undefined` when it is missing or unreadable, or there is no disk (a browser). */
function readFromDisk(path: string): string | undefined {
  const fs = nodeBuiltin("node:fs");
  if (!fs) return undefined;
  try {
    return fs.readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

/** The result of compiling a `.net` source: the graph, the training spec, diagnostics and timings. */
export interface Compiled {
  source: SourceFile;
  diagnostics: Diagnostics;
  /** Absent when there were errors. */
  graph?: Graph;
  train?: TrainSpec;
  /**
   * For a classifier (a dataset, or `metrics = [accuracy]`, with an output typed like the labels):
   * the output whose argmax is the predicted class, and its width.
   */
  prediction?: { output: string; width: number };
  times: { parse: number; lower: number; passes: PassTimes };
}

/**
 * Compiles `.net` source text: parse, load imports, lower, then the pass pipeline. `path` names
 * the file in messages and is where relative imports are resolved from. Never throws for user errors.
 */
export function compile(text: string, path = "<input>", opts: CompileOptions = {}): Compiled {
  const source = new SourceFile(path, text);
  const d = new Diagnostics();
  const times = { parse: 0, lower: 0, passes: {} as PassTimes };
  const mode = opts.mode ?? "train";
  const front = frontEnd(source, d, opts, mode, times);
  if (!front) return { source, diagnostics: d, times };
  const { train, checks, gradients } = front;
  const passMode = mode === "train" ? "train" : "infer";
  const ctx = { d, train, checks, mode: passMode, gradients } as const;
  // NOTE: the lowered graph is handed over, not kept here: once infer-shapes has copied it, it is
  // garbage during the passes that build the large graphs (a 30,000-layer program's peak).
  const { graph, times: passes } = runPipeline(takeGraph(front), ctx, opts.after);
  times.passes = passes;
  if (!d.hasErrors && !opts.after) checkTensorSizes(graph, d);
  if (d.hasErrors) return { source, diagnostics: d, train, times };
  const prediction = predictionOf(graph, train);
  if (mode === "infer") dropUnusedLabels(graph);
  return { source, diagnostics: d, graph, train, times, ...(prediction ? { prediction } : {}) };
}

/** What the passes start from: the lowered graph (until taken), the training spec, block checks, asked gradients. */
interface FrontEnd {
  graph?: Graph;
  train?: TrainSpec;
  checks: Lowered["checks"];
  gradients: string[];
}

/**
 * Parse, load imports and lower; `undefined` when that reported errors. A function of its own so
 * the AST and the lowering's tables are garbage once it returns.
 */
function frontEnd(source: SourceFile, d: Diagnostics, opts: CompileOptions, mode: LowerMode, times: Compiled["times"]): FrontEnd | undefined {
  const t0 = performance.now();
  const ast = parseProgram(source, d);
  const linked = linkProgram(ast, d, opts.readFile ?? readFromDisk);
  const t1 = performance.now();
  times.parse = t1 - t0;
  if (d.hasErrors) return undefined;
  const lowered = lowerProgram(ast, d, linked, mode);
  times.lower = performance.now() - t1;
  if (!lowered) return undefined;
  // NOTE: with lowering errors the graph holds what did lower; infer-shapes still runs on it so
  // independent shape errors are reported in the same run (runPipeline stops after it).
  const gradients = d.hasErrors ? [] : addReads(lowered, mode, opts.read ?? []);
  if (mode === "infer") dropTrainingRoots(lowered.graph);
  return { graph: lowered.graph, train: lowered.train, checks: lowered.checks, gradients };
}

/** The front end's graph, which it no longer holds. */
function takeGraph(front: FrontEnd): Graph {
  const g = front.graph;
  if (!g) throw new Error("internal: the lowered graph was taken twice");
  front.graph = undefined;
  return g;
}

/**
 * Resolves `read` names against the lowered graph: a let becomes an output of its own name, and
 * `grad.NAME` is returned for autodiff to make (see PassContext.gradients). The loss and outputs
 * are readable already. Anything else is a NetcError that lists what can be read.
 */
function addReads(lowered: Lowered, mode: LowerMode, names: readonly string[]): string[] {
  const g = lowered.graph;
  const differentiable = g.args.filter((a) => a.arg!.role === "param" || (a.arg!.role === "input" && a.type.dtype === "f32")).map((a) => a.arg!.name);
  const hasLoss = g.loss !== undefined && mode !== "infer";
  // NOTE: inference drops the metrics (dropTrainingRoots), so they are not offered.
  const outputs = g.outputs.filter((o) => mode !== "infer" || !o.name.startsWith("metric."));
  const taken = new Set([...(hasLoss ? ["loss"] : []), ...outputs.map((o) => o.name)]);
  const lets = [...lowered.lets.keys()].filter((n) => !taken.has(n));
  const gradients: string[] = [];
  for (const name of names) {
    if (typeof name !== "string") throw new NetcError(`compile: read names are strings, got ${typeof name}`);
    if (taken.has(name)) continue;
    const let_ = lowered.lets.get(name);
    if (let_) {
      g.outputs.push({ name, value: let_ });
      taken.add(name);
      continue;
    }
    const target = name.startsWith("grad.") ? name.slice(5) : undefined;
    if (target !== undefined && differentiable.includes(target)) {
      if (!hasLoss)
        throw new NetcError(
          `${g.name}: "${name}" is a gradient of the loss, and ${g.loss ? `mode "${mode}" has no loss (compile with mode "train" or "eval")` : "the network has no training section with a loss"}`,
        );
      if (!gradients.includes(target)) gradients.push(target);
      continue;
    }
    const readable = [...taken, ...lets, ...(hasLoss ? differentiable.map((n) => `grad.${n}`) : [])];
    const hint = suggest(name, readable);
    throw new NetcError(`${g.name} has no value "${name}" to read${hint} (readable: ${readable.join(", ") || "none"})`);
  }
  return gradients;
}

/**
 * Inference keeps the outputs only: the loss and the metric outputs stop being roots, so
 * infer-shapes still checks them and simplify's dead-code sweep drops them.
 */
function dropTrainingRoots(g: Graph): void {
  g.loss = undefined;
  g.outputs = g.outputs.filter((o) => !o.name.startsWith("metric."));
}

function predictionOf(g: Graph, train: TrainSpec | undefined): Compiled["prediction"] {
  const label = g.args.find((a) => a.arg!.role === "label");
  if (!label || !(train?.dataset !== undefined || train?.metrics.includes("accuracy"))) return undefined;
  const found = classifierOutput(g, label);
  return found && { output: found.output, width: found.width };
}

/**
 * Every tensor's count of values fits a 32-bit index (symbolic dims count as 1: a batch too big
 * for the device is found when the batch is known). One error per source line.
 */
function checkTensorSizes(g: Graph, d: Diagnostics): void {
  const seen = new Set<string>();
  // NOTE: one walk over args and then nodes, no list of both: graphs hold a million values.
  const values = (i: number) => (i < g.args.length ? g.args[i]! : g.nodes[i - g.args.length]!.out);
  for (let i = 0; i < g.args.length + g.nodes.length; i++) {
    const v = values(i);
    let count = 1;
    for (const x of v.type.shape) if (typeof x === "number") count *= x;
    if (count <= 2147483647) continue;
    // NOTE: per line: a layer's param and the gradient made from it (the call, and its pipe stage) are one mistake.
    const key = `${v.span.file.path}:${v.span.file.position(v.span.start).line}`;
    if (seen.has(key)) continue;
    seen.add(key);
    d.error("NC3022", v.span, { what: v.arg ? `${v.arg.role} ${v.arg.name}` : "a value of", type: formatType(v.type), count: count.toExponential(2) });
  }
}

/** Labels nothing reads any more (after inference dropped the loss) leave the graph's args. */
function dropUnusedLabels(g: Graph): void {
  const used = new Set<Value>();
  for (const n of g.nodes) for (const v of n.inputs) used.add(v);
  for (const o of g.outputs) used.add(o.value);
  g.args = g.args.filter((a) => a.arg!.role !== "label" || used.has(a));
}

/**
 * Binds the symbolic dims of a typed graph for a batch size: the leading dim of every input and
 * label is the batch. Any other symbol left unbound is reported.
 */
export function bindBatch(g: Graph, batch: number): { dims: DimBindings; unbound: string[] } {
  const dims: DimBindings = {};
  for (const a of g.args) {
    const lead = a.type.shape[0];
    if ((a.arg!.role === "input" || a.arg!.role === "label") && typeof lead === "string") dims[lead] = batch;
  }
  const unbound = new Set<string>();
  const unboundIn = (v: Value) => {
    for (const d of v.type.shape) if (typeof d === "string" && !(d in dims)) unbound.add(d);
  };
  for (const a of g.args) unboundIn(a);
  for (const n of g.nodes) unboundIn(n.out);
  return { dims, unbound: [...unbound] };
}
