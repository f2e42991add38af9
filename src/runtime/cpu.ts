import type { Graph, Value } from "../ir/graph.js";
import { interpret, type Tensor } from "../ir/interp.js";
import { concreteShape, type DimBindings } from "../ir/types.js";
import type { StepRunner } from "./runner.js";

/**
 * The CPU backend: runs the step through the reference interpreter in f32, so it computes what
 * the GPU should. Slow, exact, and always available.
 */
export class CpuRunner implements StepRunner {
  readonly name = "cpu";
  readonly kernelsPerStep: number;
  private state = new Map<Value, Tensor>();

  constructor(
    private readonly graph: Graph,
    private readonly dims: DimBindings,
    initial: Record<string, Float32Array>,
  ) {
    for (const p of graph.persistent) {
      const data = initial[p.arg!.name];
      if (!data) throw new Error(`internal: no initial value for ${p.arg!.name}`);
      this.state.set(p, { shape: concreteShape(p.type.shape, dims), data: Float32Array.from(data) });
    }
    this.kernelsPerStep = graph.kernels?.length ?? graph.nodes.length;
  }

  async step(batch: Record<string, Float32Array>, readLoss: boolean): Promise<number | undefined> {
    const args = new Map(this.state);
    for (const a of this.graph.perStep) {
      const data = batch[a.arg!.name];
      if (!data) throw new Error(`internal: batch has no ${a.arg!.name}`);
      args.set(a, { shape: concreteShape(a.type.shape, this.dims), data });
    }
    const env = interpret(this.graph, args, { dims: this.dims, precision: "f32" });
    const loss = this.graph.loss ? env.get(this.graph.loss)!.data[0] : undefined;
    for (const u of this.graph.updates) this.state.set(u.param, env.get(u.value)!);
    return readLoss ? loss : undefined;
  }

  async params(): Promise<Record<string, Float32Array>> {
    const out: Record<string, Float32Array> = {};
    for (const [p, t] of this.state) if (p.arg!.role === "param") out[p.arg!.name] = Float32Array.from(t.data);
    return out;
  }

  dispose(): void {}
}
