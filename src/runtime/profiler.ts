/// <reference types="@webgpu/types" preserve="true" />
/**
 * A step's time by kernel (`netc train --profile`, `netc bench --profile`).
 *
 * Two ways to time a kernel, chosen by what the device offers:
 * - "timestamps": a profiled step encodes each dispatch in its own compute pass with timestamp
 *   writes at its start and end; the step is otherwise the real one (its updates land), so the
 *   profile of a training run is of its own steps.
 * - "alone": without the `timestamp-query` feature, each kernel is submitted by itself a few times
 *   after the step and timed on the host to the queue's completion (this includes a submit's
 *   overhead, about a tenth of a millisecond, and so overstates small kernels).
 * JavaScript time is the host's own work per step: feeding and uploading the batch, encoding and
 * submitting, and copying read values out, without the waits for the device. With timestamps it is
 * taken from every other profiled step, encoded as usual (a pass per kernel costs encoding time).
 */

import { quietWait } from "./quiet-wait.js";

/** What a kernel is called in a profile: its ops, and the `.net` location it came from. */
export interface KernelLabel {
  name: string;
  at?: string;
}

export type ProfileMethod = "timestamps" | "alone";

/** One kernel's line in a profile report. */
export interface KernelProfile extends KernelLabel {
  /** Median milliseconds per step. */
  ms: number;
  /** This kernel's part of the kernels' total, 0..1. */
  share: number;
}

/** A profile's result, per step (medians over the profiled steps). */
export interface ProfileReport {
  method: ProfileMethod;
  steps: number;
  /** Steps whose kernels were timed, and steps that gave the host's time (see the module comment). */
  kernelSteps: number;
  hostSteps: number;
  kernels: KernelProfile[];
  /** Sum of the kernels' medians. */
  kernelMs: number;
  /** The host's own time per step (see the module comment), and its parts. */
  jsMs: number;
  feedMs: number;
  encodeMs: number;
  readMs: number;
  /** Wall time per step encoded as usual, from the call to its results. */
  wallMs: number;
}

/** Accumulates per-step samples; `report()` gives the medians. */
export class StepProfiler {
  private readonly kernelSamples: number[][];
  private readonly host = { feed: [] as number[], encode: [] as number[], read: [] as number[], wall: [] as number[] };

  constructor(
    readonly labels: readonly KernelLabel[],
    readonly method: ProfileMethod,
    /** Steps still to profile; the runner stops profiling when it reaches 0. */
    public remaining = Infinity,
  ) {
    this.kernelSamples = labels.map(() => []);
  }

  /** Steps profiled so far. */
  steps = 0;

  /**
   * Whether the next step is timed kernel by kernel (else it runs as usual and gives the host's
   * time): every step when kernels are timed alone afterwards, every other one with timestamps.
   */
  kernelStep(): boolean {
    return this.method === "alone" || this.steps % 2 === 0;
  }

  addKernelTimes(ms: ArrayLike<number>): void {
    for (let i = 0; i < this.kernelSamples.length; i++) this.kernelSamples[i]!.push(ms[i] ?? 0);
  }

  addHost(feedMs: number, encodeMs: number, readMs: number, wallMs: number): void {
    this.host.feed.push(feedMs);
    this.host.encode.push(encodeMs);
    this.host.read.push(readMs);
    this.host.wall.push(wallMs);
  }

  /** Ends a profiled step. */
  endStep(): void {
    this.steps++;
    this.remaining--;
  }

  report(): ProfileReport {
    const medians = this.kernelSamples.map(median);
    const total = medians.reduce((a, b) => a + b, 0);
    const feedMs = median(this.host.feed);
    const encodeMs = median(this.host.encode);
    const readMs = median(this.host.read);
    return {
      method: this.method,
      steps: this.steps,
      kernelSteps: this.kernelSamples[0]?.length ?? 0,
      hostSteps: this.host.wall.length,
      kernels: this.labels.map((l, i) => ({ ...l, ms: medians[i]!, share: total > 0 ? medians[i]! / total : 0 })),
      kernelMs: total,
      jsMs: feedMs + encodeMs + readMs,
      feedMs,
      encodeMs,
      readMs,
      wallMs: median(this.host.wall),
    };
  }
}

/**
 * The timestamp queries of one profiled step: `pass(enc, i)` begins kernel i's own compute pass
 * with timestamp writes; `resolve(enc)` copies them out after the last; `read()` (after submit)
 * returns each kernel's milliseconds.
 */
export class TimestampQueries {
  private readonly set: GPUQuerySet;
  private readonly resolveBuffer: GPUBuffer;
  private readonly readBuffer: GPUBuffer;

  constructor(
    private readonly device: GPUDevice,
    private readonly kernels: number,
    private readonly spins?: boolean,
  ) {
    const count = Math.max(2, 2 * kernels);
    this.set = device.createQuerySet({ type: "timestamp", count, label: "profile" });
    this.resolveBuffer = device.createBuffer({ size: count * 8, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC, label: "profile-resolve" });
    this.readBuffer = device.createBuffer({ size: count * 8, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: "profile-read" });
  }

  pass(enc: GPUCommandEncoder, i: number): GPUComputePassEncoder {
    return enc.beginComputePass({ timestampWrites: { querySet: this.set, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } });
  }

  resolve(enc: GPUCommandEncoder): void {
    enc.resolveQuerySet(this.set, 0, 2 * this.kernels, this.resolveBuffer, 0);
    enc.copyBufferToBuffer(this.resolveBuffer, 0, this.readBuffer, 0, 2 * this.kernels * 8);
  }

  async read(): Promise<Float64Array> {
    await quietWait(this.spins, this.readBuffer.mapAsync(GPUMapMode.READ));
    const ns = new BigInt64Array(this.readBuffer.getMappedRange().slice(0));
    this.readBuffer.unmap();
    const ms = new Float64Array(this.kernels);
    // NOTE: a pass the implementation could not time reads as end <= begin; it counts as 0.
    for (let i = 0; i < this.kernels; i++) ms[i] = Math.max(0, Number(ns[2 * i + 1]! - ns[2 * i]!) / 1e6);
    return ms;
  }

  destroy(): void {
    this.set.destroy();
    this.resolveBuffer.destroy();
    this.readBuffer.destroy();
  }
}

/** The profile as text lines: kernels slowest first, then the totals. */
export function formatProfile(r: ProfileReport, top = 20): string[] {
  const how = r.method === "timestamps" ? "timestamp queries" : "each kernel submitted alone (no timestamp queries on this device)";
  const plural = (n: number) => `${n} step${n === 1 ? "" : "s"}`;
  const lines = [`profile: ${plural(r.steps)}, ${r.kernels.length} kernels per step; kernels: median of ${plural(r.kernelSteps)}, ${how}; host: median of ${plural(r.hostSteps)}`];
  const order = r.kernels.map((k, i) => ({ ...k, i })).sort((a, b) => b.ms - a.ms);
  const shown = order.slice(0, top);
  const nameWidth = Math.max(6, ...shown.map((k) => k.name.length));
  lines.push(`  ${"ms/step".padStart(8)}  ${"share".padStart(6)}  #    ${"kernel".padEnd(nameWidth)}  source`);
  for (const k of shown) {
    lines.push(`  ${k.ms.toFixed(3).padStart(8)}  ${(100 * k.share).toFixed(1).padStart(5)}%  ${String(k.i).padEnd(3)}  ${k.name.padEnd(nameWidth)}  ${k.at ?? "-"}`);
  }
  if (order.length > shown.length) {
    const rest = order.slice(top);
    const ms = rest.reduce((a, k) => a + k.ms, 0);
    lines.push(`  ${ms.toFixed(3).padStart(8)}  ${(100 * rest.reduce((a, k) => a + k.share, 0)).toFixed(1).padStart(5)}%  (${rest.length} more kernels)`);
  }
  lines.push(
    `  kernels ${r.kernelMs.toFixed(2)} ms/step; JavaScript ${r.jsMs.toFixed(2)} ms/step (feed ${r.feedMs.toFixed(2)}, encode and submit ${r.encodeMs.toFixed(2)}, read ${r.readMs.toFixed(2)}); ` +
      `wall ${r.wallMs.toFixed(2)} ms/step`,
  );
  return lines;
}

/** `file:line:col` with the file's base name (`mlp.net:7:12`), as a profile names a kernel's source. */
export function shortLocation(at: string): string {
  const m = /^(.*):(\d+:\d+)$/.exec(at);
  if (!m) return at;
  const base = m[1]!.split(/[\\/]/).pop() ?? m[1]!;
  return `${base}:${m[2]}`;
}

function median(xs: readonly number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
