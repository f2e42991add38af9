/// <reference types="@webgpu/types" preserve="true" />
import { nodeBuiltin } from "../base/node-builtins.js";
import { openSiblingDevice, shaderCacheDir, type GpuContext } from "./device.js";
import { quietWait } from "./quiet-wait.js";

/**
 * Compiling a step's shaders in parallel where the driver compiles at the first dispatch (Mesa's
 * llvmpipe). Such a driver compiles on its device's queue thread, one shader after another, so a
 * step of 30 kernels waits for 30 compiles in a row. But each device has its own queue thread and
 * every device of the process writes to and reads from Mesa's disk cache. So: open a sibling device
 * per spare core, dispatch a share of the shaders on each (and a share on the main device), one
 * workgroup on small stand-in buffers (the code compiled does not depend on the data), and wait.
 * The main device's first real dispatch of a shader a sibling compiled then loads it from the
 * cache: measured on llvmpipe, 16–21 ms per shader against 115–230 ms to compile a small one and
 * seconds for an unrolled matmul or conv.
 */

/** A shader to compile ahead: its WGSL, entry point, binding count and the main device's pipeline. */
export interface ShaderAhead {
  wgsl: string;
  entry: string;
  bindings: number;
  pipeline: GPUComputePipeline;
}

/** What compiling ahead did: devices used (the main one included), shaders compiled, milliseconds. */
export interface AheadReport {
  devices: number;
  shaders: number;
  ms: number;
}

/** At most this many sibling devices (each is a queue thread and some memory). */
const MAX_SIBLINGS = 3;
/** Bytes of each stand-in buffer: more than any fixed-size part of a netc kernel's bindings. */
const STAND_IN_BYTES = 1024;

/**
 * Compiles `shaders` on the main device and on sibling devices in parallel (see the module
 * comment); a no-op (devices 1) when the driver compiles at pipeline creation, the disk cache is
 * off, there is one core, or fewer than 3 shaders are new. Best effort: a shader a sibling fails to
 * compile is compiled by the main device's first dispatch as it would have been anyway.
 */
export async function compileAhead(gpu: GpuContext, shaders: readonly ShaderAhead[]): Promise<AheadReport> {
  const t0 = performance.now();
  const cacheDir = shaderCacheDir();
  if (!gpu.firstDispatchCompiles || !cacheDir) return { devices: 1, shaders: 0, ms: 0 };
  const index = CompiledIndex.of(cacheDir, gpu.adapterName);
  const fresh = new Map<string, ShaderAhead>();
  for (const s of shaders) {
    const key = `${s.entry}\u0000${s.wgsl}`;
    if (!index.has(key) && !fresh.has(key)) fresh.set(key, s);
  }
  const pending = [...fresh.values()];
  const cores = nodeBuiltin("node:os")?.availableParallelism() ?? 1;
  const siblings = Math.min(cores - 1, MAX_SIBLINGS, pending.length - 1);
  if (pending.length < 3 || siblings < 1) return { devices: 1, shaders: 0, ms: 0 };

  const opened = (await Promise.all(Array.from({ length: siblings }, () => openSiblingDevice(gpu)))).filter((d): d is GPUDevice => d !== undefined);
  // NOTE: a sibling's errors are of no consequence (see dispatchOnce); kept off stderr.
  for (const d of opened) d.addEventListener("uncapturederror", (e) => e.preventDefault());
  try {
    const devices = [gpu.device, ...opened];
    const shares = balance(pending, devices.length);
    await Promise.all(devices.map((device, i) => dispatchOnce(device, device === gpu.device, shares[i]!, gpu.spinsWhileWaiting)));
    index.add([...fresh.keys()]);
    return { devices: devices.length, shaders: pending.length, ms: performance.now() - t0 };
  } finally {
    // NOTE: destroying a device waits for its cache writes, so the main device finds them after.
    for (const d of opened) d.destroy();
  }
}

/** Shaders split into `n` shares of about equal WGSL length (longest first, each to the lightest share). */
function balance(shaders: readonly ShaderAhead[], n: number): ShaderAhead[][] {
  const shares: ShaderAhead[][] = Array.from({ length: n }, () => []);
  const load = new Array<number>(n).fill(0);
  for (const s of [...shaders].sort((a, b) => b.wgsl.length - a.wgsl.length)) {
    const i = load.indexOf(Math.min(...load));
    shares[i]!.push(s);
    load[i]! += s.wgsl.length;
  }
  return shares;
}

/** One workgroup of each shader on `device` in one submit, awaited; errors stay on that device. */
async function dispatchOnce(device: GPUDevice, main: boolean, shaders: readonly ShaderAhead[], spins: boolean | undefined): Promise<void> {
  if (shaders.length === 0) return;
  if (main) device.pushErrorScope("validation");
  const buffers: GPUBuffer[] = [];
  try {
    const pipelines = main
      ? shaders.map((s) => s.pipeline)
      : await quietWait(spins, Promise.all(shaders.map((s) => device.createComputePipelineAsync({ layout: "auto", compute: { module: device.createShaderModule({ code: s.wgsl }), entryPoint: s.entry } }).catch(() => undefined))));
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    shaders.forEach((s, i) => {
      const pipeline = pipelines[i];
      if (!pipeline) return;
      const entries = Array.from({ length: s.bindings }, (_, binding) => {
        const buffer = device.createBuffer({ size: STAND_IN_BYTES, usage: GPUBufferUsage.STORAGE });
        buffers.push(buffer);
        return { binding, resource: { buffer } };
      });
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries }));
      pass.dispatchWorkgroups(1);
    });
    pass.end();
    device.queue.submit([enc.finish()]);
    await quietWait(spins, device.queue.onSubmittedWorkDone());
  } catch {
    // NOTE: best effort (see compileAhead): the real first dispatch compiles what failed here.
  } finally {
    for (const b of buffers) b.destroy();
    if (main) await device.popErrorScope();
  }
}

/**
 * The shaders compiled ahead into this disk cache, by this or any earlier netc process (a line per shader:
 * a hash of the adapter, entry point and WGSL), so a warm run opens no sibling device to load
 * what the cache already holds. Kept inside the cache folder: removing the folder forgets both.
 * A shader Mesa has since evicted just compiles at its first dispatch, as without this.
 */
class CompiledIndex {
  /** One per cache folder and adapter in a process, read once: later runners of a plan ask it again. */
  private static readonly open = new Map<string, CompiledIndex>();
  private readonly file: string | undefined;
  private readonly known = new Set<string>();

  static of(dir: string, adapter: string): CompiledIndex {
    const key = `${dir}\u0000${adapter}`;
    let index = CompiledIndex.open.get(key);
    if (!index) CompiledIndex.open.set(key, (index = new CompiledIndex(dir, adapter)));
    return index;
  }

  private constructor(
    dir: string,
    private readonly adapter: string,
  ) {
    const fs = nodeBuiltin("node:fs");
    const path = nodeBuiltin("node:path");
    this.file = fs && path ? path.join(dir, "netc-compiled-ahead.txt") : undefined;
    try {
      if (this.file) for (const line of fs!.readFileSync(this.file, "utf8").split("\n")) if (line) this.known.add(line);
    } catch {
      // NOTE: no index yet (or unreadable): every shader counts as new.
    }
  }

  has(key: string): boolean {
    return this.known.has(this.hash(key));
  }

  add(keys: readonly string[]): void {
    const fs = nodeBuiltin("node:fs");
    if (!this.file || !fs) return;
    const lines = keys.map((k) => this.hash(k)).filter((h) => !this.known.has(h));
    for (const h of lines) this.known.add(h);
    try {
      fs.appendFileSync(this.file, lines.map((h) => h + "\n").join(""));
    } catch {
      // NOTE: a read-only cache folder only costs the next run a parallel compile that finds everything cached.
    }
  }

  private hash(key: string): string {
    return nodeBuiltin("node:crypto")!.createHash("sha256").update(this.adapter).update("\u0000").update(key).digest("hex").slice(0, 32);
  }
}
