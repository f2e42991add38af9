/** A compiled training step on some backend. */
export interface StepRunner {
  /** "cpu" or "webgpu (adapter name)". */
  readonly name: string;
  /**
   * Runs one step (forward, backward, update) on a batch; returns the loss when `readLoss`.
   * Batches are treated as immutable: passing the same object again may skip its upload.
   */
  step(batch: Record<string, Float32Array>, readLoss: boolean): Promise<number | undefined>;
  /** Current parameter values by name. */
  params(): Promise<Record<string, Float32Array>>;
  /** Kernels launched per step. */
  readonly kernelsPerStep: number;
  /** Frees device resources. */
  dispose(): void;
}
