import { DEFAULT_CODEGEN, generateKernel, type CodegenOptions, type CompiledKernel } from "../codegen/wgsl.js";
import type { Graph, Value } from "../ir/graph.js";
import { concreteShape, numel, type DimBindings } from "../ir/types.js";
import type { GpuContext } from "./device.js";
import { createStorage, readBack } from "./gpu-buffers.js";
import { PipelineCache } from "./pipelines.js";
import type { StepRunner } from "./runner.js";

interface Dispatch {
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  workgroups: [number, number, number];
}

/** Milliseconds spent preparing a runner, for the `train` report. */
export interface PrepareTimes {
  codegen: number;
  pipelines: number;
}

/**
 * The WebGPU backend: one storage buffer per materialised value (reshapes alias their input),
 * every kernel's pipeline and bind group made once, and a step that is one command encoder and
 * one submit. The loss is copied to a staging buffer only on steps that ask for it.
 */
export class WebGpuRunner implements StepRunner {
  readonly name: string;
  readonly kernelsPerStep: number;
  private buffers = new Map<Value, GPUBuffer>();
  private dispatches: Dispatch[] = [];
  private staging: GPUBuffer;
  /** What each per-step arg holds now; the same (immutable) array again needs no upload. */
  private uploaded = new Map<Value, Float32Array>();

  private constructor(
    private readonly gpu: GpuContext,
    private readonly graph: Graph,
    private readonly dims: DimBindings,
    readonly kernels: CompiledKernel[],
    readonly times: PrepareTimes,
  ) {
    this.name = `webgpu (${gpu.adapterName})`;
    this.kernelsPerStep = kernels.length;
    this.staging = gpu.device.createBuffer({ size: 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: "loss-staging" });
  }

  /** Generates WGSL for every kernel, creates all pipelines in parallel, allocates buffers and binds them. */
  static async create(
    gpu: GpuContext,
    graph: Graph,
    dims: DimBindings,
    initial: Record<string, Float32Array>,
    opts: CodegenOptions = DEFAULT_CODEGEN,
    cache = new PipelineCache(gpu.device),
  ): Promise<WebGpuRunner> {
    if (!graph.kernels) throw new Error("internal: the WebGPU backend needs a fused graph");
    const t0 = performance.now();
    const kernels = graph.kernels.map((k) => generateKernel(k, dims, opts));
    const t1 = performance.now();
    const pipelines = await Promise.all(kernels.map((k) => cache.get(k.wgsl)));
    const t2 = performance.now();
    const r = new WebGpuRunner(gpu, graph, dims, kernels, { codegen: t1 - t0, pipelines: t2 - t1 });
    r.allocate();
    for (const p of graph.persistent) r.write(p, initial[p.arg!.name]!);
    r.dispatches = kernels.map((k, i) => ({
      pipeline: pipelines[i]!,
      workgroups: k.workgroups,
      bindGroup: gpu.device.createBindGroup({
        layout: pipelines[i]!.getBindGroupLayout(0),
        entries: [...k.inputs, k.output].map((v, binding) => ({ binding, resource: { buffer: r.buffer(v) } })),
      }),
    }));
    return r;
  }

  private buffer(v: Value): GPUBuffer {
    const b = this.buffers.get(v);
    if (!b) throw new Error(`internal: no buffer for %${v.id}`);
    return b;
  }

  private allocate(): void {
    const make = (v: Value, label: string) => this.buffers.set(v, createStorage(this.gpu.device, this.bytes(v), label));
    for (const a of this.graph.args) make(a, a.arg!.name);
    const kernelOf = new Map(this.kernels.map((k) => [k.output, k.name]));
    for (const n of this.graph.nodes) {
      // NOTE: reshape is free: the result shares its input's buffer (row-major data is unchanged).
      if (n.op === "reshape" && this.buffers.has(n.inputs[0]!)) this.buffers.set(n.out, this.buffer(n.inputs[0]!));
      const name = kernelOf.get(n.out);
      if (name) make(n.out, name);
    }
  }

  private write(v: Value, data: Float32Array): void {
    const expected = numel(concreteShape(v.type.shape, this.dims));
    if (data.length !== expected) throw new Error(`internal: ${v.arg?.name ?? v.id} wants ${expected} values, got ${data.length}`);
    this.gpu.device.queue.writeBuffer(this.buffer(v), 0, data.buffer, data.byteOffset, data.byteLength);
  }

  async step(batch: Record<string, Float32Array>, readLoss: boolean): Promise<number | undefined> {
    for (const a of this.graph.perStep) {
      const data = batch[a.arg!.name];
      if (!data) throw new Error(`internal: batch has no ${a.arg!.name}`);
      if (this.uploaded.get(a) === data) continue;
      this.write(a, data);
      this.uploaded.set(a, data);
    }
    const device = this.gpu.device;
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    for (const d of this.dispatches) {
      pass.setPipeline(d.pipeline);
      pass.setBindGroup(0, d.bindGroup);
      pass.dispatchWorkgroups(...d.workgroups);
    }
    pass.end();
    const loss = this.graph.loss;
    if (readLoss && loss) enc.copyBufferToBuffer(this.buffer(loss), 0, this.staging, 0, 4);
    for (const u of this.graph.updates) enc.copyBufferToBuffer(this.buffer(u.value), 0, this.buffer(u.param), 0, this.bytes(u.param));
    device.queue.submit([enc.finish()]);
    if (!readLoss || !loss) return undefined;
    await this.staging.mapAsync(GPUMapMode.READ);
    const value = new Float32Array(this.staging.getMappedRange().slice(0))[0];
    this.staging.unmap();
    return value;
  }

  async params(): Promise<Record<string, Float32Array>> {
    const out: Record<string, Float32Array> = {};
    for (const p of this.graph.params) out[p.arg!.name] = await this.read(p);
    return out;
  }

  /** Reads any materialised value back (tests compare these with the CPU reference). */
  async read(v: Value): Promise<Float32Array> {
    return readBack(this.gpu.device, this.buffer(v), this.bytes(v));
  }

  /** Bytes a value takes (at least 4: WebGPU has no empty bindings). */
  private bytes(v: Value): number {
    return Math.max(4, numel(concreteShape(v.type.shape, this.dims)) * 4);
  }

  dispose(): void {
    for (const b of new Set(this.buffers.values())) b.destroy();
    this.staging.destroy();
  }
}
