import { NetcError } from "../base/errors.js";
import { formatLocation, type Span } from "../base/source.js";
import type { Graph, Kernel, Value } from "../ir/graph.js";
import { arenaOf } from "../ir/arena.js";
import { graphToJson } from "../ir/graph-json.js";
import { batchBindings, dimsKey, PLAN_FORMAT, type Plan, type PlanBuffer, type PlanTensor, type PlanVariant } from "../ir/plan.js";
import { hyperSchedule, hyperValues, type TrainSpec } from "../ir/training.js";
import type { DimBindings } from "../ir/types.js";
import { MatmulTemplates } from "./kernels/matmul.js";
import { DEFAULT_CODEGEN, generateKernel, type CodegenOptions } from "./wgsl.js";

/** Options for {@link planOf}. */
export interface PlanOptions {
  /**
   * Dims bindings to specialise now, given whole or as batch sizes (more are made on demand
   * while the plan stays in this process).
   */
  variants?: DimBindings[];
  batches?: number[];
  codegen?: CodegenOptions;
  /** The training section, whose schedule lets runners supply the hyper scalars themselves. */
  train?: TrainSpec;
  mode?: Plan["mode"];
}

/**
 * The Plan of a fused graph (see src/ir/plan.ts):
 *   1. buffers: every graph arg, every kernel's output, and each reshape of a buffered value as
 *      an alias of its input (row-major data is unchanged, so a reshape costs nothing);
 *   2. the interface: inputs, labels, hypers, params and state, outputs and the loss, each with
 *      its buffer;
 *   3. variants: for each dims binding, every kernel's WGSL (shared text stored once) and grid,
 *      and the arena: which temporaries share a buffer (src/ir/arena.ts);
 *   4. the graph as JSON, for the CPU reference.
 */
export function planOf(g: Graph, opts: PlanOptions = {}): Plan {
  if (!g.kernels) throw new NetcError(`planOf(${g.name}): the graph is not fused yet; compile it through every pass (no \`after\`, or \`after: "fuse"\`)`);
  const codegen = opts.codegen ?? DEFAULT_CODEGEN;
  const buffers: PlanBuffer[] = [];
  const index = new Map<Value, number>();
  // NOTE: values and nodes share few spans (a layer's forward, gradient and update nodes carry its
  // span; 53 spans for a 50-layer step's 1848 nodes), so each span is located once.
  const located = new Map<Span, string | undefined>();
  const locate = (span: Span): string | undefined => {
    if (located.has(span)) return located.get(span);
    const where = locationOf(span);
    located.set(span, where);
    return where;
  };
  const add = (v: Value, b: Omit<PlanBuffer, "value" | "shape">) => {
    index.set(v, buffers.length);
    const at = locate(v.span);
    buffers.push({ value: v.id, shape: [...v.type.shape], ...b, ...(at ? { at } : {}) });
  };
  for (const a of g.args) add(a, { label: a.arg!.name, role: a.arg!.role });
  const kernelOf = new Map(g.kernels.flatMap((k) => [k.output, ...(k.extraOutputs ?? [])].map((v) => [v, k.name] as const)));
  // NOTE: an indexed loop: planOf runs once per compile, mostly before it is optimised.
  for (let i = 0; i < g.nodes.length; i++) {
    const n = g.nodes[i]!;
    const name = kernelOf.get(n.out);
    if (name) add(n.out, { label: name });
    else if (n.op === "reshape" && index.has(n.inputs[0]!)) add(n.out, { label: `reshape.${n.out.id}`, alias: rootOf(buffers, index.get(n.inputs[0]!)!) });
  }
  const bufferOf = (v: Value): number => {
    const i = index.get(v);
    if (i === undefined) throw new Error(`internal: %${v.id} of ${g.name} has no buffer`);
    return i;
  };
  const tensor = (name: string, v: Value): PlanTensor => ({ name, dtype: v.type.dtype, shape: [...v.type.shape], buffer: bufferOf(v) });
  const argsOf = (role: string) => g.args.filter((a) => a.arg!.role === role).map((a) => tensor(a.arg!.name, a));
  const batchDims = new Set<string>();
  for (const a of g.args) {
    const lead = a.type.shape[0];
    if ((a.arg!.role === "input" || a.arg!.role === "label") && typeof lead === "string") batchDims.add(lead);
  }

  const shaders: string[] = [];
  const shaderIndex = new Map<string, number>();
  const kernels = g.kernels;
  // NOTE: the plan's matmuls share their templates (most of a matmul's WGSL is its shape's).
  const matmuls = new MatmulTemplates();
  const specialise = (dims: DimBindings): PlanVariant => {
    const variant: PlanVariant = {
      dims: { ...dims },
      kernels: kernels.map((k) => {
        const c = generateKernel(k, dims, codegen, matmuls);
        let shader = shaderIndex.get(c.wgsl);
        if (shader === undefined) {
          shader = shaders.length;
          shaders.push(c.wgsl);
          shaderIndex.set(c.wgsl, shader);
        }
        const extra = c.extraOutputs?.length ?? 0;
        return {
          name: c.name,
          ops: kernelOps(k),
          shader,
          entry: "main",
          bindings: [...c.inputs, c.output, ...(c.extraOutputs ?? [])].map(bufferOf),
          ...(extra ? { outputs: 1 + extra } : {}),
          workgroups: c.workgroups,
        };
      }),
    };
    // NOTE: runs only once `plan` below exists (specialise is called after it is made).
    variant.arena = arenaOf(plan, variant);
    return variant;
  };

  const plan: Plan = {
    format: PLAN_FORMAT,
    name: g.name,
    mode: opts.mode ?? (g.updates.length ? "train" : g.loss ? "eval" : "infer"),
    batchDims: [...batchDims],
    inputs: argsOf("input"),
    labels: argsOf("label"),
    hypers: argsOf("hyper").map((t) => {
      const value = opts.train ? hyperValues(opts.train, 0)[t.name] : undefined;
      return value === undefined ? t : { ...t, default: value };
    }),
    ...(opts.train ? { schedule: hyperSchedule(opts.train) } : {}),
    params: g.persistent.map((p) => ({ ...tensor(p.arg!.name, p), role: p.arg!.role as "param" | "state", ...(p.arg!.init ? { init: p.arg!.init } : {}) })),
    outputs: g.outputs.map((o) => tensor(o.name, o.value)),
    ...(g.loss ? { loss: bufferOf(g.loss) } : {}),
    updates: g.updates.map((u) => ({ param: bufferOf(u.param), value: bufferOf(u.value) })),
    buffers,
    shaders,
    variants: [],
    graph: graphToJson(g, locate),
  };
  const made = new Map<string, PlanVariant>();
  plan.specialise = (dims) => {
    const key = dimsKey(dims);
    let v = made.get(key);
    if (!v) {
      v = specialise(dims);
      made.set(key, v);
      plan.variants.push(v);
    }
    return v;
  };
  for (const dims of opts.variants ?? []) plan.specialise(dims);
  for (const rows of opts.batches ?? []) plan.specialise(batchBindings(plan, rows));
  return plan;
}

/** Ops that say what a kernel does (not the broadcasts and reshapes that feed them). */
const QUIET_OPS = new Set(["broadcast", "reshape", "const", "size"]);

/** A kernel's ops in order, each once (`matmul+add+max`), after the stage that made its output. */
function kernelOps(k: Kernel): string {
  const ops: string[] = [];
  for (const n of k.nodes) if (!QUIET_OPS.has(n.op) && !ops.includes(n.op)) ops.push(n.op);
  const shown = ops.length > 5 ? [...ops.slice(0, 5), "…"] : ops;
  const origin = k.nodes[k.nodes.length - 1]!.origin;
  const stage = origin === "grad" ? "grad: " : origin === "update" ? "update: " : "";
  return stage + (shown.join("+") || k.nodes[k.nodes.length - 1]!.op);
}

/** `file:line:col` of a span in real source (graphs built in memory have none). */
function locationOf(span: Span): string | undefined {
  return span.file.text ? formatLocation(span) : undefined;
}

/** The buffer an alias finally shares (aliases of aliases point at the first real buffer). */
function rootOf(buffers: PlanBuffer[], i: number): number {
  let at = i;
  while (buffers[at]!.alias !== undefined) at = buffers[at]!.alias!;
  return at;
}
