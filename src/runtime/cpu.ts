import type { Graph, Value } from "../ir/graph.js";
import { interpret, type Tensor } from "../ir/interp.js";
import { concreteShape, numel, type DimBindings } from "../ir/types.js";
import type { HyperSchedule } from "../ir/training.js";
import { accumulate, keepsStatsGraph, STATS_LENGTH, STEP_STATS } from "./step-stats.js";
import { badPersistent, Feeder, missingWeight, feedOfGraph, persistentNamed, readableNames, readableValue, unreadable, type StepRunner } from "./runner.js";

/** Options for a {@link CpuRunner}. */
export interface CpuRunnerOptions {
  /**
   * Use this runner's persistent values (by name) instead of copies: a runner for another batch
   * size, or the inference graph of the same network, then sees and makes the same updates.
   */
  sharePersistentWith?: CpuRunner;
  /** Where hyper scalars a batch leaves out come from (see {@link StepRunner.run}). */
  schedule?: HyperSchedule;
}

/**
 * The CPU backend: runs the step through the reference interpreter in f32, so it computes what
 * the GPU should. Slow, exact, and always available.
 */
export class CpuRunner implements StepRunner {
  readonly name = "cpu";
  readonly kernelsPerStep: number;
  readonly readable: readonly string[];
  /** Persistent values by name; shared with other runners made with `sharePersistentWith`. */
  private readonly store: Map<string, Tensor>;
  private readonly feeder: Feeder;
  /** Step statistics (training graphs), shared like the persistent values. */
  private readonly stats?: { values: Float32Array };

  constructor(
    private readonly graph: Graph,
    private readonly dims: DimBindings,
    initial: Record<string, Float32Array>,
    opts: CpuRunnerOptions = {},
  ) {
    this.store = opts.sharePersistentWith?.store ?? new Map();
    for (const p of graph.persistent) {
      const name = p.arg!.name;
      const shape = concreteShape(p.type.shape, dims);
      const shared = this.store.get(name);
      if (opts.sharePersistentWith && shared) {
        if (numel(shared.shape) !== numel(shape)) throw new Error(`internal: shared ${name} has shape [${shared.shape}], this graph wants [${shape}]`);
        continue;
      }
      const data = initial[name];
      if (!data) throw missingWeight(graph.name, name, shape);
      if (data.length !== numel(shape)) throw badPersistent(graph.name, name, [], data.length, numel(shape));
      this.store.set(name, { shape, data: Float32Array.from(data) });
    }
    this.kernelsPerStep = graph.kernels?.length ?? graph.nodes.length;
    this.readable = readableNames(graph);
    if (keepsStatsGraph(graph)) {
      this.stats = opts.sharePersistentWith?.stats ?? { values: new Float32Array(STATS_LENGTH) };
      this.readable = [...this.readable, STEP_STATS];
    }
    this.feeder = new Feeder(graph.name, feedOfGraph(graph), dims, opts.schedule);
  }

  async step(batch: Record<string, Float32Array>, readLoss: boolean): Promise<number | undefined> {
    const read = readLoss && this.graph.loss ? ["loss"] : [];
    const got = await this.run(batch, read);
    return got["loss"]?.[0];
  }

  async run(batch: Record<string, Float32Array>, read: readonly string[]): Promise<Record<string, Float32Array>> {
    const values = read.map((name) => {
      if (!this.readable.includes(name)) throw unreadable(this.graph.name, name, this.readable);
      return name === STEP_STATS ? undefined : readableValue(this.graph, name);
    });
    const args = new Map<Value, Tensor>();
    for (const p of this.graph.persistent) args.set(p, this.store.get(p.arg!.name)!);
    const fed = this.feeder.feed(batch);
    for (const a of this.graph.perStep) args.set(a, { shape: concreteShape(a.type.shape, this.dims), data: fed.get(a.arg!.name)! });
    const env = interpret(this.graph, args, { dims: this.dims, precision: "f32" });
    const out: Record<string, Float32Array> = {};
    for (const u of this.graph.updates) this.store.set(u.param.arg!.name, env.get(u.value)!);
    if (this.stats) {
      const acc = this.graph.outputs.find((o) => o.name === "metric.accuracy");
      const finite = (state: boolean) => this.graph.updates.every((u) => (u.param.arg!.role !== "param") !== state || env.get(u.value)!.data.every(Number.isFinite));
      const input = this.graph.perStep.find((a) => a.arg!.role === "input");
      const rows = input ? concreteShape(input.type.shape, this.dims)[0] ?? 1 : 1;
      accumulate(this.stats.values, env.get(this.graph.loss!)!.data[0]!, acc && env.get(acc.value)!.data[0], rows, finite(false), finite(true));
    }
    read.forEach((name, i) => (out[name] = values[i] ? Float32Array.from(env.get(values[i])!.data) : Float32Array.from(this.stats!.values)));
    return out;
  }

  resetStats(values?: Float32Array): void {
    this.stats?.values.set(values ?? new Float32Array(STATS_LENGTH));
  }

  async params(): Promise<Record<string, Float32Array>> {
    const out: Record<string, Float32Array> = {};
    for (const p of this.graph.params) out[p.arg!.name] = Float32Array.from(this.store.get(p.arg!.name)!.data);
    return out;
  }

  async state(): Promise<Record<string, Float32Array>> {
    const out: Record<string, Float32Array> = {};
    for (const p of this.graph.persistent) out[p.arg!.name] = Float32Array.from(this.store.get(p.arg!.name)!.data);
    return out;
  }

  async load(values: Record<string, Float32Array>): Promise<void> {
    for (const [name, data] of Object.entries(values)) {
      const p = persistentNamed(this.graph, name);
      const shape = concreteShape(p.type.shape, this.dims);
      if (data.length !== numel(shape)) throw badPersistent(this.graph.name, name, [], data.length, numel(shape));
      this.store.set(name, { shape, data: Float32Array.from(data) });
    }
  }

  dispose(): void {}
}
