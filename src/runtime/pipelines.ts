/// <reference types="@webgpu/types" preserve="true" />
import { isNode } from "./node-modules.js";

/**
 * Compute pipelines cached by WGSL text (and entry point), with layout "auto"; concurrent requests
 * for the same text share one promise. A shader that does not compile rejects with its compile
 * messages and the offending source lines, and does not reach the device's uncaptured-error handler.
 *
 * In Node (Dawn) pipelines are made with the blocking `createComputePipeline`; in a browser with
 * `createComputePipelineAsync`, which keeps the page responsive.
 */
export class PipelineCache {
  private readonly pipelines = new Map<string, Promise<GPUComputePipeline>>();
  /** Milliseconds spent compiling, summed over pipelines (compiles run in parallel, so this can exceed wall time). */
  compileMs = 0;

  /**
   * NOTE: Dawn for Node answers every async call at its next poll of the device: on a warm shader
   * cache, under load, 17 MLP pipelines took 150-260 ms made async (one after another or all at
   * once) and 60-80 ms made blocking. On a quiet machine, with the polls spaced (quiet-wait.ts),
   * the two come out about even (11 pipelines: 50 ms all at once, 53-68 blocking), so blocking,
   * the simpler of the two, stays Node's choice.
   */
  constructor(
    private readonly device: GPUDevice,
    private readonly blocking = isNode(),
  ) {}

  /** Pipelines compiled or being compiled (failed ones are forgotten). */
  get size(): number {
    return this.pipelines.size;
  }

  /** The pipeline for `wgsl`, compiled once. */
  get(wgsl: string, entryPoint = "main"): Promise<GPUComputePipeline> {
    const key = `${entryPoint}\u0000${wgsl}`;
    let pipeline = this.pipelines.get(key);
    if (!pipeline) {
      pipeline = this.compile(wgsl, entryPoint);
      this.pipelines.set(key, pipeline);
      // NOTE: forget failures so the cache holds only usable pipelines; a retry reports again.
      pipeline.catch(() => {
        if (this.pipelines.get(key) === pipeline) this.pipelines.delete(key);
      });
    }
    return pipeline;
  }

  private async compile(wgsl: string, entryPoint: string): Promise<GPUComputePipeline> {
    const t0 = performance.now();
    try {
      if (this.blocking) return await this.compileBlocking(wgsl, entryPoint);
      // NOTE: an error scope keeps a bad shader out of the uncaptured-error list; the
      // compilation info below is the better report (line, column, message).
      this.device.pushErrorScope("validation");
      const module = this.device.createShaderModule({ code: wgsl });
      const scoped = await this.device.popErrorScope();
      const info = await module.getCompilationInfo();
      const errors = info.messages.filter((m) => m.type === "error");
      if (errors.length || scoped) {
        throw new Error(`WGSL does not compile:\n${formatMessages(wgsl, errors.length ? errors : info.messages, scoped)}`);
      }
      // NOTE: no error scope here: scopes are a stack, and awaiting inside one would let
      // concurrent compiles pop each other's. An async pipeline's errors reject its promise.
      let pipeline: GPUComputePipeline;
      try {
        pipeline = await this.device.createComputePipelineAsync({ layout: "auto", compute: { module, entryPoint } });
      } catch (e) {
        throw new Error(`compute pipeline (entry point "${entryPoint}") failed: ${e instanceof Error ? e.message : String(e)}\n${numbered(wgsl)}`);
      }
      return pipeline;
    } finally {
      this.compileMs += performance.now() - t0;
    }
  }

  /** Module and pipeline made inside one pair of error scopes, pushed and popped with no await between. */
  private async compileBlocking(wgsl: string, entryPoint: string): Promise<GPUComputePipeline> {
    this.device.pushErrorScope("internal");
    this.device.pushErrorScope("validation");
    const module = this.device.createShaderModule({ code: wgsl });
    const pipeline = this.device.createComputePipeline({ layout: "auto", compute: { module, entryPoint } });
    const [invalid, internal] = await Promise.all([this.device.popErrorScope(), this.device.popErrorScope()]);
    if (!invalid && !internal) return pipeline;
    const errors = (await module.getCompilationInfo()).messages.filter((m) => m.type === "error");
    if (errors.length) throw new Error(`WGSL does not compile:\n${formatMessages(wgsl, errors, invalid)}`);
    throw new Error(`compute pipeline (entry point "${entryPoint}") failed: ${(invalid ?? internal)!.message}\n${numbered(wgsl)}`);
  }
}

/** Each message as `line:col: error: text`, followed by the source line and a caret. */
function formatMessages(wgsl: string, messages: readonly GPUCompilationMessage[], scoped: GPUError | null): string {
  const lines = wgsl.split("\n");
  const out: string[] = [];
  for (const m of messages) {
    out.push(`${m.lineNum}:${m.linePos}: ${m.type}: ${m.message}`);
    const src = m.lineNum > 0 ? lines[m.lineNum - 1] : undefined;
    if (src !== undefined) {
      const gutter = `${m.lineNum} | `;
      out.push(`  ${gutter}${src}`);
      out.push(`  ${" ".repeat(gutter.length + Math.max(0, m.linePos - 1))}^`);
    }
  }
  if (out.length === 0 && scoped) out.push(scoped.message);
  return out.join("\n");
}

function numbered(wgsl: string): string {
  return wgsl
    .split("\n")
    .map((l, i) => `${String(i + 1).padStart(4)} | ${l}`)
    .join("\n");
}
