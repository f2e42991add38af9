import { DEFAULT_CODEGEN, generateKernel, type CodegenOptions, type CompiledKernel } from "../codegen/wgsl.js";
import type { Graph, Value } from "../ir/graph.js";
import { concreteShape, numel, type DimBindings } from "../ir/types.js";
import type { GpuContext } from "./device.js";
import { createStorage, readBack } from "./gpu-buffers.js";
import { PipelineCache } from "./pipelines.js";
import { persistentNamed, readableNames, readableValue, type StepRunner } from "./runner.js";

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

/** Options for {@link WebGpuRunner.create} beyond the codegen choices. */
export interface WebGpuRunnerOptions {
  /**
   * Bind this runner's persistent values (params and state, matched by name) to the buffers of
   * another runner on the same device instead of allocating its own: a runner specialised for
   * the last partial batch, or the inference graph of the same network, then reads and updates
   * the same weights with no copy. The owner must outlive this runner.
   */
  sharePersistentWith?: WebGpuRunner;
}

/**
 * The WebGPU backend: one storage buffer per materialised value (reshapes alias their input),
 * every kernel's pipeline and bind group made once, and a step that is one command encoder and
 * one submit. Values asked for are copied into one staging buffer in the same submit and mapped
 * once; steps that read nothing never wait for the device.
 */
export class WebGpuRunner implements StepRunner {
  readonly name: string;
  readonly kernelsPerStep: number;
  readonly readable: readonly string[];
  private buffers = new Map<Value, GPUBuffer>();
  /** Buffers this runner allocated (and destroys); shared persistent buffers belong to their owner. */
  private owned = new Set<GPUBuffer>();
  /** Persistent buffers by name, for runners that share them. */
  private persistentByName = new Map<string, GPUBuffer>();
  private dispatches: Dispatch[] = [];
  /** Where each readable value goes in the staging buffer (byte offset and length). */
  private slots = new Map<string, { value: Value; offset: number; bytes: number }>();
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
    this.readable = readableNames(graph);
    let offset = 0;
    for (const name of this.readable) {
      const value = readableValue(graph, name);
      const bytes = this.bytes(value);
      this.slots.set(name, { value, offset, bytes });
      offset += bytes;
    }
    this.staging = gpu.device.createBuffer({ size: Math.max(4, offset), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: "read-staging" });
  }

  /** Generates WGSL for every kernel, creates all pipelines in parallel, allocates buffers and binds them. */
  static async create(
    gpu: GpuContext,
    graph: Graph,
    dims: DimBindings,
    initial: Record<string, Float32Array>,
    opts: CodegenOptions = DEFAULT_CODEGEN,
    cache = new PipelineCache(gpu.device),
    more: WebGpuRunnerOptions = {},
  ): Promise<WebGpuRunner> {
    if (!graph.kernels) throw new Error("internal: the WebGPU backend needs a fused graph");
    const owner = more.sharePersistentWith;
    if (owner && owner.gpu.device !== gpu.device) throw new Error("internal: runners can share buffers only on one device");
    const t0 = performance.now();
    const kernels = graph.kernels.map((k) => generateKernel(k, dims, opts));
    const t1 = performance.now();
    const pipelines = await Promise.all(kernels.map((k) => cache.get(k.wgsl)));
    const t2 = performance.now();
    const r = new WebGpuRunner(gpu, graph, dims, kernels, { codegen: t1 - t0, pipelines: t2 - t1 });
    r.allocate(owner);
    for (const p of graph.persistent) {
      if (owner?.persistentByName.has(p.arg!.name)) continue;
      const data = initial[p.arg!.name];
      if (!data) throw new Error(`internal: no initial value for ${p.arg!.name}`);
      r.write(p, data);
    }
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

  private allocate(owner: WebGpuRunner | undefined): void {
    const make = (v: Value, label: string) => {
      const b = createStorage(this.gpu.device, this.bytes(v), label);
      this.owned.add(b);
      this.buffers.set(v, b);
      return b;
    };
    for (const a of this.graph.args) {
      const role = a.arg!.role;
      const name = a.arg!.name;
      if (role !== "param" && role !== "state") {
        make(a, name);
        continue;
      }
      const shared = owner?.persistentByName.get(name);
      if (shared) {
        if (shared.size !== Math.ceil(this.bytes(a) / 4) * 4) throw new Error(`internal: shared ${name} has ${shared.size} bytes, this graph wants ${this.bytes(a)}`);
        this.buffers.set(a, shared);
      } else make(a, name);
      this.persistentByName.set(name, this.buffer(a));
    }
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
    if (data.byteLength === 0) return;
    this.gpu.device.queue.writeBuffer(this.buffer(v), 0, data.buffer, data.byteOffset, data.byteLength);
  }

  async step(batch: Record<string, Float32Array>, readLoss: boolean): Promise<number | undefined> {
    const got = await this.run(batch, readLoss && this.graph.loss ? ["loss"] : []);
    return got["loss"]?.[0];
  }

  async run(batch: Record<string, Float32Array>, read: readonly string[]): Promise<Record<string, Float32Array>> {
    const slots = read.map((name) => {
      const s = this.slots.get(name);
      if (!s) readableValue(this.graph, name); // throws, listing what can be read
      return [name, s!] as const;
    });
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
    // NOTE: the reads are copied before the updates, so they see this step's forward values.
    for (const [, s] of slots) enc.copyBufferToBuffer(this.buffer(s.value), 0, this.staging, s.offset, s.bytes);
    for (const u of this.graph.updates) enc.copyBufferToBuffer(this.buffer(u.value), 0, this.buffer(u.param), 0, this.bytes(u.param));
    device.queue.submit([enc.finish()]);
    const out: Record<string, Float32Array> = {};
    if (slots.length === 0) return out;
    await this.staging.mapAsync(GPUMapMode.READ);
    try {
      const mapped = this.staging.getMappedRange();
      for (const [name, s] of slots) {
        const n = numel(concreteShape(s.value.type.shape, this.dims));
        // NOTE: copied out of the mapped range, which unmap detaches.
        out[name] = new Float32Array(mapped.slice(s.offset, s.offset + 4 * n));
      }
    } finally {
      this.staging.unmap();
    }
    return out;
  }

  async params(): Promise<Record<string, Float32Array>> {
    return this.readMany(this.graph.params);
  }

  async state(): Promise<Record<string, Float32Array>> {
    return this.readMany(this.graph.persistent);
  }

  async load(values: Record<string, Float32Array>): Promise<void> {
    for (const [name, data] of Object.entries(values)) this.write(persistentNamed(this.graph, name), data);
  }

  /** Reads values back by their arg names through one staging buffer and one map. */
  private async readMany(values: Value[]): Promise<Record<string, Float32Array>> {
    const device = this.gpu.device;
    let total = 0;
    const at = values.map((v) => {
      const offset = total;
      total += this.bytes(v);
      return offset;
    });
    const staging = device.createBuffer({ size: Math.max(4, total), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: "state-staging" });
    try {
      const enc = device.createCommandEncoder();
      values.forEach((v, i) => enc.copyBufferToBuffer(this.buffer(v), 0, staging, at[i]!, this.bytes(v)));
      device.queue.submit([enc.finish()]);
      await staging.mapAsync(GPUMapMode.READ);
      const mapped = staging.getMappedRange();
      const out: Record<string, Float32Array> = {};
      values.forEach((v, i) => {
        const n = numel(concreteShape(v.type.shape, this.dims));
        out[v.arg!.name] = new Float32Array(mapped.slice(at[i]!, at[i]! + 4 * n));
      });
      staging.unmap();
      return out;
    } finally {
      staging.destroy();
    }
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
    for (const b of this.owned) b.destroy();
    this.owned.clear();
    this.staging.destroy();
  }
}
